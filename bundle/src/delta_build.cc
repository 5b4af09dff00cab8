// BuildDelta: decides, window by window, how each target byte is coded.
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

#include "compact_delta.h"
#include "container_format.h"
#include "delta_payload.h"
#include "gguf_layout.h"
#include "ota/bundle/delta.h"
#include "ota/common/hash.h"
#include "zstd_codec.h"

namespace ota::bundle {

Status PackDeltaContainer(FileSystem& fs, const manifest::BundleManifest& target, DeltaInfo delta,
                          const std::string& payload_path, const std::string& out_path,
                          const PackOptions& options);

namespace {

constexpr std::uint32_t kNoBase = 0xffffffffu;
// DIFF transforms are compared on this many bytes of a window at this level.
constexpr std::uint64_t kSampleBytes = 256u << 10;
constexpr int kTrialLevel = 3;

Status ReadExact(ReadableFile& file, std::uint64_t offset, std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    OTA_ASSIGN_OR_RETURN(std::size_t n, file.ReadAt(offset + done, out.subspan(done)));
    if (n == 0)
      return MakeError(ErrorCode::kIntegrity, "file is shorter than its bundle.json says");
    done += n;
  }
  return Ok();
}

void Put(std::vector<std::uint8_t>& out, std::uint64_t v) { PutVarint(out, v); }

// One region of a target file and what it is coded against.
struct Segment {
  std::uint64_t start = 0, length = 0;  // In the target file.
  std::uint32_t base = kNoBase;         // Base file index, or none.
  std::uint64_t base_start = 0, base_length = 0;
  bool tensor = false;  // Same-position windows (tensor data).
  std::uint32_t width = 1;
  std::vector<DiffTransform> transforms;  // DIFF candidates, best guess first.
  bool elements = false;                  // Tensor data: a grouped LITERAL is a candidate.
  std::vector<std::uint32_t> planes;      // Plane starts in an element (empty: every byte).
};

class Builder {
 public:
  Builder(FileSystem& fs, const DeltaOptions& options, std::unique_ptr<WritableFile> out)
      : fs_(fs), options_(options), out_(std::move(out)) {}

  Status Init() {
    OTA_ASSIGN_OR_RETURN(diff_z_, ZstdCompressor::Create(options_.level));
    OTA_ASSIGN_OR_RETURN(prefix_z_, ZstdCompressor::Create(options_.prefix_level));
    OTA_ASSIGN_OR_RETURN(trial_z_, ZstdCompressor::Create(kTrialLevel));
    std::vector<std::uint8_t> magic(kDeltaPayloadMagic, kDeltaPayloadMagic + 8);
    return Emit(magic);
  }

  Status AddBase(const std::string& path) {
    OTA_ASSIGN_OR_RETURN(auto f, fs_.OpenReadable(path));
    bases_.push_back(std::move(f));
    return Ok();
  }

  // Codes one target file against base file `base` (kNoBase: none).
  Status AddFile(const std::string& target_path, std::uint32_t base) {
    OTA_ASSIGN_OR_RETURN(auto target, fs_.OpenReadable(target_path));
    OTA_ASSIGN_OR_RETURN(std::uint64_t size, target->Size());
    std::vector<Segment> segments;
    OTA_TRY(Plan(*target, size, base, segments));
    for (const Segment& s : segments) OTA_TRY(CodeSegment(*target, s));
    stats_.target_bytes += size;
    std::vector<std::uint8_t> end{static_cast<std::uint8_t>(DeltaOp::kEnd)};
    return Emit(end);
  }

  Status Close() { return out_->Close(); }
  DeltaStats& stats() { return stats_; }

