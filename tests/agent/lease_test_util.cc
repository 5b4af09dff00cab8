#include "lease_test_util.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "ota/common/hash.h"

namespace ota::agent::testing {
namespace {

void Write(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

std::string Sha(const std::string& bytes) { return Sha256Hex(bytes); }

}  // namespace

void MakeStateDir(const std::string& state_dir) {
  for (const char* sub : {"active", "versions", "leases"}) {
    std::filesystem::create_directories(state_dir + "/" + sub);
  }
}

void InstallVersion(const std::string& state_dir, const std::string& id, const std::string& model,
                    const std::string& version) {
  const std::string dir = state_dir + "/versions/" + id;
  const std::string weights = "weights of " + version;
  const std::string prompt = "You are " + version + ".\n";
  Write(dir + "/model.gguf", weights);
  Write(dir + "/prompts/chat.txt", prompt);
  const std::string json =
      "{\"files\": [{\"path\": \"model.gguf\", \"role\": \"model\", \"sha256\": \"" + Sha(weights) +
      "\", \"size\": " + std::to_string(weights.size()) +
      "}, {\"path\": \"prompts/chat.txt\", \"role\": \"prompt\", \"sha256\": \"" + Sha(prompt) +
      "\", \"size\": " + std::to_string(prompt.size()) +
      "}], \"model\": {\"file\": \"model.gguf\", \"format\": \"gguf\"}, \"name\": \"" + model +
      "\", \"schema\": \"modelota.bundle/1\", \"version\": \"" + version + "\"}\n";
  Write(dir + "/bundle.json", json);
}

void PointAt(const std::string& state_dir, const std::string& model, const std::string& id) {
  const std::string link = state_dir + "/active/" + model;
  const std::string tmp = link + ".tmp-test";
  std::remove(tmp.c_str());
  ASSERT_EQ(::symlink(("../versions/" + id).c_str(), tmp.c_str()), 0);
  ASSERT_EQ(std::rename(tmp.c_str(), link.c_str()), 0);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace ota::agent::testing
