// Writes the seed corpora of the fuzz targets, with the product's own
// writers: a signed repository (otactl's library), full bundles (plain and
// encrypted), container and compact deltas, a synthesized GGUF model,
// manifests, eval sets, fleet requests and raw HTTP requests.
//   make_fuzz_seeds OUT_DIR     (OUT_DIR/<target>/seed-*)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_fixtures.h"
#include "ota/bundle/delta.h"
#include "ota/common/env.h"
#include "ota/manifest/canonical_json.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/repo/repo.h"
#include "ota/shadow/eval_set.h"
#include "ota/verifier/keys.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class Seeds {
 public:
  explicit Seeds(std::string root) : root_(std::move(root)) {}
  void Add(const std::string& target, const std::string& bytes) {
    fs::create_directories(root_ + "/" + target);
    std::ofstream(root_ + "/" + target + "/seed-" + std::to_string(count_[target]++),
                  std::ios::binary)
        << bytes;
  }

 private:
  std::string root_;
  std::map<std::string, int> count_;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "make_fuzz_seeds: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(ota::Result<T> r, const std::string& what) {
  if (!r.ok()) Die(what + ": " + r.error().message);
  return std::move(*r);
}

void Must(const ota::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.error().message);
}

ota::manifest::RolloutManifest Rollout() {
  using namespace ota::manifest;
  RolloutManifest m;
  m.rollout_id = "chat-2";
  m.model = "chat";
  m.version = 3;
  m.target.bundle_version = *ParseVersion("1.1.0");
  RolloutStage canary;
  canary.percent_hundredths = 100;
  canary.min_soak_seconds = 3600;
  canary.selectors.tags_any_of = {"beta"};
  canary.selectors.app_version = *ParseVersionRange(">=2.0.0 <3.0.0");
  canary.selectors.attributes["soc"] = {"sm8650", "sm8550"};
  RolloutStage all;
  all.percent_hundredths = 10000;
  m.stages = {canary, all};
  m.pins.push_back({*ParseVersionRange("<2.0.0"), *ParseVersion("1.0.0")});
  m.stage_started_at = std::chrono::time_point_cast<std::chrono::seconds>(
      std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)));
  return m;
}

// FuzzedDataProvider takes its integers and booleans from the end.
std::string WithTail(std::string bytes, const std::string& tail) { return bytes + tail; }

