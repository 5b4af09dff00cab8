#include "console_assets.h"

#include <algorithm>

#include "http_util.h"

namespace ota::server {
namespace {

constexpr std::string_view kPrefix = "/console/";

std::string_view ContentType(std::string_view name) {
  auto ends = [&](std::string_view ext) { return name.ends_with(ext); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".ico")) return "image/x-icon";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

const std::vector<EmbeddedFile>& Files() {
  static const std::vector<EmbeddedFile> files = ConsoleFiles();
  return files;
}

}  // namespace

bool IsConsolePath(std::string_view path) {
  return path == "/console" || path.starts_with(kPrefix);
}

void ServeConsole(std::string_view path, httplib::Response& res) {
  if (path == "/console") {
    res.status = 301;
    res.set_header("Location", "/console/");
    return;
  }
  std::string_view name = path.substr(kPrefix.size());
  if (name.empty()) name = "index.html";
  const auto& files = Files();
  auto it = std::find_if(files.begin(), files.end(),
                         [&](const EmbeddedFile& f) { return f.name == name; });
  // A security header set on every console answer, errors included.
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  if (it == files.end()) {
    SetJsonError(res, 404, "no such console file: " + std::string(name));
    return;
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("Content-Security-Policy", std::string(kConsoleContentSecurityPolicy));
  res.set_header("X-Frame-Options", "DENY");
  res.set_content(std::string(it->bytes), std::string(ContentType(name)));
}

}  // namespace ota::server
