// Live mirroring's files in the state folder (docs/formats.md, "Mirror
// files"): the agent's announcement of a candidate, <state>/mirror/<model>.json,
// and each app process's aggregates, <state>/mirror/<model>.<pid>.stats.json.
// Shared by the agent (shadow_step.cc) and the app side (mirror_client.cc).
#ifndef OTA_AGENT_SRC_MIRROR_FILES_H_
#define OTA_AGENT_SRC_MIRROR_FILES_H_

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "ota/common/filesystem.h"
#include "ota/common/result.h"
#include "ota/shadow/mirror.h"

namespace ota::agent::mirror_files {

inline constexpr char kMirrorDir[] = "mirror";
inline constexpr char kAnnouncementSchema[] = "modelota.mirror/1";
inline constexpr char kStatsSchema[] = "modelota.mirror-stats/1";
inline constexpr std::uint64_t kMaxFileBytes = 64 << 10;

std::string MirrorDir(const std::string& state_dir);
std::string AnnouncementPath(const std::string& state_dir, const std::string& model);
std::string StatsPath(const std::string& state_dir, const std::string& model, std::int64_t pid);

// What the agent asks apps to mirror: a candidate version and how.
struct Announcement {
  std::string model;
  std::int64_t deployment_id = 0;
  std::string candidate_id;  // 64 lower-case hex: versions/<candidate_id>/
  std::string candidate_version;
  std::string current_id;
  double sample_rate = 0;
  double cpu_budget = 0;
  int max_new_tokens = 32;
  int context_length = 1024;
  int threads = 1;
};

nlohmann::json AnnouncementToJson(const Announcement& a);
// kInvalidArgument naming the field for anything malformed.
Result<Announcement> ParseAnnouncement(const std::string& text);

// One app process's aggregates for one candidate.
struct StatsFile {
  std::string model;
  std::string candidate_id;
  std::int64_t pid = 0;
  shadow::MirrorStats stats;
};

std::string StatsFileToJson(const StatsFile& s);
Result<StatsFile> ParseStatsFile(const std::string& text);

// The merged stats of every stats file of `model` for `candidate_id`.
// Files that do not parse, or are for another candidate, are skipped and
// counted in *skipped (when not null).
Result<shadow::MirrorStats> CollectStats(FileSystem& fs, const std::string& state_dir,
                                         const std::string& model, const std::string& candidate_id,
                                         int* files, int* skipped);

}  // namespace ota::agent::mirror_files

#endif  // OTA_AGENT_SRC_MIRROR_FILES_H_
