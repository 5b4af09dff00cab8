#include "compact_delta.h"

#include <algorithm>
#include <cstring>

#include "container_format.h"
#include "delta_payload.h"
#include "ota/common/hash.h"
#include "ota/manifest/bundle_manifest.h"

namespace ota::bundle {
namespace {

// Edit op types, in the two low bits of each op's varint (docs/formats.md).
enum EditOp : std::uint64_t { kEditCopy = 0, kEditSkip = 1, kEditInsert = 2, kEditHex = 3 };
// The token LCS is quadratic: longer middles are replaced whole.
constexpr std::size_t kMaxDiffTokens = 2048;
constexpr std::size_t kMinHexDigits = 16;

Error CorruptCompactDelta(const std::string& message) {
  return MakeError(ErrorCode::kIntegrity, "compact delta: " + message);
}

// JSON text split into tokens that are compared whole: a string's contents
// (its quotes are tokens of their own), a number, a run of whitespace, or
// one punctuation character. A digest is one token, so it is never matched
// piecewise against another digest.
std::vector<std::string_view> Tokens(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    std::size_t j = i + 1;
    if (c == '"') {
      out.push_back(s.substr(i, 1));
      j = i + 1;
      while (j < s.size() && s[j] != '"') j += (s[j] == '\\' && j + 1 < s.size()) ? 2 : 1;
      j = std::min(j, s.size());
      if (j > i + 1) out.push_back(s.substr(i + 1, j - i - 1));
      if (j < s.size()) out.push_back(s.substr(j, 1));
      i = j + 1;
      continue;
    }
    auto number = [](char x) { return (x >= '0' && x <= '9') || x == '-' || x == '+' || x == '.'; };
    auto space = [](char x) { return x == ' ' || x == '\n' || x == '\t' || x == '\r'; };
    if (number(c)) {
      while (j < s.size() && (number(s[j]) || s[j] == 'e' || s[j] == 'E')) ++j;
    } else if (space(c)) {
      while (j < s.size() && space(s[j])) ++j;
    }
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool IsHexToken(std::string_view t) {
  return t.size() >= kMinHexDigits && t.size() % 2 == 0 &&
         std::all_of(t.begin(), t.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Writes ops, merging neighbours of the same kind.
class EditWriter {
 public:
  void Copy(std::uint64_t n) { Pend(kEditCopy, n); }
  void Skip(std::uint64_t n) { Pend(kEditSkip, n); }
  void Insert(std::string_view text) {
    if (text.empty()) return;
    if (kind_ != kEditInsert) Flush();
    kind_ = kEditInsert;
    literal_.append(text);
  }
  void InsertHex(std::string_view hex) {
    Flush();
    auto raw = HexDecode(hex);
    PutVarint(out_, (raw->size() << 2) | kEditHex);
    out_.insert(out_.end(), raw->begin(), raw->end());
  }
  std::vector<std::uint8_t> Finish() {
    Flush();
    return std::move(out_);
  }

 private:
  void Pend(EditOp kind, std::uint64_t n) {
    if (n == 0) return;
    if (kind_ != kind) Flush();
    kind_ = kind;
    pending_ += n;
  }
  void Flush() {
    if (kind_ == kEditInsert && !literal_.empty()) {
      PutVarint(out_, (std::uint64_t{literal_.size()} << 2) | kEditInsert);
      out_.insert(out_.end(), literal_.begin(), literal_.end());
      literal_.clear();
    } else if ((kind_ == kEditCopy || kind_ == kEditSkip) && pending_ > 0) {
      PutVarint(out_, (pending_ << 2) | kind_);
    }
    pending_ = 0;
    kind_ = kEditHex;  // Nothing pending.
  }

  std::vector<std::uint8_t> out_;
  EditOp kind_ = kEditHex;
  std::uint64_t pending_ = 0;
  std::string literal_;
};

std::string Join(std::span<const std::string_view> tokens) {
  std::string s;
  for (std::string_view t : tokens) s.append(t);
  return s;
}

// Base tokens `gone` are replaced by target tokens `added`.
void Change(EditWriter& w, std::span<const std::string_view> gone,
            std::span<const std::string_view> added) {
  const std::string from = Join(gone), to = Join(added);
  const bool hex = std::any_of(gone.begin(), gone.end(), IsHexToken) ||
                   std::any_of(added.begin(), added.end(), IsHexToken);
  if (!hex && !from.empty() && !to.empty()) {
    // A changed number or name: keep the bytes both sides share at its ends.
    std::size_t head = 0, tail = 0;
    while (head < from.size() && head < to.size() && from[head] == to[head]) ++head;
    while (tail < from.size() - head && tail < to.size() - head &&
           from[from.size() - 1 - tail] == to[to.size() - 1 - tail]) {
      ++tail;
    }
    w.Copy(head);
    w.Skip(from.size() - head - tail);
    w.Insert(std::string_view(to).substr(head, to.size() - head - tail));
    w.Copy(tail);
    return;
  }
  w.Skip(from.size());
  for (std::string_view t : added) {
    if (IsHexToken(t)) {
      w.InsertHex(t);
    } else {
      w.Insert(t);
    }
  }
}

Status ReadAll(ReadableFile& file, std::uint64_t offset, std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    OTA_ASSIGN_OR_RETURN(std::size_t n, file.ReadAt(offset + done, out.subspan(done)));
    if (n == 0) return CorruptCompactDelta("truncated in its header");
    done += n;
  }
  return Ok();
}

}  // namespace

std::vector<std::uint8_t> MakeManifestEdit(std::string_view base, std::string_view target) {
  const std::vector<std::string_view> a = Tokens(base), b = Tokens(target);
  std::size_t head = 0, tail = 0;
  while (head < a.size() && head < b.size() && a[head] == b[head]) ++head;
  while (tail < a.size() - head && tail < b.size() - head &&
         a[a.size() - 1 - tail] == b[b.size() - 1 - tail]) {
    ++tail;
  }
  EditWriter w;
  for (std::size_t i = 0; i < head; ++i) w.Copy(a[i].size());
  const std::span<const std::string_view> ma(a.data() + head, a.size() - head - tail);
  const std::span<const std::string_view> mb(b.data() + head, b.size() - head - tail);
  if (ma.size() > kMaxDiffTokens || mb.size() > kMaxDiffTokens) {
    Change(w, ma, mb);
  } else {
    // Longest common subsequence of the middles, walked from the front.
    const std::size_t n = ma.size(), m = mb.size();
    std::vector<std::uint16_t> lcs((n + 1) * (m + 1), 0);
    auto at = [&](std::size_t i, std::size_t j) -> std::uint16_t& { return lcs[i * (m + 1) + j]; };
    for (std::size_t i = n; i-- > 0;) {
      for (std::size_t j = m; j-- > 0;) {
        at(i, j) = ma[i] == mb[j] ? static_cast<std::uint16_t>(at(i + 1, j + 1) + 1)
                                  : std::max(at(i + 1, j), at(i, j + 1));
      }
    }
    std::size_t i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && ma[i] == mb[j]) {
        w.Copy(ma[i].size());
        ++i;
        ++j;
        continue;
      }
      const std::size_t i0 = i, j0 = j;
      while ((i < n || j < m) && !(i < n && j < m && ma[i] == mb[j])) {
        if (j < m && (i == n || at(i, j + 1) >= at(i + 1, j))) {
          ++j;
        } else {
          ++i;
        }
      }
      Change(w, ma.subspan(i0, i - i0), mb.subspan(j0, j - j0));
    }
  }
  for (std::size_t k = a.size() - tail; k < a.size(); ++k) w.Copy(a[k].size());
  return w.Finish();
}

Result<std::string> ApplyManifestEdit(std::string_view base, std::span<const std::uint8_t> edit) {
  std::string out;
  std::size_t pos = 0, cursor = 0;
  while (pos < edit.size()) {
    const std::size_t at = pos;
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (pos == edit.size()) {
        return CorruptCompactDelta("bundle.json edit is truncated in the op at byte " +
                                   std::to_string(at));
      }
      const std::uint8_t byte = edit[pos++];
      if (shift == 63 && byte > 1) {
        return CorruptCompactDelta("bundle.json edit op at byte " + std::to_string(at) +
                                   " overflows 64 bits");
      }
      v |= std::uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) break;
      if (shift == 63) {
        return CorruptCompactDelta("bundle.json edit op at byte " + std::to_string(at) +
                                   " overflows 64 bits");
      }
    }
    const std::uint64_t kind = v & 3, n = v >> 2;
    const std::string where = "bundle.json edit op at byte " + std::to_string(at);
    if (n == 0) return CorruptCompactDelta(where + " is empty");
    const std::uint64_t grows = kind == kEditHex ? 2 * n : kind == kEditSkip ? 0 : n;
    if (grows > manifest::kMaxBundleManifestBytes - out.size()) {
      return CorruptCompactDelta(where + " makes bundle.json larger than " +
                                 std::to_string(manifest::kMaxBundleManifestBytes) + " bytes");
    }
    if ((kind == kEditCopy || kind == kEditSkip) && n > base.size() - cursor) {
      return CorruptCompactDelta(where + " runs " + std::to_string(n) +
                                 " bytes past the base bundle.json (" +
                                 std::to_string(base.size()) + " bytes)");
    }
    if ((kind == kEditInsert || kind == kEditHex) && n > edit.size() - pos) {
      return CorruptCompactDelta(where + " inserts " + std::to_string(n) + " bytes, but only " +
                                 std::to_string(edit.size() - pos) + " follow");
    }
    const auto bytes = edit.subspan(pos, kind == kEditInsert || kind == kEditHex ? n : 0);
    switch (kind) {
      case kEditCopy:
        out.append(base.substr(cursor, n));
        cursor += n;
        break;
      case kEditSkip:
        cursor += n;
        break;
      case kEditInsert:
        out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        break;
      default:
        out.append(HexEncode(bytes));
        break;
    }
    pos += bytes.size();
  }
  return out;
}

