#include "ota/shadow/report.h"

#include <cstdio>

#include "run_internal.h"

namespace ota::shadow {
namespace {

using nlohmann::json;

json Opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

std::string Number(const std::optional<double>& v) {
  if (!v) return "n/a";
  char buf[32];
  const double a = std::abs(*v);
  std::snprintf(buf, sizeof buf, (a != 0 && (a < 0.001 || a >= 1e6)) ? "%.3g" : "%.4f", *v);
  return buf;
}

}  // namespace

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kPass:
      return "pass";
    case Verdict::kFail:
      return "fail";
    case Verdict::kInconclusive:
      return "inconclusive";
  }
  return "unknown";
}

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kAccept:
      return "accept";
    case Action::kReject:
      return "reject";
    case Action::kRetry:
      return "retry";
  }
  return "unknown";
}

Action ActionFor(Verdict verdict, const Policy& policy, int attempt) {
  switch (verdict) {
    case Verdict::kPass:
      return Action::kAccept;
    case Verdict::kFail:
      return Action::kReject;
    case Verdict::kInconclusive:
      break;
  }
  switch (policy.on_inconclusive) {
    case InconclusiveAction::kTreatAsPass:
      return Action::kAccept;
    case InconclusiveAction::kTreatAsFail:
      return Action::kReject;
    case InconclusiveAction::kRetry:
      return attempt <= policy.max_retries ? Action::kRetry : Action::kReject;
  }
  return Action::kReject;
}

namespace internal {

void Decide(Report& report, bool eval_has_checks, const AppEvidence& app, int attempt) {
  const Metrics& m = report.metrics;
  const Thresholds& t = report.policy.thresholds;
  const Calibration& c = report.calibration;
  std::vector<GateRow>& rows = report.rows;
  rows.clear();
  std::vector<std::string> failed;

  auto add = [&](const std::string& name, std::optional<double> value, bool at_most,
                 std::optional<double> threshold, std::string note = "") {
    GateRow row{name, value, "", threshold, true, std::move(note)};
    if (threshold) {
      row.comparison = at_most ? "<=" : ">=";
      if (!value) {
        row.ok = true;
        if (row.note.empty()) row.note = "not measured";
      } else {
        row.ok = at_most ? *value <= *threshold + 1e-12 : *value >= *threshold - 1e-12;
        if (!row.ok)
          failed.push_back(name + " " + Number(value) + " is not " + row.comparison + " " +
                           Number(threshold));
      }
    }
    rows.push_back(std::move(row));
  };

  const bool distribution_gate = report.gate != Gate::kBehaviour;
  report.applied_gate = report.gate;
  if (distribution_gate && !m.vocab_match) {
    report.applied_gate = Gate::kBehaviour;
    report.notes.push_back(
        "vocabulary fingerprints differ: token ids do not correspond, so KL, same-top-1, "
        "greedy agreement and perplexity ratio are undefined");
  }
  VouchForChanges(report, app);
  for (const ContractChange& c : report.contract_changes) {
    const std::string what =
        "the candidate changes " + c.name + " (" + c.current + " -> " + c.candidate + ")";
    if (distribution_gate) {
      failed.push_back(what + ": the " + std::string(GateName(report.gate)) +
                       " gate allows no change to what generation depends on");
    } else if (!c.vouched) {
      failed.push_back(what + ": " + c.evidence);
    }
    rows.push_back({"changed " + c.name, std::nullopt, "", std::nullopt, true,
                    (c.vouched ? "vouched: " : "not vouched: ") + c.evidence});
  }
  add("tokenization_agreement", m.tokenization_agreement, false, std::nullopt);
  add("stop_agreement", m.stop_agreement, false, std::nullopt);
  add("template_agreement", m.template_agreement, false, std::nullopt);
  if (report.applied_gate != Gate::kBehaviour) {
    const bool cal = c.ran;
    auto above = [&](std::optional<double> thr, double noise) -> std::optional<double> {
      if (!thr) return thr;
      return *thr + (cal ? noise : 0.0);
    };
    const std::string cal_note = cal ? "threshold includes the A/A noise floor" : "";
    add("mean_kl", m.mean_kl, true, above(t.max_mean_kl, c.mean_kl), cal_note);
    add("p99_kl", m.p99_kl, true, above(t.max_p99_kl, c.p99_kl));
    add("same_top1", m.same_top1, false, above(t.min_same_top1, -(1.0 - c.same_top1)), cal_note);
    add("greedy_exact_rate", m.greedy_exact_rate, false,
        above(t.min_greedy_exact_rate, -(1.0 - c.greedy_exact_rate)));
    add("greedy_mean_lcp_tokens", m.greedy_mean_lcp, false, std::nullopt);
    add("perplexity_ratio", m.perplexity_ratio, true, t.max_perplexity_ratio);
    if (!m.mean_kl) {
      report.notes.push_back(
          "no position was compared: the distribution gate has nothing to judge");
    }
  } else if (m.vocab_match) {
    add("mean_kl", m.mean_kl, true, std::nullopt);
    add("same_top1", m.same_top1, false, std::nullopt);
    add("greedy_exact_rate", m.greedy_exact_rate, false, std::nullopt);
    add("perplexity_ratio", m.perplexity_ratio, true, std::nullopt);
  }
  if (eval_has_checks) {
    std::optional<double> min_rate;
    if (m.pass_rate_current) min_rate = *m.pass_rate_current - t.pass_rate_margin;
    add("pass_rate_current", m.pass_rate_current, false, std::nullopt);
    add("pass_rate_candidate", m.pass_rate_candidate, false, min_rate);
    add("regressions", static_cast<double>(m.regressions), true,
        static_cast<double>(t.max_regressions));
  }
  add("latency_ratio", m.latency_ratio, true, t.max_latency_ratio);
  add("memory_ratio", m.memory_ratio, true, t.max_memory_ratio);
  add("load_time_ratio", m.load_time_ratio, true, t.max_load_time_ratio);

  report.reasons.clear();
  const bool nothing_to_judge = (report.applied_gate == Gate::kBehaviour && !eval_has_checks) ||
                                (report.applied_gate != Gate::kBehaviour && !m.mean_kl);
  if (!failed.empty()) {
    report.verdict = Verdict::kFail;
    report.reasons = failed;
  } else if (nothing_to_judge) {
    report.verdict = Verdict::kInconclusive;
    report.reasons.push_back(report.applied_gate == Gate::kBehaviour
                                 ? "the behaviour gate needs checks and the eval set has none"
                                 : "no distribution was compared");
  } else {
    report.verdict = Verdict::kPass;
    report.reasons.push_back("every threshold of the " +
                             std::string(GateName(report.applied_gate)) + " gate holds");
  }
  report.action = ActionFor(report.verdict, report.policy, attempt);
}

}  // namespace internal

