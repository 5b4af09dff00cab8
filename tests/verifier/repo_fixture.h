// A TUF repository written by the operator tools, a device metadata folder,
// and an Env whose HTTP serves the repository folder and whose clock is
// manual. Shared by the verifier and tools tests.
#ifndef OTA_TESTS_VERIFIER_REPO_FIXTURE_H_
#define OTA_TESTS_VERIFIER_REPO_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "file_http_client.h"
#include "ota/common/env.h"
#include "ota/repo/repo.h"
#include "ota/verifier/keys.h"
#include "ota/verifier/updater.h"
#include "test_support.h"

namespace ota::testing {

// Deterministic "randomness" (splitmix64) so keys are the same every run.
class FakeRandom : public Random {
 public:
  explicit FakeRandom(std::uint64_t seed) : state_(seed) {}
  void Fill(std::span<std::uint8_t> out) override;
  std::uint64_t Uniform(std::uint64_t bound) override { return Next() % bound; }

 private:
  std::uint64_t Next();
  std::uint64_t state_;
};

class RepoFixture {
 public:
  static constexpr const char* kBaseUrl = "http://repo.test/";

  RepoFixture();

  // Creates the repository and installs its 1.root.json on the device.
  void InitRepo(bool consistent_snapshot);
  verifier::UpdaterOptions Options() const;
  ota::repo::RepoKeys Keys() const {
    return {&root_key, &targets_key, &snapshot_key, &timestamp_key};
  }

  // Writes `content` to a source file and publishes it as `target_path`.
  void AddTarget(const std::string& target_path, const std::string& content,
                 const nlohmann::json& custom = nullptr);

  // A fresh key (deterministic, distinct from the others).
  verifier::PrivateKey NewKey();

  std::string MetadataPath(const std::string& name) const;
  std::string ReadMetadata(const std::string& name) const;
  void WriteMetadata(const std::string& name, const std::string& bytes) const;
  // The "signed" object of a repository metadata file.
  nlohmann::json SignedOf(const std::string& name) const;
  // Signs `signed_obj` with `keys` into metadata file bytes.
  static std::string Sign(const nlohmann::json& signed_obj,
                          const std::vector<const verifier::PrivateKey*>& keys);

  TempDir tmp;
  ManualClock clock;
  FakeRandom random{42};
  std::unique_ptr<FileSystem> fs = MakePosixFileSystem();
  std::string repo_dir;
  std::string device_dir;
  FileHttpClient http;
  Env env;
  ota::repo::ExpiryPolicy policy;
  verifier::PrivateKey root_key, targets_key, snapshot_key, timestamp_key;
};

}  // namespace ota::testing

#endif  // OTA_TESTS_VERIFIER_REPO_FIXTURE_H_
