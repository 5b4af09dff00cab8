#include "progress.h"

namespace ota::agent {

std::string HumanBytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

ProgressPrinter::ProgressPrinter(std::FILE* out, bool is_terminal)
    : out_(out), tty_(is_terminal), start_(std::chrono::steady_clock::now()) {}

void ProgressPrinter::Update(const std::string& model, std::uint64_t done, std::uint64_t total) {
  const auto now = std::chrono::steady_clock::now();
  if (model != last_model_) {
    Finish();
    last_model_ = model;
    last_quarter_ = -1;
    start_ = now;
  }
  const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  if (!tty_) {
    const int quarter = static_cast<int>(fraction * 4.0);
    if (quarter == last_quarter_) return;
    last_quarter_ = quarter;
    std::fprintf(out_, "download %s: %d%% (%s of %s)\n", model.c_str(),
                 static_cast<int>(fraction * 100.0), HumanBytes(done).c_str(),
                 HumanBytes(total).c_str());
    std::fflush(out_);
    return;
  }
  if (done != total && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(kWidth - filled), ' ');
  const double secs = std::chrono::duration<double>(now - start_).count();
  const std::uint64_t rate = secs > 0 ? static_cast<std::uint64_t>(done / secs) : 0;
  std::fprintf(out_, "\r%s [%s] %3d%% %s/%s %s/s ", model.c_str(), bar.c_str(),
               static_cast<int>(fraction * 100.0), HumanBytes(done).c_str(),
               HumanBytes(total).c_str(), HumanBytes(rate).c_str());
  std::fflush(out_);
  open_line_ = true;
}

void ProgressPrinter::Finish() {
  if (open_line_) {
    std::fputc('\n', out_);
    std::fflush(out_);
    open_line_ = false;
  }
}

}  // namespace ota::agent
