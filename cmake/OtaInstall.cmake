# Install rules, the exported CMake package and the pkg-config file
# (docs/packaging.md, docs/decisions.md D46). `cmake --install build --prefix P`
# installs five components, which are also the Debian packages
# (cmake/OtaPackaging.cmake):
#   agent  ota-agentd, ota-agent, the app library (static archives), the C API
#          header, the CMake package, modelota-agent.pc, the agent's unit
#   server ota-server and its unit
#   cli    otactl and ota-tuf-client
#   llama  the pinned llama.cpp shared libraries, in a private folder
#   java   the Java binding, modelota.jar and libmodelota_jni.so (D50), when
#          a JDK was found
# Tests, benchmarks, fuzzers and the example apps have no install rules.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The library folder is plain `lib` (not Debian's multiarch folder): the
# package is relocatable and its files name each other by relative paths.
set(OTA_INSTALL_LIBDIR lib)
set(OTA_INSTALL_CMAKEDIR ${OTA_INSTALL_LIBDIR}/cmake/ModelOTA)
# The pinned llama.cpp build is no Debian package: its shared libraries are
# installed as a private prefix of ours, found by the programs through a
# relative RUNPATH.
set(OTA_INSTALL_LLAMA_PREFIX ${OTA_INSTALL_LIBDIR}/modelota/llama)
option(OTA_INSTALL_LLAMA
       "Install the llama.cpp shared libraries the build uses into lib/modelota/llama" ON)
if(NOT OTA_HAVE_LLAMA)
  set(OTA_INSTALL_LLAMA OFF)
endif()

# What an app links for the C API: the agent library and the modules below it,
# in link order (each archive before the ones it uses).
set(OTA_AGENT_ARCHIVES agent shadow runtime_adapter rollout bundle verifier manifest
                       common_http common_sqlite common_crypto common)
set(OTA_EXPORTED_TARGETS "")
foreach(module ${OTA_AGENT_ARCHIVES})
  set_target_properties(ota_${module} PROPERTIES EXPORT_NAME ${module}
                                                 OUTPUT_NAME modelota_${module})
  list(APPEND OTA_EXPORTED_TARGETS ota_${module})
