// The fleet endpoints' request handling below HTTP: enrollment (facts,
// signatures, tokens), signed reports (envelope, events, replay), and
// operator actions on rollouts (manifests, policies, actions), operator
// token requests and live drill records, on a real SQLite store. The first
// byte picks the endpoint, the second what the
// Authorization header holds; the rest is the body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fleet_api.h"
#include "fleet_store.h"
#include "fuzz_support.h"
#include "ota/common/env.h"

namespace {

// Accepts every manifest, so that operator actions reach the store.
class AcceptingPublisher : public ota::server::RolloutPublisher {
 public:
  ota::Status Publish(const ota::manifest::RolloutManifest&) override { return ota::Ok(); }
};

struct World {
  std::unique_ptr<ota::OwnedEnv> env = ota::MakePosixEnv();
  std::unique_ptr<ota::Clock> clock = ota::MakeSystemClock();
  std::unique_ptr<ota::server::FleetStore> store;
  AcceptingPublisher publisher;
  std::unique_ptr<ota::server::FleetApi> api;
  std::string enroll_token;
};

World& TheWorld() {
  static World* world = [] {
    auto* w = new World;
    auto store = ota::server::FleetStore::Open(ota::fuzz::ScratchDir() + "/fleet.db", *w->clock);
    ota::fuzz::Require(store.ok(), "cannot open the fleet store");
    w->store = std::move(*store);
    // A quota keeps the fleet (and memory) bounded however long the run.
    auto token = w->store->CreateEnrollmentToken({"fuzz", 1000, 0}, *w->env->env().random);
    ota::fuzz::Require(token.ok(), "cannot create an enrollment token");
    w->enroll_token = *token;
    w->api = std::make_unique<ota::server::FleetApi>(*w->store, *w->clock, &w->publisher);
    return w;
  }();
  return *world;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  World& w = TheWorld();
  const std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::string authorization;
  switch (data[1] % 3) {
    case 1:
      authorization = "Bearer " + w.enroll_token;
      break;
    case 2:
      authorization = "Bearer otae_" + std::string(64, '0');
      break;
    default:
      break;
  }
  static const char* const kActions[] = {"advance",  "pause", "resume", "halt",
                                         "rollback", "pin",   "unpin",  "explode"};
  ota::server::ApiResponse answer;
  const int endpoint = data[0] % 14;
  if (endpoint == 12) {
    answer = w.api->CreateToken("fuzz", body, *w.env->env().random);
  } else if (endpoint == 13) {
    answer = w.api->RecordLiveDrill("fuzz", body);
  } else if (endpoint == 0) {
    answer = w.api->Enroll(body, authorization);
  } else if (endpoint < 4) {
    answer = w.api->Report(body);
  } else if (endpoint == 4) {
    answer = w.api->CreateRollout("fuzz", body);
  } else {
    auto list = w.api->ListRollouts();
    std::string id = "chat-2";
    if (list.body.contains("rollouts") && !list.body["rollouts"].empty()) {
      id = list.body["rollouts"].back().value("rollout_id", id);
    }
    answer = w.api->RolloutAction("fuzz", id, kActions[(endpoint - 5) % 8], body);
    if (data[0] & 0x80) (void)w.api->RunController();
  }
  ota::fuzz::Require(answer.status >= 200 && answer.status < 600, "an answer without a status");
  ota::fuzz::Require(answer.status < 500 || answer.status == 502 || answer.status == 503,
                     "a request made the fleet API fail internally");
  return 0;
}
