/* ModelOTA app API in plain C: session leases, session reports and
 * "new version active" notifications for apps in any process.
 *
 *   ota_agent* agent;
 *   if (ota_agent_open("/var/lib/ota", &agent) != OTA_OK) fail(ota_last_error());
 *   ota_lease* lease;
 *   if (ota_lease_acquire(agent, "chat", &lease) == OTA_OK) {
 *     run_session(ota_lease_model_path(lease));   // files stay until release
 *     ota_agent_report_session(agent, ota_lease_version_id(lease), 1, "");
 *     ota_lease_release(lease);
 *   }
 *   ota_agent_close(agent);
 *
 * Errors: every function that can fail returns an ota_status; on failure
 * ota_last_error() returns a one-line message for the calling thread (valid
 * until that thread's next failing call). Handles are opaque.
 *
 * Thread-safety: an ota_agent may be used from many threads at once (acquire,
 * report, active version). An ota_lease belongs to one thread at a time.
 * ota_agent_close must not run concurrently with other calls on the handle,
 * and every lease taken from it must be released first.
 *
 * An app does not need the agent to run, and never takes the agent's lock:
 * leases are shared file locks the kernel drops if the app dies
 * (docs/app-integration.md).
 */
#ifndef OTA_AGENT_C_API_H_
#define OTA_AGENT_C_API_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ota_status {
  OTA_OK = 0,
  OTA_ERR_INVALID_ARGUMENT = 1, /* bad model name, version id, NULL pointer */
  OTA_ERR_NOT_FOUND = 2,        /* no such state folder, or no active version */
  OTA_ERR_RETRY_LATER = 3,      /* the model is switching versions: retry shortly */
  OTA_ERR_IO = 4,               /* files or databases cannot be used */
  OTA_ERR_INTEGRITY = 5,        /* the installed version is unreadable */
  OTA_ERR_INTERNAL = 6,         /* anything else */
  OTA_ERR_CANCELLED = 7         /* ota_updater_cancel stopped the call */
} ota_status;

typedef struct ota_agent ota_agent;
typedef struct ota_lease ota_lease;
typedef struct ota_mirror ota_mirror;

/* Stable lower-case name of a status, e.g. "retry-later". */
const char* ota_status_name(ota_status status);
/* The calling thread's last error message ("" if none). */
const char* ota_last_error(void);

/* Opens the agent's state folder for app use. *out is set on success. */
ota_status ota_agent_open(const char* state_dir, ota_agent** out);
/* Stops any subscription and frees the handle. NULL is ignored. */
void ota_agent_close(ota_agent* agent);

/* Leases the model's active version: its files are neither switched nor
 * removed until ota_lease_release. Waits at most the agent's acquire bound
 * while a switch is in progress (then OTA_ERR_RETRY_LATER). */
ota_status ota_lease_acquire(ota_agent* agent, const char* model, ota_lease** out);
/* Ends the lease and frees it. NULL is ignored. */
void ota_lease_release(ota_lease* lease);

/* Accessors: strings owned by the lease, valid until its release. */
const char* ota_lease_model(const ota_lease* lease);
const char* ota_lease_version(const ota_lease* lease);    /* e.g. "1.1.0" */
const char* ota_lease_version_id(const ota_lease* lease); /* bundle sha256 */
const char* ota_lease_dir(const ota_lease* lease);        /* version folder */
const char* ota_lease_model_path(const ota_lease* lease); /* the model file */
/* The bundle's files (bundle.json order): count, then path and role by index
 * (NULL for an index out of range). Roles: "model", "prompt", "tool-schema",
 * "eval", "other". */
size_t ota_lease_file_count(const ota_lease* lease);
const char* ota_lease_file_path(const ota_lease* lease, size_t index);
const char* ota_lease_file_role(const ota_lease* lease, size_t index);
/* Absolute path of the bundle file listed as `relative_path` (e.g.
 * "prompts/chat.txt"), or NULL if the bundle has no such file. */
const char* ota_lease_find_file(const ota_lease* lease, const char* relative_path);

/* Copies the model's active version id (64 hex digits and a NUL) into buf,
 * which must hold at least 65 bytes. OTA_ERR_NOT_FOUND if none is active. */