 private:
  Status Plan(ReadableFile& target, std::uint64_t size, std::uint32_t base,
              std::vector<Segment>& out) {
    if (base == kNoBase) {
      out.push_back(Segment{0, size, kNoBase, 0, 0, false, 1, {}, false, {}});
      return Ok();
    }
    OTA_ASSIGN_OR_RETURN(std::uint64_t base_size, bases_[base]->Size());
    OTA_ASSIGN_OR_RETURN(GgufLayout t, ScanGguf(target, size));
    OTA_ASSIGN_OR_RETURN(GgufLayout b, ScanGguf(*bases_[base], base_size));
    if (!t.usable || !b.usable || t.tensors.empty()) {
      out.push_back(Segment{0, size, base, 0, base_size, false, 1, {}, false, {}});
      return Ok();
    }
    std::map<std::string, const GgufTensor*> by_name;
    for (const GgufTensor& bt : b.tensors) by_name.emplace(bt.name, &bt);
    const std::uint64_t base_head = b.tensors.empty() ? base_size : b.tensors.front().offset;
    out.push_back(
        Segment{0, t.tensors.front().offset, base, 0, base_head, false, 1, {}, false, {}});
    for (const GgufTensor& tt : t.tensors) {
      Segment s{tt.offset,
                tt.length,
                kNoBase,
                0,
                0,
                true,
                GroupWidthForGgmlType(tt.type),
                TransformsForGgmlType(tt.type),
                true,
                PlaneStartsForGgmlType(tt.type)};
      auto it = by_name.find(tt.name);
      if (it != by_name.end()) {
        s.base = base;
        s.base_start = it->second->offset;
        s.base_length = it->second->length;
        // A type change makes positions meaningless: code it as a plain region.
        if (it->second->type != tt.type) s.tensor = false;
        ++stats_.tensors_matched;
      }
      out.push_back(s);
    }
    return Ok();
  }

  Status CodeSegment(ReadableFile& target, const Segment& s) {
    std::uint64_t window = std::max<std::uint64_t>(options_.window / s.width * s.width, s.width);
    window = std::min(window, kMaxDeltaWindow);
    const std::uint64_t margin = window / 2;
    std::uint64_t n = 0;
    for (std::uint64_t r = 0; r < s.length; r += n) {
      n = std::min(window, s.length - r);
      // A tensor that grew (vocabulary extended): the window stops where the
      // base tensor ends, so the shared part is differenced and only the new
      // rows are coded on their own.
      if (s.tensor && s.base != kNoBase && r < s.base_length && r + n > s.base_length &&
          s.base_length - r >= s.width) {
        n = (s.base_length - r) / s.width * s.width;
      }
      now_.resize(static_cast<std::size_t>(n));
      OTA_TRY(ReadExact(target, s.start + r, now_));
      planes_ = &s.planes;
      if (s.base == kNoBase || s.base_length == 0) {
        OTA_TRY(Literal(s.width));
        continue;
      }
      ReadableFile& base = *bases_[s.base];
      const bool aligned = r + n <= s.base_length;
      if (aligned) {
        old_.resize(static_cast<std::size_t>(n));
        OTA_TRY(ReadExact(base, s.base_start + r, old_));
        if (old_ == now_) {
          OTA_TRY(Copy(s.base, s.base_start + r, n));
          continue;
        }
      }
      Candidate best;
      bool kquant_pick = false;
      if (aligned && s.tensor) {
        // The transform is chosen on a sample at a fast level; only the
        // winner is coded at the full level.
        DiffTransform pick = s.transforms.front();
        std::size_t pick_trial = 0, literal_trial = 0;
        const std::size_t sample = static_cast<std::size_t>(
            std::max<std::uint64_t>(std::min<std::uint64_t>(n, kSampleBytes) / s.width * s.width,
                                    std::min<std::uint64_t>(n, s.width)));
        const auto old_sample = std::span<const std::uint8_t>(old_).first(sample);
        const auto now_sample = std::span<const std::uint8_t>(now_).first(sample);
        for (DiffTransform t : s.transforms) {
          MakeDiff(t, s.width, old_sample, now_sample, scratch_);
          GroupByWidth(scratch_, s.width, grouped_);
          OTA_TRY(CompressGrouped(*trial_z_, s.width));
          if (pick_trial == 0 || frame_.size() < pick_trial) {
            pick = t;
            pick_trial = frame_.size();
          }
        }
        GroupByWidth(now_sample, s.width, grouped_);
        OTA_TRY(CompressGrouped(*trial_z_, s.width));
        literal_trial = frame_.size();
        OTA_TRY(Diff(s, pick, s.base_start + r, best));
        // Differences this small, or clearly smaller than the window's own
        // bytes, are not beaten by the other codings.
        if (best.bytes.size() * 2 < n || pick_trial * 10 < literal_trial * 9) {
          OTA_TRY(Emit(best.bytes));
          stats_.differenced += n;
          if (IsKQuantTransform(pick)) stats_.kquant_differenced += n;
          continue;
        }
        if (IsKQuantTransform(pick)) kquant_pick = true;
      }
      const std::uint64_t from = r > margin ? r - margin : 0;
      const std::uint64_t to = std::min(s.base_length, r + n + margin);
      if (from < to) OTA_TRY(Prefix(s.base, s.base_start + from, to - from, best));
      if (s.elements) OTA_TRY(LiteralCandidate(s.width, best));
      if (best.bytes.empty()) {
        OTA_TRY(Literal(s.width));
        continue;
      }
      OTA_TRY(Emit(best.bytes));
      *best.counter += n;
      if (kquant_pick && best.counter == &stats_.differenced) stats_.kquant_differenced += n;
    }
    return Ok();
  }

