// otactl model ...: model-file utilities. `model synth` writes tiny
// llama-architecture GGUF test models (see docs/runtime-adapters.md);
// `model quantize` quantizes a GGUF model with llama.cpp.
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "commands.h"
#include "ota/common/filesystem.h"
#include "ota/runtime_adapter/model_synth.h"
#include "ota/runtime_adapter/quantize.h"

namespace ota::tools {
namespace {

namespace ra = ota::runtime_adapter;

struct SynthFlags {
  ra::SynthOptions options;
  std::string type = std::string(ra::TensorTypeName(ra::SynthOptions{}.type));
  std::string vocab = std::string(ra::SynthVocabName(ra::SynthOptions{}.vocab));
  std::string breakage = "none";
  std::string chat_template_file;
  std::string out;
};

// The text of --chat-template FILE; the size limit and the NUL check are
// ValidateSynthOptions'.
Status ReadChatTemplate(const std::string& path, ra::SynthOptions& options) {
  const std::unique_ptr<FileSystem> fs = MakePosixFileSystem();
  Result<std::string> text = fs->ReadFile(path, ra::kMaxChatTemplateBytes);
  if (!text.ok()) {
    return MakeError(text.error().code, "--chat-template: " + text.error().message);
  }
  if (text->empty())
    return MakeError(ErrorCode::kInvalidArgument, "--chat-template: " + path + " is empty");
  options.chat_template = std::move(*text);
  return Ok();
}

int RunSynth(const SynthFlags& flags) {
  ra::SynthOptions options = flags.options;
  Result<ra::TensorType> type = ra::ParseTensorType(flags.type);
  if (!type.ok()) return Fail("model synth: " + type.error().message);
  options.type = *type;
  Result<ra::SynthVocabKind> vocab = ra::ParseSynthVocab(flags.vocab);
  if (!vocab.ok()) return Fail("model synth: " + vocab.error().message);
  options.vocab = *vocab;
  if (Status parsed = ra::ParseSynthBreak(flags.breakage, options); !parsed.ok()) {
    return Fail("model synth: " + parsed.error().message);
  }
  if (!flags.chat_template_file.empty()) {
    if (Status read = ReadChatTemplate(flags.chat_template_file, options); !read.ok()) {
      return Fail("model synth: " + read.error().message);
    }
  }
  if (Status valid = ra::ValidateSynthOptions(options); !valid.ok()) {
    return Fail("model synth: " + valid.error().message);
  }
  if (Status written = ra::SynthesizeModel(options, flags.out); !written.ok()) {
    return Fail("model synth: " + written.error().ToString());
  }
  std::error_code ec;
  const std::uintmax_t bytes = std::filesystem::file_size(flags.out, ec);
  std::cout << flags.out << ": llama model, " << options.layers << " layers, width "
            << options.width << ", " << flags.type << ", vocabulary "
            << (options.vocab_from.empty() ? flags.vocab : "from " + options.vocab_from);
  if (!options.chat_template.empty()) std::cout << ", chat template";
  if (options.breakage != ra::SynthBreak::kNone) {
    std::cout << ", broken: " << ra::SynthBreakName(options);
  }
  if (!ec) std::cout << ", " << bytes << " bytes";
  std::cout << "\n";
  return 0;
}

struct QuantizeFlags {
  std::string in;
  std::string out;
  std::string type;
  int threads = 0;
  bool force = false;
  std::vector<std::string> tensor_types;  // "REGEX=TYPE", in order.
};

int RunQuantize(const QuantizeFlags& flags) {
  Result<ra::QuantType> type = ra::ParseQuantType(flags.type);
  if (!type.ok()) return Fail("model quantize: " + type.error().message);
  std::error_code ec;
  if (!std::filesystem::exists(flags.in, ec)) {
    return Fail("model quantize: " + flags.in + ": no such model file");
  }
  ra::QuantizeOptions options;
  options.type = *type;
  options.threads = flags.threads;
  options.overwrite = flags.force;
  for (const std::string& spec : flags.tensor_types) {
    const std::size_t eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      return Fail("model quantize: --tensor-type " + spec + " must be REGEX=TYPE");
    }
    Result<ra::QuantType> t = ra::ParseQuantType(spec.substr(eq + 1));
    if (!t.ok()) return Fail("model quantize: --tensor-type " + spec + ": " + t.error().message);
    options.tensor_types.push_back({spec.substr(0, eq), *t});
  }
  Result<ra::QuantizeResult> done = ra::QuantizeModel(flags.in, flags.out, options);
  if (!done.ok()) {
    std::string message = done.error().message;
    if (message.ends_with(" already exists")) message += " (--force replaces it)";
    return Fail("model quantize: " + message);
  }
  std::cout << flags.out << ": " << done->file_type << ", " << done->bytes << " bytes\n";
  return 0;
}

void RegisterQuantize(CLI::App& model, CommandRunner* selected) {
  auto flags = std::make_shared<QuantizeFlags>();
  CLI::App* quantize = model.add_subcommand(
      "quantize",
      "Quantize a GGUF model (F32, F16 or BF16) with llama.cpp's quantizer; the output is "
      "written atomically");
  quantize->add_option("--in", flags->in, "Master model (GGUF)")->required();
  quantize->add_option("--out", flags->out, "Quantized model to write")->required();
  quantize->add_option("--type", flags->type, "Quantization type: " + ra::QuantTypeList())
      ->required();
  quantize->add_option("--threads", flags->threads, "Threads, 0 (one per hardware thread) to 256")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  quantize->add_flag("--force", flags->force, "Replace an existing output file");
  quantize->add_option("--tensor-type", flags->tensor_types,
                       "REGEX=TYPE: tensors whose name matches get this type instead (e.g. "
                       "'blk\\.(0|15)\\..*=q6_k' keeps the first and last blocks finer); "
                       "repeatable, the first match wins");
  quantize->callback([selected, flags] { *selected = [flags] { return RunQuantize(*flags); }; });
}

}  // namespace

