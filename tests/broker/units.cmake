# Unit tests of the broker's rooms, one folder per room (tests/CMakeLists.txt includes this).

# cache leases, prune, the image store, the audit log (store); the layer feed (pull), driving the real
# sandboxed unpacker and the sandbox probe; progress rendering (cli); catalog parsing (registry); the
# signature policy, keys and verdict (trust).
banger_add_test_binary(broker_unit_tests
  broker/store/cache_lease_test.cpp broker/store/prune_test.cpp broker/store/incoming_blob_test.cpp broker/store/image_store_test.cpp
  broker/store/audit_log_test.cpp
  broker/pull/layer_feed_test.cpp broker/pull/signatures_test.cpp
  broker/cli/progress_test.cpp
  broker/registry/catalog_test.cpp broker/registry/network_gate_test.cpp
  broker/trust/public_key_test.cpp broker/trust/trust_policy_test.cpp broker/trust/verdict_test.cpp broker/trust/dsse_test.cpp)
target_link_libraries(broker_unit_tests PRIVATE banger_cli banger_trust banger_test_harnesses PkgConfig::SODIUM)
add_dependencies(broker_unit_tests banger-unpacker banger-sandbox-probe)
