#include "chunk_crypto.h"

#include <sodium.h>

#include <cstring>

#include "ota/common/hash.h"

namespace ota::bundle {
namespace {

constexpr std::string_view kContextDomain = "MOTABNDL chunk context v2";

void AppendLe(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

Status Start() {
  if (sodium_init() < 0) return MakeError(ErrorCode::kInternal, "libsodium failed to start");
  return Ok();
}

// context || index || chunk count || plain || codec || groups.
std::string AssociatedData(std::string_view context, std::size_t index, std::size_t count,
                           const ChunkEntry& chunk) {
  std::string ad(context);
  AppendLe(ad, index, 8);
  AppendLe(ad, count, 8);
  AppendLe(ad, chunk.plain, 8);
  AppendLe(ad, chunk.codec == ChunkCodec::kZstd ? 0 : 1, 1);
  AppendLe(ad, chunk.groups.size(), 4);
  for (const ByteGroup& g : chunk.groups) {
    AppendLe(ad, g.offset, 8);
    AppendLe(ad, g.length, 8);
    // The kind rides in the width field: byte groups (kind 0) keep the
    // associated data of bundles written before kinds existed.
    AppendLe(ad, g.width | (static_cast<std::uint32_t>(g.kind) << 8), 4);
  }
  return ad;
}

// The first 16 bytes of the bundle id, then the chunk index: unique per
// (key, chunk) even if a content key were ever reused.
void MakeNonce(const Encryption& enc, std::size_t index,
               unsigned char (&nonce)[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES]) {
  static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24);
  std::memcpy(nonce, enc.bundle_id.data(), 16);
  for (int i = 0; i < 8; ++i) nonce[16 + i] = static_cast<unsigned char>((index >> (8 * i)) & 0xff);
}

}  // namespace

Result<std::string> RandomBytes(Random* random, std::size_t n) {
  OTA_TRY(Start());
  std::string out(n, '\0');
  if (random != nullptr) {
    random->Fill(std::span(reinterpret_cast<std::uint8_t*>(out.data()), n));
  } else {
    randombytes_buf(out.data(), n);
  }
  return out;
}

Result<std::string> SealContentKey(std::string_view content_key, std::string_view public_key) {
  OTA_TRY(Start());
  if (content_key.size() != kContentKeyBytes || public_key.size() != crypto_box_PUBLICKEYBYTES) {
    return MakeError(ErrorCode::kInvalidArgument, "malformed content or recipient key");
  }
  static_assert(crypto_box_SEALBYTES + kContentKeyBytes == kSealedKeyBytes);
  std::string sealed(kSealedKeyBytes, '\0');
  if (crypto_box_seal(reinterpret_cast<unsigned char*>(sealed.data()),
                      reinterpret_cast<const unsigned char*>(content_key.data()),
                      content_key.size(),
                      reinterpret_cast<const unsigned char*>(public_key.data())) != 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "cannot seal the content key to recipient " + RecipientKeyId(public_key));
  }
  return sealed;
}

Result<std::string> OpenContentKey(const Encryption& encryption, const RecipientPrivateKey& key) {
  OTA_TRY(Start());
  for (const Recipient& r : encryption.recipients) {
    if (r.key_id != key.key_id) continue;
    std::string content_key(kContentKeyBytes, '\0');
    if (r.sealed_key.size() != kSealedKeyBytes ||
        crypto_box_seal_open(reinterpret_cast<unsigned char*>(content_key.data()),
                             reinterpret_cast<const unsigned char*>(r.sealed_key.data()),
                             r.sealed_key.size(),
                             reinterpret_cast<const unsigned char*>(key.public_key.data()),
                             reinterpret_cast<const unsigned char*>(key.private_key.data())) != 0) {
      return MakeError(ErrorCode::kIntegrity, "the content key sealed to recipient key id " +
                                                  key.key_id + " does not open (it is corrupt)");
    }
    return content_key;
  }
  return MakeError(ErrorCode::kSecurity, "not a recipient of this bundle (recipient key id " +
                                             key.key_id + "; the bundle lists " +
                                             std::to_string(encryption.recipients.size()) +
                                             " other recipient key(s))");
}

std::string ChunkContext(const ContainerHeader& header) {
  std::string in(kContextDomain);
  in.push_back('\0');
  if (header.encryption) in += header.encryption->bundle_id;
  AppendLe(in, header.chunk_size, 8);
  AppendLe(in, header.total_plain, 8);
  AppendLe(in, header.chunks.size(), 8);
  in += Sha256Hex(manifest::SerializeBundleManifest(header.manifest));
  if (header.delta) {
    // A delta's chunks are bound to the versions it joins and its payload.
    in += "delta" + header.delta->base_id + header.delta->target_id + header.delta->payload_sha256;
  }
  std::string hex = Sha256Hex(in);
  return *HexDecode(hex);
}

Status EncryptChunk(std::string_view content_key, const ContainerHeader& header,
                    std::string_view context, std::size_t index, const ChunkEntry& chunk,
                    std::span<const std::uint8_t> plain, std::vector<std::uint8_t>& out) {
  OTA_TRY(Start());
  if (!header.encryption || content_key.size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES) {
    return MakeError(ErrorCode::kInternal, "EncryptChunk needs an encrypted header and a key");
  }
  const std::string ad = AssociatedData(context, index, header.chunks.size(), chunk);
  unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  MakeNonce(*header.encryption, index, nonce);
  out.resize(plain.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.data(), &written, plain.data(), plain.size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, nonce,
      reinterpret_cast<const unsigned char*>(content_key.data()));
  out.resize(static_cast<std::size_t>(written));
  return Ok();
}

Status DecryptChunk(std::string_view content_key, const ContainerHeader& header,
                    std::string_view context, std::size_t index, const ChunkEntry& chunk,
                    std::span<const std::uint8_t> stored, std::vector<std::uint8_t>& out) {
  OTA_TRY(Start());
  if (!header.encryption || content_key.size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES ||
      stored.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES) {
    return MakeError(ErrorCode::kIntegrity, ChunkName(index) + " is too short to be encrypted");
  }
  const std::string ad = AssociatedData(context, index, header.chunks.size(), chunk);
  unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  MakeNonce(*header.encryption, index, nonce);
  out.resize(stored.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          out.data(), &written, nullptr, stored.data(), stored.size(),
          reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nonce,
          reinterpret_cast<const unsigned char*>(content_key.data())) != 0) {
    return MakeError(ErrorCode::kIntegrity,
                     ChunkName(index) +
                         " does not decrypt: it was altered, moved, cut or taken from another "
                         "bundle, or the header around it was changed");
  }
  out.resize(static_cast<std::size_t>(written));
  return Ok();
}

void WipeKey(std::string& key) {
  if (!key.empty()) sodium_memzero(key.data(), key.size());
  key.clear();
}

}  // namespace ota::bundle
