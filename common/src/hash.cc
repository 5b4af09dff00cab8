#include "ota/common/hash.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace ota {

void InitCrypto() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      // Without a working CSPRNG nothing in the product is safe to run.
      std::fputs("fatal: libsodium initialisation failed\n", stderr);
      std::abort();
    }
  });
}

struct Hasher::State {
  crypto_hash_sha256_state sha256;
  crypto_hash_sha512_state sha512;
};

Hasher::Hasher(HashAlgorithm algorithm) : algorithm_(algorithm), state_(new State) {
  InitCrypto();
  if (algorithm_ == HashAlgorithm::kSha256) {
    crypto_hash_sha256_init(&state_->sha256);
  } else {
    crypto_hash_sha512_init(&state_->sha512);
  }
}

Hasher::~Hasher() = default;

void Hasher::Update(std::span<const std::uint8_t> data) {
  if (algorithm_ == HashAlgorithm::kSha256) {
    crypto_hash_sha256_update(&state_->sha256, data.data(), data.size());
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
    std::uint8_t out[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&state_->sha256, out);
    return HexEncode(std::span<const std::uint8_t>(out, sizeof(out)));
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
