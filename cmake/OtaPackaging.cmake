# Debian packages (`cpack -G DEB` in the build folder; docs/packaging.md,
# docs/decisions.md D46), one per install component of cmake/OtaInstall.cmake:
#   modelota-agent   ota-agentd, ota-agent, the app library, ota/agent.h, the
#                    CMake package, modelota-agent.pc, ota-agentd.service
#   modelota-server  ota-server, ota-server.service
#   modelota-cli     otactl, ota-tuf-client
#   modelota-llama   the pinned llama.cpp shared libraries (/usr/lib/modelota/llama),
#                    which Debian 12 does not package; agent, cli and java depend on it
#   modelota-java    the Java binding: /usr/share/java/modelota.jar and
#                    /usr/lib/jni/libmodelota_jni.so (D50), when a JDK was found
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME modelota)
set(CPACK_PACKAGE_VENDOR ModelOTA)
set(CPACK_PACKAGE_CONTACT "ModelOTA maintainers <maintainers@modelota.invalid>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# With DESTDIR installs, CPack installs to CPACK_INSTALL_PREFIX.
set(CPACK_INSTALL_PREFIX /usr)
# The option files go to /etc, outside the prefix (cmake/OtaInstallSystem.cmake).
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL agent server cli)
if(OTA_INSTALL_LLAMA)
  list(APPEND CPACK_COMPONENTS_ALL llama)
endif()
if(OTA_HAVE_JAVA)
  list(APPEND CPACK_COMPONENTS_ALL java)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(ota_deb_version "${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}")
set(ota_llama_dep "")
if(OTA_INSTALL_LLAMA)
  set(ota_llama_dep "modelota-llama (= ${ota_deb_version}), ")
endif()

# Depends: dpkg-shlibdeps cannot follow the programs into modelota-llama (a
# private library folder in another package has no shlibs entry), so the
# packages name the Debian libraries themselves; tests/package/deb_test.sh
# checks each list against the libraries the packaged files really load.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
set(ota_deb_base "libc6 (>= 2.36), libstdc++6 (>= 12), libgcc-s1")
set(ota_deb_crypto "libsodium23, libssl3")
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME modelota-agent)
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS
    "${ota_llama_dep}${ota_deb_base}, ${ota_deb_crypto}, libcurl4, libsqlite3-0, libzstd1, libre2-9, libsimdjson14")
set(CPACK_DEBIAN_AGENT_PACKAGE_RECOMMENDS "systemd")
# What linking the static app library needs (docs/packaging.md).
set(CPACK_DEBIAN_AGENT_PACKAGE_SUGGESTS
    "libsodium-dev, libzstd-dev, libsqlite3-dev, libre2-dev, libssl-dev, libsimdjson-dev, nlohmann-json3-dev, pkg-config")
set(CPACK_COMPONENT_AGENT_DESCRIPTION
    "ModelOTA device agent\nota-agentd (the resident agent, as the ota-agentd systemd service) and\nota-agent keep a device's machine-learning models up to date over the air:\nverified downloads, shadow tests, atomic switches and rollbacks. Also the\napp library with its C API (ota/agent.h), a CMake package and a\npkg-config file for apps that lease the installed models.")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/agent/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/agent/prerm
    ${CMAKE_SOURCE_DIR}/packaging/debian/agent/postrm
    ${CMAKE_SOURCE_DIR}/packaging/debian/agent/conffiles)

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME modelota-server)
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS
    "${ota_deb_base}, ${ota_deb_crypto}, libcurl4, libsqlite3-0, libpq5, libsimdjson14, libcpp-httplib0.11")
set(CPACK_DEBIAN_SERVER_PACKAGE_RECOMMENDS "systemd")
set(CPACK_COMPONENT_SERVER_DESCRIPTION
    "ModelOTA fleet server\nota-server serves a signed model repository, enrolls devices, collects\ntheir signed reports and runs staged rollouts (the ota-server systemd\nservice).")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/server/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/server/prerm
    ${CMAKE_SOURCE_DIR}/packaging/debian/server/postrm
    ${CMAKE_SOURCE_DIR}/packaging/debian/server/conffiles)

set(CPACK_DEBIAN_CLI_PACKAGE_NAME modelota-cli)
set(CPACK_DEBIAN_CLI_PACKAGE_DEPENDS
    "${ota_llama_dep}${ota_deb_base}, ${ota_deb_crypto}, libcurl4, libsqlite3-0, libpq5, libzstd1, libre2-9, libsimdjson14, libcpp-httplib0.11")
set(CPACK_COMPONENT_CLI_DESCRIPTION
    "ModelOTA operator tools\notactl: keys, the signed repository, bundles, deltas, publishing,\nrollouts, shadow tests, drills and audits. ota-tuf-client: the TUF client\nbehind the conformance suite's protocol.")

set(CPACK_DEBIAN_LLAMA_PACKAGE_NAME modelota-llama)
set(CPACK_DEBIAN_LLAMA_PACKAGE_DEPENDS "${ota_deb_base}, libgomp1")
set(CPACK_COMPONENT_LLAMA_DESCRIPTION
    "llama.cpp libraries for ModelOTA\nThe pinned llama.cpp release ModelOTA is tested with, as private shared\nlibraries in /usr/lib/modelota/llama (with its headers and CMake files\nfor the app library).")

# The JNI library has the agent linked in statically: it loads what the
# agent's programs load, and a JVM (Java 8 class files) runs the jar.
set(CPACK_DEBIAN_JAVA_PACKAGE_NAME modelota-java)
set(CPACK_DEBIAN_JAVA_PACKAGE_DEPENDS
    "${ota_llama_dep}${ota_deb_base}, ${ota_deb_crypto}, libcurl4, libsqlite3-0, libzstd1, libre2-9, libsimdjson14, default-jre-headless | java8-runtime-headless")
set(CPACK_COMPONENT_JAVA_DESCRIPTION
    "Java binding of the ModelOTA in-process updater\nmodelota.jar (package com.modelota) and its JNI library, for JVM programs\nthat keep their own machine-learning models up to date over the air, in\ntheir own process: verified downloads, shadow tests, atomic switches and\nrollbacks, and leases of the installed models.")

include(CPack)
