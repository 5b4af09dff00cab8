// An HttpClient that serves files from a folder, for tests of code that
// downloads from a TUF repository. No sockets: URLs under `base_url` map to
// files under `root_dir`.
#ifndef OTA_TESTS_VERIFIER_FILE_HTTP_CLIENT_H_
#define OTA_TESTS_VERIFIER_FILE_HTTP_CLIENT_H_

#include <map>
#include <string>
#include <vector>

#include "ota/common/http.h"

namespace ota::testing {

class FileHttpClient : public HttpClient {
 public:
  FileHttpClient(std::string base_url, std::string root_dir)
      : base_url_(std::move(base_url)), root_dir_(std::move(root_dir)) {}

  // Behaves like the real client: 404 for missing files, kIntegrity when the
  // body exceeds request.max_body_bytes.
  Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink& sink) override;
  using HttpClient::Fetch;

  // Answers requests for `relative_path` with `status` and `body` instead of
  // the file (an attacker or a broken mirror).
  void Override(const std::string& relative_path, int status, std::string body) {
    overrides_[relative_path] = {status, std::move(body)};
  }
  void ClearOverrides() { overrides_.clear(); }

  // Relative paths requested so far, in order.
  const std::vector<std::string>& requests() const { return requests_; }
  void ClearRequests() { requests_.clear(); }
  bool WasRequested(const std::string& relative_path) const;

 private:
  struct Canned {
    int status;
    std::string body;
  };
  std::string base_url_;
  std::string root_dir_;
  std::map<std::string, Canned> overrides_;
  std::vector<std::string> requests_;
};

}  // namespace ota::testing

#endif  // OTA_TESTS_VERIFIER_FILE_HTTP_CLIENT_H_
