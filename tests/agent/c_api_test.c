/* The C API used from C: builds a tiny state folder, leases, reports a
 * session, watches a switch. Exit code 0 on success; each failed check prints
 * one line. Uses only ota/agent.h and POSIX. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ota/agent.h"

static int failures = 0;
#define CHECK(cond)                                                                            \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
              ota_last_error());                                                               \
      ++failures;                                                                              \
    }                                                                                          \
  } while (0)

static char state[256];

static void write_file(const char* path, const char* text) {
  FILE* f = fopen(path, "w");
  if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(2);
  }
}

/* versions/<id>/ with a model file and a bundle.json naming it. The hashes
 * are not checked by leases (the agent verified the folder when installing). */
static void install(const char* id, const char* version) {
  char path[512];
  char json[1024];
  snprintf(path, sizeof path, "%s/versions/%s", state, id);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/versions/%s/model.gguf", state, id);
  write_file(path, "weights");
  snprintf(json, sizeof json,
           "{\"files\": [{\"path\": \"model.gguf\", \"role\": \"model\", \"sha256\": "
           "\"%064d\", \"size\": 7}], \"model\": {\"file\": \"model.gguf\", \"format\": "
           "\"gguf\"}, \"name\": \"chat\", \"schema\": \"modelota.bundle/1\", \"version\": "
           "\"%s\"}\n",
           0, version);
  snprintf(path, sizeof path, "%s/versions/%s/bundle.json", state, id);
  write_file(path, json);
}

static void point_at(const char* id) {
  char tmp[512], link[512], target[128];
  snprintf(tmp, sizeof tmp, "%s/active/chat.tmp-c", state);
  snprintf(link, sizeof link, "%s/active/chat", state);
  snprintf(target, sizeof target, "../versions/%s", id);
  unlink(tmp);
  if (symlink(target, tmp) != 0 || rename(tmp, link) != 0) {
    fprintf(stderr, "cannot switch pointer: %s\n", strerror(errno));
    exit(2);
  }
}

int ota_test_synth_model(const char* path); /* c_api_test_model.cc */

static int file_contains(const char* path, const char* needle) {
  static char buf[1 << 16];
  FILE* f = fopen(path, "r");
  if (f == NULL) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strstr(buf, needle) != NULL;
}

/* Live mirroring: the agent announces a candidate (a real, synthesized
 * model); the app's mirror loads it, replays an offered request and writes
 * aggregates only; the candidate goes when the announcement does. */
static void check_mirror(ota_agent* agent, const char* current_id) {
  char id_c[65], path[512], json[1024];
  memset(id_c, 'c', 64);
  id_c[64] = '\0';
  install(id_c, "1.2.0");
  snprintf(path, sizeof path, "%s/versions/%s/model.gguf", state, id_c);
  CHECK(ota_test_synth_model(path) == 0);
  snprintf(path, sizeof path, "%s/mirror", state);
  mkdir(path, 0755);
  snprintf(json, sizeof json,
           "{\"schema\": \"modelota.mirror/1\", \"model\": \"chat\", \"deployment_id\": 7, "
           "\"candidate_id\": \"%s\", \"candidate_version\": \"1.2.0\", \"current_id\": "
           "\"%s\", \"sample_rate\": 1, \"cpu_budget\": 1, \"max_new_tokens\": 4, "
           "\"context_length\": 256, \"threads\": 1}",
           id_c, current_id);
  char announcement[512];
  snprintf(announcement, sizeof announcement, "%s/mirror/chat.json", state);
  write_file(announcement, json);

  ota_mirror* mirror = NULL;
  CHECK(ota_mirror_open(agent, "../chat", &mirror) == OTA_ERR_INVALID_ARGUMENT);
  CHECK(ota_mirror_open(NULL, "chat", &mirror) == OTA_ERR_INVALID_ARGUMENT);
  CHECK(ota_mirror_open(agent, "chat", &mirror) == OTA_OK);
  if (mirror == NULL) return;
  CHECK(ota_mirror_poll(mirror) == OTA_OK);
  CHECK(ota_mirror_offer(mirror, "SECRET question about the weather", "SECRET sunny answer") == 1);
  CHECK(ota_mirror_offer(mirror, NULL, "x") == 0);
  CHECK(ota_mirror_flush(mirror) == OTA_OK);
  unsigned long long offered = 0, replayed = 0;
  CHECK(ota_mirror_counts(mirror, &offered, &replayed) == OTA_OK);
  CHECK(offered == 1);
  CHECK(replayed == 1);
  char stats[512];
  snprintf(stats, sizeof stats, "%s/mirror/chat.%d.stats.json", state, (int)getpid());
  CHECK(file_contains(stats, "\"replayed\":1") == 1);
  CHECK(file_contains(stats, "SECRET") == 0);
  CHECK(file_contains(stats, "weather") == 0);

  unlink(announcement); /* The verdict is in: the candidate goes. */
  CHECK(ota_mirror_poll(mirror) == OTA_OK);
  CHECK(access(stats, F_OK) != 0);
  CHECK(ota_mirror_offer(mirror, "after", "the verdict") == 0);
  CHECK(ota_mirror_counts(mirror, &offered, &replayed) == OTA_OK);
  CHECK(replayed == 0);
  ota_mirror_close(mirror);
  ota_mirror_close(NULL);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char notified[128];

static void on_active(const char* model, const char* version_id, void* user) {
  pthread_mutex_lock(&mu);
  snprintf(notified, sizeof notified, "%s=%.8s", model, version_id);
  *(int*)user += 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}

/* Counts switches only (a second subscriber, as a witness). */
static void on_witness(const char* model, const char* version_id, void* user) {
  (void)model;
  (void)version_id;
  pthread_mutex_lock(&mu);
  *(int*)user += 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}

/* Waits until *count reaches n (bounded only as a failure guard). */
static void wait_for_calls(int* count, int n) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&mu);
  while (*count < n) {
    if (pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT) break;
  }
  pthread_mutex_unlock(&mu);
}

