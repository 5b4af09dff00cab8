#include "ota/manifest/bundle_manifest.h"

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace ota::manifest {
namespace {

using nlohmann::json;

const std::string kHashA(64, 'a');
const std::string kHashB(64, 'b');

json ValidJson() {
  return json{
      {"schema", "modelota.bundle/1"},
      {"name", "chat-small"},
      {"version", "1.2.0"},
      {"model", {{"file", "model.gguf"}, {"format", "gguf"}}},
      {"runtime", {{"name", "llama.cpp"}, {"version", ">=0.5.0"}}},
      {"app_compat", ">=1.0.0 <2.0.0"},
      {"description", "Small chat model"},
      {"files",
       {{{"path", "model.gguf"}, {"size", 123}, {"sha256", kHashA}, {"role", "model"}},
        {{"path", "prompts/system.txt"}, {"size", 0}, {"sha256", kHashB}, {"role", "prompt"}}}}};
}

TEST(BundleManifestTest, ParsesEveryField) {
  Result<BundleManifest> m = ParseBundleManifest(ValidJson().dump());
  ASSERT_OK(m);
  EXPECT_EQ(m->name, "chat-small");
  EXPECT_EQ(ToString(m->version), "1.2.0");
  EXPECT_EQ(m->model.file, "model.gguf");
  EXPECT_EQ(m->model.format, "gguf");
  ASSERT_TRUE(m->runtime.has_value());
  EXPECT_EQ(m->runtime->name, "llama.cpp");
  EXPECT_EQ(m->runtime->version, ">=0.5.0");
  EXPECT_EQ(m->app_compat, ">=1.0.0 <2.0.0");
  EXPECT_EQ(m->description, "Small chat model");
  ASSERT_EQ(m->files.size(), 2u);
  EXPECT_EQ(m->files[0].path, "model.gguf");
  EXPECT_EQ(m->files[0].size, 123u);
  EXPECT_EQ(m->files[0].sha256, kHashA);
  EXPECT_EQ(m->files[1].role, "prompt");
  EXPECT_TRUE(m->extra.empty());
}

TEST(BundleManifestTest, OptionalFieldsMayBeLeftOut) {
  json j = ValidJson();
  j.erase("runtime");
  j.erase("app_compat");
  j.erase("description");
  Result<BundleManifest> m = ParseBundleManifest(j.dump());
  ASSERT_OK(m);
  EXPECT_FALSE(m->runtime.has_value());
  EXPECT_FALSE(m->app_compat.has_value());
  EXPECT_FALSE(m->description.has_value());
  EXPECT_EQ(json::parse(SerializeBundleManifest(*m)), j);
}

TEST(BundleManifestTest, SerializesDeterministicallyWithSortedKeys) {
  json j = ValidJson();
  j.erase("runtime");
  j.erase("app_compat");
  j.erase("description");
  j["files"].erase(1);
  Result<BundleManifest> m = ParseBundleManifest(j.dump());
  ASSERT_OK(m);
  const std::string expected = R"({
  "files": [
    {
      "path": "model.gguf",
      "role": "model",
      "sha256": ")" + kHashA + R"(",
      "size": 123
    }
  ],
  "model": {
    "file": "model.gguf",
    "format": "gguf"
  },
  "name": "chat-small",
  "schema": "modelota.bundle/1",
  "version": "1.2.0"
}
)";
  EXPECT_EQ(SerializeBundleManifest(*m), expected);
}

TEST(BundleManifestTest, RoundTripPreservesUnknownTopLevelFields) {
  json j = ValidJson();
  j["shadow"] = {{"gates", {{"kl_mean", 0.05}}}, {"eval", "eval/eval.json"}};
  j["x-vendor"] = json::array({1, "two", nullptr});
  Result<BundleManifest> m = ParseBundleManifest(j.dump());
  ASSERT_OK(m);
  EXPECT_EQ(m->extra, (json{{"shadow", j["shadow"]}, {"x-vendor", j["x-vendor"]}}));
  const std::string text = SerializeBundleManifest(*m);
  EXPECT_EQ(json::parse(text), j);
  Result<BundleManifest> again = ParseBundleManifest(text);
  ASSERT_OK(again);
  EXPECT_EQ(SerializeBundleManifest(*again), text);
}

TEST(BundleManifestTest, BuildMetadataSurvivesTheRoundTrip) {
  json j = ValidJson();
  j["version"] = "1.2.0-rc.1+git.abc";
  Result<BundleManifest> m = ParseBundleManifest(j.dump());
  ASSERT_OK(m);
  EXPECT_EQ(json::parse(SerializeBundleManifest(*m))["version"], "1.2.0-rc.1+git.abc");
}

