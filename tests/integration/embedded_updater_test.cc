// The in-process updater of the C API (ota/agent.h) against a real
// ota-server on loopback: enrollment by the first open, get_model's
// policies, progress and cancellation with resume, download conditions from
// the bundle's signed policy, and a host-supplied transport that moves the
// bytes while the updater verifies them.
#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ota/agent.h"
#include "ota/common/env.h"
#include "ota/common/http.h"
#include "repo_fixture.h"

namespace ota {
namespace {

class EmbeddedUpdaterTest : public testing::RepoFixture {
 protected:
  void SetUp() override {
    RepoFixture::SetUp();
    testing::WriteTestFile(dir_.Sub("prompts/chat.txt"), "Answer briefly: {{q}}\n");
    // Random weights: the built-in shadow checks are not what this covers.
    build_extra_ = {"--shadow-skip", "embedded updater test: random weights"};
    root_file_ = dir_.Sub("repo/metadata/root.json");
  }

  void TearDown() override {
    if (updater_ != nullptr) ota_updater_close(updater_);
  }

  ota_updater_config Config() {
    ota_updater_config c;
    ota_updater_config_init(&c);
    state_ = dir_.Sub("app-files/ota");
    c.state_dir = state_.c_str();
    c.server_url = url_.c_str();
    c.trusted_root_file = root_file_.c_str();
    c.models = models_;
    c.model_count = 1;
    c.enrollment_token = enrollment_token_.c_str();
    return c;
  }

  void Open(const ota_updater_config& c) {
    ASSERT_EQ(ota_updater_open(&c, &updater_), OTA_OK) << ota_last_error();
  }

  // The last outcome of an update's JSON (the whole list under "all").
  static nlohmann::json Outcome(char* json) {
    auto all = nlohmann::json::parse(json == nullptr ? "null" : json, nullptr, false);
    ota_free_string(json);
    // A cycle may report a resumed deployment before the check's own.
    if (!all.is_array() || all.empty()) return nlohmann::json();
    nlohmann::json last = all.back();
    last["all"] = all;
    return last;
  }

  std::string LeasedVersion(ota_model_policy policy) {
    ota_lease* lease = nullptr;
    const ota_status s = ota_updater_get_model(updater_, "chat", policy, &lease);
    if (s != OTA_OK) return std::string("error: ") + ota_status_name(s) + ": " + ota_last_error();
    std::string version = ota_lease_version(lease);
    ota_lease_release(lease);
    return version;
  }

