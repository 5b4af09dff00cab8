// AuditLineParser: simdjson validates a line (JSON and UTF-8) and reads its
// fields; a small scanner then finds the raw bytes of a record's "body",
// which are hashed as written (D39).
#include <simdjson.h>

#include <array>
#include <cstring>
#include <string>
#include <utility>

#include "ota/manifest/audit_log.h"

namespace ota::manifest {
namespace {

Error Bad(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

// Field names of every kind; a bit per name.
enum Field : unsigned {
  kBody = 1u << 0,
  kHash = 1u << 1,
  kKind = 1u << 2,
  kLog = 1u << 3,
  kPrev = 1u << 4,
  kSeq = 1u << 5,
  kV = 1u << 6,
  kDigest = 1u << 7,
  kHead = 1u << 8,
  kKeyid = 1u << 9,
  kSignature = 1u << 10,
  kTime = 1u << 11,
  kFileSha256 = 1u << 12,
  kLines = 1u << 13,
  kSource = 1u << 14,
  kCreated = 1u << 15,
  kFilters = 1u << 16,
  kFormat = 1u << 17,
};

constexpr std::array<std::pair<std::string_view, unsigned>, 18> kFieldNames = {{
    {"body", kBody},
    {"hash", kHash},
    {"kind", kKind},
    {"log", kLog},
    {"prev", kPrev},
    {"seq", kSeq},
    {"v", kV},
    {"digest", kDigest},
    {"head", kHead},
    {"keyid", kKeyid},
    {"signature", kSignature},
    {"time", kTime},
    {"file_sha256", kFileSha256},
    {"lines", kLines},
    {"source", kSource},
    {"created", kCreated},
    {"filters", kFilters},
    {"format", kFormat},
}};

// Called for every field of every line: dispatch on the length first.
unsigned FieldBit(std::string_view name) {
  auto is = [&](std::string_view n, unsigned bit) { return name == n ? bit : 0u; };
  switch (name.size()) {
    case 1:
      return is("v", kV);
    case 3:
      return is("seq", kSeq) | is("log", kLog);
    case 4:
      return is("body", kBody) | is("hash", kHash) | is("kind", kKind) | is("prev", kPrev) |
             is("head", kHead) | is("time", kTime);
    case 5:
      return is("keyid", kKeyid) | is("lines", kLines);
    case 6:
      return is("digest", kDigest) | is("source", kSource) | is("format", kFormat);
    case 7:
      return is("created", kCreated) | is("filters", kFilters);
    case 9:
      return is("signature", kSignature);
    case 11:
      return is("file_sha256", kFileSha256);
    default:
      return 0;
  }
}

struct KindSpec {
  std::string_view name;
  AuditLineKind kind;
  unsigned required;
  unsigned optional;
};

constexpr std::array<KindSpec, 5> kKinds = {{
    {"header", AuditLineKind::kHeader, kCreated | kFilters | kFormat | kKind | kSource, 0},
    {"record", AuditLineKind::kRecord, kBody | kHash | kKind | kLog | kPrev | kSeq, kV},
    {"omitted", AuditLineKind::kOmitted, kDigest | kHash | kKind | kLog | kPrev | kSeq, 0},
    {"checkpoint", AuditLineKind::kCheckpoint,
     kHead | kKeyid | kKind | kLog | kSeq | kSignature | kTime, 0},
    {"end", AuditLineKind::kEnd,
     kFileSha256 | kKeyid | kKind | kLines | kSignature | kSource | kTime, 0},
}};

std::string MissingOrExtra(unsigned have, const KindSpec& spec) {
  for (const auto& [name, bit] : kFieldNames) {
    if ((spec.required & bit) != 0 && (have & bit) == 0) {
      return std::string("a ") + std::string(spec.name) + " line needs \"" + std::string(name) +
             "\"";
    }
    if ((have & bit) != 0 && ((spec.required | spec.optional) & bit) == 0) {
      return std::string("a ") + std::string(spec.name) + " line has no field \"" +
             std::string(name) + "\"";
    }
  }
  return "malformed line";
}

// The raw bytes of the value of top-level key `key` in `line`, a JSON object
// already validated. Empty if not found (a key written with escapes is not
// recognised, and the line is then refused).
std::string_view TopLevelValue(std::string_view line, std::string_view key) {
  std::size_t i = 0;
  const std::size_t n = line.size();
  auto skip_ws = [&] {
    while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n')) {
      ++i;
    }
  };
  auto skip_string = [&] {  // At '"'; leaves i after the closing quote.
    ++i;
    while (i < n) {
      const void* quote = std::memchr(line.data() + i, '"', n - i);
      if (quote == nullptr) {
        i = n;
        return;
      }
      const std::size_t at =
          static_cast<std::size_t>(static_cast<const char*>(quote) - line.data());
      std::size_t backslashes = 0;
      while (at - backslashes > i && line[at - backslashes - 1] == '\\') ++backslashes;
      i = at + 1;
      if (backslashes % 2 == 0) return;  // Not escaped.
    }
  };
  skip_ws();
  if (i >= n || line[i] != '{') return {};
  ++i;
  while (i < n) {
    skip_ws();
    if (i >= n || line[i] != '"') return {};
    const std::size_t key_start = i + 1;
    skip_string();
    const std::string_view name = line.substr(key_start, i - 1 - key_start);
    skip_ws();
    if (i >= n || line[i] != ':') return {};
    ++i;
    skip_ws();
    const std::size_t value_start = i;
    int depth = 0;
    while (i < n) {
      const char c = line[i];
      if (c == '"') {
        skip_string();
        if (depth == 0) break;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) break;
        if (--depth == 0) {
          ++i;
          break;
        }
      } else if (c == ',' && depth == 0) {
        break;
      }
      ++i;
    }
    std::size_t value_end = i;
    while (value_end > value_start &&
           (line[value_end - 1] == ' ' || line[value_end - 1] == '\t' ||
            line[value_end - 1] == '\r' || line[value_end - 1] == '\n')) {
      --value_end;
    }
    if (name == key) return line.substr(value_start, value_end - value_start);
    skip_ws();
    if (i < n && line[i] == ',') ++i;
  }
  return {};
}

}  // namespace

