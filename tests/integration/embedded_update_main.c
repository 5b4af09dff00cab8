/* One update cycle through the in-process updater of the C API, as an app
 * would run it: for the power-loss table (tests/integration/power_loss_test.cc),
 * which kills this process at every crash point as it does ota-agent.
 *   embedded-update STATE_DIR [CONFIRM_WINDOW_SECONDS]
 * Prints the cycle's outcomes (JSON) and exits as `ota-agent update` does: 0,
 * 3 when a model failed or was deferred (one confirming is neither), or 1
 * after printing the error. The state folder must be enrolled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota/agent.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: embedded-update STATE_DIR [CONFIRM_WINDOW_SECONDS]\n");
    return 2;
  }
  ota_updater_config config;
  ota_updater_config_init(&config);
  config.state_dir = argv[1];
  if (argc == 3) config.confirm_window_seconds = strtol(argv[2], NULL, 10);
  ota_updater* updater = NULL;
  if (ota_updater_open(&config, &updater) != OTA_OK) {
    fprintf(stderr, "open: %s\n", ota_last_error());
    return 1;
  }
  char* json = NULL;
  const ota_status status = ota_updater_update(updater, NULL, NULL, &json);
  int rc = status == OTA_OK ? 0 : 1;
  if (json != NULL) {
    printf("%s\n", json);
    if (rc == 0 && (strstr(json, "\"outcome\":\"failed\"") != NULL ||
                    strstr(json, "\"outcome\":\"deferred\"") != NULL)) {
      rc = 3;
    }
  }
  ota_free_string(json);
  if (status != OTA_OK) fprintf(stderr, "update: %s\n", ota_last_error());
  ota_updater_close(updater);
  return rc;
}