  std::string root_file_;
  std::string state_;
  const char* models_[1] = {"chat"};
  ota_updater* updater_ = nullptr;
};

struct Progress {
  std::vector<std::uint64_t> done;
  std::uint64_t total = 0;
  ota_updater* cancel_after_first = nullptr;
  // Calls back into this updater from inside the callback, once.
  ota_updater* reenter = nullptr;
  std::vector<ota_status> reentered;
};

void OnProgress(const char* model, unsigned long long done, unsigned long long total, void* user) {
  auto* p = static_cast<Progress*>(user);
  EXPECT_STREQ(model, "chat");
  p->done.push_back(done);
  p->total = total;
  if (p->cancel_after_first != nullptr && done > 0) ota_updater_cancel(p->cancel_after_first);
  if (p->reenter != nullptr && p->reentered.empty()) {
    // Each would wait for the update this callback runs in: refused, not stuck.
    char* json = nullptr;
    p->reentered.push_back(ota_updater_check(p->reenter, &json));
    p->reentered.push_back(ota_updater_update(p->reenter, nullptr, nullptr, nullptr));
    ota_lease* lease = nullptr;
    p->reentered.push_back(ota_updater_get_model(p->reenter, "chat", OTA_MODEL_LATEST, &lease));
    p->reentered.push_back(ota_updater_wait(p->reenter, nullptr));
    // What does not wait works.
    p->reentered.push_back(ota_updater_set_conditions(p->reenter, "{}"));
  }
}

TEST_F(EmbeddedUpdaterTest, FirstOpenEnrollsAndGetModelPoliciesServeTheRightVersion) {
  Publish("1.0.0", 1);
  StartServer();
  Open(Config());
  // Nothing installed: local only has nothing to give.
  ota_lease* lease = nullptr;
  EXPECT_EQ(ota_updater_get_model(updater_, "chat", OTA_MODEL_LOCAL_ONLY, &lease),
            OTA_ERR_NOT_FOUND);
  // Latest: waits for the first install.
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LATEST), "1.0.0");
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LOCAL_ONLY), "1.0.0");

  // Local now, update in the background.
  Publish("1.1.0", 2);
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LOCAL_THEN_BACKGROUND), "1.0.0");
  char* background = nullptr;
  ASSERT_EQ(ota_updater_wait(updater_, &background), OTA_OK) << ota_last_error();
  EXPECT_EQ(Outcome(background)["outcome"], "confirming");  // Switched, in its window.
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LOCAL_ONLY), "1.1.0");
  // The result is returned once.
  ASSERT_EQ(ota_updater_wait(updater_, &background), OTA_OK);
  EXPECT_EQ(background, nullptr);

  // The app's session reports reach the same state folder.
  ASSERT_EQ(ota_updater_get_model(updater_, "chat", OTA_MODEL_LOCAL_ONLY, &lease), OTA_OK);
  EXPECT_EQ(
      ota_agent_report_session(ota_updater_agent(updater_), ota_lease_version_id(lease), 1, "ok"),
      OTA_OK);
  ota_lease_release(lease);

  // The app closes and starts again more often than --confirm-max-restarts
  // (3) allows crashes within 1.1.0's confirmation window: clean closes are
  // no crash loop. Later opens need no enrollment fields.
  for (int launch = 0; launch < 5; ++launch) {
    ota_updater_close(updater_);
    updater_ = nullptr;
    ota_updater_config again;
    ota_updater_config_init(&again);
    again.state_dir = state_.c_str();
    Open(again);
  }
  char* json = nullptr;
  ASSERT_EQ(ota_updater_update(updater_, nullptr, nullptr, &json), OTA_OK) << ota_last_error();
  EXPECT_EQ(Outcome(json)["outcome"], "confirming");
  ASSERT_EQ(ota_updater_check(updater_, &json), OTA_OK) << ota_last_error();
  auto checked = nlohmann::json::parse(json);
  ota_free_string(json);
  ASSERT_EQ(checked.size(), 1u);
  EXPECT_EQ(checked[0]["active"]["version"], "1.1.0");
  EXPECT_FALSE(checked[0]["update_available"].get<bool>());
}

