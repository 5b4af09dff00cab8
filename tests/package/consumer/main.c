/* An app built against the installed ModelOTA package (ota/agent.h only):
 * it watches the agent's state folder through the C API while the installed
 * ota-agent runs one real update cycle, then leases what was installed.
 *
 *   consumer OTA_AGENT STATE URL ROOT TOKEN_FILE ID VERSION [init]
 *   consumer --embedded STATE URL ROOT TOKEN_FILE ID VERSION
 *
 * With `init`, the device is enrolled (ota-agent init) and installs its first
 * version before the app opens the state folder; without it, the app is open
 * and subscribed while the agent updates, and must be told of the switch.
 * Either way bundle ID (chat VERSION) must be active, and a lease must show it
 * with its files. With --embedded there is no ota-agent: the app enrolls a new
 * state folder and installs VERSION itself through the in-process updater,
 * with progress reported. Exit 0 on success; each failed check prints one
 * line. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "ota/agent.h"

extern char** environ;

static int failures = 0;
#define CHECK(cond)                                                                               \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      fprintf(stderr, "consumer: %s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, ota_last_error());                                                           \
      ++failures;                                                                                 \
    }                                                                                             \
  } while (0)

/* Runs argv to completion; returns its exit code (-1 if it did not exit). */
static int run(char* const argv[]) {
  pid_t pid;
  int status = 0;
  if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
    fprintf(stderr, "consumer: cannot run %s: %s\n", argv[0], strerror(errno));
    return -1;
  }
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char notified_model[64];
static char notified_id[65];

static void on_active(const char* model, const char* version_id, void* user) {
  (void)user;
  pthread_mutex_lock(&mu);
  snprintf(notified_model, sizeof notified_model, "%s", model);
  snprintf(notified_id, sizeof notified_id, "%s", version_id);
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}

/* Waits up to 30 s for a notification of `id`; returns 1 if it came. */
static int wait_for_notification(const char* id) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 30;
  pthread_mutex_lock(&mu);
  int rc = 0;
  while (strcmp(notified_id, id) != 0 && rc == 0) {
    rc = pthread_cond_timedwait(&cv, &mu, &deadline);
  }
  int seen = strcmp(notified_id, id) == 0 && strcmp(notified_model, "chat") == 0;
  pthread_mutex_unlock(&mu);
  return seen;
}

static int file_starts_with(const char* path, const char* prefix) {
  char buf[64] = {0};
  FILE* f = fopen(path, "rb");
  if (f == NULL) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  return n >= strlen(prefix) && memcmp(buf, prefix, strlen(prefix)) == 0;
}

/* Leases chat and checks it is bundle `id`, version `version`, with its
 * model and prompt files; reports a successful session on it. */
static void check_lease(ota_agent* agent, const char* id, const char* version) {
  ota_lease* lease = NULL;
  CHECK(ota_lease_acquire(agent, "chat", &lease) == OTA_OK);
  if (lease == NULL) return;
  CHECK(strcmp(ota_lease_model(lease), "chat") == 0);
  CHECK(strcmp(ota_lease_version(lease), version) == 0);
  CHECK(strcmp(ota_lease_version_id(lease), id) == 0);
  CHECK(file_starts_with(ota_lease_model_path(lease), "GGUF"));
  const char* prompt = ota_lease_find_file(lease, "prompts/chat.txt");
  CHECK(prompt != NULL && file_starts_with(prompt, "Answer briefly"));
  CHECK(ota_lease_file_count(lease) >= 2);
  CHECK(ota_agent_report_session(agent, id, 1, "package test session") == OTA_OK);
  printf("consumer: leased chat %s (%.12s...) at %s\n", ota_lease_version(lease),
         ota_lease_version_id(lease), ota_lease_dir(lease));
  ota_lease_release(lease);
}

static unsigned long long progress_done, progress_total;

static void on_progress(const char* model, unsigned long long done, unsigned long long total,
                        void* user) {
  (void)user;
  CHECK(strcmp(model, "chat") == 0);
  progress_done = done;
  progress_total = total;
}

/* The app updates itself: ota_updater_open enrolls STATE, one update
 * installs chat VERSION (bundle ID), get_model leases it. */
