#include "ota/common/hash.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace ota {

namespace {

// SHA-256 runs through libcrypto, whose assembly uses the CPU's SHA
// extensions (SHA-NI, ARMv8 SHA2) where present: about 5x libsodium's
// portable code, which alone took as long as `zstd -d --patch-from` needs for
// a whole delta apply (docs/decisions.md D18). Fetched once; the EVP_MD is
// immutable and may be shared by threads.
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) {
      std::fputs("fatal: libcrypto has no SHA-256\n", stderr);
      std::abort();
    }
    return fetched;
  }();
  return md;
}

}  // namespace

struct Hasher::State {
  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { EVP_MD_CTX_free(sha256); }
  EVP_MD_CTX* sha256 = nullptr;
  crypto_hash_sha512_state sha512;
};

Hasher::Hasher(HashAlgorithm algorithm) : algorithm_(algorithm), state_(new State) {
  InitCrypto();
  if (algorithm_ == HashAlgorithm::kSha256) {
    state_->sha256 = EVP_MD_CTX_new();
    if (state_->sha256 == nullptr || EVP_DigestInit_ex(state_->sha256, Sha256Md(), nullptr) != 1) {
      // Only an allocation failure gets here; there is no digest to return.
      std::fputs("fatal: cannot start a SHA-256 digest\n", stderr);
      std::abort();
    }
  } else {
    crypto_hash_sha512_init(&state_->sha512);
  }
}

Hasher::~Hasher() = default;

void Hasher::Update(std::span<const std::uint8_t> data) {
  if (algorithm_ == HashAlgorithm::kSha256) {
    // Cannot fail for an initialised software digest.
    (void)EVP_DigestUpdate(state_->sha256, data.data(), data.size());
  } else {
    crypto_hash_sha512_update(&state_->sha512, data.data(), data.size());
  }
}

void Hasher::Update(std::string_view data) {
  Update(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()),
                                       data.size()));
}

std::string Hasher::FinishHex() {
  if (algorithm_ == HashAlgorithm::kSha256) {
    std::uint8_t out[32];
    unsigned int size = 0;
    (void)EVP_DigestFinal_ex(state_->sha256, out, &size);
    return HexEncode(std::span<const std::uint8_t>(out, size));
  }
  std::uint8_t out[crypto_hash_sha512_BYTES];
  crypto_hash_sha512_final(&state_->sha512, out);
  return HexEncode(std::span<const std::uint8_t>(out, sizeof(out)));
}

std::string Sha256Hex(std::string_view data) {
  Hasher h(HashAlgorithm::kSha256);
  h.Update(data);
  return h.FinishHex();
}

std::string Sha512Hex(std::string_view data) {
  Hasher h(HashAlgorithm::kSha512);
  h.Update(data);
  return h.FinishHex();
}

Result<std::string> HashFileHex(const std::string& path, HashAlgorithm algorithm) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return MakeError(ErrorCode::kIo, "cannot open " + path + " for hashing");
  Hasher h(algorithm);
  std::vector<std::uint8_t> buf(1 << 20);
  while (true) {
    std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
    if (n > 0) h.Update(std::span<const std::uint8_t>(buf.data(), n));
    if (n < buf.size()) break;
  }
  bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return MakeError(ErrorCode::kIo, "read error while hashing " + path);
  return h.FinishHex();
}

std::string HexEncode(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::string HexEncode(std::string_view bytes) {
  return HexEncode(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return MakeError(ErrorCode::kInvalidArgument, "hex string has odd length");
  }
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexValue(hex[i]);
    int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return MakeError(ErrorCode::kInvalidArgument, "invalid hex digit");
    }
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

bool IsLowerHex(std::string_view s, std::size_t length) {
  if (s.size() != length) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace ota
