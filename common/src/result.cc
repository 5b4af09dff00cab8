#include "ota/common/result.h"

namespace ota {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid-argument";
    case ErrorCode::kNotFound:
      return "not-found";
    case ErrorCode::kRetryLater:
      return "retry-later";
    case ErrorCode::kRestartDeployment:
      return "restart-deployment";
    case ErrorCode::kIncompatible:
      return "incompatible";
    case ErrorCode::kIntegrity:
      return "integrity";
    case ErrorCode::kSecurity:
      return "security";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kNoSpace:
      return "no-space";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

std::string Error::ToString() const { return std::string(ErrorCodeName(code)) + ": " + message; }

}  // namespace ota