  struct Candidate {
    std::vector<std::uint8_t> bytes;
    std::uint64_t* counter = nullptr;
  };
  void Offer(Candidate& best, std::vector<std::uint8_t>& op, std::uint64_t* counter) {
    if (best.bytes.empty() || op.size() < best.bytes.size()) {
      best.bytes.swap(op);
      best.counter = counter;
    }
  }

  // Copies are merged while they continue each other in the same base file
  // (a metadata edit shifts all tensors but keeps them in order).
  Status Copy(std::uint32_t base, std::uint64_t offset, std::uint64_t n) {
    stats_.copied += n;
    if (copy_len_ > 0 && copy_base_ == base && copy_offset_ + copy_len_ == offset) {
      copy_len_ += n;
      return Ok();
    }
    OTA_TRY(FlushCopy());
    copy_base_ = base;
    copy_offset_ = offset;
    copy_len_ = n;
    return Ok();
  }
  Status FlushCopy() {
    if (copy_len_ == 0) return Ok();
    std::vector<std::uint8_t> op{static_cast<std::uint8_t>(DeltaOp::kCopy)};
    Put(op, copy_base_);
    Put(op, copy_offset_);
    Put(op, copy_len_);
    copy_len_ = 0;
    stats_.payload_bytes += op.size();
    return out_->Append(op);
  }

  Status Diff(const Segment& s, DiffTransform t, std::uint64_t base_offset, Candidate& best) {
    MakeDiff(t, s.width, old_, now_, scratch_);
    GroupByWidth(scratch_, s.width, grouped_);
    OTA_TRY(CompressGrouped(*diff_z_, s.width));
    std::vector<std::uint8_t> op{static_cast<std::uint8_t>(DeltaOp::kDiff),
                                 static_cast<std::uint8_t>(t)};
    Put(op, s.width);
    Put(op, s.base);
    Put(op, base_offset);
    Put(op, now_.size());
    Put(op, frame_.size());
    op.insert(op.end(), frame_.begin(), frame_.end());
    Offer(best, op, &stats_.differenced);
    return Ok();
  }

  Status Prefix(std::uint32_t base, std::uint64_t offset, std::uint64_t length, Candidate& best) {
    ref_.resize(static_cast<std::size_t>(length));
    OTA_TRY(ReadExact(*bases_[base], offset, ref_));
    OTA_TRY(prefix_z_->CompressWithPrefix(now_, ref_, frame_));
    std::vector<std::uint8_t> op{static_cast<std::uint8_t>(DeltaOp::kPrefix)};
    Put(op, base);
    Put(op, offset);
    Put(op, length);
    Put(op, now_.size());
    Put(op, frame_.size());
    op.insert(op.end(), frame_.begin(), frame_.end());
    Offer(best, op, &stats_.prefixed);
    return Ok();
  }

