#include "fuzz_fixtures.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "gguf_synth.h"
#include "ota/bundle/bundle.h"
#include "ota/manifest/audit_log.h"

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

namespace {

// Fixed bytes for a deterministic key.
class SevenRandom : public Random {
 public:
  void Fill(std::span<std::uint8_t> out) override { std::fill(out.begin(), out.end(), 7); }
  std::uint64_t Uniform(std::uint64_t) override { return 0; }
};

// Appends records of `log` (bodies numbered from `first`) and a checkpoint.
Status AddLog(manifest::AuditExportWriter& w, const verifier::PrivateKey& key,
              const std::string& log, const std::vector<nlohmann::json>& bodies) {
  std::string prev(manifest::kAuditGenesis);
  std::int64_t seq = 0;
  for (const nlohmann::json& b : bodies) {
    OTA_ASSIGN_OR_RETURN(std::string body, manifest::AuditBody(b));
    const std::string hash = manifest::AuditLink(prev, ++seq, manifest::AuditBodyDigest(body));
    OTA_TRY(w.Record(log, seq, prev, hash, body));
    prev = hash;
  }
  manifest::AuditCheckpoint c{log, seq, prev, "2026-12-06T12:00:00Z", key.keyid, ""};
  OTA_ASSIGN_OR_RETURN(c.signature,
                       verifier::SignBytes(key, manifest::AuditCheckpointSigningBytes(c)));
  return w.Checkpoint(c);
}

}  // namespace

Result<verifier::PrivateKey> AuditKey() {
  SevenRandom random;
  return verifier::GenerateEd25519Key(random);
}

Result<std::string> AuditExportSample() {
  OTA_ASSIGN_OR_RETURN(verifier::PrivateKey key, AuditKey());
  const std::string time = "2026-12-06T12:00:00Z";
  std::string out;
  manifest::AuditExportWriter w(
      [&out](std::string_view line) {
        out.append(line);
        return Ok();
      },
      "server", time, {{"device", "dev-1"}});
  OTA_TRY(AddLog(w, key, "server",
                 {{{"type", "rollout-created"}, {"time", time}, {"actor", "op"}},
                  {{"type", "device-enrolled"},
                   {"time", time},
                   {"device_id", "dev-1"},
                   {"public_key", key.public_key.public_value}}}));
  OTA_TRY(AddLog(w, key, "device/dev-1",
                 {{{"type", "activated"}, {"time", time}, {"model", "chat"}, {"version", "1.0.0"}},
                  {{"type", "note"}, {"time", time}, {"text", "a \"quoted\" {brace}"}}}));
  OTA_TRY(w.Finish(
      time, [&key](std::string_view bytes) -> Result<manifest::AuditExportWriter::Signature> {
        OTA_ASSIGN_OR_RETURN(std::string sig, verifier::SignBytes(key, bytes));
        return manifest::AuditExportWriter::Signature{key.keyid, sig};
      }));
  return out;
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
