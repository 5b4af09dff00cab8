// Power cuts mid-update for drills (docs/drills.md, fault "power-loss"): a
// device's agent runs one update cycle on a filesystem that forgets what was
// never made durable (DroppingFileSystem) and on a network that goes dark
// with the power; the cut falls at a chosen mutating file operation of the
// cycle. The number of operations a cycle makes is measured first on a copy
// of the device's state folder (a rehearsal that sends nothing).
#ifndef OTA_TOOLS_DRILL_POWER_CUT_H_
#define OTA_TOOLS_DRILL_POWER_CUT_H_

#include <cstdint>
#include <string>

#include "ota/agent/agent.h"
#include "ota/common/env.h"
#include "ota/common/result.h"

namespace ota::drill {

// What one uninterrupted update cycle of a device would do.
struct Rehearsal {
  bool deploys = false;          // It starts (or finishes) a deployment.
  std::uint64_t operations = 0;  // Mutating file operations, opening the agent included.
};

// Runs one update cycle of the device `options` describe on a copy of its
// state folder at `copy_dir` (removed before and after), counting mutating
// file operations. Reports and other POST requests are refused, so the
// server never hears of the copy. The device's own agent may stay open (the
// drill runs one thread; its databases are idle). Errors: kIo when the copy
// cannot be made or removed.
Result<Rehearsal> RehearseUpdate(const Env& env, const agent::AgentOptions& options,
                                 const std::string& copy_dir);

struct PowerCutResult {
  std::uint64_t operations = 0;  // Mutating file operations that ran.
  bool mid_update = false;       // The cut fell inside the cycle (not after its end).
  std::uint64_t bytes_fetched = 0;
};

// Opens the device's agent and runs one update cycle with the power cut
// right after mutating file operation `cut_after` (1-based; after the
// cycle's end when it makes fewer): from then on every file operation and
// request fails. The unsynced file changes are then dropped and the
// device's SQLite databases put back as they were at the cut, as a real
// power cut leaves them. The device's own agent must be closed; reopening it
// is the reboot. `scratch` (same filesystem, removed afterwards) holds the
// entries kept aside to undo removals. Errors: kIo when the state folder
// cannot be rewound.
Result<PowerCutResult> UpdateWithPowerCut(const Env& env, const agent::AgentOptions& options,
                                          std::uint64_t cut_after, const std::string& scratch);

// The active version of `model` in a state folder, checked from the disk
// alone: the active link names a version folder whose bundle.json parses and
// whose every file has its size and SHA-256. Returns bundle.json's version;
// kIntegrity naming what is wrong.
Result<std::string> VerifiedActiveVersion(FileSystem& fs, const std::string& state_dir,
                                          const std::string& model);

}  // namespace ota::drill

#endif  // OTA_TOOLS_DRILL_POWER_CUT_H_
