// Background work that must not compete with the app: shadow runs and live
// mirroring replays lower the priority of the thread they run on.
#ifndef OTA_COMMON_THREAD_PRIORITY_H_
#define OTA_COMMON_THREAD_PRIORITY_H_

#include <string>

namespace ota {

// Lowers the calling thread's CPU priority for the rest of its life:
// SCHED_IDLE where the kernel allows it, else nice 19. Threads it creates
// afterwards inherit it. An unprivileged thread cannot raise it back, so call
// it on a thread that ends with the background work. Returns what was
// applied: "idle", "nice 19" or "normal" (neither was allowed).
std::string LowerThisThreadPriority();

}  // namespace ota

#endif  // OTA_COMMON_THREAD_PRIORITY_H_