json ReportToJson(const Report& r) {
  const Metrics& m = r.metrics;
  json rows = json::array();
  for (const GateRow& row : r.rows) {
    json j = {{"metric", row.metric}, {"value", Opt(row.value)}, {"threshold", Opt(row.threshold)}};
    if (row.threshold) {
      j["comparison"] = row.comparison;
      j["ok"] = row.ok;
    }
    if (!row.note.empty()) j["note"] = row.note;
    rows.push_back(std::move(j));
  }
  json regressions = json::array();
  for (const Regression& g : r.regressions) {
    regressions.push_back({{"prompt", g.prompt_id}, {"check", g.check}, {"why", g.why}});
  }
  json changes = json::array();
  for (const ContractChange& c : r.contract_changes) {
    changes.push_back({{"name", c.name},
                       {"current", c.current},
                       {"candidate", c.candidate},
                       {"category", c.category},
                       {"vouched", c.vouched},
                       {"evidence", c.evidence}});
  }
  return {
      {"verdict", VerdictName(r.verdict)},
      {"action", ActionName(r.action)},
      {"gate", GateName(r.gate)},
      {"applied_gate", GateName(r.applied_gate)},
      {"reasons", r.reasons},
      {"notes", r.notes},
      {"metrics",
       {{"prompts", m.prompts},
        {"prompts_evaluated", m.prompts_evaluated},
        {"references", m.references},
        {"references_evaluated", m.references_evaluated},
        {"vocabulary",
         {{"match", m.vocab_match},
          {"current", m.current_vocab},
          {"candidate", m.candidate_vocab}}},
        {"positions", m.positions},
        {"mean_kl", Opt(m.mean_kl)},
        {"p99_kl", Opt(m.p99_kl)},
        {"same_top1", Opt(m.same_top1)},
        {"greedy_exact_rate", Opt(m.greedy_exact_rate)},
        {"greedy_mean_lcp_tokens", Opt(m.greedy_mean_lcp)},
        {"perplexity_current", Opt(m.perplexity_current)},
        {"perplexity_candidate", Opt(m.perplexity_candidate)},
        {"perplexity_ratio", Opt(m.perplexity_ratio)},
        {"checks", m.checks},
        {"pass_rate_current", Opt(m.pass_rate_current)},
        {"pass_rate_candidate", Opt(m.pass_rate_candidate)},
        {"regressions", m.regressions},
        {"current_load_seconds", m.current_load_seconds},
        {"candidate_load_seconds", m.candidate_load_seconds},
        {"current_tokens_per_second", m.current_tokens_per_second},
        {"candidate_tokens_per_second", m.candidate_tokens_per_second},
        {"current_estimated_bytes", m.current_estimated_bytes},
        {"candidate_estimated_bytes", m.candidate_estimated_bytes},
        {"peak_resident_bytes", m.peak_resident_bytes},
        {"latency_ratio", Opt(m.latency_ratio)},
        {"latency_basis", m.latency_basis.empty() ? json(nullptr) : json(m.latency_basis)},
        {"current_cpu_tokens_per_second", m.current_cpu_tokens_per_second},
        {"candidate_cpu_tokens_per_second", m.candidate_cpu_tokens_per_second},
        {"memory_ratio", Opt(m.memory_ratio)},
        {"load_time_ratio", Opt(m.load_time_ratio)},
        {"texts_tokenized", m.texts_tokenized},
        {"tokenization_agreement", Opt(m.tokenization_agreement)},
        {"stop_prompts", m.stop_prompts},
        {"stop_agreement", Opt(m.stop_agreement)},
        {"chat_renders", m.chat_renders},
        {"template_agreement", Opt(m.template_agreement)},
        {"chat_prompts_skipped", m.chat_prompts_skipped},
        {"current_training_context", m.current_training_context},
        {"candidate_training_context", m.candidate_training_context},
        {"context_fits", m.context_fits}}},
      {"calibration",
       {{"ran", r.calibration.ran},
        {"mean_kl", r.calibration.mean_kl},
        {"p99_kl", r.calibration.p99_kl},
        {"same_top1", r.calibration.same_top1},
        {"greedy_exact_rate", r.calibration.greedy_exact_rate}}},
      {"gates", std::move(rows)},
      {"regressions", std::move(regressions)},
      {"contract_changes", std::move(changes)},
      {"policy", PolicyToJson(r.policy)},
      {"sequential_memory", r.sequential_memory},
      {"elapsed_seconds", r.elapsed_seconds},
      {"mirror", r.mirror ? json{{"gated", r.mirror_gated}, {"stats", MirrorStatsToJson(*r.mirror)}}
                          : json(nullptr)},
  };
}

