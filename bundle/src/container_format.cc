#include "container_format.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "ota/common/checked_math.h"
#include "ota/common/hash.h"
#include "ota/manifest/canonical_json.h"
#include "zstd_codec.h"

namespace ota::bundle {
namespace {

using nlohmann::json;

constexpr const char* kCipherName = "xchacha20poly1305-ietf";

// The header nests bundle.json (at most 32 levels) one level down.
constexpr int kMaxHeaderDepth = 40;

Error Corrupt(const std::string& message) { return MakeError(ErrorCode::kIntegrity, message); }

void PutLe(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::uint64_t GetLe(std::span<const std::uint8_t> in, std::size_t offset, int bytes) {
  std::uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i)
    value = (value << 8) | in[offset + static_cast<std::size_t>(i)];
  return value;
}

int HexDigit(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

// Parses the header, refusing duplicate keys: two readers that kept different
// copies of a key would unpack different bundles from the same bytes.
Result<json> ParseHeaderJson(std::span<const std::uint8_t> bytes) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  auto j = manifest::ParseJsonStrict(text, manifest::JsonLimits{kMaxHeaderBytes, kMaxHeaderDepth});
  if (!j.ok()) return Corrupt("bundle header: " + j.error().message);
  if (!j->is_object()) return Corrupt("bundle header is not a JSON object");
  return std::move(*j);
}

Result<std::uint64_t> GetCount(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) return Corrupt(where + key + " is missing");
  if (!it->is_number_unsigned()) {
    return Corrupt(where + key + " must be a non-negative integer, not " + it->dump());
  }
  return it->get<std::uint64_t>();
}

Result<ChunkEntry> ParseChunk(const json& entry, std::size_t index, bool allow_groups,
                              bool allow_bf16_split) {
  const std::string where = "bundle header: " + ChunkName(index) + ": ";
  if (!entry.is_object()) return Corrupt(where + "entry is not an object");
  ChunkEntry chunk;
  auto codec = entry.find("codec");
  if (codec == entry.end() || !codec->is_string()) return Corrupt(where + "codec is missing");
  if (*codec == "zstd") {
    chunk.codec = ChunkCodec::kZstd;
  } else if (*codec == "raw") {
    chunk.codec = ChunkCodec::kRaw;
  } else {
    return Corrupt(where + "unknown codec " + codec->dump());
  }
  OTA_ASSIGN_OR_RETURN(chunk.stored, GetCount(entry, "stored", where));
  OTA_ASSIGN_OR_RETURN(chunk.plain, GetCount(entry, "plain", where));
  auto sha = entry.find("sha256");
  if (sha == entry.end() || !sha->is_string() || !IsLowerHex(sha->get<std::string>(), 64)) {
    return Corrupt(where + "sha256 is not 64 lower-case hex digits");
  }
  chunk.sha256 = sha->get<std::string>();
  auto groups = entry.find("groups");
  if (groups == entry.end()) return chunk;
  if (!allow_groups) return Corrupt(where + "byte groups need bundle format 2");
  if (!groups->is_array() || groups->empty() || groups->size() > kMaxGroupsPerChunk) {
    return Corrupt(where + "groups must be an array of 1.." + std::to_string(kMaxGroupsPerChunk) +
                   " [offset, length, width] entries");
  }
  if (chunk.codec != ChunkCodec::kZstd) return Corrupt(where + "a raw chunk has no byte groups");
  std::uint64_t end = 0;
  for (const json& g : *groups) {
    if (!g.is_array() || g.size() < 3 || g.size() > 4 || !g[0].is_number_unsigned() ||
        !g[1].is_number_unsigned() || !g[2].is_number_unsigned() ||
        (g.size() == 4 && !g[3].is_string())) {
      return Corrupt(where + "byte group " + g.dump() + " is not [offset, length, width(, kind)]");
    }
    ByteGroup group{g[0].get<std::uint64_t>(), g[1].get<std::uint64_t>(), 0};
    const std::uint64_t width = g[2].get<std::uint64_t>();
    if (g.size() == 4) {
      if (g[3].get<std::string>() != "bf16" || width != 2) {
        return Corrupt(where + "byte group " + g.dump() + " has an unknown kind");
      }
      if (!allow_bf16_split) {
        return Corrupt(where + "byte group " + g.dump() + " needs the bf16-split flag");
      }
      group.kind = GroupKind::kBf16Split;
    }
    if ((width != 2 && width != 4) || group.length == 0 || group.length % width != 0 ||
        group.offset < end || group.offset > chunk.plain ||
        group.length > chunk.plain - group.offset) {
      return Corrupt(where + "byte group " + g.dump() +
                     " is out of order, out of the chunk, or not whole elements of 2 or 4 bytes");
    }
    group.width = static_cast<std::uint32_t>(width);
    end = group.offset + group.length;
    chunk.groups.push_back(group);
  }
  return chunk;
}

Result<Encryption> ParseEncryption(const json& j) {
  const std::string where = "bundle header: encryption: ";
  auto e = j.find("encryption");
  if (e == j.end() || !e->is_object()) {
    return Corrupt("bundle header: the encrypted flag is set but encryption is missing");
  }
  auto cipher = e->find("cipher");
  if (cipher == e->end() || *cipher != kCipherName) {
    return Corrupt(where + "cipher must be \"" + std::string(kCipherName) + "\"");
  }
  Encryption enc;
  auto id = e->find("bundle_id");
  if (id == e->end() || !id->is_string() ||
      !IsLowerHex(id->get<std::string>(), 2 * kBundleIdBytes)) {
    return Corrupt(where + "bundle_id is not " + std::to_string(2 * kBundleIdBytes) +
                   " lower-case hex digits");
  }
  enc.bundle_id = *HexDecode(id->get<std::string>());
  auto recipients = e->find("recipients");
  if (recipients == e->end() || !recipients->is_array() || recipients->empty() ||
      recipients->size() > kMaxRecipients) {
    return Corrupt(where + "recipients must list 1.." + std::to_string(kMaxRecipients) + " keys");
  }
  std::set<std::string> seen;
  for (const json& r : *recipients) {
    if (!r.is_object()) return Corrupt(where + "a recipient is not an object");
    auto key_id = r.find("key_id");
    auto sealed = r.find("sealed_key");
    if (key_id == r.end() || !key_id->is_string() || !IsLowerHex(key_id->get<std::string>(), 64)) {
      return Corrupt(where + "a recipient's key_id is not 64 lower-case hex digits");
    }
    if (sealed == r.end() || !sealed->is_string() ||
        !IsLowerHex(sealed->get<std::string>(), 2 * kSealedKeyBytes)) {
      return Corrupt(where + "recipient " + key_id->get<std::string>() + ": sealed_key is not " +
                     std::to_string(2 * kSealedKeyBytes) + " lower-case hex digits");
    }
    if (!seen.insert(key_id->get<std::string>()).second) {
      return Corrupt(where + "recipient " + key_id->get<std::string>() + " is listed twice");
    }
    enc.recipients.push_back(
        Recipient{key_id->get<std::string>(), *HexDecode(sealed->get<std::string>())});
  }
  return enc;
}

Result<DeltaInfo> ParseDelta(const json& j) {
  const std::string where = "bundle header: delta: ";
  auto d = j.find("delta");
  if (d == j.end() || !d->is_object()) {
    return Corrupt("bundle header: the delta flag is set but delta is missing");
  }
  DeltaInfo info;
  for (auto [key, field] : {std::pair{"base", &info.base_id}, std::pair{"target", &info.target_id},
                            std::pair{"payload_sha256", &info.payload_sha256}}) {
    auto it = d->find(key);
    if (it == d->end() || !it->is_string() || !IsLowerHex(it->get<std::string>(), 64)) {
      return Corrupt(where + key + " is not 64 lower-case hex digits");
    }
    *field = it->get<std::string>();
  }
  auto files = d->find("base_files");
  if (files == d->end() || !files->is_array() || files->size() > kMaxDeltaBaseFiles) {
    return Corrupt(where + "base_files must be an array of at most " +
                   std::to_string(kMaxDeltaBaseFiles) + " files");
  }
  for (const json& f : *files) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() || !f.contains("size") ||
        !f["size"].is_number_unsigned() || !f.contains("sha256") || !f["sha256"].is_string() ||
        !IsLowerHex(f["sha256"].get<std::string>(), 64)) {
      return Corrupt(where + "base file " + f.dump() + " is not {path, size, sha256}");
    }
    info.base_files.push_back(manifest::BundleFile{f["path"].get<std::string>(),
                                                   f["size"].get<std::uint64_t>(),
                                                   f["sha256"].get<std::string>(), ""});
  }
  return info;
}

