// What the C API's source files share (c_api.cc, c_updater.cc): the handle
// types and the error conventions of ota/agent.h.
#ifndef OTA_AGENT_SRC_C_API_INTERNAL_H_
#define OTA_AGENT_SRC_C_API_INTERNAL_H_

#include <exception>
#include <memory>
#include <mutex>
#include <string>

#include "ota/agent.h"
#include "ota/agent/leases.h"
#include "ota/agent/mirror.h"
#include "ota/agent/notify.h"
#include "ota/agent/sessions.h"
#include "ota/common/result.h"

struct ota_agent {
  std::string state_dir;
  std::unique_ptr<ota::agent::LeaseManager> leases;
  std::mutex mu;  // Guards sessions (opened on first report) and watcher.
  std::unique_ptr<ota::agent::SessionLog> sessions;
  std::unique_ptr<ota::agent::ActiveVersionWatcher> watcher;
};

struct ota_lease {
  ota::agent::Lease lease;
};

struct ota_mirror {
  std::unique_ptr<ota::agent::MirrorClient> client;
};

namespace ota::agent::capi {

// The calling thread's last error message (ota_last_error).
std::string& LastError();

inline ota_status Code(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return OTA_ERR_INVALID_ARGUMENT;
    case ErrorCode::kNotFound:
      return OTA_ERR_NOT_FOUND;
    case ErrorCode::kRetryLater:
      return OTA_ERR_RETRY_LATER;
    case ErrorCode::kIo:
    case ErrorCode::kNoSpace:
      return OTA_ERR_IO;
    case ErrorCode::kIntegrity:
    case ErrorCode::kSecurity:
      return OTA_ERR_INTEGRITY;
    case ErrorCode::kCancelled:
      return OTA_ERR_CANCELLED;
    default:
      return OTA_ERR_INTERNAL;
  }
}

inline ota_status Fail(const Error& e) {
  LastError() = e.message;
  return Code(e.code);
}

inline ota_status Fail(ota_status status, const char* message) {
  LastError() = message;
  return status;
}

// Runs `body`, turning exceptions (allocation failure) into OTA_ERR_INTERNAL.
template <typename F>
ota_status Guard(F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    LastError() = e.what();
  } catch (...) {
    LastError() = "unexpected exception";
  }
  return OTA_ERR_INTERNAL;
}

}  // namespace ota::agent::capi

#endif  // OTA_AGENT_SRC_C_API_INTERNAL_H_
