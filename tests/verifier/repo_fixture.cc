#include "repo_fixture.h"

#include "ota/manifest/tuf_metadata.h"
#include "ota/verifier/signing.h"

namespace ota::testing {

std::uint64_t FakeRandom::Next() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void FakeRandom::Fill(std::span<std::uint8_t> out) {
  for (std::uint8_t& b : out) b = static_cast<std::uint8_t>(Next());
}

RepoFixture::RepoFixture()
    : repo_dir(tmp.Sub("repo")),
      device_dir(tmp.Sub("device/metadata")),
      http(kBaseUrl, tmp.Sub("repo")) {
  env.clock = &clock;
  env.random = &random;
  env.fs = fs.get();
  env.http = &http;
  root_key = NewKey();
  targets_key = NewKey();
  snapshot_key = NewKey();
  timestamp_key = NewKey();
}

verifier::PrivateKey RepoFixture::NewKey() {
  auto key = verifier::GenerateEd25519Key(random);
  EXPECT_TRUE(key.ok());
  return *key;
}

void RepoFixture::InitRepo(bool consistent_snapshot) {
  ASSERT_OK(ota::repo::InitRepository(env, repo_dir, Keys(), consistent_snapshot, policy));
  ASSERT_OK(verifier::InitTrustedRoot(*fs, device_dir, ReadMetadata("1.root.json")));
}

verifier::UpdaterOptions RepoFixture::Options() const {
  verifier::UpdaterOptions o;
  o.metadata_dir = device_dir;
  o.metadata_base_url = std::string(kBaseUrl) + "metadata/";
  o.targets_base_url = std::string(kBaseUrl) + "targets/";
  return o;
}

void RepoFixture::AddTarget(const std::string& target_path, const std::string& content,
                            const nlohmann::json& custom) {
  const std::string source = tmp.Sub("sources/" + target_path);
  WriteTestFile(source, content);
  ASSERT_OK(ota::repo::AddTarget(env, repo_dir, target_path, source, custom, Keys(), policy));
}

std::string RepoFixture::MetadataPath(const std::string& name) const {
  return repo_dir + "/metadata/" + name;
}

std::string RepoFixture::ReadMetadata(const std::string& name) const {
  return ReadTestFile(MetadataPath(name));
}

void RepoFixture::WriteMetadata(const std::string& name, const std::string& bytes) const {
  WriteTestFile(MetadataPath(name), bytes);
}

nlohmann::json RepoFixture::SignedOf(const std::string& name) const {
  auto envelope = manifest::ParseEnvelope(ReadMetadata(name));
  EXPECT_TRUE(envelope.ok()) << name;
  return envelope.ok() ? envelope->signed_json : nlohmann::json();
}

std::string RepoFixture::Sign(const nlohmann::json& signed_obj,
                              const std::vector<const verifier::PrivateKey*>& keys) {
  auto bytes = verifier::SignEnvelope(signed_obj, keys);
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? *bytes : std::string();
}

}  // namespace ota::testing