  Status LiteralCandidate(std::uint32_t width, Candidate& best) {
    GroupByWidth(now_, width, grouped_);
    OTA_TRY(CompressGrouped(*diff_z_, width));
    std::vector<std::uint8_t> op{static_cast<std::uint8_t>(DeltaOp::kLiteral)};
    Put(op, width);
    Put(op, now_.size());
    Put(op, frame_.size());
    op.insert(op.end(), frame_.begin(), frame_.end());
    Offer(best, op, &stats_.literal);
    return Ok();
  }

  Status Literal(std::uint32_t width) {
    Candidate c;
    OTA_TRY(LiteralCandidate(width, c));
    stats_.literal += now_.size();
    return Emit(c.bytes);
  }

  // grouped_ into frame_, each byte plane (or each field's planes, see
  // planes_) in its own zstd blocks (planes under kMinPlane share blocks with
  // their neighbours).
  Status CompressGrouped(ZstdCompressor& z, std::uint32_t width) {
    constexpr std::size_t kMinPlane = 4096;
    const std::size_t n = grouped_.size() / width;
    cuts_.clear();
    if (n >= kMinPlane) {
      if (planes_ != nullptr && !planes_->empty()) {
        for (std::uint32_t j : *planes_) {
          if (j < width) cuts_.push_back(j * n);
        }
      } else {
        for (std::uint32_t j = 1; j < width; ++j) cuts_.push_back(j * n);
      }
    }
    return z.CompressPlanes(grouped_, cuts_, frame_);
  }

  Status Emit(std::span<const std::uint8_t> bytes) {
    OTA_TRY(FlushCopy());
    stats_.payload_bytes += bytes.size();
    return out_->Append(bytes);
  }

