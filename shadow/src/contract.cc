#include "contract.h"

#include <algorithm>

namespace ota::shadow::internal {
namespace {

using runtime_adapter::GenerationFact;

std::string Share(std::optional<double> rate, std::size_t of) {
  if (!rate || of == 0) return "none";
  const auto same = static_cast<std::size_t>(*rate * static_cast<double>(of) + 0.5);
  return std::to_string(same) + " of " + std::to_string(of);
}

bool All(std::optional<double> rate) { return rate && *rate >= 1.0 - 1e-12; }

void Vouch(ContractChange& change, bool vouched, std::string evidence) {
  change.vouched = vouched;
  change.evidence = std::move(evidence);
}

void VouchTokenizer(ContractChange& c, const Metrics& m, const AppEvidence& app) {
  if (m.texts_tokenized > 0 && All(m.tokenization_agreement)) {
    return Vouch(
        c, true,
        "the eval set's " + std::to_string(m.texts_tokenized) + " texts tokenize as before");
  }
  if (app.checks) return Vouch(c, true, "the app's checks pass on the candidate's outputs");
  if (m.texts_tokenized == 0) return Vouch(c, false, "no text of the eval set was tokenized");
  Vouch(c, false,
        "only " + Share(m.tokenization_agreement, m.texts_tokenized) +
            " texts of the eval set tokenize as before, and no app check vouches for the change");
}

void VouchStop(ContractChange& c, const Metrics& m) {
  if (m.stop_prompts == 0) {
    return Vouch(c, false,
                 "no prompt of the eval set reaches an end of generation, so the change is not "
                 "exercised");
  }
  if (All(m.stop_agreement)) {
    return Vouch(c, true,
                 "generation ends where the current model's does on " +
                     std::to_string(m.stop_prompts) + " prompts");
  }
  Vouch(c, false,
        "generation ends where the current model's does on only " +
            Share(m.stop_agreement, m.stop_prompts) + " prompts");
}

void VouchTemplate(ContractChange& c, const Metrics& m, const AppEvidence& app) {
  if (c.current == "none" || c.current == "absent") {
    return Vouch(c, true, "the current model has no chat template, so no app renders one today");
  }
  if (m.chat_renders > 0 && All(m.template_agreement)) {
    return Vouch(c, true,
                 std::to_string(m.chat_renders) + " conversations render to the same text");
  }
  if (app.chat_checks) {
    return Vouch(c, true, "the app's checks pass on chat prompts rendered by the new template");
  }
  if (m.chat_renders == 0) {
    return Vouch(c, false, "the candidate's template rendered no conversation the current's did");
  }
  Vouch(c, false,
        "only " + Share(m.template_agreement, m.chat_renders) +
            " conversations render as before, and no app check on a chat prompt vouches for it");
}

}  // namespace

std::vector<GenerationFact> FactsOf(const runtime_adapter::ModelInfo& info) {
  std::vector<GenerationFact> facts = info.generation_facts;
  const bool has_vocab = std::any_of(
      facts.begin(), facts.end(), [](const GenerationFact& f) { return f.name == "vocabulary"; });
  if (!has_vocab) facts.push_back({"vocabulary", info.vocab_fingerprint});
  std::stable_sort(
      facts.begin(), facts.end(),
      [](const GenerationFact& a, const GenerationFact& b) { return a.name < b.name; });
  return facts;
}

std::string_view FactCategory(std::string_view name) {
  if (name == "chat_template") return "chat_template";
  if (name.starts_with("rope.")) return "rope";
  if (name.starts_with("context.")) return "context";
  if (name == "special.eos" || name == "special.eot" || name == "special.end_of_generation") {
    return "stop";
  }
  return "tokenizer";  // vocabulary, tokenizer.*, special.bos/sep/pad.
}

std::vector<ContractChange> CompareFacts(const std::vector<GenerationFact>& current,
                                         const std::vector<GenerationFact>& candidate) {
  std::vector<ContractChange> changes;
  auto add = [&](const std::string& name, const std::string& cur, const std::string& cand) {
    changes.push_back({name, cur, cand, std::string(FactCategory(name)), false, ""});
  };
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < current.size() || j < candidate.size()) {
    if (j == candidate.size() || (i < current.size() && current[i].name < candidate[j].name)) {
      add(current[i].name, current[i].value, "absent");
      ++i;
    } else if (i == current.size() || candidate[j].name < current[i].name) {
      add(candidate[j].name, "absent", candidate[j].value);
      ++j;
    } else {
      if (current[i].value != candidate[j].value) {
        add(current[i].name, current[i].value, candidate[j].value);
      }
      ++i;
      ++j;
    }
  }
  return changes;
}

void VouchForChanges(Report& report, const AppEvidence& app) {
  const Metrics& m = report.metrics;
  for (ContractChange& c : report.contract_changes) {
    if (c.category == "tokenizer") {
      VouchTokenizer(c, m, app);
    } else if (c.category == "stop") {
      VouchStop(c, m);
    } else if (c.category == "chat_template") {
      VouchTemplate(c, m, app);
    } else if (c.category == "context") {
      Vouch(c, m.context_fits,
            m.context_fits ? "every prompt still fits and the candidate's training context covers "
                             "the policy's context"
                           : "prompts of the length the eval set uses no longer fit the "
                             "candidate's context");
    } else if (app.checks) {
      Vouch(c, true, "the app's checks pass on the candidate's outputs");
    } else {
      Vouch(c, false, "no app check vouches for it (the built-in eval set's checks are generic)");
    }
  }
}

}  // namespace ota::shadow::internal