ota_status ota_agent_active_version(ota_agent* agent, const char* model, char* buf, size_t buf_len);

/* Called on a background thread with (model, new active version id, user)
 * each time the agent activates another version of a model. */
typedef void (*ota_active_callback)(const char* model, const char* version_id, void* user);
/* One subscription per handle: a new one replaces the previous one. */
ota_status ota_agent_subscribe(ota_agent* agent, ota_active_callback callback, void* user);
/* Stops the subscription; after it returns no callback runs. Must not be
 * called from inside the callback. */
void ota_agent_unsubscribe(ota_agent* agent);

/* Records how a session on a version went (ok != 0: success), for the
 * agent's confirmation of a new version. message may be NULL; it is cut to
 * 4096 bytes. */
ota_status ota_agent_report_session(ota_agent* agent, const char* version_id, int ok,
                                    const char* message);

/* Live mirroring (docs/app-integration.md "Live mirroring"): while the agent
 * shadow-tests a candidate version of `model` with mirroring in its policy,
 * the mirror loads the candidate in this process and replays a sample of
 * the offered requests on it in a background thread, within the policy's
 * CPU budget. Only aggregate counts and rates reach the agent (the file
 * <state>/mirror/<model>.<pid>.stats.json); request and output texts never
 * leave this process's memory.
 *
 *   ota_mirror* mirror;
 *   if (ota_mirror_open(agent, "chat", &mirror) == OTA_OK) {
 *     ... after each production answer:
 *     ota_mirror_offer(mirror, request_text, answer_text);
 *     ...
 *     ota_mirror_close(mirror);   (before ota_agent_close)
 *   }
 *
 * A background thread checks for a candidate every 5 s; ota_mirror_poll does
 * it at once. Thread-safety: offer, poll, flush and counts may be called
 * from any thread; close must not run concurrently with them. */
ota_status ota_mirror_open(ota_agent* agent, const char* model, ota_mirror** out);
/* Offers one request (NUL-terminated) and the production model's output.
 * Returns 1 when it was sampled and queued for replay, 0 otherwise (no
 * candidate announced, not sampled, queue full, NULL arguments). Never
 * blocks on a model. */
int ota_mirror_offer(ota_mirror* mirror, const char* request, const char* output);
/* Reads the agent's announcement now: loads an announced candidate (may take
 * seconds), unloads one no longer announced, writes the stats file. */
ota_status ota_mirror_poll(ota_mirror* mirror);
/* Waits for the queued replays to finish, then writes the stats file. */
ota_status ota_mirror_flush(ota_mirror* mirror);
/* Requests offered and replayed for the current candidate (0 when none);
 * either pointer may be NULL. */
ota_status ota_mirror_counts(ota_mirror* mirror, unsigned long long* offered,
                             unsigned long long* replayed);
/* Stops the replays, unloads the candidate, removes this process's stats
 * file and frees the handle. NULL is ignored. */
void ota_mirror_close(ota_mirror* mirror);

/* ---------------------------------------------------------------------
 * The in-process updater (docs/app-integration.md "Phones"): the whole
 * update lifecycle inside the app's process, for platforms where no daemon
 * runs. Downloads, verification, the shadow test, the drain of the app's own
 * sessions, the switch, confirmation and rollback are the daemon's, with the
 * same crash safety: the app may be killed at any moment, and the next open
 * finishes or undoes what was under way.
 *
 *   ota_updater_config config;
 *   ota_updater_config_init(&config);
 *   config.state_dir = files_dir;  config.server_url = url;
 *   config.trusted_root_file = root_json_path;
 *   config.models = models;  config.model_count = 1;
 *   ota_updater* updater;
 *   if (ota_updater_open(&config, &updater) != OTA_OK) fail(ota_last_error());
 *   ota_updater_set_conditions(updater, "{\"network\":\"metered\",\"charging\":false}");
 *   ota_lease* lease;
 *   if (ota_updater_get_model(updater, "chat", OTA_MODEL_LOCAL_THEN_BACKGROUND,
 *                             &lease) == OTA_OK) {
 *     run_session(ota_lease_model_path(lease));
 *     ota_agent_report_session(ota_updater_agent(updater), ota_lease_version_id(lease), 1, "");
 *     ota_lease_release(lease);
 *   }
 *   ... from the platform's background job:
 *   ota_updater_update(updater, on_progress, user, NULL);
 *   ota_updater_close(updater);
 *
 * Thread-safety: every call may come from any thread. Updates never run two
 * at once: a call that would start one while another runs waits for it.
 * From inside the progress callback, the calls that would wait for the
 * running update (check, update, get_model other than LOCAL_ONLY, wait) fail
 * with OTA_ERR_INVALID_ARGUMENT instead; cancel, set_conditions, leases and
 * session reports work there. ota_updater_close must not run concurrently
 * with other calls (nor from the callback), and the leases taken through the
 * updater must be released first. */
