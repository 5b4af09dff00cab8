# ota_add_module(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Declares library ota_<NAME> from <folder>/src with public headers in
# <folder>/include.
function(ota_add_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(ota_${name} STATIC ${ARG_SOURCES})
  target_include_directories(ota_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                         PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(ota_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  set_target_properties(ota_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# OTA_PCH: the test binaries share one precompiled header of gtest, gmock,
# nlohmann/json and common standard headers. Off by default: it saves about
# 15% of a gmock-heavy test source at -O2, nothing under the sanitizers, and
# costs a small source more than it saves (docs/decisions.md D19). GCC's .gch
# files differ from build to build, so ccache misses on every source using one.
option(OTA_PCH "Precompile the heavy headers of the test binaries" OFF)
if(OTA_PCH AND CMAKE_CXX_COMPILER_LAUNCHER)
  message(WARNING "OTA_PCH with a compiler launcher: every test source will miss the cache")
endif()

# The target that owns the tests' precompiled header; every ota_add_test
# target reuses it, so they must share its compile flags and definitions
# (extra definitions are fine; -Winvalid-pch with -Werror stops a mismatch).
function(ota_test_pch_target out_var)
  if(NOT TARGET ota_test_pch)
    set(src ${CMAKE_BINARY_DIR}/ota_test_pch.cc)
    file(GENERATE OUTPUT ${src} CONTENT "// Owner of the tests' precompiled header.\n")
    add_library(ota_test_pch STATIC ${src})
    target_link_libraries(ota_test_pch PRIVATE ota_test_support GTest::gtest GTest::gmock
                                               nlohmann_json::nlohmann_json)
    target_precompile_headers(ota_test_pch PRIVATE
      <gmock/gmock.h> <gtest/gtest.h> <nlohmann/json.hpp>
      <algorithm> <chrono> <cstdint> <filesystem> <functional> <map> <memory> <mutex>
      <optional> <set> <string> <string_view> <thread> <vector>)
  endif()
  set(${out_var} ota_test_pch PARENT_SCOPE)
endfunction()

# ota_add_test(NAME SOURCES ... DEPS ...): one gtest binary, registered with CTest.
function(ota_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} ota_test_support GTest::gtest GTest::gmock
                                        GTest::gtest_main)
  if(OTA_PCH)
    ota_test_pch_target(pch_owner)
    target_precompile_headers(${name} REUSE_FROM ${pch_owner})
  endif()
  # NO_PRETTY_VALUES: parameter values printed as raw bytes would make
  # unstable, duplicate CTest names.
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 NO_PRETTY_VALUES PROPERTIES TIMEOUT 300)
endfunction()

# ota_embed_migrations(OUT_SOURCE FUNCTION_NAME DIR): generates a .cc defining
# `std::vector<ota::Migration> FUNCTION_NAME()` (namespace qualified name
# allowed) from DIR/NNN_*.sql, in numeric order. The SQL files stay the source
# of truth; they are never edited once released.
function(ota_embed_migrations out_var function_name dir)
  file(GLOB sql_files ${dir}/[0-9][0-9][0-9]_*.sql)
  list(SORT sql_files)
  string(REPLACE "::" "_" safe_name ${function_name})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${safe_name}_migrations.cc)
  set(body "// Generated from ${dir}. Do not edit.\n#include <vector>\n#include \"ota/common/sqlite.h\"\n")
  string(FIND ${function_name} "::" ns_pos REVERSE)
  if(ns_pos GREATER -1)
    string(SUBSTRING ${function_name} 0 ${ns_pos} ns)
    math(EXPR name_pos "${ns_pos} + 2")
    string(SUBSTRING ${function_name} ${name_pos} -1 fname)
    string(APPEND body "namespace ${ns} {\n")
  else()
    set(fname ${function_name})
  endif()
  string(APPEND body "std::vector<ota::Migration> ${fname}() {\n  return {\n")
  foreach(f ${sql_files})
    get_filename_component(base ${f} NAME)
    string(SUBSTRING ${base} 0 3 num)
    math(EXPR num "${num} + 0")
    file(READ ${f} sql)
    string(APPEND body "    {${num}, R\"ota_sql(${sql})ota_sql\"},\n")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${f})
  endforeach()
  string(APPEND body "  };\n}\n")
  if(ns_pos GREATER -1)
    string(APPEND body "}  // namespace ${ns}\n")
  endif()
  file(GENERATE OUTPUT ${out} CONTENT "${body}")
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()
