# OTA_TSAN_LEASES: a small build of only what the lease stress test needs
# (ota_common and ota_common_crypto, bundle.json parsing, the lease sources)
# under ThreadSanitizer, so CI checks the lease code for data races in about
# a minute instead of instrumenting the whole tree. Used by `scripts/test --tsan` (build-tsan/).
add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
add_link_options(-fsanitize=thread)
add_subdirectory(common)
# Only the manifest sources bundle.json parsing needs (the TUF ones are the
# slowest to compile).
add_library(ota_manifest_bundle STATIC manifest/src/version.cc manifest/src/bundle_manifest.cc
                                       manifest/src/canonical_json.cc manifest/src/json_fields.cc)
target_include_directories(ota_manifest_bundle PUBLIC manifest/include PRIVATE manifest/src)
target_link_libraries(ota_manifest_bundle PUBLIC ota_common nlohmann_json::nlohmann_json)

add_library(ota_agent_leases STATIC agent/src/lease_files.cc agent/src/leases.cc
                                    agent/src/drain.cc agent/src/version_store.cc)
target_include_directories(ota_agent_leases PUBLIC agent/include PRIVATE agent/src)
target_link_libraries(ota_agent_leases PUBLIC ota_common PRIVATE ota_manifest_bundle ota_common_crypto
                                                               nlohmann_json::nlohmann_json)

enable_testing()
find_package(GTest REQUIRED)
add_library(ota_test_support STATIC tests/support/test_support.cc
                                    tests/support/in_memory_locks.cc)
target_include_directories(ota_test_support PUBLIC tests/support)
target_link_libraries(ota_test_support PUBLIC ota_common GTest::gtest)
target_compile_definitions(ota_test_support PUBLIC OTA_BINARY_DIR="${CMAKE_BINARY_DIR}"
                                                   OTA_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
add_executable(lease_stress_tsan_test tests/agent/lease_stress_test.cc
                                      tests/agent/lease_test_util.cc)
target_link_libraries(lease_stress_tsan_test PRIVATE ota_agent_leases ota_test_support
                                                     ota_common_crypto GTest::gtest GTest::gtest_main)
add_test(NAME lease_stress_tsan_test COMMAND lease_stress_tsan_test)
set_tests_properties(lease_stress_tsan_test PROPERTIES TIMEOUT 120)
