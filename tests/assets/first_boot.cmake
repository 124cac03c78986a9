# Tests of assets/first-boot.sh, the systemd units, the OpenRC scripts and the
# modules-load.d file (issue 7): Python unittest, one ctest test per test class, each run in
# its own scratch directory under the build tree. Needs dash, shellcheck
# (scripts/install-deps.sh); uses busybox and systemd-analyze when present.
set(banger_assets_test_python /usr/bin/python3)
foreach(spec
    "assets.first_boot.plan|first_boot_test.py|PlanTest"
    "assets.first_boot.run|first_boot_test.py|RunTest"
    "assets.first_boot.lint|first_boot_test.py|LintTest"
    "assets.units.systemd|units_test.py|SystemdUnitsTest"
    "assets.units.systemd_verify|units_test.py|SystemdVerifyTest"
    "assets.units.openrc|units_test.py|OpenRcScriptsTest"
    "assets.units.modules_load|units_test.py|ModulesLoadTest")
  string(REPLACE "|" ";" spec "${spec}")
  list(GET spec 0 test_name)
  list(GET spec 1 test_file)
  list(GET spec 2 test_class)
  set(test_dir ${CMAKE_CURRENT_BINARY_DIR}/assets-tests/${test_name})
  file(MAKE_DIRECTORY ${test_dir})
  add_test(NAME ${test_name}
    COMMAND ${banger_assets_test_python} ${CMAKE_SOURCE_DIR}/tests/assets/${test_file} -v ${test_class}
    WORKING_DIRECTORY ${test_dir})
  set_tests_properties(${test_name} PROPERTIES
    TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "BANGER_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1")
endforeach()