  FileSystem& fs_;
  const DeltaOptions& options_;
  std::unique_ptr<WritableFile> out_;
  std::vector<std::unique_ptr<ReadableFile>> bases_;
  std::unique_ptr<ZstdCompressor> diff_z_, prefix_z_, trial_z_;
  std::vector<std::uint8_t> now_, old_, ref_, scratch_, grouped_, frame_;
  std::vector<std::size_t> cuts_;
  const std::vector<std::uint32_t>* planes_ = nullptr;  // Of the segment being coded.
  DeltaStats stats_;
  std::uint32_t copy_base_ = 0;
  std::uint64_t copy_offset_ = 0, copy_len_ = 0;
};

Result<manifest::BundleManifest> LoadManifest(FileSystem& fs, const std::string& dir) {
  OTA_ASSIGN_OR_RETURN(std::string text,
                       fs.ReadFile(JoinPath(dir, manifest::kBundleManifestFileName), 16u << 20));
  auto m = manifest::ParseBundleManifest(text);
  if (!m.ok()) {
    return MakeError(ErrorCode::kIntegrity, dir + "/bundle.json: " + std::move(m).error().message);
  }
  for (const manifest::BundleFile& f : m->files) {
    OTA_ASSIGN_OR_RETURN(std::uint64_t size, fs.FileSize(JoinPath(dir, f.path)));
    if (size != f.size) {
      return MakeError(ErrorCode::kIntegrity, dir + "/" + f.path + " is " + std::to_string(size) +
                                                  " bytes, bundle.json says " +
                                                  std::to_string(f.size));
    }
  }
  return std::move(m).value();
}

Result<DeltaStats> Build(FileSystem& fs, const std::string& base_dir, const std::string& target_dir,
                         const std::string& out_path, const DeltaOptions& options,
                         const std::string& payload_path) {
  OTA_ASSIGN_OR_RETURN(manifest::BundleManifest base, LoadManifest(fs, base_dir));
  OTA_ASSIGN_OR_RETURN(manifest::BundleManifest target, LoadManifest(fs, target_dir));
  OTA_ASSIGN_OR_RETURN(auto out, fs.OpenWritable(payload_path, /*append=*/false));
  Builder builder(fs, options, std::move(out));
  OTA_TRY(builder.Init());
  DeltaInfo info;
  info.base_id = options.base_id;
  info.target_id = options.target_id;
  std::map<std::string, std::uint32_t> base_index;
  for (const manifest::BundleFile& f : base.files) {
    base_index[f.path] = static_cast<std::uint32_t>(info.base_files.size());
    info.base_files.push_back(manifest::BundleFile{f.path, f.size, f.sha256, ""});
    OTA_TRY(builder.AddBase(JoinPath(base_dir, f.path)));
  }
  for (const manifest::BundleFile& f : target.files) {
    std::uint32_t b = kNoBase;
    if (auto it = base_index.find(f.path); it != base_index.end()) {
      b = it->second;
    } else if (f.path == target.model.file) {
      // A renamed model file still shares most of its tensors.
      b = base_index.at(base.model.file);
    }
    OTA_TRY(builder.AddFile(JoinPath(target_dir, f.path), b));
  }
  OTA_TRY(builder.Close());
  DeltaStats stats = builder.stats();
  OTA_ASSIGN_OR_RETURN(std::uint64_t payload_size, fs.FileSize(payload_path));
  const std::uint64_t payload_ops = payload_size - sizeof(kDeltaPayloadMagic);
  const bool fits_compact = options.container.recipients.empty() &&
                            payload_ops <= options.container.chunk_size &&
                            payload_ops <= kMaxCompactPayloadBytes;
  if (options.form == DeltaForm::kCompact && !fits_compact) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "a compact delta is unencrypted and its payload fits one chunk (" +
                         std::to_string(options.container.chunk_size) + " bytes); this one has " +
                         std::to_string(payload_ops) + " bytes" +
                         (options.container.recipients.empty() ? "" : " and recipients"));
  }
  std::uint64_t container_size = 0;
  if (options.form != DeltaForm::kCompact) {
    const std::string container_path =
        fits_compact && options.form == DeltaForm::kAuto ? out_path + ".container.tmp" : out_path;
    OTA_TRY(PackDeltaContainer(fs, target, std::move(info), payload_path, container_path,
                               options.container));
    OTA_ASSIGN_OR_RETURN(container_size, fs.FileSize(container_path));
    stats.file_bytes = container_size;
    if (container_path == out_path) return stats;
  }
  const std::vector<std::uint8_t> edit = MakeManifestEdit(
      manifest::SerializeBundleManifest(base), manifest::SerializeBundleManifest(target));
  const std::uint64_t compact_size =
      EncodeCompactHeader(options.base_id, edit).size() + payload_ops;
  if (options.form == DeltaForm::kAuto && compact_size >= container_size) {
    OTA_TRY(fs.Rename(out_path + ".container.tmp", out_path));
    OTA_TRY(fs.SyncDir(DirName(out_path)));
    return stats;
  }
  OTA_TRY(WriteCompactDelta(fs, options.base_id, edit, payload_path, out_path));
  stats.compact = true;
  stats.file_bytes = compact_size;
  return stats;
}

}  // namespace

Result<DeltaStats> BuildDelta(FileSystem& fs, const std::string& base_dir,
                              const std::string& target_dir, const std::string& out_path,
                              const DeltaOptions& options) {
  if (!IsLowerHex(options.base_id, 64) || !IsLowerHex(options.target_id, 64)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "delta base and target ids must be 64 lower-case hex digits (SHA-256 of the "
                     "full bundle files)");
  }
  if (options.window < kMinChunkSize || options.window > kMaxDeltaWindow) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "delta window " + std::to_string(options.window) + " is outside " +
                         std::to_string(kMinChunkSize) + ".." + std::to_string(kMaxDeltaWindow));
  }
  const std::string payload_path = out_path + ".payload.tmp";
  auto stats = Build(fs, base_dir, target_dir, out_path, options, payload_path);
  (void)fs.Remove(payload_path);
  (void)fs.Remove(out_path + ".container.tmp");
  return stats;
}

}  // namespace ota::bundle