std::string EncodeCompactHeader(const std::string& base_id, std::span<const std::uint8_t> edit) {
  std::string out(kMagic, sizeof(kMagic));
  for (int i = 0; i < 4; ++i) {
    out.push_back(static_cast<char>((kCompactDeltaFormatVersion >> (8 * i)) & 0xff));
  }
  out.push_back(0);  // Flags.
  out.append(HexDecode(base_id.substr(0, 2 * kCompactBaseIdBytes)).value());
  std::vector<std::uint8_t> length;
  PutVarint(length, edit.size());
  out.append(length.begin(), length.end());
  out.append(edit.begin(), edit.end());
  return out;
}

bool LooksCompact(std::span<const std::uint8_t> prefix) {
  return prefix.size() >= 12 && std::memcmp(prefix.data(), kMagic, sizeof(kMagic)) == 0 &&
         prefix[8] == kCompactDeltaFormatVersion && prefix[9] == 0 && prefix[10] == 0 &&
         prefix[11] == 0;
}

Result<CompactHeader> ReadCompactHeader(FileSystem& fs, const std::string& path,
                                        std::uint64_t max_header_bytes) {
  OTA_ASSIGN_OR_RETURN(auto file, fs.OpenReadable(path));
  OTA_ASSIGN_OR_RETURN(std::uint64_t size, file->Size());
  std::vector<std::uint8_t> fixed(
      static_cast<std::size_t>(std::min<std::uint64_t>(size, kCompactFixedBytes + 10)));
  OTA_TRY(ReadAll(*file, 0, fixed));
  if (!LooksCompact(fixed)) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "not a compact delta (format " + std::to_string(kCompactDeltaFormatVersion) + ")");
  }
  if (fixed.size() < kCompactFixedBytes + 1) {
    return CorruptCompactDelta("truncated in its header (" + std::to_string(size) + " bytes)");
  }
  if (fixed[12] != 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "compact delta: unknown flags " + std::to_string(fixed[12]));
  }
  CompactHeader h;
  h.base_id_prefix = HexEncode(std::span(fixed).subspan(13, kCompactBaseIdBytes));
  std::uint64_t edit_len = 0;
  std::size_t pos = kCompactFixedBytes;
  for (int shift = 0;; shift += 7) {
    if (pos == fixed.size() || shift > 56) {
      return CorruptCompactDelta("bundle.json edit length is truncated or longer than 9 bytes");
    }
    const std::uint8_t byte = fixed[pos++];
    edit_len |= std::uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) break;
  }
  const std::uint64_t limit = std::min(kMaxManifestEditBytes, max_header_bytes);
  if (edit_len == 0 || edit_len > limit) {
    return CorruptCompactDelta("bundle.json edit length " + std::to_string(edit_len) +
                               " is outside 1.." + std::to_string(limit));
  }
  if (edit_len >= size - pos) {
    return CorruptCompactDelta("the file (" + std::to_string(size) +
                               " bytes) ends before its bundle.json " + "edit of " +
                               std::to_string(edit_len) + " bytes and a payload");
  }
  h.manifest_edit.resize(static_cast<std::size_t>(edit_len));
  OTA_TRY(ReadAll(*file, pos, h.manifest_edit));
  h.payload_offset = pos + edit_len;
  h.payload_bytes = size - h.payload_offset;
  if (h.payload_bytes > kMaxCompactPayloadBytes) {
    return CorruptCompactDelta("payload of " + std::to_string(h.payload_bytes) + " bytes is over " +
                               std::to_string(kMaxCompactPayloadBytes));
  }
  return h;
}

