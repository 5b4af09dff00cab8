// A minimal agent state folder for lease tests: installed versions with a
// real bundle.json, and the active pointer switched like VersionStore does.
#ifndef OTA_TESTS_AGENT_LEASE_TEST_UTIL_H_
#define OTA_TESTS_AGENT_LEASE_TEST_UTIL_H_

#include <string>

namespace ota::agent::testing {

// A version id made of one repeated hex digit.
inline std::string Id(char c) { return std::string(64, c); }

// Creates active/, versions/ and leases/ under `state_dir`.
void MakeStateDir(const std::string& state_dir);
// versions/<id>/ with bundle.json (model `model`, `version`), model.gguf and
// prompts/chat.txt.
void InstallVersion(const std::string& state_dir, const std::string& id, const std::string& model,
                    const std::string& version);
// Points active/<model> at versions/<id> atomically (rename over).
void PointAt(const std::string& state_dir, const std::string& model, const std::string& id);
bool Exists(const std::string& path);

}  // namespace ota::agent::testing

#endif  // OTA_TESTS_AGENT_LEASE_TEST_UTIL_H_