static int embedded(char** argv) {
  char *state = argv[2], *url = argv[3], *root = argv[4], *token_file = argv[5];
  char *id = argv[6], *version = argv[7];
  char token[512] = {0};
  FILE* f = fopen(token_file, "r");
  if (f == NULL || fgets(token, sizeof token, f) == NULL) {
    fprintf(stderr, "consumer: cannot read %s\n", token_file);
    return 1;
  }
  fclose(f);
  token[strcspn(token, "\r\n")] = '\0';
  const char* models[] = {"chat"};
  ota_updater_config config;
  ota_updater_config_init(&config);
  config.state_dir = state;
  config.server_url = url;
  config.trusted_root_file = root;
  config.models = models;
  config.model_count = 1;
  config.enrollment_token = token;
  ota_updater* updater = NULL;
  if (ota_updater_open(&config, &updater) != OTA_OK) {
    fprintf(stderr, "consumer: ota_updater_open(%s): %s\n", state, ota_last_error());
    return 1;
  }
  char* outcomes = NULL;
  CHECK(ota_updater_update(updater, on_progress, NULL, &outcomes) == OTA_OK);
  CHECK(outcomes != NULL && strstr(outcomes, "\"updated\"") != NULL);
  if (outcomes != NULL) printf("consumer: in-process update: %s\n", outcomes);
  ota_free_string(outcomes);
  CHECK(progress_total > 0 && progress_done == progress_total);
  ota_lease* lease = NULL;
  CHECK(ota_updater_get_model(updater, "chat", OTA_MODEL_LOCAL_ONLY, &lease) == OTA_OK);
  if (lease != NULL) {
    CHECK(strcmp(ota_lease_version(lease), version) == 0);
    CHECK(strcmp(ota_lease_version_id(lease), id) == 0);
    CHECK(file_starts_with(ota_lease_model_path(lease), "GGUF"));
    ota_lease_release(lease);
  }
  ota_updater_close(updater);
  if (failures == 0) printf("consumer: chat %s installed in process\n", version);
  return failures == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc == 8 && strcmp(argv[1], "--embedded") == 0) return embedded(argv);
  if (argc < 8 || argc > 9 || (argc == 9 && strcmp(argv[8], "init") != 0)) {
    fprintf(stderr,
            "usage: consumer OTA_AGENT STATE URL ROOT TOKEN_FILE ID VERSION [init]\n"
            "       consumer --embedded STATE URL ROOT TOKEN_FILE ID VERSION\n");
    return 2;
  }
  char *agent_program = argv[1], *state = argv[2], *url = argv[3], *root = argv[4];
  char *token_file = argv[5], *id = argv[6], *version = argv[7];
  char* update[] = {agent_program, "--state-dir", state, "--confirm-window", "0", "update", NULL};
  ota_agent* agent = NULL;
  if (argc == 9) {
    /* A state folder is an agent's after its first update: only then can an
     * app open it. */
    char* init[] = {agent_program,
                    "--state-dir",
                    state,
                    "--server",
                    url,
                    "init",
                    "--root",
                    root,
                    "--model",
                    "chat",
                    "--enrollment-token-file",
                    token_file,
                    NULL};
    if (run(init) != 0 || run(update) != 0) return 1;
    if (ota_agent_open(state, &agent) != OTA_OK) {
      fprintf(stderr, "consumer: ota_agent_open(%s): %s\n", state, ota_last_error());
      return 1;
    }
    CHECK(ota_agent_subscribe(agent, on_active, NULL) == OTA_OK);
  } else {
    /* An app running while the agent updates: the switch is announced. */
    if (ota_agent_open(state, &agent) != OTA_OK) {
      fprintf(stderr, "consumer: ota_agent_open(%s): %s\n", state, ota_last_error());
      return 1;
    }
    CHECK(ota_agent_subscribe(agent, on_active, NULL) == OTA_OK);
    CHECK(run(update) == 0);
    CHECK(wait_for_notification(id));
  }
  char active[65];
  CHECK(ota_agent_active_version(agent, "chat", active, sizeof active) == OTA_OK);
  CHECK(strcmp(active, id) == 0);
  check_lease(agent, id, version);

  ota_agent_unsubscribe(agent);
  ota_agent_close(agent);
  if (failures == 0) printf("consumer: chat %s installed and active\n", version);
  return failures == 0 ? 0 : 1;
}
