# Tests of the guest agent and network bootstrap (issue 7): both modes of the static
# banger-vsock-agent, driven as a separate process (docs/guest.md).
banger_add_test_binary(agent_tests assets/agent_test.cpp assets/network_bootstrap_test.cpp)
# The vsock-wait test makes socket(AF_VSOCK) fail in the agent's process with a filter.
target_link_libraries(agent_tests PRIVATE PkgConfig::SECCOMP)
add_dependencies(agent_tests banger-vsock-agent)