struct RejectCase {
  std::string label;
  std::function<void(json&)> mutate;
  std::string message;
};

TEST(BundleManifestTest, RejectsEachRuleWithOneMessageNamingTheField) {
  auto file = [](json& j, int i) -> json& { return j["files"][i]; };
  const std::vector<RejectCase> cases = {
      {"schema missing", [](json& j) { j.erase("schema"); }, "schema is missing"},
      {"schema newer", [](json& j) { j["schema"] = "modelota.bundle/2"; },
       "schema \"modelota.bundle/2\" is not supported"},
      {"name missing", [](json& j) { j.erase("name"); }, "name is missing"},
      {"name type", [](json& j) { j["name"] = 5; }, "name must be a string, not number"},
      {"name upper", [](json& j) { j["name"] = "Chat"; },
       "name \"Chat\" must match [a-z0-9][a-z0-9._-]{0,63}"},
      {"name dash first", [](json& j) { j["name"] = "-chat"; }, "name \"-chat\" must match"},
      {"name empty", [](json& j) { j["name"] = ""; }, "name \"\" must match"},
      {"name slash", [](json& j) { j["name"] = "a/b"; }, "name \"a/b\" must match"},
      {"name long", [](json& j) { j["name"] = std::string(65, 'a'); }, "must match"},
      {"version missing", [](json& j) { j.erase("version"); }, "version is missing"},
      {"version type", [](json& j) { j["version"] = 1; }, "version must be a string, not number"},
      {"version bad", [](json& j) { j["version"] = "1.0"; },
       "version \"1.0\": needs exactly three parts"},
      {"model missing", [](json& j) { j.erase("model"); }, "model is missing"},
      {"model type", [](json& j) { j["model"] = "model.gguf"; },
       "model must be an object, not string"},
      {"model.file missing", [](json& j) { j["model"].erase("file"); }, "model.file is missing"},
      {"model.format missing", [](json& j) { j["model"].erase("format"); },
       "model.format is missing"},
      {"model.format bad", [](json& j) { j["model"]["format"] = "GGUF"; },
       "model.format \"GGUF\" must match"},
      {"model unknown", [](json& j) { j["model"]["quant"] = "q4"; },
       "model has the unknown field \"quant\""},
      {"model.file unlisted", [](json& j) { j["model"]["file"] = "other.gguf"; },
       "model.file \"other.gguf\" is not in files"},
      {"model.file role", [](json& j) { j["model"]["file"] = "prompts/system.txt"; },
       "model.file \"prompts/system.txt\" has role \"prompt\" in files, not \"model\""},
      {"runtime type", [](json& j) { j["runtime"] = "llama.cpp"; },
       "runtime must be an object, not string"},
      {"runtime.name missing", [](json& j) { j["runtime"].erase("name"); },
       "runtime.name is missing"},
      {"runtime.name empty", [](json& j) { j["runtime"]["name"] = ""; },
       "runtime.name must not be empty"},
      {"runtime.version empty", [](json& j) { j["runtime"]["version"] = ""; },
       "runtime.version must not be empty"},
      {"runtime.version type", [](json& j) { j["runtime"]["version"] = 5; },
       "runtime.version must be a string, not number"},
      {"runtime unknown", [](json& j) { j["runtime"]["arch"] = "x86"; },
       "runtime has the unknown field \"arch\""},
      {"app_compat type", [](json& j) { j["app_compat"] = 3; },
       "app_compat must be a string, not number"},
      {"app_compat empty", [](json& j) { j["app_compat"] = ""; }, "app_compat must not be empty"},
      {"app_compat long", [](json& j) { j["app_compat"] = std::string(257, '>'); },
       "app_compat is 257 bytes long, more than the maximum of 256"},
      {"app_compat control", [](json& j) { j["app_compat"] = ">=1.0.0\n"; },
       "app_compat contains a control character"},
      {"description null", [](json& j) { j["description"] = nullptr; },
       "description must be a string, not null"},
      {"files missing", [](json& j) { j.erase("files"); }, "files is missing"},
      {"files type", [](json& j) { j["files"] = json::object(); },
       "files must be an array, not object"},
      {"files empty", [](json& j) { j["files"] = json::array(); },
       "files must list at least one file"},
      {"file type", [&](json& j) { file(j, 1) = "prompts/system.txt"; },
       "files[1] must be an object, not string"},
      {"file unknown", [&](json& j) { file(j, 0)["mode"] = 493; },
       "files[0] has the unknown field \"mode\""},
      {"path missing", [&](json& j) { file(j, 1).erase("path"); }, "files[1].path is missing"},
      {"size missing", [&](json& j) { file(j, 1).erase("size"); }, "files[1].size is missing"},
      {"size negative", [&](json& j) { file(j, 1)["size"] = -1; },
       "files[1].size must be a non-negative integer, not -1"},
      {"size fraction", [&](json& j) { file(j, 1)["size"] = 1.5; },
       "files[1].size must be a non-negative integer, not a fraction or exponent form"},
      {"size string", [&](json& j) { file(j, 1)["size"] = "12"; },
       "files[1].size must be a non-negative integer, not string"},
      {"sha256 upper", [&](json& j) { file(j, 0)["sha256"] = std::string(64, 'A'); },
       "files[0].sha256 must be 64 lower-case hex digits"},
      {"sha256 short", [&](json& j) { file(j, 0)["sha256"] = std::string(63, 'a'); },
       "files[0].sha256 must be 64 lower-case hex digits"},
      {"sha256 type", [&](json& j) { file(j, 0)["sha256"] = 7; },
       "files[0].sha256 must be a string, not number"},
      {"role missing", [&](json& j) { file(j, 1).erase("role"); }, "files[1].role is missing"},
      {"role unknown", [&](json& j) { file(j, 1)["role"] = "weights"; },
       "files[1].role \"weights\" must be one of model, prompt, tool-schema, eval, other"},
      {"dot dot", [&](json& j) { file(j, 1)["path"] = "../x"; },
       "files[1].path \"../x\": has a \"..\" component"},
      {"inner dot dot", [&](json& j) { file(j, 1)["path"] = "a/../../x"; },
       "files[1].path \"a/../../x\": has a \"..\" component"},
      {"absolute", [&](json& j) { file(j, 1)["path"] = "/etc/passwd"; },
       "files[1].path \"/etc/passwd\": is absolute"},
      {"empty component", [&](json& j) { file(j, 1)["path"] = "a//b"; },
       "files[1].path \"a//b\": has an empty component"},
      {"dot", [&](json& j) { file(j, 1)["path"] = "a/./b"; }, "has a \".\" component"},
      {"backslash", [&](json& j) { file(j, 1)["path"] = "a\\b"; }, "contains a backslash"},
      {"trailing slash", [&](json& j) { file(j, 1)["path"] = "prompts/"; }, "ends with '/'"},
      {"empty path", [&](json& j) { file(j, 1)["path"] = ""; }, "files[1].path \"\": is empty"},
      {"nul", [&](json& j) { file(j, 1)["path"] = std::string("a\0b", 3); },
       "contains a NUL or control character"},
      {"control", [&](json& j) { file(j, 1)["path"] = "a\x1b[0m"; },
       "contains a NUL or control character"},
      {"c1 control", [&](json& j) { file(j, 1)["path"] = "a\xc2\x85z"; },
       "contains a NUL or control character"},
      {"long path", [&](json& j) { file(j, 1)["path"] = std::string(256, 'p'); },
       "is 256 bytes long, more than the maximum of 255"},
      {"reserved", [&](json& j) { file(j, 1)["path"] = "bundle.json"; },
       "files[1].path \"bundle.json\": the name is reserved for the manifest itself"},
      {"duplicate", [&](json& j) { file(j, 1)["path"] = "model.gguf"; },
       "files[1].path \"model.gguf\": is listed twice"},
      {"under a file", [&](json& j) { file(j, 1)["path"] = "model.gguf/x"; },
       "files[1].path \"model.gguf/x\": lies under the file \"model.gguf\""},
      {"folder of a file",
       [&](json& j) {
         file(j, 1)["path"] = "prompts";
         j["files"].insert(j["files"].begin() + 1, file(j, 1));
         file(j, 1)["path"] = "prompts/a.txt";
       },
       "files[2].path \"prompts\": is a folder of another file"},
      {"extra deep",
       [](json& j) {
         json deep = json::array();
         for (int i = 0; i < 40; ++i) deep = json::array({deep});
         j["x"] = deep;
       },
       "bundle.json: JSON nesting deeper than 32 levels"},
  };
  for (const RejectCase& c : cases) {
    json j = ValidJson();
    c.mutate(j);
    Result<BundleManifest> m = ParseBundleManifest(j.dump());
    ASSERT_FALSE(m.ok()) << c.label << " was accepted";
    EXPECT_EQ(m.error().code, ErrorCode::kInvalidArgument) << c.label;
    EXPECT_NE(m.error().message.find(c.message), std::string::npos)
        << c.label << " gave: " << m.error().message;
  }
}