std::string Http(const std::string& head, const std::string& body = "") {
  std::string out = head;
  if (!body.empty()) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return out + "\r\n" + body;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) Die("usage: make_fuzz_seeds OUT_DIR");
  const std::string out = argv[1];
  const std::string work = out + "/.work";
  fs::remove_all(out);
  fs::create_directories(work);
  Seeds seeds(out);
  auto env_owner = ota::MakePosixEnv();
  ota::Env env = env_owner->env();

  const ota::fuzz::Versions v =
      Must(ota::fuzz::MakeVersions(*env.fs, work + "/versions"), "versions");

  // TUF metadata: a repository publishing the base bundle.
  std::vector<ota::verifier::PrivateKey> keys;
  for (int i = 0; i < 4; ++i)
    keys.push_back(Must(ota::verifier::GenerateEd25519Key(*env.random), "key"));
  ota::repo::RepoKeys rk{&keys[0], &keys[1], &keys[2], &keys[3]};
  const std::string repo = work + "/repo";
  Must(ota::repo::InitRepository(env, repo, rk, true, {}), "repo init");
  Must(ota::repo::AddTarget(env, repo, "bundles/chat/1.0.0.otab", v.base_bundle,
                            json{{"modelota", {{"name", "chat"}, {"version", "1.0.0"}}}}, rk, {}),
       "publish");
  for (const auto& f : fs::directory_iterator(repo + "/metadata")) {
    if (f.path().extension() == ".json") seeds.Add("tuf_metadata_fuzz", Read(f.path()));
  }

  // Documents.
  seeds.Add("manifests_fuzz", "\x00" + Read(v.base_dir + "/bundle.json"));
  seeds.Add("manifests_fuzz", "\x01" + ota::manifest::ToJson(Rollout()).dump());
  seeds.Add("manifests_fuzz", "\x02" + std::string(ota::shadow::BuiltinEvalSetJson()));
  seeds.Add("manifests_fuzz",
            "\x03"
            "1.2.3-rc.1+build.5");
  seeds.Add("manifests_fuzz",
            "\x04"
            ">=1.0.0 <2.0.0");
  seeds.Add("manifests_fuzz",
            "\x07{\"network\": \"metered\", \"charging\": false, \"idle\": true, "
            "\"battery_percent\": 40, \"free_storage_bytes\": 1000, \"utc_offset_minutes\": -300}");
  seeds.Add("manifests_fuzz",
            "\x08{\"rules\": [{\"above_bytes\": 52428800, \"network\": \"unmetered\"}, "
            "{\"charging\": true, \"idle\": true, \"min_battery_percent\": 20}], \"windows\": "
            "[{\"from\": \"22:00\", \"to\": \"06:00\"}], \"max_bytes_per_second\": 1000}");
  for (const char* drill : {"canary-shadow-fail.json", "power-loss-mid-update.json"}) {
    seeds.Add("manifests_fuzz",
              "\x06" + Read(std::string(OTA_SOURCE_DIR) + "/examples/drills/" + drill));
  }

  // Audit exports: a whole export, and each of its lines alone.
  const std::string audit = Must(ota::fuzz::AuditExportSample(), "audit export");
  seeds.Add("audit_export_fuzz", audit);
  for (std::size_t start = 0, end = 0; (end = audit.find('\n', start)) != std::string::npos;
       start = end + 1) {
    seeds.Add("audit_export_fuzz", audit.substr(start, end - start));
  }

  // Bundles: bundle bytes, 8 bytes of split point (0), the key flag.
  seeds.Add("bundle_stream_fuzz", WithTail(Read(v.base_bundle), std::string(8, '\0') + "\x00"));
  seeds.Add("bundle_stream_fuzz", WithTail(Read(v.target_bundle), std::string(8, '\0') + "\x01"));
  seeds.Add("gguf_layout_fuzz", Read(v.base_dir + "/model.gguf"));

  // Deltas of both forms; the tail byte asks for the right signed facts.
  for (auto form : {ota::bundle::DeltaForm::kContainer, ota::bundle::DeltaForm::kCompact}) {
    ota::bundle::DeltaOptions o;
    o.base_id = ota::fuzz::kBaseId;
    o.target_id = ota::fuzz::kTargetId;
    o.window = 64u << 10;
    o.level = 3;
    o.prefix_level = 3;
    o.container.chunk_size = ota::bundle::kMinChunkSize;
    o.form = form;
    const std::string path = work + "/delta.otab";
    Must(ota::bundle::BuildDelta(*env.fs, v.base_dir, v.target_dir, path, o), "delta");
    seeds.Add("delta_apply_fuzz", WithTail(Read(path), std::string(1, '\0')));
  }

  // Fleet requests: endpoint byte, authorization byte, body.
  const ota::verifier::PrivateKey& device = keys[0];
  const json facts = {{"app_version", "2.1.0"},
                      {"tags", {"beta"}},
                      {"region", "eu"},
                      {"attributes", {{"soc", "sm8650"}}}};
  const std::string facts_sig =
      Must(ota::verifier::SignBytes(
               device, Must(ota::manifest::DeviceFactsSigningBytes("dev-1", facts), "facts bytes")),
           "facts signature");
  const json enroll = {{"device_id", "dev-1"},
                       {"public_key", device.public_key.public_value},
                       {"facts", facts},
                       {"facts_signature", facts_sig}};
  const json report_body = {{"device_id", "dev-1"},
                            {"seq", 2},
                            {"events",
                             {{{"seq", 1},
                               {"type", "state"},
                               {"state", "committed"},
                               {"model", "chat"},
                               {"version", "1.1.0"}},
                              {{"seq", 2},
                               {"type", "shadow-result"},
                               {"verdict", "pass"},
                               {"model", "chat"},
                               {"version", "1.1.0"}}}}};
  const std::string report_sig = Must(
      ota::verifier::SignBytes(device, Must(ota::manifest::CanonicalJson(report_body), "report")),
      "report signature");
  const json report = {{"report", report_body}, {"signature", report_sig}};
  const json create = {{"manifest", ota::manifest::ToJson(Rollout())},
                       {"policy", {{"min_reporting", 2}, {"success_percent", 90}}},
                       {"reason", "ship"}};
  seeds.Add("fleet_api_fuzz", std::string("\x00\x01", 2) + enroll.dump());
  seeds.Add("fleet_api_fuzz", std::string("\x01\x00", 2) + report.dump());
  seeds.Add("fleet_api_fuzz", std::string("\x04\x00", 2) + create.dump());
  seeds.Add("fleet_api_fuzz", std::string("\x09\x00", 2) + json{{"to_version", "1.0.0"}}.dump());
  seeds.Add("fleet_api_fuzz",
            std::string("\x0a\x00", 2) +
                json{{"app_versions", "<2.0.0"}, {"bundle_version", "1.0.0"}}.dump());

  // Raw HTTP requests.
  seeds.Add("http_server_fuzz", Http("GET /v1/health HTTP/1.1\r\nHost: x\r\n"));
  seeds.Add("http_server_fuzz",
            Http("GET /repo/targets/model.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-\r\n"
                 "If-Range: \"x\"\r\n"));
  seeds.Add("http_server_fuzz", Http("HEAD /repo/timestamp.json HTTP/1.1\r\nHost: x\r\n"));
  seeds.Add("http_server_fuzz",
            Http("POST /v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer otae_x\r\n",
                 enroll.dump()));
  seeds.Add("http_server_fuzz", Http("POST /v1/reports HTTP/1.1\r\nHost: x\r\n", report.dump()));
  seeds.Add("http_server_fuzz",
            "POST /v1/reports HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\n{\"a\":\r\n1\r\n1\r\n1\r\n}\r\n0\r\n\r\n");
  seeds.Add("http_server_fuzz",
            Http("GET /v1/rollouts/chat-2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ota_1\r\n") +
                Http("GET /v1/events?device_id=dev-1 HTTP/1.1\r\nHost: x\r\n"));
  fs::remove_all(work);
  std::printf("seeds written to %s\n", out.c_str());
  return 0;
}