void RegisterModelCommands(CLI::App& app, CommandRunner* selected) {
  CLI::App* model = app.add_subcommand("model", "Model-file utilities");
  model->require_subcommand(1);

  auto flags = std::make_shared<SynthFlags>();
  ra::SynthOptions& o = flags->options;
  CLI::App* synth = model->add_subcommand(
      "synth",
      "Write a tiny llama-architecture GGUF test model: random weights from a seed and a "
      "byte-level vocabulary, or the tokenizer of another GGUF file. The same flags (and "
      "files) always give a byte-identical file.");
  synth->add_option("--seed", o.seed, "Seed of the base weights")->capture_default_str();
  synth->add_option("--layers", o.layers, "Transformer blocks, 1 to 256")->capture_default_str();
  synth->add_option("--width", o.width, "Embedding width, 8 to 8192 (multiple of 32 for q8_0)")
      ->capture_default_str();
  synth->add_option("--heads", o.heads, "Attention heads; width / heads must be even")
      ->capture_default_str();
  synth->add_option("--ff", o.ff, "Feed-forward length (0: 8/3 of the width, rounded to 32)")
      ->capture_default_str();
  synth->add_option("--context", o.context, "Training context length, 8 to 1048576")
      ->capture_default_str();
  synth->add_option("--type", flags->type, "Weight type: f32, f16, bf16 or q8_0")
      ->capture_default_str();
  synth
      ->add_option("--noise", o.noise,
                   "Perturbation of every weight, as a fraction of its scale (0 to 10)")
      ->capture_default_str();
  synth->add_option("--noise-seed", o.noise_seed, "Seed of the perturbation")
      ->capture_default_str();
  synth->add_option("--name", o.name, "Model name (general.name)")->capture_default_str();
  CLI::Option* vocab =
      synth
          ->add_option("--vocab", flags->vocab,
                       "Vocabulary: bytes, or alt (another byte-fallback vocabulary)")
          ->capture_default_str();
  synth
      ->add_option("--vocab-from", o.vocab_from,
                   "Take the whole tokenizer (every tokenizer.* key) from this GGUF file, e.g. a "
                   "vocabulary file kept by scripts/setup --print-vocab-dir")
      ->excludes(vocab);
  synth->add_option("--chat-template", flags->chat_template_file,
                    "Set tokenizer.chat_template from this text file (at most 1 MiB)");
  synth
      ->add_option("--break", flags->breakage,
                   "Damage on purpose: none, zero-layer:K (block K all zeros) or swap-tensors "
                   "(blk.0.ffn_gate and blk.0.ffn_up swapped)")
      ->capture_default_str();
  synth->add_option("--out", flags->out, "Output file, written atomically")->required();
  synth->callback([selected, flags] { *selected = [flags] { return RunSynth(*flags); }; });
  RegisterQuantize(*model, selected);
}

}  // namespace ota::tools