TEST(BundleManifestTest, RejectsMalformedDocuments) {
  auto message = [](std::string_view text) {
    Result<BundleManifest> m = ParseBundleManifest(text);
    EXPECT_FALSE(m.ok()) << text;
    return m.ok() ? std::string() : m.error().message;
  };
  EXPECT_NE(message("{").find("bundle.json: invalid JSON"), std::string::npos);
  EXPECT_NE(message("[]").find("bundle.json must be a JSON object, not array"), std::string::npos);
  EXPECT_NE(message("{\"a\":1} x").find("invalid JSON"), std::string::npos);
  // Invalid UTF-8 inside a string.
  EXPECT_NE(message("{\"name\":\"\xff\"}").find("invalid JSON"), std::string::npos);
  std::string dup = ValidJson().dump();
  dup.insert(1, "\"name\":\"other\",");
  EXPECT_NE(message(dup).find("bundle.json: duplicate key \"name\""), std::string::npos);
  std::string nested_dup = ValidJson().dump();
  nested_dup.replace(nested_dup.find("\"file\":"), 7, "\"format\":\"x\",\"file\":");
  EXPECT_NE(message(nested_dup).find("duplicate key \"format\""), std::string::npos);
  const std::string huge(kMaxBundleManifestBytes + 1, ' ');
  EXPECT_NE(message(huge).find("more than the maximum of 4194304"), std::string::npos);
}