// The drain of the app's own session, in its own process: under "defer" a
// session on the old version holds the background update's switch back
// (the version stays staged, the outcome says why), and the next update
// switches once the session ended; under "switch-new-first" the switch is
// at once and the running session keeps reading the old version's files.
TEST_F(EmbeddedUpdaterTest, TheAppsOwnSessionIsDrainedBeforeItsBackgroundUpdateSwitches) {
  Publish("1.0.0", 1);
  StartServer();
  ota_updater_config c = Config();
  c.drain_policy = "defer";
  c.drain_deadline_ms = 50;
  c.confirm_window_seconds = 0;  // Each switch commits: the next update may follow.
  Open(c);
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LATEST), "1.0.0");

  Publish("1.1.0", 2);
  ota_lease* session = nullptr;
  ASSERT_EQ(ota_updater_get_model(updater_, "chat", OTA_MODEL_LOCAL_THEN_BACKGROUND, &session),
            OTA_OK);
  EXPECT_STREQ(ota_lease_version(session), "1.0.0");
  const std::string old_model = ota_lease_model_path(session);
  const std::string old_bytes = testing::ReadTestFile(old_model);
  char* json = nullptr;
  ASSERT_EQ(ota_updater_wait(updater_, &json), OTA_OK) << ota_last_error();
  const nlohmann::json deferred = Outcome(json);
  EXPECT_EQ(deferred["outcome"], "deferred") << deferred.dump();
  EXPECT_NE(deferred.value("error", "").find("activation deferred"), std::string::npos)
      << deferred.dump();
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LOCAL_ONLY), "1.0.0");
  ota_lease_release(session);
  ASSERT_EQ(ota_updater_update(updater_, nullptr, nullptr, &json), OTA_OK) << ota_last_error();
  EXPECT_EQ(Outcome(json)["outcome"], "updated");
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LOCAL_ONLY), "1.1.0");

  // The same app, now switching new sessions first.
  ota_updater_close(updater_);
  updater_ = nullptr;
  ota_updater_config again;
  ota_updater_config_init(&again);
  again.state_dir = state_.c_str();
  again.drain_policy = "switch-new-first";
  again.drain_deadline_ms = 50;
  again.confirm_window_seconds = 0;
  Open(again);
  Publish("1.2.0", 3);
  ASSERT_EQ(ota_updater_get_model(updater_, "chat", OTA_MODEL_LOCAL_THEN_BACKGROUND, &session),
            OTA_OK);
  EXPECT_STREQ(ota_lease_version(session), "1.1.0");
  const std::string running_model = ota_lease_model_path(session);
  const std::string running_bytes = testing::ReadTestFile(running_model);
  ASSERT_EQ(ota_updater_wait(updater_, &json), OTA_OK) << ota_last_error();
  EXPECT_EQ(Outcome(json)["outcome"], "updated");
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LOCAL_ONLY), "1.2.0");
  EXPECT_EQ(testing::ReadTestFile(running_model), running_bytes);
  EXPECT_NE(testing::ReadTestFile(running_model), old_bytes);
  ota_lease_release(session);
}