int main(void) {
  char id_a[65], id_b[65], path[512];
  memset(id_a, 'a', 64);
  id_a[64] = '\0';
  memset(id_b, 'b', 64);
  id_b[64] = '\0';
  const char* tmp = getenv("TMPDIR");
  snprintf(state, sizeof state, "%s/ota-c-api-XXXXXX", tmp ? tmp : "/tmp");
  if (mkdtemp(state) == NULL) return 2;
  snprintf(path, sizeof path, "%s/active", state);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/versions", state);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/leases", state);
  mkdir(path, 0755);
  install(id_a, "1.0.0");
  install(id_b, "1.1.0");

  ota_agent* agent = NULL;
  CHECK(ota_agent_open("/nonexistent/state", &agent) == OTA_ERR_NOT_FOUND);
  CHECK(strlen(ota_last_error()) > 0);
  CHECK(ota_agent_open(NULL, &agent) == OTA_ERR_INVALID_ARGUMENT);
  CHECK(ota_agent_open(state, &agent) == OTA_OK);
  if (agent == NULL) return 1;

  ota_lease* lease = NULL;
  CHECK(ota_lease_acquire(agent, "chat", &lease) == OTA_ERR_NOT_FOUND);
  CHECK(lease == NULL);
  CHECK(ota_lease_acquire(agent, "../x", &lease) == OTA_ERR_INVALID_ARGUMENT);
  CHECK(strcmp(ota_status_name(OTA_ERR_RETRY_LATER), "retry-later") == 0);

  point_at(id_a);
  char active[65];
  CHECK(ota_agent_active_version(agent, "chat", active, sizeof active) == OTA_OK);
  CHECK(strcmp(active, id_a) == 0);
  CHECK(ota_agent_active_version(agent, "chat", active, 10) == OTA_ERR_INVALID_ARGUMENT);

  CHECK(ota_lease_acquire(agent, "chat", &lease) == OTA_OK);
  if (lease != NULL) {
    CHECK(strcmp(ota_lease_model(lease), "chat") == 0);
    CHECK(strcmp(ota_lease_version(lease), "1.0.0") == 0);
    CHECK(strcmp(ota_lease_version_id(lease), id_a) == 0);
    CHECK(strstr(ota_lease_model_path(lease), "/model.gguf") != NULL);
    CHECK(strstr(ota_lease_dir(lease), id_a) != NULL);
    CHECK(ota_lease_file_count(lease) == 1);
    CHECK(strcmp(ota_lease_file_role(lease, 0), "model") == 0);
    CHECK(strcmp(ota_lease_file_path(lease, 0), ota_lease_model_path(lease)) == 0);
    CHECK(ota_lease_file_path(lease, 1) == NULL);
    CHECK(ota_lease_find_file(lease, "model.gguf") != NULL);
    CHECK(ota_lease_find_file(lease, "other") == NULL);
    CHECK(access(ota_lease_model_path(lease), R_OK) == 0);
    CHECK(ota_agent_report_session(agent, ota_lease_version_id(lease), 1, "fine") == OTA_OK);
    CHECK(ota_agent_report_session(agent, ota_lease_version_id(lease), 0, NULL) == OTA_OK);
    ota_lease_release(lease);
  }
  CHECK(ota_agent_report_session(agent, "1.0.0", 1, "") == OTA_ERR_INVALID_ARGUMENT);
  snprintf(path, sizeof path, "%s/sessions.db", state);
  CHECK(access(path, R_OK) == 0);

  int calls = 0;
  CHECK(ota_agent_subscribe(agent, on_active, &calls) == OTA_OK);
  point_at(id_b);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10; /* A failure guard only: the callback normally comes at once. */
  pthread_mutex_lock(&mu);
  while (calls == 0) {
    if (pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT) break;
  }
  CHECK(calls == 1);
  CHECK(strcmp(notified, "chat=bbbbbbbb") == 0);
  pthread_mutex_unlock(&mu);
  ota_agent_unsubscribe(agent);

  /* Nothing after unsubscribe: a second handle, still subscribed, witnesses
   * two more switches; by the time it has seen both, a watcher left running
   * would have reported the first. */
  ota_agent* witness = NULL;
  int witnessed = 0;
  CHECK(ota_agent_open(state, &witness) == OTA_OK);
  CHECK(witness != NULL && ota_agent_subscribe(witness, on_witness, &witnessed) == OTA_OK);
  point_at(id_a);
  wait_for_calls(&witnessed, 1);
  point_at(id_b);
  wait_for_calls(&witnessed, 2);
  pthread_mutex_lock(&mu);
  CHECK(witnessed == 2);
  CHECK(calls == 1);
  pthread_mutex_unlock(&mu);
  ota_agent_close(witness);

  CHECK(ota_lease_acquire(agent, "chat", &lease) == OTA_OK);
  if (lease != NULL) {
    CHECK(strcmp(ota_lease_version(lease), "1.1.0") == 0);
    ota_lease_release(lease);
  }
  ota_lease_release(NULL);
#ifdef OTA_TEST_HAVE_LLAMA
  check_mirror(agent, id_b);
#endif
  ota_agent_close(agent);
  ota_agent_close(NULL);

  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", state);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", state);
  if (failures == 0) printf("c_api_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