TEST(BundleManifestTest, RejectsTooManyFiles) {
  json j = ValidJson();
  for (std::size_t i = j["files"].size(); i <= kMaxBundleFiles; ++i) {
    j["files"].push_back(
        {{"path", "f" + std::to_string(i)}, {"size", 0}, {"sha256", kHashA}, {"role", "other"}});
  }
  Result<BundleManifest> m = ParseBundleManifest(j.dump());
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("files has 10001 entries, more than the maximum of 10000"),
            std::string::npos)
      << m.error().message;
  j["files"].erase(j["files"].size() - 1);
  EXPECT_OK(ParseBundleManifest(j.dump()));
}

TEST(BundlePathTest, AcceptsOrdinaryRelativePaths) {
  for (const char* path : {"model.gguf", "prompts/a b.txt", "a/b/c/d", "..a", "a..", ".hidden",
                           "sub/bundle.json", "ünïcode/файл"}) {
    Status s = ValidateBundlePath(path);
    EXPECT_TRUE(s.ok()) << path << ": " << (s.ok() ? "" : s.error().message);
  }
  EXPECT_OK(ValidateBundlePath(std::string(255, 'p')));
}

TEST(BundlePathTest, RejectsUnsafePaths) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "is empty"},
      {"..", "has a \"..\" component"},
      {".", "has a \".\" component"},
      {"a/..", "has a \"..\" component"},
      {"/a", "is absolute"},
      {"a//b", "has an empty component"},
      {"a/", "ends with '/'"},
      {"a\\..\\b", "contains a backslash"},
      {std::string("a\0", 2), "contains a NUL or control character"},
      {"a\x7f", "contains a NUL or control character"},
      {"\xff", "is not valid UTF-8"},
      {"\xc0\xaf", "is not valid UTF-8"},      // Overlong '/'.
      {"\xed\xa0\x80", "is not valid UTF-8"},  // Surrogate.
      {"\xe2\x82", "is not valid UTF-8"},      // Cut short.
      {std::string(256, 'p'), "more than the maximum of 255"},
  };
  for (const auto& [path, message] : cases) {
    Status s = ValidateBundlePath(path);
    ASSERT_FALSE(s.ok()) << "accepted " << path;
    EXPECT_NE(s.error().message.find(message), std::string::npos) << s.error().message;
  }
}

TEST(BundleManifestTest, ValidateRefusesExtraFieldsThatShadowKnownOnes) {
  Result<BundleManifest> m = ParseBundleManifest(ValidJson().dump());
  ASSERT_OK(m);
  EXPECT_OK(ValidateBundleManifest(*m));
  BundleManifest bad = *m;
  bad.extra["name"] = "other";
  Status s = ValidateBundleManifest(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("extra field \"name\" collides with a known field"),
            std::string::npos);
  bad = *m;
  bad.extra = json::array();
  EXPECT_FALSE(ValidateBundleManifest(bad).ok());
  bad = *m;
  bad.version.prerelease = {"not ok"};
  s = ValidateBundleManifest(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("pre-release identifier 1"), std::string::npos);
}

}  // namespace
}  // namespace ota::manifest
