// Download progress for humans: a redrawn bar on a terminal, a few plain
// lines otherwise (logs and pipes stay readable).
#ifndef OTA_AGENT_CLI_PROGRESS_H_
#define OTA_AGENT_CLI_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace ota::agent {

class ProgressPrinter {
 public:
  ProgressPrinter(std::FILE* out, bool is_terminal);
  void Update(const std::string& model, std::uint64_t done, std::uint64_t total);
  // Ends the bar line, if one is open.
  void Finish();

 private:
  std::FILE* out_;
  bool tty_;
  bool open_line_ = false;
  int last_quarter_ = -1;
  std::string last_model_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// "12.3 MiB" style.
std::string HumanBytes(std::uint64_t bytes);

}  // namespace ota::agent

#endif  // OTA_AGENT_CLI_PROGRESS_H_
