#include "ota/common/hash.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace ota {

namespace {

// SHA-256 and SHA-512 run through libcrypto, whose assembly uses the CPU's
// SHA extensions (SHA-NI, ARMv8 SHA2) and vector units where present: SHA-256
// about 5x libsodium's portable code, which alone took as long as `zstd -d
// --patch-from` needs for a whole delta apply (docs/decisions.md D18), and
// SHA-512 about 1.8x (checked on every downloaded target). Fetched once; an
// EVP_MD is immutable and may be shared by threads.
const EVP_MD* FetchMd(const char* name) {
  EVP_MD* fetched = EVP_MD_fetch(nullptr, name, nullptr);
  if (fetched == nullptr) {
    std::fprintf(stderr, "fatal: libcrypto has no %s\n", name);
    std::abort();
  }
  return fetched;
}

const EVP_MD* Md(HashAlgorithm algorithm) {
  static const EVP_MD* sha256 = FetchMd("SHA256");
  static const EVP_MD* sha512 = FetchMd("SHA512");
  return algorithm == HashAlgorithm::kSha256 ? sha256 : sha512;
}

}  // namespace

struct Hasher::State {
  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { EVP_MD_CTX_free(ctx); }
  EVP_MD_CTX* ctx = nullptr;
};

Hasher::Hasher(HashAlgorithm algorithm) : algorithm_(algorithm), state_(new State) {
  InitCrypto();
  state_->ctx = EVP_MD_CTX_new();
  if (state_->ctx == nullptr || EVP_DigestInit_ex(state_->ctx, Md(algorithm_), nullptr) != 1) {
    // Only an allocation failure gets here; there is no digest to return.
    std::fputs("fatal: cannot start a digest\n", stderr);
    std::abort();
  }
}

Hasher::~Hasher() = default;

void Hasher::Update(std::span<const std::uint8_t> data) {
  // Cannot fail for an initialised software digest.
  (void)EVP_DigestUpdate(state_->ctx, data.data(), data.size());
}

void Hasher::Update(std::string_view data) {
  Update(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()),
                                       data.size()));
}

std::string Hasher::FinishHex() {
  std::uint8_t out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  (void)EVP_DigestFinal_ex(state_->ctx, out, &size);
  return HexEncode(std::span<const std::uint8_t>(out, size));
}

namespace {

// One context per thread, reset for each digest: small inputs (audit links,
// key ids) are hashed by the million, and a fresh context per call cost more
// than the hashing itself.
EVP_MD_CTX* ThreadContext() {
  struct Context {
    Context() : ctx(EVP_MD_CTX_new()) {}
    ~Context() { EVP_MD_CTX_free(ctx); }
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;
    EVP_MD_CTX* ctx;
  };
  thread_local Context context;
  if (context.ctx == nullptr) {
    std::fputs("fatal: cannot start a digest\n", stderr);
    std::abort();
  }
  return context.ctx;
}

}  // namespace

void Sha256HexParts(std::initializer_list<std::string_view> parts, std::span<char, 64> out) {
  EVP_MD_CTX* ctx = ThreadContext();
  (void)EVP_DigestInit_ex2(ctx, Md(HashAlgorithm::kSha256), nullptr);
  for (std::string_view part : parts) (void)EVP_DigestUpdate(ctx, part.data(), part.size());
  std::uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  (void)EVP_DigestFinal_ex(ctx, digest, &size);
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < 32; ++i) {
    out[2 * i] = kDigits[digest[i] >> 4];
    out[2 * i + 1] = kDigits[digest[i] & 0xf];
  }
}

std::string Sha256Hex(std::string_view data) {
  std::string out(64, '0');
  Sha256HexParts({data}, std::span<char, 64>(out.data(), 64));
  return out;
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

}  // namespace ota
