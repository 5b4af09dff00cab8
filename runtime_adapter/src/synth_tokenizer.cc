// Tokenizer copying for test-model synthesis, with ggml's GGUF API. Every
// check runs on the metadata ggml has read; a key of an unexpected type is
// refused here, so that no ggml accessor (which aborts on a type mismatch)
// ever sees one.
#include "synth_tokenizer.h"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <vector>

#include "llama_log.h"
#include "ota/runtime_adapter/model_synth.h"

namespace ota::runtime_adapter {
namespace {

constexpr std::string_view kTokenizerPrefix = "tokenizer.";
constexpr const char* kTokensKey = "tokenizer.ggml.tokens";

struct TokenizerFileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// "u32", "array of str", ...
std::string TypeName(const gguf_context* ctx, std::int64_t id) {
  const gguf_type type = gguf_get_kv_type(ctx, id);
  if (type != GGUF_TYPE_ARRAY) return gguf_type_name(type);
  return std::string("array of ") + gguf_type_name(gguf_get_arr_type(ctx, id));
}

// What a tokenizer key must hold; kAny for keys llama.cpp reads loosely or
// not at all (they are copied as they are).
enum class Expect { kAny, kString, kBool, kTokenId, kStringArray, kPerTokenF32, kPerTokenI32 };

Expect Expected(std::string_view key) {
  if (key == "tokenizer.ggml.model" || key == "tokenizer.ggml.pre" ||
      key == "tokenizer.chat_template" || StartsWith(key, "tokenizer.chat_template.")) {
    return Expect::kString;
  }
  if (key == "tokenizer.ggml.merges") return Expect::kStringArray;
  if (key == "tokenizer.ggml.scores") return Expect::kPerTokenF32;
  if (key == "tokenizer.ggml.token_type") return Expect::kPerTokenI32;
  if (StartsWith(key, "tokenizer.ggml.") && EndsWith(key, "_token_id")) return Expect::kTokenId;
  if (StartsWith(key, "tokenizer.ggml.add_") || key == "tokenizer.ggml.remove_extra_whitespaces") {
    return Expect::kBool;
  }
  return Expect::kAny;
}

bool IsArrayOf(const gguf_context* ctx, std::int64_t id, gguf_type element) {
  return gguf_get_kv_type(ctx, id) == GGUF_TYPE_ARRAY && gguf_get_arr_type(ctx, id) == element;
}

// Checks one tokenizer key against Expected(key); `tokens` is the count of
// tokenizer.ggml.tokens.
Status CheckKey(const std::string& path, const gguf_context* ctx, std::int64_t id,
                std::int64_t tokens) {
  const std::string key = gguf_get_key(ctx, id);
  const gguf_type type = gguf_get_kv_type(ctx, id);
  auto wrong = [&](const char* expected) {
    return MakeError(ErrorCode::kInvalidArgument,
                     path + ": " + key + " must be " + expected + ", is " + TypeName(ctx, id));
  };
  if (type == GGUF_TYPE_ARRAY && gguf_get_arr_type(ctx, id) == GGUF_TYPE_ARRAY) {
    return wrong("a value or an array of values");
  }
  const auto per_token = [&](gguf_type element, const char* expected) -> Status {
    if (!IsArrayOf(ctx, id, element)) return wrong(expected);
    const std::size_t n = gguf_get_arr_n(ctx, id);
    if (n != static_cast<std::size_t>(tokens)) {
      return MakeError(ErrorCode::kInvalidArgument, path + ": " + key + " has " +
                                                        std::to_string(n) + " entries for " +
                                                        std::to_string(tokens) + " tokens");
    }
    return Ok();
  };
  switch (Expected(key)) {
    case Expect::kAny:
      return Ok();
    case Expect::kString:
      return type == GGUF_TYPE_STRING ? Ok() : wrong("a string");
    case Expect::kBool:
      return type == GGUF_TYPE_BOOL ? Ok() : wrong("a bool");
    case Expect::kStringArray:
      return IsArrayOf(ctx, id, GGUF_TYPE_STRING) ? Ok() : wrong("an array of str");
    case Expect::kPerTokenF32:
      return per_token(GGUF_TYPE_FLOAT32, "an array of f32");
    case Expect::kPerTokenI32:
      return per_token(GGUF_TYPE_INT32, "an array of i32");
    case Expect::kTokenId: {
      if (type != GGUF_TYPE_UINT32) return wrong("a u32");
      const std::uint32_t token = gguf_get_val_u32(ctx, id);
      if (token >= static_cast<std::uint64_t>(tokens)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         path + ": " + key + " is " + std::to_string(token) +
                             ", outside the vocabulary of " + std::to_string(tokens) + " tokens");
      }
      return Ok();
    }
  }
  return Ok();
}

// The checks that need no GGUF parsing: existence, file type, magic.
Status CheckFile(const std::string& path) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    return MakeError(ErrorCode::kNotFound, "vocabulary file " + path + " does not exist");
  }
  if (ec)
    return MakeError(ErrorCode::kIo, "cannot stat vocabulary file " + path + ": " + ec.message());
  if (!std::filesystem::is_regular_file(status)) {
    return MakeError(ErrorCode::kIo, "vocabulary file " + path + " is not a regular file");
  }
  std::unique_ptr<std::FILE, TokenizerFileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    return MakeError(ErrorCode::kIo, "cannot open vocabulary file " + path + ": " +
                                         std::generic_category().message(errno));
  }
  std::array<char, 4> magic{};
  if (std::fread(magic.data(), 1, magic.size(), file.get()) != magic.size() ||
      std::memcmp(magic.data(), GGUF_MAGIC, magic.size()) != 0) {
    return MakeError(ErrorCode::kIncompatible, "vocabulary file " + path + " is not a GGUF file");
  }
  return Ok();
}

}  // namespace