typedef struct ota_updater ota_updater;

/* A transport the host supplies (its platform downloader) instead of the
 * built-in libcurl client. Every verification stays in the updater: the
 * transport only moves bytes. */
typedef struct ota_transport_request {
  const char* method; /* "GET", "POST", "HEAD", "DELETE" */
  const char* url;
  const char* const* header_names; /* header_count entries each */
  const char* const* header_values;
  size_t header_count;
  const char* body; /* POST only; body_len bytes */
  size_t body_len;
  /* >= 0: ask for the bytes from this offset on ("Range: bytes=N-"). */
  long long range_start;
} ota_transport_request;
/* Where the transport puts the answer, in this order: the status, headers,
 * then the body bytes as they arrive. */
typedef struct ota_transport_response ota_transport_response;
void ota_transport_set_status(ota_transport_response* response, int http_status);
void ota_transport_add_header(ota_transport_response* response, const char* name,
                              const char* value);
/* Returns 0 to go on, or non-zero when the updater wants no more bytes (the
 * transport then stops and returns). */
int ota_transport_write(ota_transport_response* response, const void* data, size_t len);
typedef struct ota_transport {
  /* Performs one request: OTA_OK once an answer (any HTTP status) has been
   * passed on, OTA_ERR_RETRY_LATER for a transport failure (no connection,
   * cut short), or the value a refused write asked to stop with. */
  ota_status (*fetch)(void* user, const ota_transport_request* request,
                      ota_transport_response* response);
  void* user;
} ota_transport;

typedef struct ota_updater_config {
  const char* state_dir; /* required: a folder private to the app */
  /* Enrollment, used by the first open of a state folder (then recorded). */
  const char* server_url;        /* e.g. https://ota.example.com */
  const char* trusted_root_file; /* the root.json to trust first */
  const char* const* models;     /* model_count names */
  size_t model_count;
  const char* enrollment_token; /* NULL: none */
  const char* ca_bundle_file;   /* NULL: the system's CAs */
  /* Every open. */
  const char* app_version; /* NULL: none; takes part in rollout selectors */
  /* What the host knows of the device where the agent cannot probe it:
   * device-facts.json (docs/formats.md), e.g. {"ram_bytes": 8589934592,
   * "soc": "sm8650", "accelerators": ["npu"], "os": "android-15"}. NULL:
   * the state folder's file as it is. */
  const char* device_facts_json;
  /* The updater's download policy (docs/formats.md "Download policy"),
   * JSON; NULL: the defaults (unmetered above 50 MiB, charging above 500
   * MiB). Bundles and rollouts may override it. */
  const char* download_policy_json;
  /* Confirmation: sessions reported ok that commit a new version, and the
   * window in seconds (see ota-agent's --confirm-*); -1, as
   * ota_updater_config_init sets them: the defaults (3 sessions, 600 s). */
  int confirm_sessions;
  long long confirm_window_seconds;
  const ota_transport* transport; /* NULL: libcurl */
  /* The drain of the app's own sessions before a switch (see ota-agent's
   * --drain-policy): "defer" (wait for the sessions on the old version to
   * end; if they outlast the deadline, keep the old version and try again
   * at the next update) or "switch-new-first" (new sessions get the new
   * version at once, running ones finish on the old files). NULL:
   * "switch-new-first".
   * The deadline in milliseconds; -1, as ota_updater_config_init sets it:
   * 30000. */
  const char* drain_policy;
  long long drain_deadline_ms;
} ota_updater_config;

