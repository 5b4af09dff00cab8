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
  OTA_ERR_INTERNAL = 6          /* anything else */
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

#ifdef __cplusplus
}
#endif

#endif /* OTA_AGENT_C_API_H_ */