// Every chunk but the last holds exactly chunk_size plaintext bytes, so a
// chunk's plaintext offset is index * chunk_size (resumable downloads and
// deltas rely on that).
Status CheckChunkTable(ContainerHeader& h, bool encrypted) {
  const std::uint64_t expected_count =
      h.total_plain / h.chunk_size + (h.total_plain % h.chunk_size != 0);
  if (h.chunks.size() != expected_count) {
    return Corrupt("bundle header lists " + std::to_string(h.chunks.size()) + " chunks, but " +
                   std::to_string(h.total_plain) + " plaintext bytes in chunks of " +
                   std::to_string(h.chunk_size) + " need " + std::to_string(expected_count));
  }
  h.total_stored = 0;
  for (std::size_t i = 0; i < h.chunks.size(); ++i) {
    const ChunkEntry& c = h.chunks[i];
    const std::uint64_t expected_plain =
        i + 1 < h.chunks.size() ? h.chunk_size : h.total_plain - i * h.chunk_size;
    if (c.plain != expected_plain) {
      return Corrupt("bundle header: " + ChunkName(i) + " claims " + std::to_string(c.plain) +
                     " plaintext bytes where the chunk table needs " +
                     std::to_string(expected_plain));
    }
    if (!StoredSizePossible(c, encrypted)) {
      return Corrupt("bundle header: " + ChunkName(i) + " has a stored size of " +
                     std::to_string(c.stored) + " bytes, impossible for " +
                     std::to_string(c.plain) + " plaintext bytes");
    }
    const std::optional<std::uint64_t> stored = CheckedAdd(h.total_stored, c.stored);
    if (!stored) return Corrupt("bundle header: stored chunk sizes add up to more than 2^64");
    h.total_stored = *stored;
  }
  return Ok();
}

}  // namespace

