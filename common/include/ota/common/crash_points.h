// Simulated power cuts for crash-safety tests (docs/architecture.md,
// "Power-loss tests").
//
// A crash point is a named place where losing power must leave the state
// folder consistent: every mutating file operation (through
// CrashingFileSystem), every SQLite commit of the agent, every state
// transition. Two environment variables drive them in a real process:
//   OTA_CRASH_TRACE=FILE  append "<n> <name>\n" to FILE at each point reached
//                         (n counts from 1), to learn the sequence;
//   OTA_CRASH_AT=N        at the N-th point reached, kill the process with
//                         SIGKILL: no destructor, no flush, no atexit;
//   OTA_CRASH_AT=NAME+N   the same at the N-th point after the first point
//                         named NAME (+0: that point itself), so that a point
//                         after a step whose count of points varies (a
//                         download's writes follow the network) is aimed at
//                         exactly.
// Unset (production), CrashPoint costs one relaxed atomic load.
//
// Thread-safety: CrashPoint may be called from any thread.
#ifndef OTA_COMMON_CRASH_POINTS_H_
#define OTA_COMMON_CRASH_POINTS_H_

#include <memory>

#include "ota/common/filesystem.h"

namespace ota {

// Counts a crash point; traces it and kills the process as configured.
void CrashPoint(const char* name);

// True if OTA_CRASH_AT or OTA_CRASH_TRACE is set.
bool CrashPointsEnabled();

// Wraps `base` so that each mutating operation (open for writing, append,
// sync, close, rename, sync of a directory, remove, symlink) is a crash point
// named "fs.<operation>" just before the operation runs. Reads pass through.
std::unique_ptr<FileSystem> MakeCrashingFileSystem(FileSystem& base);

}  // namespace ota

#endif  // OTA_COMMON_CRASH_POINTS_H_
