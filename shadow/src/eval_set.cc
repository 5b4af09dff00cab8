#include "ota/shadow/eval_set.h"

#include <algorithm>
#include <set>

#include "ota/manifest/canonical_json.h"
#include "text_util.h"

namespace ota::shadow {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxEvalJsonDepth = 32;

Error Invalid(const std::string& message) {
  return MakeError(ErrorCode::kInvalidArgument, message);
}

Status CheckKeys(const json& object, std::initializer_list<std::string_view> known,
                 const std::string& where) {
  for (const auto& item : object.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      return Invalid(where + " has the unknown field " + QuoteText(item.key()));
    }
  }
  return Ok();
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

Result<std::string> BoundedString(const json& value, const std::string& field, std::size_t max,
                                  bool allow_empty) {
  if (!value.is_string()) return Invalid(field + " must be a string, not " + value.type_name());
  std::string s = value.get<std::string>();
  if (!allow_empty && s.empty()) return Invalid(field + " must not be empty");
  if (s.size() > max) {
    return Invalid(field + " is " + std::to_string(s.size()) +
                   " bytes long, more than the maximum of " + std::to_string(max));
  }
  return s;
}

Result<int> MaxNewTokens(const json& value, const std::string& field) {
  if (!IsNonNegativeInteger(value) || value.get<std::uint64_t>() == 0 ||
      value.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxNewTokens)) {
    return Invalid(field + " must be an integer from 1 to " + std::to_string(kMaxNewTokens) +
                   ", not " + value.dump());
  }
  return static_cast<int>(value.get<std::uint64_t>());
}

Result<std::string> ParseId(const json& object, const std::string& where, std::size_t index,
                            const char* list, std::set<std::string>& seen) {
  std::string id = std::string(list) + "[" + std::to_string(index) + "]";
  if (auto it = object.find("id"); it != object.end()) {
    OTA_ASSIGN_OR_RETURN(id, BoundedString(*it, where + ".id", kMaxIdBytes, false));
  }
  if (!seen.insert(id).second) return Invalid(where + ".id " + QuoteText(id) + " is used twice");
  return id;
}

Status ParseChecks(const json& list, const std::string& where, EvalSet& set,
                   std::vector<const Check*>& out) {
  if (!list.is_array()) return Invalid(where + " must be an array, not " + list.type_name());
  if (list.size() > kMaxChecksPerPrompt) {
    return Invalid(where + " has " + std::to_string(list.size()) +
                   " checks, more than the maximum of " + std::to_string(kMaxChecksPerPrompt));
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    OTA_ASSIGN_OR_RETURN(Check check,
                         Check::FromJson(list[i], where + "[" + std::to_string(i) + "]"));
    set.check_storage.push_back(std::make_unique<Check>(std::move(check)));
    out.push_back(set.check_storage.back().get());
  }
  return Ok();
}

Result<std::vector<runtime_adapter::ChatMessage>> ParseMessages(const json& list,
                                                                const std::string& where) {
  if (!list.is_array()) return Invalid(where + " must be an array, not " + list.type_name());
  if (list.empty() || list.size() > kMaxChatMessages) {
    return Invalid(where + " must hold 1 to " + std::to_string(kMaxChatMessages) + " messages");
  }
  std::vector<runtime_adapter::ChatMessage> messages;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const json& m = list[i];
    if (!m.is_object()) return Invalid(at + " must be an object, not " + m.type_name());
    OTA_TRY(CheckKeys(m, {"role", "content"}, at));
    if (!m.contains("role") || !m.contains("content")) {
      return Invalid(at + " needs \"role\" and \"content\"");
    }
    runtime_adapter::ChatMessage message;
    OTA_ASSIGN_OR_RETURN(message.role, BoundedString(m["role"], at + ".role", 16, false));
    if (message.role != "system" && message.role != "user" && message.role != "assistant") {
      return Invalid(at + ".role " + QuoteText(message.role) +
                     " must be one of system, user, assistant");
    }
    OTA_ASSIGN_OR_RETURN(message.content,
                         BoundedString(m["content"], at + ".content", kMaxPromptBytes, true));
    bytes += message.content.size();
    if (bytes > kMaxPromptBytes) {
      return Invalid(where + " holds more than " + std::to_string(kMaxPromptBytes) + " bytes");
    }
    messages.push_back(std::move(message));
  }
  if (messages.back().role == "assistant") {
    return Invalid(where + " must not end with an assistant message: the model writes that turn");
  }
  return messages;
}