TEST_F(EmbeddedUpdaterTest, RefusesBadConfigurationsWithOneMessage) {
  Publish("1.0.0", 1);
  StartServer();
  ota_updater_config c = Config();
  c.model_count = 0;
  ota_updater* u = nullptr;
  EXPECT_EQ(ota_updater_open(&c, &u), OTA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ota_last_error()).find("server_url, trusted_root_file and models are"),
            std::string::npos)
      << ota_last_error();
  c = Config();
  c.download_policy_json = R"({"rules": [{"network": "wifi"}]})";
  EXPECT_EQ(ota_updater_open(&c, &u), OTA_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(ota_last_error(),
               "download_policy_json.rules[0]: \"network\" must be \"unmetered\" or \"any\", not "
               "\"wifi\"");
  c = Config();
  c.device_facts_json = R"({"total_ram": "lots"})";
  EXPECT_EQ(ota_updater_open(&c, &u), OTA_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ota_last_error()).find("device_facts_json: "), std::string::npos);
  c = Config();
  c.drain_policy = "later";
  EXPECT_EQ(ota_updater_open(&c, &u), OTA_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(ota_last_error(),
               "drain_policy must be \"defer\" or \"switch-new-first\" (got \"later\")");
  c = Config();
  c.drain_deadline_ms = -5;
  EXPECT_EQ(ota_updater_open(&c, &u), OTA_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(ota_last_error(), "drain_deadline_ms must be -1 (the default) or 0 to 86400000");
  EXPECT_EQ(u, nullptr);
  Open(Config());
  EXPECT_EQ(ota_updater_set_conditions(updater_, R"({"network": 3})"), OTA_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(ota_last_error(), "device conditions: \"network\" must be a string");
  ota_lease* lease = nullptr;
  EXPECT_EQ(ota_updater_get_model(updater_, "chat", static_cast<ota_model_policy>(3), &lease),
            OTA_ERR_INVALID_ARGUMENT);
}

TEST_F(EmbeddedUpdaterTest, ACancelledDownloadResumesWithoutFetchingItsBytesAgain) {
  synth_shape_ = {"--layers", "4", "--width", "256"};
  Publish("1.0.0", 1);
  StartServer();
  Open(Config());
  Progress progress;
  progress.cancel_after_first = updater_;
  char* json = nullptr;
  ASSERT_EQ(ota_updater_update(updater_, OnProgress, &progress, &json), OTA_ERR_CANCELLED);
  nlohmann::json first = Outcome(json);
  EXPECT_EQ(first["outcome"], "deferred") << first.dump();
  EXPECT_EQ(first["error_code"], "cancelled") << first.dump();
  const std::uint64_t fetched_first = first["bytes_fetched"].get<std::uint64_t>();
  ASSERT_GT(fetched_first, 0u);
  ASSERT_GT(progress.total, fetched_first) << "the cancel came after the whole download";
  ota_lease* lease = nullptr;
  EXPECT_EQ(ota_updater_get_model(updater_, "chat", OTA_MODEL_LOCAL_ONLY, &lease),
            OTA_ERR_NOT_FOUND);

  Progress rest;
  rest.reenter = updater_;
  ASSERT_EQ(ota_updater_update(updater_, OnProgress, &rest, &json), OTA_OK) << ota_last_error();
  EXPECT_EQ(rest.reentered,
            (std::vector<ota_status>{OTA_ERR_INVALID_ARGUMENT, OTA_ERR_INVALID_ARGUMENT,
                                     OTA_ERR_INVALID_ARGUMENT, OTA_ERR_INVALID_ARGUMENT, OTA_OK}));
  nlohmann::json second = Outcome(json);
  EXPECT_EQ(second["outcome"], "updated") << second.dump();
  EXPECT_EQ(second["bytes_resumed"].get<std::uint64_t>(), fetched_first);
  EXPECT_EQ(second["bytes_fetched"].get<std::uint64_t>() + fetched_first, rest.total);
  ASSERT_FALSE(rest.done.empty());
  EXPECT_EQ(rest.done.back(), rest.total);
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LOCAL_ONLY), "1.0.0");
}

TEST_F(EmbeddedUpdaterTest, TheBundlesSignedPolicyHoldsADownloadUntilTheHostMeetsIt) {
  Publish("1.0.0", 1);
  StartServer();
  Open(Config());
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LATEST), "1.0.0");
  testing::WriteTestFile(dir_.Sub("policy.json"),
                         R"({"rules": [{"charging": true}, {"network": "unmetered"}]})");
  Publish("1.1.0", 2, {}, {"--download-policy", dir_.Sub("policy.json")});

  ASSERT_EQ(ota_updater_set_conditions(updater_, R"({"charging": false, "network": "metered"})"),
            OTA_OK);
  char* json = nullptr;
  ASSERT_EQ(ota_updater_update(updater_, nullptr, nullptr, &json), OTA_OK) << ota_last_error();
  nlohmann::json held = Outcome(json);
  EXPECT_EQ(held["outcome"], "deferred") << held.dump();
  EXPECT_EQ(held["bytes_fetched"], 0);
  EXPECT_NE(held["error"].get<std::string>().find("waiting to download: needs the device charging"),
            std::string::npos)
      << held.dump();
  // Charging, still metered: the second rule holds it.
  ASSERT_EQ(ota_updater_set_conditions(updater_, R"({"charging": true, "network": "metered"})"),
            OTA_OK);
  ASSERT_EQ(ota_updater_update(updater_, nullptr, nullptr, &json), OTA_OK);
  held = Outcome(json);
  EXPECT_NE(held["error"].get<std::string>().find("needs an unmetered network"), std::string::npos)
      << held.dump();
  // The local model is served all along.
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LOCAL_ONLY), "1.0.0");
  ASSERT_EQ(ota_updater_set_conditions(updater_, R"({"charging": true, "network": "unmetered"})"),
            OTA_OK);
  ASSERT_EQ(ota_updater_update(updater_, nullptr, nullptr, &json), OTA_OK);
  // Active, in its confirmation window as under the daemon.
  EXPECT_EQ(Outcome(json)["outcome"], "confirming");
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LOCAL_ONLY), "1.1.0");
}

