// The eval set: the prompts, reference texts and output checks a shadow test
// runs through the current and the candidate model (docs/formats.md, "Eval
// set"). It is a JSON file inside the bundle (role "eval"), named by
// bundle.json's "shadow.eval"; prompt templates are the bundle's files with
// role "prompt", filled with simple {{var}} substitution.
//
// Eval sets come from untrusted bytes, so parsing is strict (unknown fields,
// duplicate keys and wrong types are refused) and every list and text is
// bounded.
//
// Thread-safety: all functions are pure; a parsed EvalSet is immutable.
#ifndef OTA_SHADOW_EVAL_SET_H_
#define OTA_SHADOW_EVAL_SET_H_

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ota/common/result.h"
#include "ota/runtime_adapter/runtime.h"
#include "ota/shadow/checks.h"

namespace ota::shadow {

inline constexpr std::string_view kEvalSetSchema = "modelota.eval/1";
inline constexpr std::size_t kMaxEvalSetBytes = 4u << 20;
inline constexpr std::size_t kMaxEvalPrompts = 1000;
inline constexpr std::size_t kMaxEvalReferences = 200;
inline constexpr std::size_t kMaxPromptBytes = 16u << 10;     // After template filling.
inline constexpr std::size_t kMaxReferenceBytes = 64u << 10;  // Of one reference text.
inline constexpr std::size_t kMaxChecksPerPrompt = 32;
inline constexpr std::size_t kMaxTemplateVars = 64;
inline constexpr std::size_t kMaxIdBytes = 64;
inline constexpr int kMaxNewTokens = 512;
inline constexpr int kDefaultMaxNewTokens = 16;

inline constexpr std::size_t kMaxChatMessages = 32;

struct EvalPrompt {
  std::string id;             // Unique; "prompts[i]" when the file gives none.
  std::string template_name;  // Empty for a plain-text prompt.
  std::string text;           // The prompt as the model sees it (template filled).
  // A chat prompt instead of text: each model renders it with its own chat
  // template (runtime_adapter::LoadedModel::ApplyChatTemplate), so a changed
  // template is measured. Roles: system, user, assistant.
  std::vector<runtime_adapter::ChatMessage> messages;
  int max_new_tokens = kDefaultMaxNewTokens;
  // Checks on the greedy output: the set-wide checks, then the prompt's own.
  std::vector<const Check*> checks;
};

struct EvalReference {
  std::string id;
  std::string text;  // Scored for perplexity, token by token.
};

struct EvalSet {
  std::vector<EvalPrompt> prompts;
  std::vector<EvalReference> references;
  // Owns every Check the prompts point to (stable addresses).
  std::vector<std::unique_ptr<Check>> check_storage;
  // The set compiled into the binary (BuiltinEvalSet): its generic checks
  // cannot vouch for an app's templates, tokenizer or RoPE (shadow.h).
  bool builtin = false;

  std::size_t CheckCount() const;  // Sum over prompts of their checks.
};

// Template name (the bundle file path, e.g. "prompts/summary.txt") -> text.
using PromptTemplates = std::map<std::string, std::string>;

// Replaces every {{name}} (optional spaces inside the braces; names are
// [A-Za-z0-9_.-]+) by vars[name]. kInvalidArgument for a placeholder without
// a value, a variable the template never uses, an unterminated "{{", or a
// result over kMaxPromptBytes; `where` prefixes the message.
Result<std::string> FillTemplate(std::string_view tmpl,
                                 const std::map<std::string, std::string>& vars,
                                 const std::string& where);

// Parses eval-set JSON. Errors: kInvalidArgument with one message naming the
// field, e.g. "prompts[2].vars.topic: the template has no {{topic}}".
// Requires at least one prompt or reference.
Result<EvalSet> ParseEvalSet(std::string_view json, const PromptTemplates& templates = {});

// The generic eval set built into the binary (varied plain prompts, reference
// texts and size checks), for models shipped without their own.
std::string_view BuiltinEvalSetJson();
Result<EvalSet> BuiltinEvalSet();

}  // namespace ota::shadow

#endif  // OTA_SHADOW_EVAL_SET_H_
