# ota_add_module(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Declares library ota_<NAME> from <folder>/src with public headers in
# <folder>/include.
function(ota_add_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(ota_${name} STATIC ${ARG_SOURCES})
  # BUILD_INTERFACE: the module headers are for this tree only; the installed
  # package publishes the C API header alone (cmake/OtaInstall.cmake).
  target_include_directories(ota_${name} PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
                                         PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(ota_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  set_target_properties(ota_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# ota_add_test(NAME SOURCES ... DEPS ...): one gtest binary, registered with CTest.
function(ota_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} ota_test_support GTest::gtest GTest::gmock
                                        GTest::gtest_main)
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
