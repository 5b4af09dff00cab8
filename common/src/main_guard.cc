#include "ota/common/main_guard.h"

#include <cstdio>
#include <exception>
#include <string>

namespace ota {
namespace {

// what() texts can hold anything a library put there: keep the report on one
// line.
std::string OneLine(const char* text) {
  std::string line = text != nullptr ? text : "";
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

}  // namespace

int RunGuardedMain(const char* program, const std::function<int()>& body,
                   int internal_error_exit) noexcept {
  try {
    try {
      return body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: internal error: %s\n", program, OneLine(e.what()).c_str());
    } catch (...) {
      std::fprintf(stderr, "%s: internal error: unknown exception\n", program);
    }
  } catch (...) {
    // Building the message itself failed (out of memory): still no abort.
    std::fputs("internal error\n", stderr);
  }
  std::fflush(stderr);
  return internal_error_exit;
}

}  // namespace ota
