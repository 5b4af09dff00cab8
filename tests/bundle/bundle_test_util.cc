#include "bundle_test_util.h"

#include <random>

#include "ota/common/hash.h"

namespace ota::bundle::testing {

std::string RandomBytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::string CompressibleBytes(std::size_t n) {
  static const std::string kText =
      "The quick brown fox jumps over the lazy dog while the model answers politely. ";
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; out.size() < n; ++i) {
    out += kText;
    out += std::to_string(i % 97);
  }
  out.resize(n);
  return out;
}

std::string LittleEndian(std::uint64_t value, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  return out;
}

namespace {

std::uint64_t ReadLe(const std::string& bytes, std::size_t offset, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(bytes[offset + static_cast<std::size_t>(i)]);
  }
  return v;
}

}  // namespace

RawBundle SplitBundle(const std::string& bytes) {
  RawBundle raw;
  if (bytes.size() < 56) {
    ADD_FAILURE() << "bundle shorter than its preamble";
    return raw;
  }
  raw.magic = bytes.substr(0, 8);
  raw.format = static_cast<std::uint32_t>(ReadLe(bytes, 8, 4));
  raw.flags = static_cast<std::uint32_t>(ReadLe(bytes, 12, 4));
  raw.header_len = ReadLe(bytes, 16, 8);
  raw.header_text = bytes.substr(56, raw.header_len);
  EXPECT_EQ(HexEncode(bytes.substr(24, 32)), Sha256Hex(raw.header_text));
  raw.header = nlohmann::json::parse(raw.header_text);
  raw.chunks = bytes.substr(56 + raw.header_len);
  return raw;
}

std::string JoinBundleText(const RawBundle& raw, const std::string& header_text) {
  Result<std::string> digest = HexDecode(Sha256Hex(header_text));
  EXPECT_TRUE(digest.ok());
  return raw.magic + LittleEndian(raw.format, 4) + LittleEndian(raw.flags, 4) +
         LittleEndian(header_text.size(), 8) + (digest.ok() ? *digest : "") + header_text +
         raw.chunks;
}

std::string JoinBundle(const RawBundle& raw) { return JoinBundleText(raw, raw.header.dump()); }

ota::testing::SynthShape TinySynthShape(ota::testing::SynthType type) {
  ota::testing::SynthShape s;
  s.layers = 4;
  s.n_embd = 64;
  s.n_ff = 128;
  s.n_vocab = 512;
  s.weight_type = type;
  return s;
}

manifest::BundleManifest BaseManifest(const std::string& model_file) {
  manifest::BundleManifest m;
  m.name = "chat-small";
  m.version = *manifest::ParseVersion("1.2.0");
  m.model = {model_file, "gguf"};
  return m;
}

Result<manifest::BundleManifest> UnpackBytes(FileSystem& fs, const std::string& bytes,
                                             const std::string& out_dir, std::size_t piece,
                                             const UnpackLimits& limits,
                                             std::optional<RecipientPrivateKey> key) {
  StreamingUnpacker unpacker(fs, out_dir, limits, std::move(key));
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const std::size_t step = piece == 0 ? std::max<std::size_t>(bytes.size(), 1) : piece;
  for (std::size_t off = 0; off < bytes.size(); off += step) {
    const std::size_t n = std::min(step, bytes.size() - off);
    OTA_TRY(unpacker.Feed(std::span<const std::uint8_t>(data + off, n)));
  }
  return unpacker.Finish();
}

std::uint64_t SeededRandom::Next() {
  // splitmix64.
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void SeededRandom::Fill(std::span<std::uint8_t> out) {
  for (std::uint8_t& b : out) b = static_cast<std::uint8_t>(Next() & 0xff);
}

std::uint64_t SeededRandom::Uniform(std::uint64_t bound) { return Next() % bound; }

class FailingWritableFile : public WritableFile {
 public:
  FailingWritableFile(std::unique_ptr<WritableFile> base, RecordingFileSystem& owner)
      : base_(std::move(base)), owner_(owner) {}
  using WritableFile::Append;
  Status Append(std::span<const std::uint8_t> data) override {
    if (owner_.fail_appends_after >= 0 && owner_.appends_ >= owner_.fail_appends_after) {
      return MakeError(ErrorCode::kIo, "injected write failure");
    }
    ++owner_.appends_;
    return base_->Append(data);
  }
  Status Sync() override { return base_->Sync(); }
  Status Close() override { return base_->Close(); }

 private:
  std::unique_ptr<WritableFile> base_;
  RecordingFileSystem& owner_;
};

Result<std::unique_ptr<WritableFile>> RecordingFileSystem::OpenWritable(const std::string& path,
                                                                        bool append,
                                                                        unsigned mode) {
  mutations.push_back(path);
  OTA_ASSIGN_OR_RETURN(auto file, base().OpenWritable(path, append, mode));
  return std::unique_ptr<WritableFile>(new FailingWritableFile(std::move(file), *this));
}

}  // namespace ota::bundle::testing