struct AuditLineParser::Impl {
  simdjson::dom::parser parser;
};

AuditLineParser::AuditLineParser() : impl_(std::make_unique<Impl>()) {}
AuditLineParser::~AuditLineParser() = default;

static_assert(simdjson::SIMDJSON_PADDING <= kAuditLinePadding);

Result<AuditLine> AuditLineParser::Parse(std::string_view line) { return Read(line, false); }

Result<AuditLine> AuditLineParser::ParsePadded(std::string_view line) { return Read(line, true); }

Result<AuditLine> AuditLineParser::Read(std::string_view line, bool padded) {
  if (line.size() > (16u << 20)) return Bad("line longer than 16 MiB");
  // String fields are views of the parser's own (unescaped) copies; the body
  // is a view of the caller's line.
  simdjson::dom::element root;
  if (auto error =
          impl_->parser.parse(line.data(), line.size(), /*realloc_if_needed=*/!padded).get(root);
      error) {
    return Bad(std::string("not valid JSON: ") + simdjson::error_message(error));
  }
  simdjson::dom::object object;
  if (root.get(object) != simdjson::SUCCESS) return Bad("a line must be a JSON object");

  AuditLine out;
  unsigned have = 0;
  std::string_view kind_name;
  std::int64_t v = 2;
  bool seq_ok = true;
  bool lines_ok = true;
  for (auto [key, value] : object) {
    const unsigned bit = FieldBit(key);
    if (bit == 0) return Bad("unknown field \"" + std::string(key) + "\"");
    if ((have & bit) != 0) return Bad("field \"" + std::string(key) + "\" appears twice");
    have |= bit;
    std::string_view text;
    const bool is_string = value.get(text) == simdjson::SUCCESS;
    switch (bit) {
      case kKind:
        kind_name = is_string ? text : std::string_view("?");
        break;
      case kSeq: {
        std::int64_t seq = 0;
        seq_ok = value.get(seq) == simdjson::SUCCESS;
        out.seq = seq;
        break;
      }
      case kLines: {
        std::uint64_t lines = 0;
        lines_ok = value.get(lines) == simdjson::SUCCESS;
        out.lines = lines;
        break;
      }
      case kV:
        if (value.get(v) != simdjson::SUCCESS || v != 1) return Bad("\"v\" must be 1 when present");
        break;
      case kBody:
        if (!value.is_object()) return Bad("a record's \"body\" must be an object");
        break;
      case kFilters:
        if (!value.is_object()) return Bad("a header's \"filters\" must be an object");
        break;
      default:
        if (!is_string) return Bad("field \"" + std::string(key) + "\" must be a string");
        switch (bit) {
          case kLog:
            out.log = text;
            break;
          case kHash:
            out.hash = text;
            break;
          case kPrev:
            out.prev = text;
            break;
          case kDigest:
            out.digest = text;
            break;
          case kHead:
            out.head = text;
            break;
          case kFileSha256:
            out.head = text;
            break;
          case kKeyid:
            out.keyid = text;
            break;
          case kSignature:
            out.signature = text;
            break;
          case kTime:
            out.time = text;
            break;
          case kSource:
            out.source = text;
            break;
          case kCreated:
            out.created = text;
            break;
          case kFormat:
            out.format = text;
            break;
          default:
            break;
        }
    }
  }
  const KindSpec* spec = nullptr;
  for (const KindSpec& k : kKinds) {
    if (k.name == kind_name) spec = &k;
  }
  if (spec == nullptr) {
    return Bad((have & kKind) != 0 ? "unknown kind \"" + std::string(kind_name) + "\""
                                   : std::string("a line needs \"kind\""));
  }
  if ((have & spec->required) != spec->required || (have & ~(spec->required | spec->optional))) {
    return Bad(MissingOrExtra(have, *spec));
  }
  out.kind = spec->kind;
  out.link_version = static_cast<int>(v);
  if (!seq_ok) return Bad("\"seq\" must be an integer");
  if (!lines_ok) return Bad("\"lines\" must be a non-negative integer");
  const bool has_log = (have & kLog) != 0;
  if (has_log && !IsValidAuditLogName(out.log)) {
    return Bad("\"log\" must be \"server\" or \"device/<device id>\"");
  }
  if ((have & kSource) != 0 && !IsValidAuditLogName(out.source)) {
    return Bad("\"source\" must be \"server\" or \"device/<device id>\"");
  }
  if ((have & kSeq) != 0 && out.seq < (out.kind == AuditLineKind::kCheckpoint ? 0 : 1)) {
    return Bad("\"seq\" must be at least " +
               std::string(out.kind == AuditLineKind::kCheckpoint ? "0" : "1"));
  }
  for (std::string_view h : {out.hash, out.prev, out.digest, out.head}) {
    if (!h.empty() && !IsAuditHash(h)) return Bad("hashes must be 64 lower-case hex digits");
  }
  if (out.kind == AuditLineKind::kRecord || out.kind == AuditLineKind::kOmitted) {
    if (out.hash.empty() || out.prev.empty()) return Bad("hashes must be 64 lower-case hex digits");
  }
  if (out.kind == AuditLineKind::kOmitted && out.digest.empty()) {
    return Bad("hashes must be 64 lower-case hex digits");
  }
  if ((out.kind == AuditLineKind::kCheckpoint || out.kind == AuditLineKind::kEnd) &&
      out.head.empty()) {
    return Bad("hashes must be 64 lower-case hex digits");
  }
  if (out.kind == AuditLineKind::kRecord) {
    out.body = TopLevelValue(line, "body");
    if (out.body.empty() || out.body.front() != '{') {
      return Bad("a record's \"body\" key must be written without escapes");
    }
  }
  return out;
}

}  // namespace ota::manifest
