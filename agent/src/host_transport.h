// The HTTP seam over a transport the host supplies (ota_transport in
// ota/agent.h): the platform's downloader moves the bytes; the rules the
// libcurl client keeps (the body cap, range answers, buffered error bodies)
// are kept here, and every verification stays with the agent.
#ifndef OTA_AGENT_SRC_HOST_TRANSPORT_H_
#define OTA_AGENT_SRC_HOST_TRANSPORT_H_

#include "ota/agent.h"
#include "ota/common/http.h"

namespace ota::agent {

class HostTransportClient : public HttpClient {
 public:
  explicit HostTransportClient(ota_transport transport) : transport_(transport) {}
  using HttpClient::Fetch;
  Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink& sink) override;

 private:
  ota_transport transport_;
};

}  // namespace ota::agent

#endif  // OTA_AGENT_SRC_HOST_TRANSPORT_H_