Result<std::string> CanonicalManifestText(FileSystem& fs, const std::string& dir) {
  OTA_ASSIGN_OR_RETURN(std::string text,
                       fs.ReadFile(JoinPath(dir, manifest::kBundleManifestFileName),
                                   manifest::kMaxBundleManifestBytes));
  auto m = manifest::ParseBundleManifest(text);
  if (!m.ok()) {
    return MakeError(ErrorCode::kIntegrity, dir + "/bundle.json: " + m.error().message);
  }
  return manifest::SerializeBundleManifest(*m);
}

std::string ManifestSha256(const manifest::BundleManifest& m) {
  return Sha256Hex(manifest::SerializeBundleManifest(m));
}

Result<bool> IsCompactDeltaFile(FileSystem& fs, const std::string& path) {
  OTA_ASSIGN_OR_RETURN(auto file, fs.OpenReadable(path));
  std::uint8_t prefix[12] = {};
  std::size_t done = 0;
  while (done < sizeof(prefix)) {
    OTA_ASSIGN_OR_RETURN(std::size_t n, file->ReadAt(done, std::span(prefix).subspan(done)));
    if (n == 0) break;
    done += n;
  }
  return LooksCompact(std::span<const std::uint8_t>(prefix, done));
}

Result<std::optional<CompactDeltaInfo>> ReadCompactDeltaInfo(FileSystem& fs,
                                                             const std::string& path) {
  OTA_ASSIGN_OR_RETURN(bool compact, IsCompactDeltaFile(fs, path));
  if (!compact) return std::optional<CompactDeltaInfo>();
  OTA_ASSIGN_OR_RETURN(CompactHeader h, ReadCompactHeader(fs, path, kMaxHeaderBytes));
  CompactDeltaInfo info;
  info.base_id_prefix = h.base_id_prefix;
  info.file_size = h.payload_offset + h.payload_bytes;
  info.manifest_edit_bytes = h.manifest_edit.size();
  info.payload_bytes = h.payload_bytes;
  return std::optional<CompactDeltaInfo>(std::move(info));
}

