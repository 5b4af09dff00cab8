// console-seed: a real ota-server (the library, on 127.0.0.1, an ephemeral
// port, a fresh SQLite database) with state for the console's browser test:
// an operator token, a rollout of chat 2.0.0 created through the API, two
// enrolled devices that sent signed reports (one confirmed 2.0.0 after a
// passing shadow test, one failed it), and a drills folder with one report.
// Prints one JSON line {"url", "token", "viewer_token", "rollout_id", "device_id",
// "failing_device_id"} and serves until its stdin closes.
//
// Rollout manifests are "published" by a publisher that only keeps them: the
// signing path has tests of its own; here the console is under test.
#include <httplib.h>

#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "ota/common/env.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/server/rollout_publisher.h"
#include "ota/server/server.h"
#include "ota/verifier/keys.h"
#include "test_support.h"

namespace {

using nlohmann::json;

class KeepingPublisher : public ota::server::RolloutPublisher {
 public:
  ota::Status Publish(const ota::manifest::RolloutManifest&) override { return ota::Ok(); }
};

struct Device {
  std::string id;
  ota::verifier::PrivateKey key;
  std::int64_t seq = 0;
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "console-seed: %s\n", message.c_str());
  std::exit(1);
}

template <typename T>
T Must(ota::Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.error().message);
  return std::move(*r);
}

json Call(httplib::Client& c, const std::string& path, const json& body, const std::string& auth,
          int expected) {
  httplib::Headers h;
  if (!auth.empty()) h.emplace("Authorization", "Bearer " + auth);
  auto r = c.Post(path.c_str(), h, body.dump(), "application/json");
  if (!r || r->status != expected) {
    Die("POST " + path + " answered " +
        (r ? std::to_string(r->status) + " " + r->body : "nothing"));
  }
  return json::parse(r->body);
}

void Enroll(httplib::Client& c, const Device& d, const json& facts, const std::string& token) {
  const std::string message = Must(ota::manifest::DeviceFactsSigningBytes(d.id, facts), "facts");
  const std::string sig = Must(ota::verifier::SignBytes(d.key, message), "sign facts");
  Call(c, "/v1/devices",
       {{"device_id", d.id},
        {"public_key", d.key.public_key.public_value},
        {"facts", facts},
        {"facts_signature", sig}},
       token, 201);
}

void Report(httplib::Client& c, Device& d, json event) {
  event["seq"] = ++d.seq;
  event["time"] = "2026-01-01T00:00:00Z";
  json report = {{"device_id", d.id}, {"seq", d.seq}, {"events", json::array({event})}};
  const std::string canonical = Must(ota::manifest::CanonicalJson(report), "canonical report");
  const std::string sig = Must(ota::verifier::SignBytes(d.key, canonical), "sign report");
  Call(c, "/v1/reports", {{"report", report}, {"signature", sig}}, "", 200);
}

json State(const std::string& state, const std::string& version = "2.0.0") {
  return {{"type", "state"}, {"state", state}, {"model", "chat"}, {"version", version}};
}

json CreateRolloutBody() {
  ota::manifest::RolloutManifest m;
  m.rollout_id = "chat-2";
  m.model = "chat";
  m.version = 1;
  m.target.bundle_version = *ota::manifest::ParseVersion("2.0.0");
  for (std::uint32_t percent : {10000u}) {
    ota::manifest::RolloutStage s;
    s.percent_hundredths = percent;
    s.min_soak_seconds = 3600;
    m.stages.push_back(s);
  }
  return {{"manifest", ota::manifest::ToJson(m)},
          {"policy", {{"min_reporting", 1}, {"error_percent", 60}}},
          {"reason", "ship chat 2.0"}};
}

