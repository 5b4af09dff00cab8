#include "ota/verifier/audit_verify.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "ota/common/hash.h"
#include "ota/manifest/audit_log.h"
#include "ota/verifier/keys.h"

namespace ota::verifier {
namespace {

using manifest::AuditLine;
using manifest::AuditLineKind;

struct LogState {
  bool started = false;
  bool v2_seen = false;
  std::int64_t last_seq = 0;
  manifest::AuditHash last_hash{};
  std::string_view last() const { return manifest::View(last_hash); }
  AuditLogSummary summary;
};

std::string Seq(std::int64_t seq) { return "#" + std::to_string(seq); }

class ExportVerifier {
 public:
  explicit ExportVerifier(const std::vector<manifest::Key>& trusted) {
    for (const manifest::Key& key : trusted) trusted_[ComputeKeyId(key)] = key;
  }

  AuditVerifyResult Run(std::istream& in);

 private:
  // The problem with line `number`, or "" when it checks out.
  std::string Check(const AuditLine& line);
  std::string CheckChained(const AuditLine& line);
  std::string CheckCheckpoint(const AuditLine& line);
  std::string CheckEnd(const AuditLine& line);
  void LearnDeviceKey(std::string_view body);
  const manifest::Key* KeyFor(std::string_view log, std::string_view keyid) const;
  LogState& LogOf(std::string_view log) {
    if (last_log_ != nullptr && last_log_name_ == log) return *last_log_;
    auto it = logs_.find(log);
    if (it == logs_.end()) it = logs_.emplace(std::string(log), LogState{}).first;
    last_log_name_ = it->first;
    last_log_ = &it->second;
    return it->second;
  }

