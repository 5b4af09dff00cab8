#include "container_format.h"

#include <cstring>
#include <exception>
#include <set>

#include <nlohmann/json.hpp>

#include "ota/common/hash.h"
#include "zstd_codec.h"

namespace ota::bundle {
namespace {

using nlohmann::json;

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
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  bool too_deep = false;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxHeaderDepth) too_deep = true;
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end && !open_objects.empty()) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty()) {
      std::string key = parsed.get<std::string>();
      if (!open_objects.back().insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(bytes.begin(), bytes.end(), callback);
  } catch (const std::exception& e) {
    return Corrupt(std::string("bundle header is not valid JSON: ") + e.what());
  }
  if (too_deep) return Corrupt("bundle header nests too deep");
  if (!duplicate.empty()) return Corrupt("bundle header has the key \"" + duplicate + "\" twice");
  if (!j.is_object()) return Corrupt("bundle header is not a JSON object");
  return j;
}

Result<std::uint64_t> GetCount(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) return Corrupt(where + key + " is missing");
  if (!it->is_number_unsigned()) {
    return Corrupt(where + key + " must be a non-negative integer, not " + it->dump());
  }
  return it->get<std::uint64_t>();
}

Result<ChunkEntry> ParseChunk(const json& entry, std::size_t index) {
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
  return chunk;
}

// Every chunk but the last holds exactly chunk_size plaintext bytes, so a
// chunk's plaintext offset is index * chunk_size (resumable downloads and
// deltas rely on that).
Status CheckChunkTable(ContainerHeader& h) {
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
    const bool possible = c.codec == ChunkCodec::kRaw
                              ? c.stored == c.plain
                              : c.stored > 0 && c.stored <= MaxCompressedSize(c.plain);
    if (!possible) {
      return Corrupt("bundle header: " + ChunkName(i) + " has a stored size of " +
                     std::to_string(c.stored) + " bytes, impossible for " +
                     std::to_string(c.plain) + " plaintext bytes");
    }
    h.total_stored += c.stored;
  }
  return Ok();
}

}  // namespace

std::string ChunkName(std::size_t index) { return "chunk " + std::to_string(index); }

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
    chunks.push_back({{"codec", c.codec == ChunkCodec::kZstd ? "zstd" : "raw"},
                      {"plain", c.plain},
                      {"sha256", c.sha256},
                      {"stored", c.stored}});
  }
  json j = {{"bundle", manifest::BundleManifestToJson(header.manifest)},
            {"chunk_size", header.chunk_size},
            {"chunks", std::move(chunks)},
            {"total_plain", header.total_plain}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
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
  if (p.format != kBundleFormatVersion) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "bundle format " + std::to_string(p.format) +
                         " is not supported (this reader knows format " +
                         std::to_string(kBundleFormatVersion) + ")");
  }
  if (const std::uint32_t unknown = p.flags & ~kSupportedFlags; unknown != 0) {
    char hex[16];
    std::snprintf(hex, sizeof(hex), "0x%x", unknown);
    return MakeError(
        ErrorCode::kInvalidArgument,
        (unknown & kFlagEncrypted) != 0
            ? std::string("encrypted bundles are not supported by this reader (flags ") + hex + ")"
            : std::string("unknown bundle flags ") + hex);
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
  for (std::size_t i = 0; i < chunks->size(); ++i) {
    OTA_ASSIGN_OR_RETURN(ChunkEntry c, ParseChunk((*chunks)[i], i));
    h.chunks.push_back(std::move(c));
  }
  OTA_TRY(CheckChunkTable(h));

  auto bundle = j.find("bundle");
  if (bundle == j.end()) return Corrupt(where + "bundle is missing");
  Result<manifest::BundleManifest> m = manifest::BundleManifestFromJson(*bundle);
  if (!m.ok()) return Corrupt(where + "invalid bundle.json: " + m.error().message);
  h.manifest = std::move(m).value();
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
