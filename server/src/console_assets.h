// The operator console: static files (HTML, CSS, JavaScript modules) built
// into the server binary from server/console (cmake/OtaEmbedFiles.cmake) and
// served under /console/ with a strict Content-Security-Policy
// (docs/console.md). Nothing is read from disk or fetched elsewhere.
//
// Thread-safety: the files are immutable; serving is thread-safe.
#ifndef OTA_SERVER_CONSOLE_ASSETS_H_
#define OTA_SERVER_CONSOLE_ASSETS_H_

#include <httplib.h>

#include <string>
#include <string_view>
#include <vector>

namespace ota::server {

// One embedded file: its name in server/console and its bytes.
struct EmbeddedFile {
  std::string_view name;
  std::string_view bytes;
};

// Generated at build time: every file of server/console, by name.
std::vector<EmbeddedFile> ConsoleFiles();

// The Content-Security-Policy of console pages.
inline constexpr std::string_view kConsoleContentSecurityPolicy =
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

// True when `path` belongs to the console ("/console" or under "/console/").
bool IsConsolePath(std::string_view path);

// Answers GET `path` (a console path): "/console" redirects to "/console/",
// "/console/" is index.html, "/console/<name>" the embedded file; anything
// else 404 (JSON). Files carry their Content-Type, Cache-Control: no-cache,
// the policy above, X-Content-Type-Options: nosniff and no referrer.
void ServeConsole(std::string_view path, httplib::Response& res);

}  // namespace ota::server

#endif  // OTA_SERVER_CONSOLE_ASSETS_H_