bool HasBf16Split(const std::vector<ByteGroup>& groups) {
  for (const ByteGroup& g : groups) {
    if (g.kind == GroupKind::kBf16Split) return true;
  }
  return false;
}

std::string ChunkName(std::size_t index) { return "chunk " + std::to_string(index); }

bool StoredSizePossible(const ChunkEntry& c, bool encrypted) {
  const std::uint64_t tag = encrypted ? kChunkTagBytes : 0;
  if (c.stored < tag) return false;
  const std::uint64_t encoded = c.stored - tag;
  return c.codec == ChunkCodec::kRaw
             ? encoded == c.plain
             : encoded > 0 && encoded <= MaxCompressedSize(static_cast<std::size_t>(c.plain));
}

std::string EncodePreamble(std::uint32_t flags, std::string_view header_json) {
  std::string out(kMagic, sizeof(kMagic));
  PutLe(out, kBundleFormatVersion, 4);
  PutLe(out, flags, 4);
  PutLe(out, header_json.size(), 8);
  const std::string hex = Sha256Hex(header_json);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out.push_back(static_cast<char>(HexDigit(hex[i]) * 16 + HexDigit(hex[i + 1])));
  }
  return out;
}

std::string EncodeHeader(const ContainerHeader& header) {
  json chunks = json::array();
  for (const ChunkEntry& c : header.chunks) {
    json entry = {{"codec", c.codec == ChunkCodec::kZstd ? "zstd" : "raw"},
                  {"plain", c.plain},
                  {"sha256", c.sha256},
                  {"stored", c.stored}};
    if (!c.groups.empty()) {
      json groups = json::array();
      for (const ByteGroup& g : c.groups) {
        json entry = {g.offset, g.length, g.width};
        if (g.kind == GroupKind::kBf16Split) entry.push_back("bf16");
        groups.push_back(std::move(entry));
      }
      entry["groups"] = std::move(groups);
    }
    chunks.push_back(std::move(entry));
  }
  json j = {{"bundle", manifest::BundleManifestToJson(header.manifest)},
            {"chunk_size", header.chunk_size},
            {"chunks", std::move(chunks)},
            {"total_plain", header.total_plain}};
  if (header.encryption) {
    json recipients = json::array();
    for (const Recipient& r : header.encryption->recipients) {
      recipients.push_back({{"key_id", r.key_id}, {"sealed_key", HexEncode(r.sealed_key)}});
    }
    j["encryption"] = {{"bundle_id", HexEncode(header.encryption->bundle_id)},
                       {"cipher", kCipherName},
                       {"recipients", std::move(recipients)}};
  }
  if (header.delta) {
    json files = json::array();
    for (const manifest::BundleFile& f : header.delta->base_files) {
      files.push_back({{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}});
    }
    j["delta"] = {{"base", header.delta->base_id},
                  {"base_files", std::move(files)},
                  {"payload_sha256", header.delta->payload_sha256},
                  {"target", header.delta->target_id}};
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::string> CompressHeader(std::string_view header_json) {
  OTA_ASSIGN_OR_RETURN(auto z, ZstdCompressor::Create(19));
  std::vector<std::uint8_t> frame;
  OTA_TRY(z->CompressWithPrefix(
      std::span(reinterpret_cast<const std::uint8_t*>(header_json.data()), header_json.size()),
      std::span(reinterpret_cast<const std::uint8_t*>(kHeaderDictionary.data()),
                kHeaderDictionary.size()),
      frame));
  return std::string(frame.begin(), frame.end());
}

Result<Preamble> DecodePreamble(std::span<const std::uint8_t> bytes, const UnpackLimits& limits) {
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return Corrupt("not a bundle: the file does not start with \"MOTABNDL\" (it starts with " +
                   HexEncode(bytes.first(sizeof(kMagic))) + ")");
  }
  Preamble p;
  p.format = static_cast<std::uint32_t>(GetLe(bytes, 8, 4));
  p.flags = static_cast<std::uint32_t>(GetLe(bytes, 12, 4));
  p.header_len = GetLe(bytes, 16, 8);
  p.header_sha256 = HexEncode(bytes.subspan(24, 32));
  if (p.format == kCompactDeltaFormatVersion) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "this is a compact delta (format 3), not a bundle container: it is applied "
                     "to its base version with its signed target metadata");
  }
  if (p.format != kBundleFormatVersion && p.format != kLegacyFormatVersion) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "bundle format " + std::to_string(p.format) +
                         " is not supported (this reader knows formats " +
                         std::to_string(kLegacyFormatVersion) + " and " +
                         std::to_string(kBundleFormatVersion) + ")");
  }
  const std::uint32_t supported = p.format == kLegacyFormatVersion ? 0 : kSupportedFlags;
  if (const std::uint32_t unknown = p.flags & ~supported; unknown != 0) {
    char hex[16];
    std::snprintf(hex, sizeof(hex), "0x%x", unknown);
    return MakeError(ErrorCode::kInvalidArgument,
                     (unknown & kFlagEncrypted) != 0
                         ? std::string("format 1 bundles cannot be encrypted (flags ") + hex + ")"
                         : std::string("unknown bundle flags ") + hex);
  }
  if ((p.flags & kFlagHeaderZstd) != 0 && (p.flags & kFlagDelta) == 0) {
    return Corrupt("bundle flags: a compressed header (0x4) is only allowed in a delta bundle");
  }
  if (p.header_len == 0 || p.header_len > kMaxHeaderBytes) {
    return Corrupt("bundle header length " + std::to_string(p.header_len) + " is outside 1.." +
                   std::to_string(kMaxHeaderBytes));
  }
  if (p.header_len > limits.max_header_bytes) {
    return MakeError(ErrorCode::kIncompatible, "bundle header is " + std::to_string(p.header_len) +
                                                   " bytes, more than this reader's limit of " +
                                                   std::to_string(limits.max_header_bytes));
  }
  return p;
}

