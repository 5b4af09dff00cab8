// The generation contract of a shadow test: which generation facts
// (runtime_adapter::GenerationFact) the candidate changes, and whether a
// measurement vouches for each change. Private to the shadow module.
#ifndef OTA_SHADOW_SRC_CONTRACT_H_
#define OTA_SHADOW_SRC_CONTRACT_H_

#include <string>
#include <string_view>
#include <vector>

#include "ota/runtime_adapter/runtime.h"
#include "ota/shadow/report.h"

namespace ota::shadow::internal {

// The model's facts, with "vocabulary" from its fingerprint when the runtime
// states no facts of its own; sorted by name.
std::vector<runtime_adapter::GenerationFact> FactsOf(const runtime_adapter::ModelInfo& info);

// The facts that differ (or exist on one side only), in name order, each
// with its category and not yet vouched for.
std::vector<ContractChange> CompareFacts(
    const std::vector<runtime_adapter::GenerationFact>& current,
    const std::vector<runtime_adapter::GenerationFact>& candidate);

// "tokenizer", "stop", "chat_template", "rope" or "context".
std::string_view FactCategory(std::string_view name);

// What the app's own eval set proved (behaviour gate): its checks ran on
// the candidate (`checks`), some of them on chat prompts (`chat_checks`).
// The built-in set's generic checks never vouch.
struct AppEvidence {
  bool checks = false;
  bool chat_checks = false;
};

// Sets vouched and evidence of every change from the report's metrics.
void VouchForChanges(Report& report, const AppEvidence& app);

}  // namespace ota::shadow::internal

#endif  // OTA_SHADOW_SRC_CONTRACT_H_
