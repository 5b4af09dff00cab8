// The C API (ota/agent.h) over LeaseManager, SessionLog and
// ActiveVersionWatcher. No C++ exception crosses the boundary.
#include "ota/agent.h"

#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>

#include "c_api_internal.h"

namespace ota::agent::capi {

std::string& LastError() {
  thread_local std::string last_error;
  return last_error;
}

}  // namespace ota::agent::capi

using ota::agent::capi::Fail;
using ota::agent::capi::Guard;
using ota::agent::capi::LastError;

extern "C" {

const char* ota_status_name(ota_status status) {
  switch (status) {
    case OTA_OK:
      return "ok";
    case OTA_ERR_INVALID_ARGUMENT:
      return "invalid-argument";
    case OTA_ERR_NOT_FOUND:
      return "not-found";
    case OTA_ERR_RETRY_LATER:
      return "retry-later";
    case OTA_ERR_IO:
      return "io";
    case OTA_ERR_INTEGRITY:
      return "integrity";
    case OTA_ERR_INTERNAL:
      return "internal";
    case OTA_ERR_CANCELLED:
      return "cancelled";
  }
  return "unknown";
}

const char* ota_last_error(void) { return LastError().c_str(); }

ota_status ota_agent_open(const char* state_dir, ota_agent** out) {
  if (state_dir == nullptr || out == nullptr) {
    return Fail(OTA_ERR_INVALID_ARGUMENT, "state_dir and out must not be NULL");
  }
  *out = nullptr;
  return Guard([&] {
    ota::agent::LeaseOptions options;
    options.state_dir = state_dir;
    auto leases = ota::agent::LeaseManager::Open(options);
    if (!leases.ok()) return Fail(leases.error());
    auto agent = std::make_unique<ota_agent>();
    agent->state_dir = state_dir;
    agent->leases = std::move(*leases);
    *out = agent.release();
    return OTA_OK;
  });
}

void ota_agent_close(ota_agent* agent) {
  if (agent == nullptr) return;
  ota_agent_unsubscribe(agent);
  delete agent;
}

ota_status ota_lease_acquire(ota_agent* agent, const char* model, ota_lease** out) {
  if (agent == nullptr || model == nullptr || out == nullptr) {
    return Fail(OTA_ERR_INVALID_ARGUMENT, "agent, model and out must not be NULL");
  }
  *out = nullptr;
  return Guard([&] {
    auto lease = agent->leases->Acquire(model);
    if (!lease.ok()) return Fail(lease.error());
    *out = new ota_lease{std::move(*lease)};
    return OTA_OK;
  });
}

void ota_lease_release(ota_lease* lease) { delete lease; }

const char* ota_lease_model(const ota_lease* l) { return l ? l->lease.model().c_str() : nullptr; }
const char* ota_lease_version(const ota_lease* l) {
  return l ? l->lease.version().c_str() : nullptr;
}
const char* ota_lease_version_id(const ota_lease* l) {
  return l ? l->lease.version_id().c_str() : nullptr;
}
const char* ota_lease_dir(const ota_lease* l) { return l ? l->lease.info().dir.c_str() : nullptr; }
const char* ota_lease_model_path(const ota_lease* l) {
  return l ? l->lease.model_path().c_str() : nullptr;
}
size_t ota_lease_file_count(const ota_lease* l) { return l ? l->lease.files().size() : 0; }
const char* ota_lease_file_path(const ota_lease* l, size_t index) {
  if (l == nullptr || index >= l->lease.files().size()) return nullptr;
  return l->lease.files()[index].path.c_str();
}
const char* ota_lease_file_role(const ota_lease* l, size_t index) {
  if (l == nullptr || index >= l->lease.files().size()) return nullptr;
  return l->lease.files()[index].role.c_str();
}
const char* ota_lease_find_file(const ota_lease* l, const char* relative_path) {
  if (l == nullptr || relative_path == nullptr) return nullptr;
  for (const ota::agent::LeaseFile& f : l->lease.files()) {
    if (f.relative_path == relative_path) return f.path.c_str();
  }
  return nullptr;
}

ota_status ota_agent_active_version(ota_agent* agent, const char* model, char* buf,
                                    size_t buf_len) {
  if (agent == nullptr || model == nullptr || buf == nullptr) {
    return Fail(OTA_ERR_INVALID_ARGUMENT, "agent, model and buf must not be NULL");
  }
  if (buf_len < 65) return Fail(OTA_ERR_INVALID_ARGUMENT, "buf must hold at least 65 bytes");
  return Guard([&] {
    auto id = agent->leases->ActiveVersionId(model);
    if (!id.ok()) return Fail(id.error());
    if (!*id) return Fail(OTA_ERR_NOT_FOUND, "no version of the model is active");
    std::memcpy(buf, (*id)->c_str(), (*id)->size() + 1);
    return OTA_OK;
  });
}

ota_status ota_agent_subscribe(ota_agent* agent, ota_active_callback callback, void* user) {
  if (agent == nullptr || callback == nullptr) {
    return Fail(OTA_ERR_INVALID_ARGUMENT, "agent and callback must not be NULL");
  }
  ota_agent_unsubscribe(agent);
  return Guard([&] {
    auto watcher = ota::agent::ActiveVersionWatcher::Start(
        agent->state_dir, [callback, user](const std::string& model, const std::string& id) {
          callback(model.c_str(), id.c_str(), user);
        });
    if (!watcher.ok()) return Fail(watcher.error());
    std::lock_guard<std::mutex> lock(agent->mu);
    agent->watcher = std::move(*watcher);
    return OTA_OK;
  });
}

void ota_agent_unsubscribe(ota_agent* agent) {
  if (agent == nullptr) return;
  std::unique_ptr<ota::agent::ActiveVersionWatcher> old;
  {
    std::lock_guard<std::mutex> lock(agent->mu);
    old = std::move(agent->watcher);
  }
  // Joined outside the lock: the callback may run until Stop returns.
  old.reset();
}

ota_status ota_agent_report_session(ota_agent* agent, const char* version_id, int ok,
                                    const char* message) {
  if (agent == nullptr || version_id == nullptr) {
    return Fail(OTA_ERR_INVALID_ARGUMENT, "agent and version_id must not be NULL");
  }
  return Guard([&] {
    ota::agent::SessionLog* log = nullptr;
    {
      std::lock_guard<std::mutex> lock(agent->mu);
      if (!agent->sessions) {
        auto opened = ota::agent::SessionLog::Open(agent->state_dir);
        if (!opened.ok()) return Fail(opened.error());
        agent->sessions = std::move(*opened);
      }
      log = agent->sessions.get();
    }
    ota::Status s = log->Report(version_id, ok != 0, message ? message : "");
    if (!s.ok()) return Fail(s.error());
    return OTA_OK;
  });
}

ota_status ota_mirror_open(ota_agent* agent, const char* model, ota_mirror** out) {
  if (agent == nullptr || model == nullptr || out == nullptr) {
    return Fail(OTA_ERR_INVALID_ARGUMENT, "agent, model and out must not be NULL");
  }
  *out = nullptr;
  return Guard([&] {
    ota::agent::MirrorClientOptions options;
    options.state_dir = agent->state_dir;
    options.model = model;
    auto client = ota::agent::MirrorClient::Open(std::move(options));
    if (!client.ok()) return Fail(client.error());
    *out = new ota_mirror{std::move(*client)};
    return OTA_OK;
  });
}

int ota_mirror_offer(ota_mirror* mirror, const char* request, const char* output) {
  if (mirror == nullptr || request == nullptr || output == nullptr) return 0;
  try {
    return mirror->client->Offer(request, output) ? 1 : 0;
  } catch (...) {
    return 0;  // Mirroring must never disturb the app.
  }
}

ota_status ota_mirror_poll(ota_mirror* mirror) {
  if (mirror == nullptr) return Fail(OTA_ERR_INVALID_ARGUMENT, "mirror must not be NULL");
  return Guard([&] {
    ota::Status s = mirror->client->Poll();
    if (!s.ok()) return Fail(s.error());
    return OTA_OK;
  });
}

ota_status ota_mirror_flush(ota_mirror* mirror) {
  if (mirror == nullptr) return Fail(OTA_ERR_INVALID_ARGUMENT, "mirror must not be NULL");
  return Guard([&] {
    ota::Status s = mirror->client->Flush();
    if (!s.ok()) return Fail(s.error());
    return OTA_OK;
  });
}

ota_status ota_mirror_counts(ota_mirror* mirror, unsigned long long* offered,
                             unsigned long long* replayed) {
  if (mirror == nullptr) return Fail(OTA_ERR_INVALID_ARGUMENT, "mirror must not be NULL");
  return Guard([&] {
    const ota::agent::MirrorClientCounts c = mirror->client->Counts();
    if (offered != nullptr) *offered = c.offered;
    if (replayed != nullptr) *replayed = c.replayed;
    return OTA_OK;
  });
}

void ota_mirror_close(ota_mirror* mirror) {
  if (mirror == nullptr) return;
  try {
    mirror->client->Close();
  } catch (...) {
  }
  delete mirror;
}

}  // extern "C"
