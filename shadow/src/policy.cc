#include "ota/shadow/policy.h"

#include <algorithm>
#include <cmath>

#include "text_util.h"

namespace ota::shadow {
namespace {

using nlohmann::json;

constexpr double kMaxThreshold = 100.0;
constexpr std::uint64_t kMaxBudgetSeconds = 24 * 3600;

Error InvalidPolicy(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, message);
}

// Fields as one policy object gives them; unset fields keep earlier values.
struct PolicySpec {
  std::optional<Gate> gate;
  // Key -> value (null disables) in document order of application.
  std::vector<std::pair<std::string, json>> thresholds;
  json fields = json::object();
};

constexpr std::string_view kThresholdKeys[] = {
    "min_same_top1",        "max_mean_kl",        "max_p99_kl",      "min_greedy_exact_rate",
    "max_perplexity_ratio", "pass_rate_margin",   "max_regressions", "max_latency_ratio",
    "max_memory_ratio",     "max_load_time_ratio"};

bool InRange(const json& v, double lo, double hi) {
  return v.is_number() && v.get<double>() >= lo && v.get<double>() <= hi;
}

Status CheckMirror(const json& m, const std::string& where) {
  if (m.is_null()) return Ok();
  if (!m.is_object()) return InvalidPolicy(where + " must be an object or null");
  for (const auto& [key, v] : m.items()) {
    const std::string field = where + "." + key;
    if (key == "sample_rate") {
      if (!InRange(v, 0, 1))
        return InvalidPolicy(field + " must be a number from 0 to 1, not " + v.dump());
    } else if (key == "cpu_budget") {
      if (!InRange(v, 0, 1) || v.get<double>() == 0) {
        return InvalidPolicy(field + " must be a number above 0 and at most 1, not " + v.dump());
      }
    } else if (key == "max_new_tokens") {
      if (!IsNonNegativeInteger(v) || !InRange(v, 1, 512)) {
        return InvalidPolicy(field + " must be an integer from 1 to 512, not " + v.dump());
      }
    } else if (key == "min_samples") {
      if (!IsNonNegativeInteger(v) || !InRange(v, 1, 1000000)) {
        return InvalidPolicy(field + " must be an integer from 1 to 1000000, not " + v.dump());
      }
    } else if (key == "max_wait_seconds") {
      if (!IsNonNegativeInteger(v) || !InRange(v, 0, 30.0 * 24 * 3600)) {
        return InvalidPolicy(field + " must be an integer from 0 to 2592000, not " + v.dump());
      }
    } else if (key == "min_same_top1") {
      if (!v.is_null() && !InRange(v, 0, 1)) {
        return InvalidPolicy(field + " must be a number from 0 to 1 or null, not " + v.dump());
      }
    } else if (key == "max_regressions") {
      if (!v.is_null() && !IsNonNegativeInteger(v)) {
        return InvalidPolicy(field + " must be a non-negative integer or null, not " + v.dump());
      }
    } else {
      return InvalidPolicy(where + " has the unknown field " + QuoteText(key));
    }
  }
  return Ok();
}

void ApplyMirror(std::optional<MirrorPolicy>& out, const json& m) {
  if (m.is_null()) {
    out.reset();
    return;
  }
  if (!out) out = MirrorPolicy{};
  if (m.contains("sample_rate")) out->sample_rate = m["sample_rate"].get<double>();
  if (m.contains("cpu_budget")) out->cpu_budget = m["cpu_budget"].get<double>();
  if (m.contains("max_new_tokens")) out->max_new_tokens = m["max_new_tokens"].get<int>();
  if (m.contains("min_samples")) out->min_samples = m["min_samples"].get<std::uint64_t>();
  if (m.contains("max_wait_seconds")) {
    out->max_wait = std::chrono::seconds(m["max_wait_seconds"].get<std::uint64_t>());
  }
  if (m.contains("min_same_top1")) {
    const json& v = m["min_same_top1"];
    out->min_same_top1 = v.is_null() ? std::nullopt : std::optional<double>(v.get<double>());
  }
  if (m.contains("max_regressions")) {
    const json& v = m["max_regressions"];
    out->max_regressions =
        v.is_null() ? std::nullopt : std::optional<std::uint64_t>(v.get<std::uint64_t>());
  }
}

Result<PolicySpec> ParseSpec(const json& j, const std::string& where) {
  if (!j.is_object()) return InvalidPolicy(where + " must be an object, not " + j.type_name());
  PolicySpec spec;
  for (const auto& [key, value] : j.items()) {
    const std::string field = where + "." + key;
    if (key == "gate") {
      if (!value.is_string()) return InvalidPolicy(field + " must be a string");
      Result<Gate> gate = ParseGate(value.get<std::string>());
      if (!gate.ok()) return InvalidPolicy(field + ": " + gate.error().message);
      spec.gate = *gate;
    } else if (key == "thresholds") {
      if (!value.is_object()) return InvalidPolicy(field + " must be an object");
      for (const auto& [name, t] : value.items()) {
        const std::string tf = field + "." + name;
        if (std::find(std::begin(kThresholdKeys), std::end(kThresholdKeys), name) ==
            std::end(kThresholdKeys)) {
          return InvalidPolicy(field + " has the unknown threshold " + QuoteText(name));
        }
        if (name == "max_regressions") {
          if (!IsNonNegativeInteger(t)) {
            return InvalidPolicy(tf + " must be a non-negative integer, not " + t.dump());
          }
        } else if (name == "pass_rate_margin") {
          if (!t.is_number() || t.get<double>() < 0 || t.get<double>() > 1) {
            return InvalidPolicy(tf + " must be a number from 0 to 1, not " + t.dump());
          }
        } else if (!t.is_null() && (!t.is_number() ||
                                    !(t.get<double>() >= 0 && t.get<double>() <= kMaxThreshold))) {
          return InvalidPolicy(tf + " must be a number from 0 to 100 or null, not " + t.dump());
        }
        if (name.rfind("min_", 0) == 0 && t.is_number() && t.get<double>() > 1) {
          return InvalidPolicy(tf + " is a rate and must be at most 1, not " + t.dump());
        }
        spec.thresholds.emplace_back(name, t);
      }
    } else if (key == "time_budget_seconds") {
      if (!IsNonNegativeInteger(value) || value.get<std::uint64_t>() == 0 ||
          value.get<std::uint64_t>() > kMaxBudgetSeconds) {
        return InvalidPolicy(field + " must be an integer from 1 to " +
                             std::to_string(kMaxBudgetSeconds) + ", not " + value.dump());
      }
      spec.fields[key] = value;
    } else if (key == "inconclusive") {
      const std::string v = value.is_string() ? value.get<std::string>() : "";
      if (v != "treat-as-fail" && v != "treat-as-pass" && v != "retry") {
        return InvalidPolicy(field +
                             " must be \"treat-as-fail\", \"treat-as-pass\" or \"retry\", not " +
                             value.dump().substr(0, 80));
      }
      spec.fields[key] = value;
    } else if (key == "max_retries") {
      if (!IsNonNegativeInteger(value) || value.get<std::uint64_t>() > 100) {
        return InvalidPolicy(field + " must be an integer from 0 to 100, not " + value.dump());
      }
      spec.fields[key] = value;
    } else if (key == "sequential_memory" || key == "calibrate") {
      if (!value.is_boolean()) return InvalidPolicy(field + " must be true or false");
      spec.fields[key] = value;
    } else if (key == "threads") {
      if (!IsNonNegativeInteger(value) || value.get<std::uint64_t>() < 1 ||
          value.get<std::uint64_t>() > 256) {
        return InvalidPolicy(field + " must be an integer from 1 to 256, not " + value.dump());
      }
      spec.fields[key] = value;
    } else if (key == "context_length") {
      if (!IsNonNegativeInteger(value) || value.get<std::uint64_t>() < 64 ||
          value.get<std::uint64_t>() > 131072) {
        return InvalidPolicy(field + " must be an integer from 64 to 131072, not " + value.dump());
      }
      spec.fields[key] = value;
    } else if (key == "mirror") {
      OTA_TRY(CheckMirror(value, field));
      spec.fields[key] = value;
    } else if (key == "skip" && where == "rollout shadow_policy") {
      if (!value.is_string() || value.get<std::string>().empty() ||
          value.get<std::string>().size() > kMaxSkipReasonBytes) {
        return InvalidPolicy(field + " must be a reason of 1 to " +
                             std::to_string(kMaxSkipReasonBytes) + " bytes");
      }
      spec.fields[key] = value;
    } else if (key == "min_timed_seconds") {
      if (!InRange(value, 0, 3600)) {
        return InvalidPolicy(field + " must be a number from 0 to 3600, not " + value.dump());
      }
      spec.fields[key] = value;
    } else if (key == "memory_budget_bytes") {
      if (!IsNonNegativeInteger(value)) {
        return InvalidPolicy(field + " must be a non-negative integer, not " + value.dump());
      }
      spec.fields[key] = value;
    } else {
      return InvalidPolicy(where + " has the unknown field " + QuoteText(key));
    }
  }
  return spec;
}

std::optional<double> Optional(const json& v) {
  if (v.is_null()) return std::nullopt;
  return v.get<double>();
}

void ApplyThreshold(Thresholds& t, const std::string& name, const json& v) {
  if (name == "min_same_top1") t.min_same_top1 = Optional(v);
  if (name == "max_mean_kl") t.max_mean_kl = Optional(v);
  if (name == "max_p99_kl") t.max_p99_kl = Optional(v);
  if (name == "min_greedy_exact_rate") t.min_greedy_exact_rate = Optional(v);
  if (name == "max_perplexity_ratio") t.max_perplexity_ratio = Optional(v);
  if (name == "pass_rate_margin") t.pass_rate_margin = v.get<double>();
  if (name == "max_regressions") t.max_regressions = v.get<std::uint64_t>();
  if (name == "max_latency_ratio") t.max_latency_ratio = Optional(v);
  if (name == "max_memory_ratio") t.max_memory_ratio = Optional(v);
  if (name == "max_load_time_ratio") t.max_load_time_ratio = Optional(v);
}

void ApplyFields(Policy& p, const json& f) {
  if (f.contains("time_budget_seconds")) {
    p.time_budget = std::chrono::seconds(f["time_budget_seconds"].get<std::uint64_t>());
  }
  if (f.contains("inconclusive")) {
    const std::string v = f["inconclusive"];
    p.on_inconclusive = v == "retry"           ? InconclusiveAction::kRetry
                        : v == "treat-as-pass" ? InconclusiveAction::kTreatAsPass
                                               : InconclusiveAction::kTreatAsFail;
  }
  if (f.contains("max_retries")) p.max_retries = f["max_retries"].get<int>();
  if (f.contains("sequential_memory")) p.sequential_memory = f["sequential_memory"];
  if (f.contains("calibrate")) p.calibrate = f["calibrate"];
  if (f.contains("threads")) p.threads = f["threads"].get<int>();
  if (f.contains("context_length")) p.context_length = f["context_length"].get<int>();
  if (f.contains("memory_budget_bytes")) p.memory_budget_bytes = f["memory_budget_bytes"];
  if (f.contains("min_timed_seconds")) p.min_timed_seconds = f["min_timed_seconds"].get<double>();
  if (f.contains("mirror")) ApplyMirror(p.mirror, f["mirror"]);
  if (f.contains("skip")) p.skip = f["skip"].get<std::string>();
}

json OptionalJson(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json MirrorPolicyToJson(const std::optional<MirrorPolicy>& m) {
  if (!m) return nullptr;
  return {{"sample_rate", m->sample_rate},
          {"cpu_budget", m->cpu_budget},
          {"max_new_tokens", m->max_new_tokens},
          {"min_samples", m->min_samples},
          {"max_wait_seconds", m->max_wait.count()},
          {"min_same_top1", OptionalJson(m->min_same_top1)},
          {"max_regressions", m->max_regressions ? json(*m->max_regressions) : json(nullptr)}};
}

}  // namespace

std::string_view GateName(Gate gate) {
  switch (gate) {
    case Gate::kEquivalence:
      return "equivalence";
    case Gate::kRequantization:
      return "requantization";
    case Gate::kBehaviour:
      return "behaviour";
  }
  return "unknown";
}

Result<Gate> ParseGate(std::string_view name) {
  if (name == "equivalence") return Gate::kEquivalence;
  if (name == "requantization") return Gate::kRequantization;
  if (name == "behaviour" || name == "behavior") return Gate::kBehaviour;
  return InvalidPolicy("gate " + QuoteText(name) +
                       " must be one of equivalence, requantization, behaviour");
}

std::string_view InconclusiveActionName(InconclusiveAction action) {
  switch (action) {
    case InconclusiveAction::kTreatAsFail:
      return "treat-as-fail";
    case InconclusiveAction::kTreatAsPass:
      return "treat-as-pass";
    case InconclusiveAction::kRetry:
      return "retry";
  }
  return "unknown";
}

Thresholds DefaultThresholds(Gate gate) {
  Thresholds t;
  t.max_latency_ratio = 2.0;
  t.max_memory_ratio = 1.5;
  switch (gate) {
    case Gate::kEquivalence:
      t.min_same_top1 = 0.975;
      t.max_mean_kl = 0.002;
      break;
    case Gate::kRequantization:
      t.min_same_top1 = 0.91;
      t.max_mean_kl = 0.035;
      break;
    case Gate::kBehaviour:
      t.pass_rate_margin = 0.02;
      t.max_regressions = 0;
      break;
  }
  return t;
}

Result<Policy> ResolvePolicy(const json* bundle_policy, const json* rollout_override) {
  std::optional<PolicySpec> bundle;
  std::optional<PolicySpec> rollout;
  if (bundle_policy != nullptr) {
    OTA_ASSIGN_OR_RETURN(bundle, ParseSpec(*bundle_policy, "bundle.json shadow.policy"));
  }
  if (rollout_override != nullptr) {
    OTA_ASSIGN_OR_RETURN(rollout, ParseSpec(*rollout_override, "rollout shadow_policy"));
  }
  Policy p;
  if (bundle && bundle->gate) p.gate = *bundle->gate;
  if (rollout && rollout->gate) p.gate = *rollout->gate;
  p.thresholds = DefaultThresholds(p.gate);
  for (const auto* spec : {bundle ? &*bundle : nullptr, rollout ? &*rollout : nullptr}) {
    if (spec == nullptr) continue;
    for (const auto& [name, value] : spec->thresholds) ApplyThreshold(p.thresholds, name, value);
    ApplyFields(p, spec->fields);
  }
  return p;
}

json PolicyToJson(const Policy& p) {
  const Thresholds& t = p.thresholds;
  json j = {
      {"gate", GateName(p.gate)},
      {"thresholds",
       {{"min_same_top1", OptionalJson(t.min_same_top1)},
        {"max_mean_kl", OptionalJson(t.max_mean_kl)},
        {"max_p99_kl", OptionalJson(t.max_p99_kl)},
        {"min_greedy_exact_rate", OptionalJson(t.min_greedy_exact_rate)},
        {"max_perplexity_ratio", OptionalJson(t.max_perplexity_ratio)},
        {"pass_rate_margin", t.pass_rate_margin},
        {"max_regressions", t.max_regressions},
        {"max_latency_ratio", OptionalJson(t.max_latency_ratio)},
        {"max_memory_ratio", OptionalJson(t.max_memory_ratio)},
        {"max_load_time_ratio", OptionalJson(t.max_load_time_ratio)}}},
      {"time_budget_seconds",
       std::chrono::duration_cast<std::chrono::seconds>(p.time_budget).count()},
      {"inconclusive", InconclusiveActionName(p.on_inconclusive)},
      {"max_retries", p.max_retries},
      {"sequential_memory", p.sequential_memory},
      {"calibrate", p.calibrate},
      {"threads", p.threads},
      {"context_length", p.context_length},
      {"memory_budget_bytes", p.memory_budget_bytes},
      {"min_timed_seconds", p.min_timed_seconds},
      {"mirror", MirrorPolicyToJson(p.mirror)},
  };
  if (p.skip) j["skip"] = *p.skip;  // Only when set: a bundle policy has no "skip".
  return j;
}

Result<BundleShadowSection> BundleShadowSectionOf(const manifest::BundleManifest& m) {
  BundleShadowSection section;
  auto it = m.extra.find("shadow");
  if (it == m.extra.end()) {
    section.policy = DefaultBundlePolicy();
    return section;
  }
  section.declared = true;
  if (!it->is_object()) return InvalidPolicy("bundle.json shadow must be an object");
  for (const auto& [key, value] : it->items()) {
    if (key == "skip") {
      if (!value.is_string() || value.get<std::string>().empty() ||
          value.get<std::string>().size() > kMaxSkipReasonBytes) {
        return InvalidPolicy("bundle.json shadow.skip must be a reason of 1 to " +
                             std::to_string(kMaxSkipReasonBytes) + " bytes");
      }
      if (it->size() != 1) {
        return InvalidPolicy("bundle.json shadow.skip cannot stand beside eval or policy");
      }
      section.skip = value.get<std::string>();
      continue;
    }
    if (key == "eval") {
      if (!value.is_string()) return InvalidPolicy("bundle.json shadow.eval must be a string");
      const std::string path = value.get<std::string>();
      auto file = std::find_if(m.files.begin(), m.files.end(),
                               [&](const manifest::BundleFile& f) { return f.path == path; });
      if (file == m.files.end() || file->role != "eval") {
        return InvalidPolicy("bundle.json shadow.eval " + QuoteText(path) +
                             " is not a file of the bundle with role \"eval\"");
      }
      section.eval_file = path;
    } else if (key == "policy") {
      if (!value.is_object()) return InvalidPolicy("bundle.json shadow.policy must be an object");
      section.policy = value;
    } else {
      return InvalidPolicy("bundle.json shadow has the unknown field " + QuoteText(key));
    }
  }
  return section;
}

json DefaultBundlePolicy() { return {{"gate", "behaviour"}}; }

Result<Policy> PolicyFor(const manifest::BundleManifest& m, const manifest::RolloutManifest* r) {
  OTA_ASSIGN_OR_RETURN(BundleShadowSection section, BundleShadowSectionOf(m));
  const json* rollout = r != nullptr && r->shadow_policy ? &*r->shadow_policy : nullptr;
  OTA_ASSIGN_OR_RETURN(Policy policy,
                       ResolvePolicy(section.policy ? &*section.policy : nullptr, rollout));
  if (section.skip && !policy.skip) policy.skip = section.skip;
  return policy;
}

Result<EvalSet> LoadBundleEvalSet(FileSystem& fs, const std::string& dir,
                                  const manifest::BundleManifest& m) {
  OTA_ASSIGN_OR_RETURN(BundleShadowSection section, BundleShadowSectionOf(m));
  if (!section.eval_file) return BuiltinEvalSet();
  PromptTemplates templates;
  for (const manifest::BundleFile& f : m.files) {
    if (f.role != "prompt") continue;
    OTA_ASSIGN_OR_RETURN(templates[f.path], fs.ReadFile(dir + "/" + f.path, kMaxPromptBytes));
  }
  OTA_ASSIGN_OR_RETURN(std::string text,
                       fs.ReadFile(dir + "/" + *section.eval_file, kMaxEvalSetBytes));
  Result<EvalSet> set = ParseEvalSet(text, templates);
  if (!set.ok()) return InvalidPolicy(*section.eval_file + ": " + set.error().message);
  return set;
}

}  // namespace ota::shadow