  std::map<std::string, manifest::Key> trusted_;
  // Device log -> key id -> report key, from verified server records.
  std::map<std::string, std::map<std::string, manifest::Key>, std::less<>> device_keys_;
  std::map<std::string, LogState, std::less<>> logs_;
  Hasher file_hash_{HashAlgorithm::kSha256};
  std::uint64_t lines_before_ = 0;  // Lines hashed so far.
  std::string file_digest_;         // Set when the end line is reached.
  std::string source_;
  std::uint64_t records_ = 0;
  // The log of the line before (most lines continue it).
  LogState* last_log_ = nullptr;
  std::string_view last_log_name_;
};

const manifest::Key* ExportVerifier::KeyFor(std::string_view log, std::string_view keyid) const {
  if (auto it = trusted_.find(std::string(keyid)); it != trusted_.end()) return &it->second;
  auto device = device_keys_.find(log);
  if (device == device_keys_.end()) return nullptr;
  auto it = device->second.find(std::string(keyid));
  return it == device->second.end() ? nullptr : &it->second;
}

void ExportVerifier::LearnDeviceKey(std::string_view body) {
  if (body.find("\"type\":\"device-enrolled\"") == std::string_view::npos) return;
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return;
  auto id = j.find("device_id");
  auto key = j.find("public_key");
  if (id == j.end() || key == j.end() || !id->is_string() || !key->is_string()) return;
  auto bytes = HexDecode(key->get<std::string>());
  if (!bytes.ok() || bytes->size() != 32) return;
  const manifest::Key device_key = Ed25519PublicKey(*bytes);
  device_keys_[manifest::DeviceAuditLog(id->get<std::string>())][ComputeKeyId(device_key)] =
      device_key;
}

std::string ExportVerifier::CheckChained(const AuditLine& line) {
  LogState& st = LogOf(line.log);
  // Only problems need the name as a string.
  auto name = [&line] { return std::string(line.log); };
  if (!st.started) {
    if (line.seq != 1) {
      return name() + " starts at record " + Seq(line.seq) +
             " without a signed checkpoint before it (earlier records deleted?)";
    }
    if (line.prev != manifest::kAuditGenesis) {
      return "record #1 of " + name() + " does not start from the genesis link";
    }
    st.started = true;
    st.summary.first_seq = 1;
  } else {
    if (line.seq == st.last_seq && line.hash != st.last()) {
      return "record " + Seq(line.seq) + " of " + name() +
             " appears twice with different hashes (a forked chain)";
    }
    if (line.seq <= st.last_seq) {
      return "record " + Seq(line.seq) + " of " + name() + " comes after " + Seq(st.last_seq) +
             " (records reordered or repeated)";
    }
    if (line.seq > st.last_seq + 1) {
      const std::int64_t missing = line.seq - st.last_seq - 1;
      return "record " + Seq(line.seq) + " of " + name() + " follows " + Seq(st.last_seq) + ": " +
             std::to_string(missing) + (missing == 1 ? " record" : " records") +
             " missing (deleted?)";
    }
    if (line.prev != st.last()) {
      return "record " + Seq(line.seq) + " of " + name() + " does not link to the hash of " +
             Seq(st.last_seq) + " (a record was inserted, replaced or edited)";
    }
  }
  manifest::AuditHash computed;
  if (line.kind == AuditLineKind::kOmitted) {
    computed = manifest::AuditLinkOf(line.prev, line.seq, line.digest);
    st.v2_seen = true;
    ++st.summary.omitted;
  } else if (line.link_version == 1) {
    if (st.v2_seen) {
      return "record " + Seq(line.seq) + " of " + name() +
             " uses link version 1 after version 2 records";
    }
    computed = manifest::AuditLinkV1Of(line.prev, line.seq, line.body);
  } else {
    computed = manifest::AuditLinkOf(line.prev, line.seq,
                                     manifest::View(manifest::AuditBodyDigestOf(line.body)));
    st.v2_seen = true;
  }
  if (manifest::View(computed) != line.hash) {
    return line.kind == AuditLineKind::kOmitted
               ? "omitted record " + Seq(line.seq) + " of " + name() +
                     ": its hash does not match its digest (altered)"
               : "record " + Seq(line.seq) + " of " + name() +
                     ": its hash does not match its body (the record was edited)";
  }
  st.last_seq = line.seq;
  st.last_hash = computed;
  if (line.kind == AuditLineKind::kRecord) {
    ++st.summary.records;
    ++records_;
    if (line.log == manifest::kAuditServerLog) LearnDeviceKey(line.body);
  }
  return "";
}

std::string ExportVerifier::CheckCheckpoint(const AuditLine& line) {
  const std::string name(line.log);
  const std::string what = "checkpoint " + Seq(line.seq) + " of " + name;
  const manifest::Key* key = KeyFor(line.log, line.keyid);
  if (key == nullptr) {
    return what + " is signed by key " + std::string(line.keyid) + ", which is not trusted";
  }
  manifest::AuditCheckpoint c{name, line.seq, std::string(line.head), std::string(line.time),
                              "",   ""};
  if (!VerifySignature(*key, line.signature, manifest::AuditCheckpointSigningBytes(c)).ok()) {
    return what + " has a bad signature";
  }
  LogState& st = LogOf(line.log);
  if (!st.started) {
    if (line.seq == 0 && line.head != manifest::kAuditGenesis) {
      return what + " signs a head other than the genesis link";
    }
    st.started = true;
    st.last_seq = line.seq;
    std::copy(line.head.begin(), line.head.end(), st.last_hash.begin());
    st.summary.first_seq = line.seq + 1;
  } else if (line.seq > st.last_seq) {
    return what + " follows record " + Seq(st.last_seq) + ": records " + Seq(st.last_seq + 1) +
           ".." + Seq(line.seq) + " missing (deleted?)";
  } else if (line.seq < st.last_seq) {
    return what + " comes after record " + Seq(st.last_seq) + " (moved)";
  } else if (line.head != st.last()) {
    return what +
           " signs a head that the records before it do not give (records edited, "
           "inserted or replaced)";
  }
  st.summary.checkpoint_seq = line.seq;
  return "";
}

std::string ExportVerifier::CheckEnd(const AuditLine& line) {
  if (line.source != source_) return "the end line names another source than the header";
  auto it = trusted_.find(std::string(line.keyid));
  if (it == trusted_.end()) {
    return "the end line is signed by key " + std::string(line.keyid) + ", which is not trusted";
  }
  const std::string bytes =
      manifest::AuditExportEndSigningBytes(line.source, line.lines, line.head, line.time);
  if (!VerifySignature(it->second, line.signature, bytes).ok()) {
    return "the end line has a bad signature";
  }
  if (line.lines != lines_before_) {
    return "the signed end line counts " + std::to_string(line.lines) +
           " lines before it but the file has " + std::to_string(lines_before_) +
           " (lines deleted or inserted)";
  }
  if (line.head != file_digest_) {
    return "the file's bytes differ from those the end line signs (a line was altered)";
  }
  return "";
}

std::string ExportVerifier::Check(const AuditLine& line) {
  switch (line.kind) {
    case AuditLineKind::kHeader:
      return "a second header line";
    case AuditLineKind::kRecord:
    case AuditLineKind::kOmitted:
      return CheckChained(line);
    case AuditLineKind::kCheckpoint:
      return CheckCheckpoint(line);
    case AuditLineKind::kEnd:
      return CheckEnd(line);
  }
  return "unknown line";
}

// Reads `in` in large blocks and hands out its lines (without the newline),
// each followed in memory by kAuditLinePadding readable bytes, so the parser
// reads them in place.
class LineReader {
 public:
  explicit LineReader(std::istream& in) : in_(in) {}

