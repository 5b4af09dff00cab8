// The installed C API imported as a Clang module (what Swift's
// `import ModelOTA` reads): package_test.sh builds this with
// -fmodule-map-file=<prefix>/include/ota/module.modulemap and the
// pkg-config link flags, then runs it.
@import ModelOTA;

int main(void) {
  ota_agent* agent = 0;
  // No state folder there: the call is made and answers as documented.
  return ota_agent_open("/nonexistent/modelota-state", &agent) == OTA_ERR_NOT_FOUND ? 0 : 1;
}