void FoldMirror(Report& r, const MirrorStats& s, int attempt) {
  r.mirror = s;
  r.mirror_gated = false;
  if (!r.policy.mirror) return;
  const MirrorPolicy& mp = *r.policy.mirror;
  const bool enough = s.replayed >= mp.min_samples;
  std::vector<std::string> failed;
  auto add = [&](const std::string& name, std::optional<double> value, bool at_most,
                 std::optional<double> threshold) {
    GateRow row{name, value, "", enough ? threshold : std::nullopt, true, ""};
    if (row.threshold) {
      row.comparison = at_most ? "<=" : ">=";
      if (!value) {
        row.note = "not measured";
      } else {
        row.ok = at_most ? *value <= *threshold + 1e-12 : *value >= *threshold - 1e-12;
        if (!row.ok) {
          failed.push_back(name + " " + Number(value) + " is not " + row.comparison + " " +
                           Number(threshold));
        }
      }
    }
    r.rows.push_back(std::move(row));
  };
  GateRow samples{"mirror_replayed",
                  static_cast<double>(s.replayed),
                  ">=",
                  static_cast<double>(mp.min_samples),
                  enough,
                  ""};
  if (!enough) samples.note = "too few mirrored samples: the mirror gates do not apply";
  r.rows.push_back(std::move(samples));
  add("mirror_same_top1", s.same_top1, false, mp.min_same_top1);
  std::optional<double> max_regressions;
  if (mp.max_regressions && s.checks_applied > 0) {
    max_regressions = static_cast<double>(*mp.max_regressions);
  }
  add("mirror_regressions", static_cast<double>(s.regressions), true, max_regressions);
  if (!enough) {
    r.notes.push_back("live mirroring replayed " + std::to_string(s.replayed) + " of the " +
                      std::to_string(mp.min_samples) +
                      " requests it needs: the verdict does not include the mirror gates");
    return;
  }
  r.mirror_gated = true;
  if (failed.empty()) return;
  if (r.verdict == Verdict::kPass) {
    r.verdict = Verdict::kFail;
    r.reasons.clear();
  }
  if (r.verdict == Verdict::kFail) {
    r.reasons.insert(r.reasons.end(), failed.begin(), failed.end());
    r.action = ActionFor(r.verdict, r.policy, attempt);
  }
}

std::string FormatReportTable(const Report& r) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-24s %12s %4s %12s  %s\n", "metric", "value", "", "threshold",
                "ok");
  out += line;
  for (const GateRow& row : r.rows) {
    std::snprintf(line, sizeof line, "%-24s %12s %4s %12s  %s%s%s\n", row.metric.c_str(),
                  Number(row.value).c_str(), row.comparison.c_str(),
                  row.threshold ? Number(row.threshold).c_str() : "-",
                  row.threshold ? (row.ok ? "yes" : "NO") : "-", row.note.empty() ? "" : "  ",
                  row.note.c_str());
    out += line;
  }
  if (r.calibration.ran) {
    std::snprintf(line, sizeof line, "A/A noise floor: mean KL %s, same-top-1 %s\n",
                  Number(r.calibration.mean_kl).c_str(), Number(r.calibration.same_top1).c_str());
    out += line;
  }
  for (const std::string& note : r.notes) out += "note: " + note + "\n";
  for (const Regression& g : r.regressions) {
    out += "regression: prompt \"" + g.prompt_id + "\", " + g.check + ": " + g.why + "\n";
  }
  out += "gate: " + std::string(GateName(r.gate));
  if (r.applied_gate != r.gate) out += " (applied: " + std::string(GateName(r.applied_gate)) + ")";
  out += "\nverdict: " + std::string(VerdictName(r.verdict)) + " (" +
         std::string(ActionName(r.action)) + ")\n";
  for (const std::string& reason : r.reasons) out += "reason: " + reason + "\n";
  return out;
}

}  // namespace ota::shadow
