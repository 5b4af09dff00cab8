// The one top-level guard every ModelOTA program's main() runs its body in.
//
// Library code returns errors as values (result.h), but a defect can still
// let an exception escape (a std::filesystem or JSON call nobody wrapped).
// Without a guard that ends in std::terminate: the process aborts (exit 134),
// leaves a core file, and says nothing useful. With it, the program prints
// one line and exits with kInternalErrorExit, so supervisors and scripts can
// tell an internal defect from an ordinary failure.
#ifndef OTA_COMMON_MAIN_GUARD_H_
#define OTA_COMMON_MAIN_GUARD_H_

#include <functional>

namespace ota {

// Exit status of a program whose main body threw (EX_SOFTWARE of
// sysexits.h): distinct from 1 (operation failed), 2 (usage) and the
// programs' own codes.
inline constexpr int kInternalErrorExit = 70;

// Runs `body` and returns its exit status. If it throws, prints
// "<program>: internal error: <what>" (one line, to stderr) and returns
// `internal_error_exit`. Never rethrows. Thread-compatible; meant for main().
int RunGuardedMain(const char* program, const std::function<int()>& body,
                   int internal_error_exit = kInternalErrorExit) noexcept;

}  // namespace ota

#endif  // OTA_COMMON_MAIN_GUARD_H_