Result<TokenizerSource> LoadTokenizerSource(const std::string& path) {
  OTA_TRY(CheckFile(path));
  EnsureLlamaBackend();  // ggml's reader logs why it refuses a file; keep stderr clean.
  (void)TakeLlamaErrors();
  gguf_init_params params{};
  params.no_alloc = true;
  params.ctx = nullptr;
  TokenizerSource source;
  source.gguf.reset(gguf_init_from_file(path.c_str(), params));
  const gguf_context* ctx = source.gguf.get();
  if (ctx == nullptr) {
    const std::string reason = TakeLlamaErrors();
    return MakeError(ErrorCode::kIntegrity, "vocabulary file " + path +
                                                ": GGUF header is malformed or truncated" +
                                                (reason.empty() ? "" : " (ggml: " + reason + ")"));
  }
  const std::int64_t tokens_id = gguf_find_key(ctx, kTokensKey);
  if (tokens_id < 0) {
    return MakeError(ErrorCode::kIncompatible,
                     "vocabulary file " + path + " has no tokenizer (no " + kTokensKey + ")");
  }
  if (!IsArrayOf(ctx, tokens_id, GGUF_TYPE_STRING)) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        path + ": " + kTokensKey + " must be an array of str, is " + TypeName(ctx, tokens_id));
  }
  const std::size_t tokens = gguf_get_arr_n(ctx, tokens_id);
  if (tokens == 0) {
    return MakeError(ErrorCode::kIncompatible,
                     "vocabulary file " + path + ": " + kTokensKey + " is empty");
  }
  if (tokens > static_cast<std::size_t>(kMaxSynthVocabTokens)) {
    return MakeError(ErrorCode::kIncompatible,
                     "vocabulary file " + path + " has " + std::to_string(tokens) +
                         " tokens, more than the limit of " + std::to_string(kMaxSynthVocabTokens));
  }
  source.tokens = static_cast<std::int64_t>(tokens);
  for (std::int64_t id = 0; id < gguf_get_n_kv(ctx); ++id) {
    if (!StartsWith(gguf_get_key(ctx, id), kTokenizerPrefix)) continue;
    OTA_TRY(CheckKey(path, ctx, id, source.tokens));
  }
  return source;
}

void CopyTokenizer(const TokenizerSource& source, gguf_context* out) {
  const gguf_context* in = source.gguf.get();
  for (std::int64_t id = 0; id < gguf_get_n_kv(in); ++id) {
    const char* key = gguf_get_key(in, id);
    if (!StartsWith(key, kTokenizerPrefix)) continue;
    switch (gguf_get_kv_type(in, id)) {
      case GGUF_TYPE_UINT8:
        gguf_set_val_u8(out, key, gguf_get_val_u8(in, id));
        break;
      case GGUF_TYPE_INT8:
        gguf_set_val_i8(out, key, gguf_get_val_i8(in, id));
        break;
      case GGUF_TYPE_UINT16:
        gguf_set_val_u16(out, key, gguf_get_val_u16(in, id));
        break;
      case GGUF_TYPE_INT16:
        gguf_set_val_i16(out, key, gguf_get_val_i16(in, id));
        break;
      case GGUF_TYPE_UINT32:
        gguf_set_val_u32(out, key, gguf_get_val_u32(in, id));
        break;
      case GGUF_TYPE_INT32:
        gguf_set_val_i32(out, key, gguf_get_val_i32(in, id));
        break;
      case GGUF_TYPE_FLOAT32:
        gguf_set_val_f32(out, key, gguf_get_val_f32(in, id));
        break;
      case GGUF_TYPE_UINT64:
        gguf_set_val_u64(out, key, gguf_get_val_u64(in, id));
        break;
      case GGUF_TYPE_INT64:
        gguf_set_val_i64(out, key, gguf_get_val_i64(in, id));
        break;
      case GGUF_TYPE_FLOAT64:
        gguf_set_val_f64(out, key, gguf_get_val_f64(in, id));
        break;
      case GGUF_TYPE_BOOL:
        gguf_set_val_bool(out, key, gguf_get_val_bool(in, id));
        break;
      case GGUF_TYPE_STRING:
        gguf_set_val_str(out, key, gguf_get_val_str(in, id));
        break;
      case GGUF_TYPE_ARRAY: {
        const gguf_type element = gguf_get_arr_type(in, id);
        const std::size_t n = gguf_get_arr_n(in, id);
        if (element == GGUF_TYPE_STRING) {
          std::vector<const char*> strings(n);
          for (std::size_t i = 0; i < n; ++i) strings[i] = gguf_get_arr_str(in, id, i);
          gguf_set_arr_str(out, key, strings.data(), n);
        } else {
          gguf_set_arr_data(out, key, element, gguf_get_arr_data(in, id), n);
        }
        break;
      }
      default:  // GGUF_TYPE_COUNT and unknown values: ggml's reader refuses them.
        break;
    }
  }
}

}  // namespace ota::runtime_adapter
