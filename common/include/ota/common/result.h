// Errors as values. Every fallible function in ModelOTA returns Result<T>.
//
// The error code tells the caller what to do next, not merely what went wrong:
// retry later, restart the deployment, never retry on this device, or never
// retry this artifact. Messages are one precise, human-readable line.
#ifndef OTA_COMMON_RESULT_H_
#define OTA_COMMON_RESULT_H_

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ota {

enum class ErrorCode {
  kInvalidArgument,    // The caller's input is malformed; fix the input.
  kNotFound,           // The named thing does not exist.
  kRetryLater,         // Transient (network, busy server): retry with backoff.
  kRestartDeployment,  // Local state is unusable; start the deployment over.
  kIncompatible,       // This device cannot use it; do not retry here.
  kIntegrity,          // Bad hash, signature, length: never retry this artifact.
  kSecurity,           // Trust failure (expired, rolled back, below threshold).
  kIo,                 // Local I/O failure (permission, device error).
  kNoSpace,            // The filesystem is full (ENOSPC, EDQUOT): free space, then retry.
  kCancelled,          // Stopped on request (shutdown).
  kInternal,           // A bug or an unexpected library failure.
};

// Stable lower-case name of a code, for logs, JSON and the CLI.
std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  // "code: message", for one-line reports.
  std::string ToString() const;
};

inline Error MakeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

// A value or an Error. Modelled on std::expected (C++23) so that the switch is
// mechanical later.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design.
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design.

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status Ok() { return Status(); }

}  // namespace ota

#define OTA_CONCAT_INNER_(a, b) a##b
#define OTA_CONCAT_(a, b) OTA_CONCAT_INNER_(a, b)

// Returns the error of a Result<...> expression from the enclosing function.
#define OTA_TRY(expr)                            \
  do {                                           \
    auto&& ota_try_result_ = (expr);             \
    if (!ota_try_result_.ok()) {                 \
      return std::move(ota_try_result_).error(); \
    }                                            \
  } while (false)

// `OTA_ASSIGN_OR_RETURN(auto x, F());` declares x from F()'s value or returns
// F()'s error.
#define OTA_ASSIGN_OR_RETURN(lhs, expr) \
  OTA_ASSIGN_OR_RETURN_IMPL_(OTA_CONCAT_(ota_result_, __LINE__), lhs, expr)
#define OTA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).error();    \
  lhs = std::move(tmp).value()

#endif  // OTA_COMMON_RESULT_H_