Status ParsePrompt(const json& j, std::size_t index, int default_tokens,
                   const std::vector<const Check*>& global_checks, const PromptTemplates& templates,
                   std::set<std::string>& ids, EvalSet& set) {
  const std::string where = "prompts[" + std::to_string(index) + "]";
  if (!j.is_object()) return Invalid(where + " must be an object, not " + j.type_name());
  OTA_TRY(CheckKeys(j, {"id", "text", "template", "vars", "messages", "checks", "max_new_tokens"},
                    where));
  EvalPrompt prompt;
  OTA_ASSIGN_OR_RETURN(prompt.id, ParseId(j, where, index, "prompts", ids));
  const bool has_text = j.contains("text");
  const bool has_template = j.contains("template");
  const bool has_messages = j.contains("messages");
  if (int{has_text} + int{has_template} + int{has_messages} != 1) {
    return Invalid(where + " must have exactly one of \"text\", \"template\" and \"messages\"");
  }
  if (has_messages) {
    if (j.contains("vars")) return Invalid(where + ".vars is only allowed with \"template\"");
    OTA_ASSIGN_OR_RETURN(prompt.messages, ParseMessages(j["messages"], where + ".messages"));
  } else if (has_text) {
    if (j.contains("vars")) return Invalid(where + ".vars is only allowed with \"template\"");
    OTA_ASSIGN_OR_RETURN(prompt.text,
                         BoundedString(j["text"], where + ".text", kMaxPromptBytes, false));
  } else {
    OTA_ASSIGN_OR_RETURN(prompt.template_name,
                         BoundedString(j["template"], where + ".template", 255, false));
    auto tmpl = templates.find(prompt.template_name);
    if (tmpl == templates.end()) {
      return Invalid(where + ".template " + QuoteText(prompt.template_name) +
                     " is not a prompt template of the bundle");
    }
    std::map<std::string, std::string> vars;
    if (auto it = j.find("vars"); it != j.end()) {
      if (!it->is_object()) return Invalid(where + ".vars must be an object of strings");
      if (it->size() > kMaxTemplateVars) {
        return Invalid(where + ".vars has more than " + std::to_string(kMaxTemplateVars) +
                       " variables");
      }
      for (const auto& [name, value] : it->items()) {
        OTA_ASSIGN_OR_RETURN(vars[name],
                             BoundedString(value, where + ".vars." + name, kMaxPromptBytes, true));
      }
    }
    OTA_ASSIGN_OR_RETURN(prompt.text, FillTemplate(tmpl->second, vars, where));
    if (prompt.text.empty()) return Invalid(where + ": the filled template is empty");
  }
  prompt.max_new_tokens = default_tokens;
  if (auto it = j.find("max_new_tokens"); it != j.end()) {
    OTA_ASSIGN_OR_RETURN(prompt.max_new_tokens, MaxNewTokens(*it, where + ".max_new_tokens"));
  }
  prompt.checks = global_checks;
  if (auto it = j.find("checks"); it != j.end()) {
    OTA_TRY(ParseChecks(*it, where + ".checks", set, prompt.checks));
  }
  set.prompts.push_back(std::move(prompt));
  return Ok();
}

}  // namespace

std::size_t EvalSet::CheckCount() const {
  std::size_t n = 0;
  for (const EvalPrompt& p : prompts) n += p.checks.size();
  return n;
}