/* Sets every member to NULL or 0, and the confirmation and drain deadline
 * members to -1. */
void ota_updater_config_init(ota_updater_config* config);

/* Opens the updater: enrolls the state folder on first use, then finishes
 * or undoes whatever a killed process left under way. Refuses a config it
 * cannot use with OTA_ERR_INVALID_ARGUMENT and a root not signed by its own
 * threshold with OTA_ERR_INTEGRITY. */
ota_status ota_updater_open(const ota_updater_config* config, ota_updater** out);
/* Stops and waits for a background update, then frees the handle. */
void ota_updater_close(ota_updater* updater);

/* The app-side handle of the same state folder (leases, session reports,
 * subscriptions), owned by the updater. */
ota_agent* ota_updater_agent(ota_updater* updater);

/* What the host reports about the device now, JSON (docs/formats.md "Device
 * conditions"): {"network": "none"|"metered"|"unmetered", "charging": bool,
 * "idle": bool, "battery_percent": 0..100, "free_storage_bytes": N,
 * "utc_offset_minutes": M}. Call it whenever they change; a running download
 * sees the change within a second. Before the first call every condition
 * counts as met. */
ota_status ota_updater_set_conditions(ota_updater* updater, const char* conditions_json);

/* Refreshes signed metadata and says what an update would do, downloading
 * nothing else. *json_out (free with ota_free_string) is an array with one
 * object per model, as `ota-agent check --json` prints. */
ota_status ota_updater_check(ota_updater* updater, char** json_out);

/* Called with (model, bytes on disk, total bytes, user) while downloading. */
typedef void (*ota_progress_callback)(const char* model, unsigned long long done,
                                      unsigned long long total, void* user);
/* One update cycle of every model: resumes what is under way, then checks
 * and installs what the rollout offers, as far as the download conditions
 * allow. OTA_OK when the cycle ran; per-model outcomes (updated, up-to-date,
 * deferred with the reason, e.g. "waiting to download: needs an unmetered
 * network ...", failed) go to *json_out if not NULL (free with
 * ota_free_string), as `ota-agent update --json` prints.
 * OTA_ERR_CANCELLED when ota_updater_cancel stopped it: what was fetched is
 * kept for the next call. */
ota_status ota_updater_update(ota_updater* updater, ota_progress_callback progress, void* user,
                              char** json_out);
/* Asks the running update (foreground or background), and every call already
 * waiting to start one, to stop: downloads stop at once, no step before the
 * switch starts; those calls return OTA_ERR_CANCELLED. Calls made after it
 * run normally, and resume what was stopped. Safe from any thread. */
void ota_updater_cancel(ota_updater* updater);

typedef enum ota_model_policy {
  /* The version on the device now; nothing is fetched. OTA_ERR_NOT_FOUND
   * when none is installed. */
  OTA_MODEL_LOCAL_ONLY = 0,
  /* The version on the device now, and an update cycle started in the
   * background (none when one is already running). With nothing installed
   * yet, as OTA_MODEL_LATEST. */
  OTA_MODEL_LOCAL_THEN_BACKGROUND = 1,
  /* Runs an update cycle first (waits for it), then the version active. */
  OTA_MODEL_LATEST = 2
} ota_model_policy;

/* Leases the model's active version under `policy` (see ota_lease_acquire
 * for what a lease guarantees). */
ota_status ota_updater_get_model(ota_updater* updater, const char* model, ota_model_policy policy,
                                 ota_lease** out);
/* Waits for the background update get_model started to end, and returns
 * its result once: the status it ended with (as ota_updater_update would
 * have returned it, with ota_last_error() set) and, if json_out is not NULL,
 * its per-model outcomes (free with ota_free_string). When no background
 * update ended since the last wait: OTA_OK and *json_out NULL. */
ota_status ota_updater_wait(ota_updater* updater, char** json_out);

/* Frees a string the updater returned. NULL is ignored. */
void ota_free_string(char* s);

#ifdef __cplusplus
}
#endif

#endif /* OTA_AGENT_C_API_H_ */
