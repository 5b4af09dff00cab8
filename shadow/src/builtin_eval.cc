// The generic eval set compiled into the binary: used when a bundle ships no
// eval set of its own and by `otactl shadow run` without --eval. Its prompts
// cover prose, code, lists, dialogue, numbers and non-English text, so that a
// damaged layer or a bad requantization shows in at least some of them. Its
// chat prompts are rendered by each model's own chat template (skipped when
// the current model has none) and ask for one-word answers, so that a chat
// model ends its turn within the budget and a changed template or
// end-of-generation token is measured.
#include "ota/shadow/eval_set.h"

namespace ota::shadow {
namespace {

constexpr std::string_view kBuiltinEvalSet = R"json({
  "schema": "modelota.eval/1",
  "max_new_tokens": 16,
  "checks": [
    {"kind": "max-length", "bytes": 4096},
    {"kind": "not-contains", "text": "\u0000"}
  ],
  "prompts": [
    {"id": "story", "text": "Once upon a time, in a small village by the sea,"},
    {"id": "fact", "text": "The capital of France is"},
    {"id": "code", "text": "def fibonacci(n):\n    if n < 2:\n        return n\n"},
    {"id": "list", "text": "Three things to pack for a hike:\n1."},
    {"id": "dialogue", "text": "User: How do I reset my password?\nAssistant:"},
    {"id": "math", "text": "12 + 7 = 19\n30 - 4 = 26\n8 * 3 ="},
    {"id": "json", "text": "{\"name\": \"Ada\", \"role\": "},
    {"id": "german", "text": "Der schnelle braune Fuchs springt"},
    {"id": "chat-short", "max_new_tokens": 24, "messages": [
      {"role": "system", "content": "You answer with one word."},
      {"role": "user", "content": "Is the sky blue on a clear day? Answer yes or no."}]},
    {"id": "chat-turns", "max_new_tokens": 24, "messages": [
      {"role": "user", "content": "Name a primary colour."},
      {"role": "assistant", "content": "Red."},
      {"role": "user", "content": "Another one, in one word."}]}
  ],
  "references": [
    {"id": "prose", "text": "The weather was mild for the season, and the market square filled early with farmers, children and the smell of fresh bread."},
    {"id": "howto", "text": "To replace the battery, switch the device off, remove the two screws on the back cover, lift the cover and unplug the old cell."},
    {"id": "code", "text": "for (int i = 0; i < count; ++i) {\n  total += values[i];\n}\nreturn total / count;\n"}
  ]
})json";

}  // namespace

std::string_view BuiltinEvalSetJson() { return kBuiltinEvalSet; }

Result<EvalSet> BuiltinEvalSet() {
  OTA_ASSIGN_OR_RETURN(EvalSet set, ParseEvalSet(kBuiltinEvalSet));
  set.builtin = true;
  return set;
}

}  // namespace ota::shadow
