#include "fuzz_fixtures.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include "gguf_synth.h"
#include "ota/bundle/bundle.h"

namespace ota::fuzz {
namespace {

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return out ? Ok() : MakeError(ErrorCode::kIo, "cannot write " + path);
}

Result<manifest::BundleManifest> Build(FileSystem& fs, const std::string& root,
                                       const std::string& name, const std::string& version,
                                       const testing::SynthEdit& edit, bool encrypted,
                                       const std::string& bundle_path, const std::string& out_dir) {
  testing::SynthShape shape;
  shape.layers = 2;
  shape.n_embd = 32;
  shape.n_ff = 64;
  shape.n_vocab = 64;
  const std::string model = root + "/" + name + ".gguf";
  if (!testing::WriteSynthGguf(model, shape, edit)) {
    return MakeError(ErrorCode::kIo, "cannot write " + model);
  }
  const std::string prompt = root + "/" + name + ".txt";
  OTA_TRY(WriteText(prompt, "Answer briefly: {{question}}\n"));
  manifest::BundleManifest base;
  base.name = "chat";
  OTA_ASSIGN_OR_RETURN(base.version, manifest::ParseVersion(version));
  base.model.file = "model.gguf";
  base.model.format = "gguf";
  bundle::PackOptions options;
  options.chunk_size = bundle::kMinChunkSize;
  options.zstd_level = 3;
  if (encrypted) {
    OTA_ASSIGN_OR_RETURN(auto key, DeviceKey());
    options.recipients.push_back(bundle::RecipientPublicKey{key.public_key, key.key_id});
  }
  OTA_TRY(bundle::PackBundle(
      fs, base, {{"model.gguf", model, "model"}, {"prompts/chat.txt", prompt, "prompt"}},
      bundle_path, options));
  std::error_code ec;
  std::filesystem::remove_all(out_dir, ec);
  std::optional<bundle::RecipientPrivateKey> key;
  if (encrypted) {
    OTA_ASSIGN_OR_RETURN(auto k, DeviceKey());
    key = k;
  }
  return bundle::UnpackBundleFile(fs, bundle_path, out_dir, {}, key);
}

}  // namespace

Result<bundle::RecipientPrivateKey> DeviceKey() {
  return bundle::RecipientKeyFromPrivate(std::string(32, '\x07'));
}

Result<Versions> MakeVersions(FileSystem& fs, const std::string& root) {
  std::filesystem::create_directories(root);
  Versions v;
  v.base_dir = root + "/base";
  v.target_dir = root + "/target";
  v.base_bundle = root + "/base.otab";
  v.target_bundle = root + "/target.otab";
  testing::SynthEdit same;
  OTA_ASSIGN_OR_RETURN(v.base,
                       Build(fs, root, "base", "1.0.0", same, false, v.base_bundle, v.base_dir));
  testing::SynthEdit tuned;
  tuned.changed_layers = {1};
  tuned.nudge = 0.02f;
  tuned.chat_template = "{{ messages }} v2";
  OTA_ASSIGN_OR_RETURN(
      v.target, Build(fs, root, "target", "1.1.0", tuned, true, v.target_bundle, v.target_dir));
  return v;
}

}  // namespace ota::fuzz