void SeedDevices(httplib::Client& c, const std::string& enroll_token, ota::Random& random) {
  Device good{"pixel-0001", Must(ota::verifier::GenerateEd25519Key(random), "key")};
  Device bad{"pixel-0002", Must(ota::verifier::GenerateEd25519Key(random), "key")};
  Enroll(c, good, {{"app_version", "2.3.0"}, {"region", "eu"}, {"tags", {"beta"}}}, enroll_token);
  Enroll(c, bad, {{"app_version", "2.2.0"}, {"region", "us"}}, enroll_token);
  Report(c, good, State("committed", "1.0.0"));
  Report(c, good, State("downloading"));
  Report(c, good,
         {{"type", "shadow-result"},
          {"verdict", "pass"},
          {"model", "chat"},
          {"version", "2.0.0"},
          {"report",
           {{"applied_gate", "behaviour"},
            {"metrics", {{"mean_kl", "0.012"}, {"same_top1", "0.97"}, {"prompts", 24}}},
            {"rows",
             {{{"metric", "mean_kl"},
               {"value", "0.012"},
               {"threshold", "0.02"},
               {"comparison", "<="},
               {"ok", true}}}}}}});
  Report(c, good, State("confirming"));
  Report(c, good, State("committed"));
  Report(c, bad, State("downloading"));
  json failed = State("failed");
  failed["error_code"] = "integrity";
  failed["error"] = "sha256 of model.gguf does not match the signed target";
  Report(c, bad, failed);
}

void WriteDrill(const ota::testing::TempDir& tmp) {
  json report = {{"scenario", "canary-shadow-fail"},
                 {"passed", true},
                 {"devices", 1000},
                 {"first_failure_at", 1260},
                 {"stopped_at", 4200},
                 {"stopped_state", "halted"},
                 {"stopped_stage", 0},
                 {"rollback_at", 5100},
                 {"max_stage", 0},
                 {"exposed", 31},
                 {"exposed_percent", 3.1},
                 {"back_after_seconds", {{"p50", 900}, {"p95", 2400}, {"max", 3300}}},
                 {"never_back", 0},
                 {"reports_lost", 0},
                 {"stuck", json::array()},
                 {"checks",
                  {{{"name", "stopped_before_stage 1"}, {"passed", true}, {"detail", "halted"}},
                   {{"name", "no report lost"}, {"passed", true}, {"detail", "0 events"}}}}};
  ota::testing::WriteTestFile(tmp.Sub("drills/canary/report.json"), report.dump(2));
  ota::testing::WriteTestFile(
      tmp.Sub("drills/canary/timeline.svg"),
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"200\">"
      "<rect width=\"600\" height=\"200\" fill=\"#f4f6f9\"/>"
      "<polyline points=\"0,190 150,150 300,60 450,120 600,180\" fill=\"none\" "
      "stroke=\"#2456c8\" stroke-width=\"3\"/><text x=\"10\" y=\"20\">devices on 2.0.0</text>"
      "</svg>");
}

}  // namespace

int main() {
  ota::testing::TempDir tmp;
  ota::testing::WriteTestFile(tmp.Sub("repo/timestamp.json"), "{}");
  WriteDrill(tmp);
  const std::string db = tmp.Sub("server.db");
  const std::string token = Must(ota::server::CreateOperatorToken(db, "console-test"), "token");
  const std::string enroll_token =
      Must(ota::server::CreateEnrollmentToken(db, {"factory", 0, 0}), "enrollment token");

  KeepingPublisher publisher;
  ota::server::ServerOptions o;
  o.repo_dir = tmp.Sub("repo");
  o.db_path = db;
  o.port = 0;
  o.quiet = true;
  o.publisher = &publisher;
  o.drills_dir = tmp.Sub("drills");
  ota::server::Server server(o);
  ota::Status started = server.Start();
  if (!started.ok()) Die("cannot start the server: " + started.error().message);

  httplib::Client c("127.0.0.1", server.port());
  Call(c, "/v1/rollouts", CreateRolloutBody(), token, 201);
  auto env = ota::MakePosixEnv();
  SeedDevices(c, enroll_token, *env->env().random);
  const json viewer = Call(c, "/v1/tokens", {{"name", "vera"}, {"role", "viewer"}}, token, 201);

  std::cout << json{{"url", "http://127.0.0.1:" + std::to_string(server.port())},
                    {"token", token},
                    {"viewer_token", viewer.value("token", "")},
                    {"rollout_id", "chat-2"},
                    {"device_id", "pixel-0001"},
                    {"failing_device_id", "pixel-0002"}}
                   .dump()
            << std::endl;
  // Serve until the test closes our stdin (or goes away).
  std::string ignored;
  while (std::getline(std::cin, ignored)) {
  }
  server.Stop();
  return 0;
}