Status WriteCompactDelta(FileSystem& fs, const std::string& base_id,
                         std::span<const std::uint8_t> edit, const std::string& payload_path,
                         const std::string& out_path) {
  const std::string tmp = out_path + ".tmp";
  Status s = [&]() -> Status {
    OTA_ASSIGN_OR_RETURN(auto payload, fs.OpenReadable(payload_path));
    OTA_ASSIGN_OR_RETURN(std::uint64_t size, payload->Size());
    std::vector<std::uint8_t> magic(sizeof(kDeltaPayloadMagic));
    OTA_TRY(ReadAll(*payload, 0, magic));
    if (std::memcmp(magic.data(), kDeltaPayloadMagic, magic.size()) != 0 || size <= magic.size() ||
        size - magic.size() > kMaxCompactPayloadBytes) {
      return MakeError(ErrorCode::kInternal, "delta payload unfit for the compact form");
    }
    OTA_ASSIGN_OR_RETURN(auto out, fs.OpenWritable(tmp, /*append=*/false));
    OTA_TRY(out->Append(EncodeCompactHeader(base_id, edit)));
    std::vector<std::uint8_t> piece(1u << 20);
    for (std::uint64_t offset = magic.size(); offset < size;) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), size - offset));
      OTA_TRY(ReadAll(*payload, offset, std::span(piece).first(n)));
      OTA_TRY(out->Append(std::span<const std::uint8_t>(piece.data(), n)));
      offset += n;
    }
    OTA_TRY(out->Sync());
    OTA_TRY(out->Close());
    OTA_TRY(fs.Rename(tmp, out_path));
    return fs.SyncDir(DirName(out_path));
  }();
  if (!s.ok()) (void)fs.Remove(tmp);
  return s;
}