Result<std::string> FillTemplate(std::string_view tmpl,
                                 const std::map<std::string, std::string>& vars,
                                 const std::string& where) {
  std::string out;
  std::set<std::string> used;
  std::size_t pos = 0;
  while (pos < tmpl.size()) {
    const std::size_t open = tmpl.find("{{", pos);
    if (open == std::string_view::npos) {
      out.append(tmpl.substr(pos));
      break;
    }
    out.append(tmpl.substr(pos, open - pos));
    const std::size_t close = tmpl.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return Invalid(where + ": the template has an unterminated \"{{\" at byte " +
                     std::to_string(open));
    }
    std::string_view name = tmpl.substr(open + 2, close - open - 2);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsNameChar)) {
      return Invalid(where + ": the template has an invalid placeholder " +
                     QuoteText(tmpl.substr(open, close + 2 - open)));
    }
    auto value = vars.find(std::string(name));
    if (value == vars.end()) {
      return Invalid(where + ".vars lacks " + QuoteText(name) + " that the template uses");
    }
    used.insert(value->first);
    out.append(value->second);
    if (out.size() > kMaxPromptBytes) {
      return Invalid(where + ": the filled template is more than " +
                     std::to_string(kMaxPromptBytes) + " bytes");
    }
    pos = close + 2;
  }
  if (out.size() > kMaxPromptBytes) {
    return Invalid(where + ": the filled template is more than " + std::to_string(kMaxPromptBytes) +
                   " bytes");
  }
  for (const auto& [name, value] : vars) {
    if (used.count(name) == 0) {
      return Invalid(where + ".vars." + name + ": the template has no {{" + name + "}}");
    }
  }
  return out;
}

Result<EvalSet> ParseEvalSet(std::string_view text, const PromptTemplates& templates) {
  Result<json> parsed =
      manifest::ParseJsonStrict(text, manifest::JsonLimits{kMaxEvalSetBytes, kMaxEvalJsonDepth});
  if (!parsed.ok()) return Invalid("eval set: " + parsed.error().message);
  const json& j = *parsed;
  if (!j.is_object()) {
    return Invalid(std::string("eval set must be a JSON object, not ") + j.type_name());
  }
  OTA_TRY(
      CheckKeys(j, {"schema", "max_new_tokens", "checks", "prompts", "references"}, "eval set"));
  auto schema = j.find("schema");
  if (schema == j.end()) return Invalid("schema is missing");
  if (!schema->is_string() || schema->get<std::string>() != kEvalSetSchema) {
    return Invalid("schema " + schema->dump().substr(0, 80) + " is not supported (expected \"" +
                   std::string(kEvalSetSchema) + "\")");
  }
  EvalSet set;
  int default_tokens = kDefaultMaxNewTokens;
  if (auto it = j.find("max_new_tokens"); it != j.end()) {
    OTA_ASSIGN_OR_RETURN(default_tokens, MaxNewTokens(*it, "max_new_tokens"));
  }
  std::vector<const Check*> global_checks;
  if (auto it = j.find("checks"); it != j.end()) {
    OTA_TRY(ParseChecks(*it, "checks", set, global_checks));
  }
  std::set<std::string> ids;
  if (auto it = j.find("prompts"); it != j.end()) {
    if (!it->is_array())
      return Invalid(std::string("prompts must be an array, not ") + it->type_name());
    if (it->size() > kMaxEvalPrompts) {
      return Invalid("prompts has " + std::to_string(it->size()) +
                     " entries, more than the maximum of " + std::to_string(kMaxEvalPrompts));
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      OTA_TRY(ParsePrompt((*it)[i], i, default_tokens, global_checks, templates, ids, set));
    }
  }
  std::set<std::string> ref_ids;
  if (auto it = j.find("references"); it != j.end()) {
    if (!it->is_array()) {
      return Invalid(std::string("references must be an array, not ") + it->type_name());
    }
    if (it->size() > kMaxEvalReferences) {
      return Invalid("references has " + std::to_string(it->size()) +
                     " entries, more than the maximum of " + std::to_string(kMaxEvalReferences));
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      const std::string where = "references[" + std::to_string(i) + "]";
      const json& r = (*it)[i];
      if (!r.is_object()) return Invalid(where + " must be an object, not " + r.type_name());
      OTA_TRY(CheckKeys(r, {"id", "text"}, where));
      EvalReference ref;
      OTA_ASSIGN_OR_RETURN(ref.id, ParseId(r, where, i, "references", ref_ids));
      if (!r.contains("text")) return Invalid(where + ".text is missing");
      OTA_ASSIGN_OR_RETURN(ref.text,
                           BoundedString(r["text"], where + ".text", kMaxReferenceBytes, false));
      set.references.push_back(std::move(ref));
    }
  }
  if (set.prompts.empty() && set.references.empty()) {
    return Invalid("the eval set has neither prompts nor references");
  }
  return set;
}

}  // namespace ota::shadow