// A host transport over libcurl that counts what it moved and can flip one
// byte of a bundle, as a broken platform downloader would.
struct HostTransport {
  std::unique_ptr<HttpClient> http = MakeCurlHttpClient();
  int requests = 0;
  int ranged = 0;
  std::atomic<bool> corrupt_bundles{false};
};

ota_status TransportFetch(void* user, const ota_transport_request* request,
                          ota_transport_response* response) {
  auto* t = static_cast<HostTransport*>(user);
  ++t->requests;
  HttpRequest r;
  r.method = request->method;
  r.url = request->url;
  for (std::size_t i = 0; i < request->header_count; ++i) {
    r.headers.emplace_back(request->header_names[i], request->header_values[i]);
  }
  r.body.assign(request->body, request->body_len);
  if (request->range_start >= 0) {
    r.range_start = static_cast<std::uint64_t>(request->range_start);
    ++t->ranged;
  }
  r.max_body_bytes = 256ull << 20;
  auto answer = t->http->Fetch(r);
  if (!answer.ok()) return OTA_ERR_RETRY_LATER;
  ota_transport_set_status(response, answer->status);
  for (const auto& [name, value] : answer->headers) {
    ota_transport_add_header(response, name.c_str(), value.c_str());
  }
  std::string body = answer->body;
  if (t->corrupt_bundles.load() && r.url.find(".otab") != std::string::npos && body.size() > 4096) {
    body[body.size() / 2] = static_cast<char>(body[body.size() / 2] ^ 0x5a);
  }
  // In pieces, as a platform downloader hands them over.
  for (std::size_t at = 0; at < body.size(); at += 8192) {
    if (ota_transport_write(response, body.data() + at,
                            std::min<std::size_t>(8192, body.size() - at)) != 0) {
      return OTA_OK;
    }
  }
  return OTA_OK;
}

TEST_F(EmbeddedUpdaterTest, AHostTransportMovesTheBytesAndTheUpdaterStillVerifiesThem) {
  Publish("1.0.0", 1);
  StartServer();
  HostTransport host;
  host.corrupt_bundles.store(true);
  ota_transport transport{TransportFetch, &host};
  ota_updater_config c = Config();
  c.transport = &transport;
  Open(c);
  char* json = nullptr;
  ASSERT_EQ(ota_updater_update(updater_, nullptr, nullptr, &json), OTA_OK) << ota_last_error();
  EXPECT_GT(host.requests, 0);
  nlohmann::json bad = Outcome(json);
  EXPECT_NE(bad["outcome"], "updated") << bad.dump();
  ota_lease* lease = nullptr;
  EXPECT_EQ(ota_updater_get_model(updater_, "chat", OTA_MODEL_LOCAL_ONLY, &lease),
            OTA_ERR_NOT_FOUND);
  // An honest transport: installed, every byte through the host.
  host.corrupt_bundles.store(false);
  for (int cycle = 0; cycle < 4 && LeasedVersion(OTA_MODEL_LOCAL_ONLY) != "1.0.0"; ++cycle) {
    ASSERT_EQ(ota_updater_update(updater_, nullptr, nullptr, &json), OTA_OK) << ota_last_error();
    ota_free_string(json);
  }
  EXPECT_EQ(LeasedVersion(OTA_MODEL_LOCAL_ONLY), "1.0.0");
  // Everything went through the host, resumed pieces as ranges.
  EXPECT_GT(host.ranged, 0);
}

}  // namespace
}  // namespace ota