Result<manifest::BundleManifest> PrepareCompactDelta(
    FileSystem& fs, const std::string& delta_path, const std::string& base_dir,
    const std::string& base_id, const SignedDeltaFacts& facts, const UnpackLimits& limits,
    DeltaInfo& info, std::uint64_t& payload_offset, std::uint64_t& payload_bytes) {
  OTA_ASSIGN_OR_RETURN(CompactHeader h, ReadCompactHeader(fs, delta_path, limits.max_header_bytes));
  if (!base_id.starts_with(h.base_id_prefix)) {
    return MakeError(ErrorCode::kIntegrity, "delta is for base " + h.base_id_prefix +
                                                "..., but the installed version is " + base_id);
  }
  if (!facts.base_id.starts_with(h.base_id_prefix)) {
    return MakeError(ErrorCode::kIntegrity, "delta is for base " + h.base_id_prefix +
                                                "..., but its signed target says base " +
                                                facts.base_id);
  }
  if (!IsLowerHex(facts.manifest_sha256, 64) || !IsLowerHex(facts.target_id, 64)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "a compact delta needs its signed target id and bundle.json SHA-256");
  }
  OTA_ASSIGN_OR_RETURN(std::string base_text, CanonicalManifestText(fs, base_dir));
  OTA_ASSIGN_OR_RETURN(std::string text, ApplyManifestEdit(base_text, h.manifest_edit));
  if (const std::string got = Sha256Hex(text); got != facts.manifest_sha256) {
    return MakeError(ErrorCode::kIntegrity,
                     "delta is for base " + facts.base_id +
                         ": the bundle.json it rebuilds from the installed version's has SHA-256 " +
                         got + ", its signed target says " + facts.manifest_sha256);
  }
  auto target = manifest::ParseBundleManifest(text);
  if (!target.ok()) return CorruptCompactDelta("rebuilt bundle.json: " + target.error().message);
  if (manifest::SerializeBundleManifest(*target) != text) {
    return CorruptCompactDelta("rebuilt bundle.json is not in its canonical form");
  }
  auto base = manifest::ParseBundleManifest(base_text);
  if (!base.ok()) return MakeError(ErrorCode::kIntegrity, base.error().message);
  info = DeltaInfo{};
  info.base_id = base_id;
  info.target_id = facts.target_id;
  info.base_files = base->files;

  payload_offset = h.payload_offset;
  payload_bytes = h.payload_bytes;
  return std::move(target).value();
}

Result<manifest::BundleManifest> CompactDeltaTargetManifest(FileSystem& fs,
                                                            const std::string& delta_path,
                                                            const manifest::BundleManifest& base) {
  OTA_ASSIGN_OR_RETURN(CompactHeader h, ReadCompactHeader(fs, delta_path, kMaxHeaderBytes));
  OTA_ASSIGN_OR_RETURN(std::string text,
                       ApplyManifestEdit(manifest::SerializeBundleManifest(base), h.manifest_edit));
  auto m = manifest::ParseBundleManifest(text);
  if (!m.ok()) return CorruptCompactDelta("rebuilt bundle.json: " + m.error().message);
  return std::move(m).value();
}

}  // namespace ota::bundle
