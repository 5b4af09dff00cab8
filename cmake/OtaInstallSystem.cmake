# System integration of the agent and server components: systemd units
# (lib/systemd/system), sysusers.d files (lib/sysusers.d), the services'
# option files in <etc>/default and docs/packaging.md. The units name the
# installed programs, so they are written at install time for the prefix
# being installed to. <etc> is /etc for the /usr prefix (the Debian packages)
# and <prefix>/etc otherwise, decided at install time too.
set(OTA_SYSTEM_DIR ${CMAKE_SOURCE_DIR}/packaging/systemd)

# ota_install_service(COMPONENT UNIT SYSUSERS_NAME): UNIT.service from
# UNIT.service.in, UNIT's option file, and SYSUSERS_NAME.conf.
function(ota_install_service component unit sysusers_name)
  install(CODE "
    if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
      set(OTA_SYSCONFDIR /etc)
    else()
      set(OTA_SYSCONFDIR \"\${CMAKE_INSTALL_PREFIX}/etc\")
    endif()
    set(OTA_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
    set(ota_unit \"${CMAKE_BINARY_DIR}/packaging/\${CMAKE_INSTALL_CONFIG_NAME}/${unit}.service\")
    configure_file(\"${OTA_SYSTEM_DIR}/${unit}.service.in\" \"\${ota_unit}\" @ONLY)
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\" TYPE FILE
         FILES \"\${ota_unit}\")
    file(INSTALL DESTINATION \"\${OTA_SYSCONFDIR}/default\" TYPE FILE
         RENAME ${unit} FILES \"${OTA_SYSTEM_DIR}/${unit}.default\")
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/sysusers.d\" TYPE FILE
         RENAME ${sysusers_name}.conf FILES \"${OTA_SYSTEM_DIR}/${sysusers_name}.sysusers\")
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/doc/${sysusers_name}\"
         TYPE FILE FILES \"${CMAKE_SOURCE_DIR}/docs/packaging.md\")"
    COMPONENT ${component})
endfunction()

ota_install_service(agent ota-agentd modelota-agent)
ota_install_service(server ota-server modelota-server)
