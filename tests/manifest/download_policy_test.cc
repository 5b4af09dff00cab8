#include "ota/manifest/download_policy.h"

#include <gtest/gtest.h>

#include "ota/manifest/rollout_manifest.h"
#include "ota/manifest/target_custom.h"
#include "test_support.h"

namespace ota::manifest {
namespace {

using nlohmann::json;

std::string PolicyError(const json& j) {
  auto p = ParseDownloadPolicy(j, "policy");
  return p.ok() ? "" : p.error().message;
}

TEST(DownloadPolicyTest, ParsesRulesWindowsAndCapAndWritesThemBack) {
  const json j = json::parse(R"({"rules": [
      {"above_bytes": 52428800, "network": "unmetered"},
      {"above_bytes": 524288000, "charging": true, "idle": true},
      {"min_battery_percent": 30}],
    "windows": [{"from": "22:30", "to": "06:00"}],
    "max_bytes_per_second": 1000000})");
  auto p = ParseDownloadPolicy(j, "policy");
  ASSERT_OK(p);
  ASSERT_TRUE(p->rules.has_value());
  ASSERT_EQ(p->rules->size(), 3u);
  EXPECT_EQ((*p->rules)[0].above_bytes, 52428800u);
  EXPECT_TRUE((*p->rules)[0].unmetered);
  EXPECT_FALSE((*p->rules)[0].charging);
  EXPECT_TRUE((*p->rules)[1].charging);
  EXPECT_TRUE((*p->rules)[1].idle);
  EXPECT_EQ((*p->rules)[2].above_bytes, 0u);
  EXPECT_EQ((*p->rules)[2].min_battery_percent, 30u);
  ASSERT_TRUE(p->windows.has_value());
  EXPECT_EQ(p->windows->front(), (TimeWindow{22 * 60 + 30, 6 * 60}));
  EXPECT_EQ(p->max_bytes_per_second, 1000000u);
  auto again = ParseDownloadPolicy(ToJson(*p), "policy");
  ASSERT_OK(again);
  EXPECT_EQ(*again, *p);
}

TEST(DownloadPolicyTest, AbsentMembersAreInheritedAndOverlaidFieldByField) {
  auto over = ParseDownloadPolicy(json::parse(R"({"max_bytes_per_second": 5})"), "p");
  ASSERT_OK(over);
  EXPECT_FALSE(over->rules.has_value());
  EXPECT_FALSE(over->windows.has_value());
  const DownloadPolicy merged = OverlayDownloadPolicy(DefaultDownloadPolicy(), *over);
  EXPECT_EQ(merged.rules, DefaultDownloadPolicy().rules);
  EXPECT_EQ(merged.max_bytes_per_second, 5u);
  // An empty list replaces the defaults' rules: no requirement at all.
  auto none = ParseDownloadPolicy(json::parse(R"({"rules": []})"), "p");
  ASSERT_OK(none);
  EXPECT_TRUE(OverlayDownloadPolicy(DefaultDownloadPolicy(), *none).rules->empty());
}

TEST(DownloadPolicyTest, RefusesMalformedPoliciesWithOnePreciseMessage) {
  EXPECT_EQ(PolicyError(json::array()), "policy must be a JSON object");
  EXPECT_EQ(PolicyError(json::parse(R"({"rule": []})")), "policy: \"rule\" is not a known member");
  EXPECT_EQ(PolicyError(json::parse(R"({"rules": [{"above_bytes": 5}]})")),
            "policy.rules[0] requires nothing (give network, charging, idle or "
            "min_battery_percent)");
  EXPECT_EQ(PolicyError(json::parse(R"({"rules": [{"network": "wifi"}]})")),
            "policy.rules[0]: \"network\" must be \"unmetered\" or \"any\", not \"wifi\"");
  EXPECT_EQ(PolicyError(json::parse(R"({"rules": [{"min_battery_percent": 101}]})")),
            "policy.rules[0]: \"min_battery_percent\" must be at most 100");
  EXPECT_EQ(PolicyError(json::parse(R"({"rules": [{"charging": "yes"}]})")),
            "policy.rules[0]: \"charging\" must be true or false");
  EXPECT_EQ(PolicyError(json::parse(R"({"windows": [{"from": "24:00", "to": "01:00"}]})")),
            "policy.windows[0]: \"from\" must be a local time \"HH:MM\" from 00:00 to 23:59, "
            "not \"24:00\"");
  EXPECT_EQ(PolicyError(json::parse(R"({"windows": [{"from": "1:00", "to": "02:00"}]})")),
            "policy.windows[0]: \"from\" must be a local time \"HH:MM\" from 00:00 to 23:59, "
            "not \"1:00\"");
  EXPECT_EQ(PolicyError(json::parse(R"({"windows": [{"from": "03:00", "to": "03:00"}]})")),
            "policy.windows[0] is empty (\"from\" equals \"to\"); leave \"windows\" empty for "
            "any time");
  EXPECT_EQ(PolicyError(json::parse(R"({"max_bytes_per_second": -1})")),
            "policy: \"max_bytes_per_second\" must not be negative");
  json many = {{"windows", json::array()}};
  for (int i = 0; i < 17; ++i) many["windows"].push_back({{"from", "01:00"}, {"to", "02:00"}});
  EXPECT_EQ(PolicyError(many), "policy: \"windows\" has 17 entries; at most 16 are allowed");
}