endforeach()
target_include_directories(ota_agent INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

if(OTA_INSTALL_LLAMA)
  get_filename_component(OTA_LLAMA_PREFIX "${llama_DIR}/../../.." ABSOLUTE)
  set(OTA_PROGRAM_RPATH "$ORIGIN/../${OTA_INSTALL_LLAMA_PREFIX}/lib")
else()
  # A llama.cpp (or nothing) found elsewhere: keep the paths the build linked.
  set(OTA_PROGRAM_RPATH "")
endif()
# Only the programs that load llama.cpp get a RUNPATH.
foreach(program ota-agent ota-agentd otactl)
  if(OTA_INSTALL_LLAMA)
    set_target_properties(${program} PROPERTIES INSTALL_RPATH "${OTA_PROGRAM_RPATH}")
  else()
    set_target_properties(${program} PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
  endif()
endforeach()
set_target_properties(ota-server ota-tuf-client PROPERTIES INSTALL_RPATH "")

install(TARGETS ota-agentd ota-agent RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT agent)
install(TARGETS ota-server RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
install(TARGETS otactl ota-tuf-client RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
install(TARGETS ${OTA_EXPORTED_TARGETS} EXPORT ModelOTATargets
        ARCHIVE DESTINATION ${OTA_INSTALL_LIBDIR} COMPONENT agent)
# Only the C API is public: the C++ headers under ota/agent/ use the internal
# modules' types and carry no ABI promise (D46).
# The module map makes it a Clang module for Swift and Objective-C apps.
install(FILES ${CMAKE_SOURCE_DIR}/agent/include/ota/agent.h
              ${CMAKE_SOURCE_DIR}/packaging/module.modulemap
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ota COMPONENT agent)

# The C++ runtime a C program's link must add (the archives are C++).
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND CMAKE_CXX_FLAGS MATCHES "-stdlib=libc\\+\\+")
  set(OTA_CXX_RUNTIME_LIB c++)
else()
  set(OTA_CXX_RUNTIME_LIB stdc++)
endif()

install(EXPORT ModelOTATargets NAMESPACE ModelOTA:: DESTINATION ${OTA_INSTALL_CMAKEDIR}
        COMPONENT agent)
set(OTA_CONFIG_LLAMA_PREFIX "")
if(OTA_INSTALL_LLAMA)
  set(OTA_CONFIG_LLAMA_PREFIX ${OTA_INSTALL_LLAMA_PREFIX})
endif()
configure_package_config_file(${CMAKE_SOURCE_DIR}/packaging/ModelOTAConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/packaging/ModelOTAConfig.cmake
                              INSTALL_DESTINATION ${OTA_INSTALL_CMAKEDIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/packaging/ModelOTAConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/packaging/ModelOTAConfig.cmake
              ${CMAKE_BINARY_DIR}/packaging/ModelOTAConfigVersion.cmake
        DESTINATION ${OTA_INSTALL_CMAKEDIR} COMPONENT agent)

# pkg-config: the archives in link order, then what they use.
set(OTA_PC_ARCHIVES "")
foreach(module ${OTA_AGENT_ARCHIVES})
  string(APPEND OTA_PC_ARCHIVES " -lmodelota_${module}")
endforeach()
set(OTA_PC_LLAMA "")
if(OTA_HAVE_LLAMA)
  if(OTA_INSTALL_LLAMA)
    set(llama_libdir "\${libdir}/modelota/llama/lib")
  else()
    get_filename_component(llama_libdir "${llama_DIR}/../.." ABSOLUTE)
  endif()
  set(OTA_PC_LLAMA "-L${llama_libdir} -Wl,-rpath,${llama_libdir} -lllama -lggml -lggml-base")
endif()
configure_file(${CMAKE_SOURCE_DIR}/packaging/modelota-agent.pc.in
               ${CMAKE_BINARY_DIR}/packaging/modelota-agent.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/packaging/modelota-agent.pc
        DESTINATION ${OTA_INSTALL_LIBDIR}/pkgconfig COMPONENT agent)

if(OTA_INSTALL_LLAMA)
  # The shared libraries (with their version links), headers and CMake
  # files, so that ModelOTAConfig.cmake finds the same llama.cpp the programs
  # run with. Their RUNPATH names the cache they were built in: $ORIGIN.
  install(DIRECTORY ${OTA_LLAMA_PREFIX}/lib/ DESTINATION ${OTA_INSTALL_LLAMA_PREFIX}/lib
          COMPONENT llama USE_SOURCE_PERMISSIONS PATTERN pkgconfig EXCLUDE)
  install(DIRECTORY ${OTA_LLAMA_PREFIX}/include/ DESTINATION ${OTA_INSTALL_LLAMA_PREFIX}/include
          COMPONENT llama)
  install(CODE "
    file(GLOB ota_llama_libs \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${OTA_INSTALL_LLAMA_PREFIX}/lib/lib*.so.*.*\")
    foreach(lib \${ota_llama_libs})
      file(RPATH_SET FILE \"\${lib}\" NEW_RPATH \"\$ORIGIN\")
    endforeach()" COMPONENT llama)
endif()

if(OTA_HAVE_JAVA)
  # The Java binding where Debian's JVMs look without being told (D50): the
  # jar in share/java, versioned with the unversioned link apps put on their
  # class path, and the JNI library in lib/jni, which is on the default
  # java.library.path of Debian's OpenJDK. The agent is linked into the
  # library; it loads llama.cpp from our private folder, like the programs.
  include(UseJava)
  set(OTA_INSTALL_JAVADIR ${CMAKE_INSTALL_DATADIR}/java)
  set(OTA_INSTALL_JNIDIR ${OTA_INSTALL_LIBDIR}/jni)
  install_jar(modelota_java DESTINATION ${OTA_INSTALL_JAVADIR} COMPONENT java)
  if(OTA_INSTALL_LLAMA)
    set_target_properties(modelota_jni PROPERTIES
      INSTALL_RPATH "$ORIGIN/../../${OTA_INSTALL_LLAMA_PREFIX}/lib")
  else()
    set_target_properties(modelota_jni PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
  endif()
  install(TARGETS modelota_jni LIBRARY DESTINATION ${OTA_INSTALL_JNIDIR} COMPONENT java)
endif()

include(OtaInstallSystem)