  // False at the end of the input (or on a read error: see bad()).
  bool Next(std::string_view& line, bool& newline) {
    while (true) {
      const void* found = std::memchr(buffer_.data() + start_, '\n', filled_ - start_);
      if (found != nullptr) {
        const auto end = static_cast<std::size_t>(static_cast<const char*>(found) - buffer_.data());
        line = std::string_view(buffer_).substr(start_, end - start_);
        newline = true;
        start_ = end + 1;
        return true;
      }
      if (eof_) {
        if (start_ >= filled_) return false;
        line = std::string_view(buffer_).substr(start_, filled_ - start_);
        newline = false;
        start_ = filled_;
        return true;
      }
      Fill();
    }
  }
  bool bad() const { return in_.bad(); }

 private:
  void Fill() {
    // Keep the unfinished line, then read after it.
    const std::size_t kept = filled_ - start_;
    std::memmove(buffer_.data(), buffer_.data() + start_, kept);
    start_ = 0;
    filled_ = kept;
    // Blocks grow from 64 KiB to 4 MiB, so a small export costs little; a
    // line longer than a block grows it.
    const std::size_t want = std::max(block_, kept);
    block_ = std::min(block_ * 2, kMaxBlock);
    if (buffer_.size() < filled_ + want + manifest::kAuditLinePadding) {
      buffer_.resize(filled_ + want + manifest::kAuditLinePadding);
    }
    in_.read(buffer_.data() + filled_, static_cast<std::streamsize>(want));
    filled_ += static_cast<std::size_t>(in_.gcount());
    // The padding the parser may read past a line's end: defined bytes.
    std::memset(buffer_.data() + filled_, ' ', manifest::kAuditLinePadding);
    if (!in_) eof_ = true;
  }

  static constexpr std::size_t kMaxBlock = 4u << 20;
  std::size_t block_ = 64u << 10;
  std::istream& in_;
  std::string buffer_;
  std::size_t start_ = 0;
  std::size_t filled_ = 0;
  bool eof_ = false;
};

AuditVerifyResult ExportVerifier::Run(std::istream& in) {
  AuditVerifyResult result;
  manifest::AuditLineParser parser;
  LineReader reader(in);
  std::string_view text;
  bool newline = false;
  std::uint64_t number = 0;
  bool ended = false;
  auto fail = [&](AuditVerdict verdict, std::string message) {
    result.verdict = verdict;
    result.line = number;
    result.message = std::move(message);
    result.records = records_;
    return result;
  };
  while (reader.Next(text, newline)) {
    ++number;
    auto parsed = parser.ParsePadded(text);
    if (number == 1) {
      if (!parsed.ok() || parsed->kind != AuditLineKind::kHeader ||
          parsed->format != manifest::kAuditExportFormat) {
        return fail(AuditVerdict::kUnreadable,
                    std::string("not an audit export (") + manifest::kAuditExportFormat +
                        "): " + (parsed.ok() ? "no header line" : parsed.error().message));
      }
      source_ = std::string(parsed->source);
      result.source = source_;
    } else {
      if (ended) return fail(AuditVerdict::kTampered, "a line after the signed end line");
      if (!parsed.ok()) return fail(AuditVerdict::kTampered, parsed.error().message);
      if (parsed->kind == AuditLineKind::kEnd) {
        file_digest_ = file_hash_.FinishHex();
        ended = true;
      }
      if (std::string problem = Check(*parsed); !problem.empty()) {
        return fail(AuditVerdict::kTampered, std::move(problem));
      }
    }
    if (!ended) {
      // The line and its newline, as they are in the file.
      file_hash_.Update(std::string_view(text.data(), text.size() + (newline ? 1 : 0)));
      ++lines_before_;
    }
  }
  if (reader.bad()) return fail(AuditVerdict::kUnreadable, "the export could not be read");
  if (number == 0) return fail(AuditVerdict::kUnreadable, "the export is empty");
  if (!ended) {
    return fail(AuditVerdict::kTampered,
                "the export has no signed end line (truncated, or lines appended?)");
  }
  for (auto& [name, st] : logs_) {
    st.summary.last_seq = st.last_seq;
    st.summary.head = st.started ? std::string(st.last()) : std::string();
    result.logs[name] = st.summary;
  }
  result.verdict = AuditVerdict::kVerified;
  result.records = records_;
  result.line = 0;
  return result;
}

}  // namespace

AuditVerifyResult VerifyAuditExport(std::istream& in, const std::vector<manifest::Key>& trusted) {
  ExportVerifier verifier(trusted);
  return verifier.Run(in);
}

}  // namespace ota::verifier