TEST(DownloadPolicyTest, ParsesHostConditionsAndRefusesBadOnes) {
  auto c = ParseHostConditions(R"({"network": "metered", "charging": false, "idle": false,
      "battery_percent": 40, "free_storage_bytes": 1000, "utc_offset_minutes": -300})");
  ASSERT_OK(c);
  EXPECT_EQ(c->network, NetworkKind::kMetered);
  EXPECT_FALSE(c->charging);
  EXPECT_FALSE(c->idle);
  EXPECT_EQ(c->battery_percent, 40u);
  EXPECT_EQ(c->free_storage_bytes, 1000u);
  EXPECT_EQ(c->utc_offset_minutes, -300);
  auto back = ParseHostConditions(ToJson(*c).dump());
  ASSERT_OK(back);
  EXPECT_EQ(*back, *c);
  // Nothing reported: every condition met.
  auto empty = ParseHostConditions("{}");
  ASSERT_OK(empty);
  EXPECT_EQ(*empty, HostConditions{});

  auto error = [](std::string_view text) {
    auto r = ParseHostConditions(text);
    return r.ok() ? std::string() : r.error().message;
  };
  EXPECT_EQ(error("{"), "device conditions are not JSON");
  EXPECT_EQ(error(R"({"network": "5g"})"),
            "device conditions: \"network\" must be \"none\", \"metered\" or \"unmetered\", "
            "not \"5g\"");
  EXPECT_EQ(error(R"({"battery_percent": 120})"),
            "device conditions: \"battery_percent\" must be at most 100");
  EXPECT_EQ(error(R"({"utc_offset_minutes": 900})"),
            "device conditions: \"utc_offset_minutes\" must be an integer from -840 to 840");
  EXPECT_EQ(error(R"({"roaming": true})"), "device conditions: \"roaming\" is not a known member");
  EXPECT_EQ(error(std::string(70000, ' ')),
            "device conditions are 70000 bytes; at most 65536 are allowed");
}

TEST(DownloadPolicyTest, RolloutManifestsAndBundleTargetsCarryAPolicy) {
  json m = json::parse(R"({"schema": "modelota.rollout/1", "rollout_id": "r1", "model": "chat",
      "version": 1, "target": {"bundle_version": "1.1.0"},
      "stages": [{"percent": 100, "min_soak_seconds": 0}], "current_stage": 0,
      "stage_started_at": "2026-01-01T00:00:00Z", "state": "active",
      "download_policy": {"windows": [{"from": "01:00", "to": "05:00"}]}})");
  auto parsed = RolloutManifestFromJson(m);
  ASSERT_OK(parsed);
  ASSERT_TRUE(parsed->download_policy.has_value());
  EXPECT_EQ(parsed->download_policy->windows->size(), 1u);
  auto round = RolloutManifestFromJson(ToJson(*parsed));
  ASSERT_OK(round);
  EXPECT_EQ(round->download_policy, parsed->download_policy);
  m["download_policy"] = {{"windows", {{{"from", "x"}, {"to", "01:00"}}}}};
  auto bad = RolloutManifestFromJson(m);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("download_policy.windows[0]: \"from\""), std::string::npos)
      << bad.error().message;

  auto custom = ParseTargetCustom(json::parse(R"({"modelota": {"kind": "bundle", "name": "chat",
      "version": "1.2.0", "download_policy": {"rules": [{"charging": true}]}}})"));
  ASSERT_OK(custom);
  ASSERT_TRUE(custom->bundle->download_policy.has_value());
  EXPECT_TRUE(custom->bundle->download_policy->rules->front().charging);
  auto bad_custom = ParseTargetCustom(json::parse(R"({"modelota": {"kind": "bundle",
      "name": "chat", "version": "1.2.0", "download_policy": {"rules": 3}}})"));
  ASSERT_FALSE(bad_custom.ok());
  EXPECT_EQ(bad_custom.error().message,
            "custom.modelota.download_policy: \"rules\" must be an array");
}

}  // namespace
}  // namespace ota::manifest