Result<ContainerHeader> DecodeHeader(std::span<const std::uint8_t> bytes, const Preamble& preamble,
                                     const UnpackLimits& limits) {
  Hasher hasher(HashAlgorithm::kSha256);
  hasher.Update(bytes);
  if (hasher.FinishHex() != preamble.header_sha256) {
    return Corrupt("bundle header does not match its SHA-256 (the header is corrupt)");
  }
  std::vector<std::uint8_t> inflated;
  if ((preamble.flags & kFlagHeaderZstd) != 0) {
    // Bounded like a stored header: the declared size must be known and
    // within both limits before anything is allocated.
    const unsigned long long declared = ZstdFrameContentSize(bytes);
    const std::uint64_t limit = std::min<std::uint64_t>(kMaxHeaderBytes, limits.max_header_bytes);
    if (declared == 0 || declared > limit) {
      return Corrupt("compressed bundle header declares " +
                     (declared == 0 ? std::string("no size") : std::to_string(declared)) +
                     " bytes, outside 1.." + std::to_string(limit));
    }
    OTA_ASSIGN_OR_RETURN(auto z, ZstdDecompressor::Create());
    OTA_TRY(z->DecompressWithPrefix(
        bytes,
        std::span(reinterpret_cast<const std::uint8_t*>(kHeaderDictionary.data()),
                  kHeaderDictionary.size()),
        static_cast<std::size_t>(declared), inflated, "compressed bundle header"));
    bytes = inflated;
  }
  OTA_ASSIGN_OR_RETURN(json j, ParseHeaderJson(bytes));
  ContainerHeader h;
  const std::string where = "bundle header: ";
  OTA_ASSIGN_OR_RETURN(h.chunk_size, GetCount(j, "chunk_size", where));
  OTA_ASSIGN_OR_RETURN(h.total_plain, GetCount(j, "total_plain", where));
  if (h.chunk_size < kMinChunkSize || h.chunk_size > kMaxChunkSize) {
    return Corrupt(where + "chunk_size " + std::to_string(h.chunk_size) + " is outside " +
                   std::to_string(kMinChunkSize) + ".." + std::to_string(kMaxChunkSize));
  }
  if (h.chunk_size > limits.max_chunk_size) {
    return MakeError(ErrorCode::kIncompatible, "bundle chunk_size " + std::to_string(h.chunk_size) +
                                                   " is more than this reader's limit of " +
                                                   std::to_string(limits.max_chunk_size));
  }
  if (h.total_plain > limits.max_total_bytes) {
    return MakeError(ErrorCode::kIncompatible, "bundle holds " + std::to_string(h.total_plain) +
                                                   " bytes, more than this reader's limit of " +
                                                   std::to_string(limits.max_total_bytes));
  }
  auto chunks = j.find("chunks");
  if (chunks == j.end() || !chunks->is_array()) return Corrupt(where + "chunks is not an array");
  const bool bf16_split = (preamble.flags & kFlagBf16Split) != 0;
  bool any_bf16_split = false;
  for (std::size_t i = 0; i < chunks->size(); ++i) {
    OTA_ASSIGN_OR_RETURN(
        ChunkEntry c,
        ParseChunk((*chunks)[i], i, preamble.format != kLegacyFormatVersion, bf16_split));
    any_bf16_split |= HasBf16Split(c.groups);
    h.chunks.push_back(std::move(c));
  }
  if (bf16_split && !any_bf16_split) {
    return Corrupt(where + "the bf16-split flag is set but no byte group is of kind bf16");
  }
  const bool encrypted = (preamble.flags & kFlagEncrypted) != 0;
  if (encrypted) {
    OTA_ASSIGN_OR_RETURN(h.encryption, ParseEncryption(j));
  } else if (j.contains("encryption")) {
    return Corrupt(where + "encryption is present but the encrypted flag is not set");
  }
  OTA_TRY(CheckChunkTable(h, encrypted));
  if ((preamble.flags & kFlagDelta) != 0) {
    OTA_ASSIGN_OR_RETURN(h.delta, ParseDelta(j));
  } else if (j.contains("delta")) {
    return Corrupt(where + "delta is present but the delta flag is not set");
  }

  auto bundle = j.find("bundle");
  if (bundle == j.end()) return Corrupt(where + "bundle is missing");
  Result<manifest::BundleManifest> m = manifest::BundleManifestFromJson(*bundle);
  if (!m.ok()) return Corrupt(where + "invalid bundle.json: " + m.error().message);
  h.manifest = std::move(m).value();
  // A delta's plaintext is its payload, not the target's files.
  if (h.delta) return h;
  std::uint64_t sum = 0;
  for (const manifest::BundleFile& f : h.manifest.files) {
    if (f.size > h.total_plain - sum) {
      return Corrupt(where + "the files in bundle.json hold more than total_plain (" +
                     std::to_string(h.total_plain) + " bytes)");
    }
    sum += f.size;
  }
  if (sum != h.total_plain) {
    return Corrupt(where + "the files in bundle.json hold " + std::to_string(sum) +
                   " bytes, but total_plain is " + std::to_string(h.total_plain));
  }
  return h;
}

}  // namespace ota::bundle
