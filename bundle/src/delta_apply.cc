// ApplyDeltaBundleFile: checks the base, unpacks the payload, then rebuilds
// the target's files one window at a time.
#include <memory>

#include "background_hasher.h"
#include "chunk_reader.h"
#include "compact_delta.h"
#include "container_format.h"
#include "delta_payload.h"
#include "ota/bundle/delta.h"
#include "ota/common/checked_math.h"
#include "ota/common/hash.h"
#include "plain_file_writer.h"
#include "zstd_codec.h"

namespace ota::bundle {
namespace {

constexpr std::size_t kReadPiece = 1u << 20;

Error CorruptDelta(const std::string& message) {
  return MakeError(ErrorCode::kIntegrity, "delta payload: " + message);
}

// Where a payload's bytes come from, in order.
class PayloadSource {
 public:
  virtual ~PayloadSource() = default;
  // Replaces `out` with the next bytes; empty when there are none left.
  virtual Status Next(std::vector<std::uint8_t>& out) = 0;
  // Once every byte was consumed: the checks that need the whole payload.
  virtual Status Finish() = 0;
};

// A container delta's payload: its chunks decoded one at a time, straight
// from the delta file (nothing is staged on disk), and the payload's SHA-256
// from the header, computed on a second thread, checked at the end, before
// the rebuilt files count.
class ContainerPayload : public PayloadSource {
 public:
  explicit ContainerPayload(std::unique_ptr<ChunkReader> reader) : reader_(std::move(reader)) {}
  Status Next(std::vector<std::uint8_t>& out) override {
    // `out` holds the bytes handed out last time, all consumed: the hasher
    // takes them and gives back storage it is done with.
    hasher_.Recycle(out);
    OTA_ASSIGN_OR_RETURN(std::vector<std::uint8_t> * plain, reader_->Next());
    if (plain == nullptr) {
      out.clear();
      return Ok();
    }
    hasher_.Update(*plain);
    out.swap(*plain);  // The bytes stay where the hasher reads them.
    return Ok();
  }
  Status Finish() override {
    // Past the last chunk (which also wipes the content key).
    OTA_ASSIGN_OR_RETURN(std::vector<std::uint8_t> * rest, reader_->Next());
    if (rest != nullptr) return CorruptDelta("has chunks after its last byte");
    const std::string& want = reader_->header().delta->payload_sha256;
    if (const std::string actual = hasher_.Finish(); actual != want) {
      return CorruptDelta("has SHA-256 " + actual + ", but the header says " + want);
    }
    return Ok();
  }

 private:
  std::unique_ptr<ChunkReader> reader_;
  BackgroundHasher hasher_;
};

// A compact delta's payload: its magic, then a byte range of the delta file.
class CompactPayload : public PayloadSource {
 public:
  CompactPayload(std::unique_ptr<ReadableFile> file, std::uint64_t offset, std::uint64_t bytes)
      : file_(std::move(file)), offset_(offset), end_(offset + bytes) {}
  Status Next(std::vector<std::uint8_t>& out) override {
    if (!magic_done_) {
      magic_done_ = true;
      out.assign(kDeltaPayloadMagic, kDeltaPayloadMagic + sizeof(kDeltaPayloadMagic));
      return Ok();
    }
    out.resize(static_cast<std::size_t>(std::min<std::uint64_t>(kReadPiece, end_ - offset_)));
    std::size_t done = 0;
    while (done < out.size()) {
      OTA_ASSIGN_OR_RETURN(std::size_t n,
                           file_->ReadAt(offset_ + done, std::span(out).subspan(done)));
      if (n == 0) return CorruptDelta("the delta file ends early");
      done += n;
    }
    offset_ += out.size();
    return Ok();
  }
  Status Finish() override { return Ok(); }

 private:
  std::unique_ptr<ReadableFile> file_;
  std::uint64_t offset_;
  std::uint64_t end_;
  bool magic_done_ = false;
};

// Sequential reads of the payload through the source's buffers.
class PayloadReader {
 public:
  PayloadReader(std::unique_ptr<PayloadSource> source, std::uint64_t size)
      : source_(std::move(source)), size_(size) {}
  std::uint64_t pos() const { return pos_; }
  bool at_end() const { return pos_ == size_; }
  // The source's end-of-payload checks; requires at_end().
  Status Finish() { return source_->Finish(); }

  Status Read(std::span<std::uint8_t> out, const char* what) {
    if (out.size() > size_ - pos_) {
      return CorruptDelta(std::string("truncated in ") + what + " at offset " +
                          std::to_string(pos_));
    }
    std::size_t done = 0;
    while (done < out.size()) {
      if (buf_pos_ == buf_.size()) OTA_TRY(Refill());
      const std::size_t take = std::min(out.size() - done, buf_.size() - buf_pos_);
      std::memcpy(out.data() + done, buf_.data() + buf_pos_, take);
      buf_pos_ += take;
      done += take;
      pos_ += take;
    }
    return Ok();
  }
  Result<std::uint64_t> Get(int bytes, const char* what) {
    std::uint8_t b[8] = {};
    OTA_TRY(Read(std::span<std::uint8_t>(b, static_cast<std::size_t>(bytes)), what));
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | b[i];
    return v;
  }
  // Version 2: a LEB128 varint; version 1: `bytes` little-endian bytes.
  Result<std::uint64_t> Field(int bytes, const char* what) {
    if (version_ == 1) return Get(bytes, what);
    std::uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      OTA_ASSIGN_OR_RETURN(std::uint64_t b, Get(1, what));
      if (i == 9 && b > 1) {
        return CorruptDelta(std::string("varint overflows 64 bits in ") + what + " at offset " +
                            std::to_string(pos_));
      }
      v |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) return v;
    }
    return CorruptDelta(std::string("varint overflows 64 bits in ") + what + " at offset " +
                        std::to_string(pos_));
  }
  void set_version(int v) { version_ = v; }
  int version() const { return version_; }

 private:
  Status Refill() {
    OTA_TRY(source_->Next(buf_));
    buf_pos_ = 0;
    if (buf_.empty() || buf_.size() > size_ - pos_) {
      return CorruptDelta("its chunks do not add up to the " + std::to_string(size_) +
                          " bytes its header says");
    }
    return Ok();
  }

  // Before source_: a source may still read the buffer's bytes on another
  // thread until it is destroyed, so the buffer must outlive it.
  std::vector<std::uint8_t> buf_;
  std::unique_ptr<PayloadSource> source_;
  std::uint64_t size_;
  std::uint64_t pos_ = 0;
  std::size_t buf_pos_ = 0;
  int version_ = 2;
};

class Applier {
 public:
  Applier(FileSystem& fs, const DeltaInfo& info, const std::string& base_dir,
          PayloadReader& payload)
      : fs_(fs), info_(info), base_dir_(base_dir), in_(payload) {}

  Status Init() {
    OTA_ASSIGN_OR_RETURN(z_, ZstdDecompressor::Create());
    std::uint8_t magic[8];
    OTA_TRY(in_.Read(magic, "its magic"));
    if (std::memcmp(magic, kDeltaPayloadMagic, 8) == 0) {
      in_.set_version(2);
    } else if (std::memcmp(magic, kDeltaPayloadMagicV1, 8) == 0) {
      in_.set_version(1);
    } else {
      return CorruptDelta("does not start with \"OTADLT02\" (or the older \"OTADLT01\")");
    }
    bases_.resize(info_.base_files.size());
    return Ok();
  }

  // Produces target file `name` of `size` bytes into `writer`.
  Status File(const std::string& name, std::uint64_t size, PlainFileWriter& writer) {
    std::uint64_t written = 0;
    while (true) {
      OTA_ASSIGN_OR_RETURN(std::uint64_t op, in_.Get(1, "an operation"));
      if (op == static_cast<std::uint8_t>(DeltaOp::kEnd)) break;
      if (op == static_cast<std::uint8_t>(DeltaOp::kCopy)) {
        OTA_TRY(CopyOp(name, size - written, writer));
        written += last_copy_;
        continue;
      }
      OTA_TRY(Op(static_cast<DeltaOp>(op), name));
      if (out_.size() > size - written) {
        return CorruptDelta("produces more than the " + std::to_string(size) + " bytes of " + name);
      }
      written += out_.size();
      // Hashed on the writer's second thread; out_ comes back as free storage.
      OTA_TRY(writer.WriteAndRecycle(out_));
    }
    if (written != size) {
      return CorruptDelta("produces " + std::to_string(written) + " bytes of " + name +
                          ", bundle.json says " + std::to_string(size));
    }
    return Ok();
  }

 private:
  // COPY may be long (a whole shifted model): it is streamed in pieces.
  Status CopyOp(const std::string& name, std::uint64_t room, PlainFileWriter& writer) {
    OTA_ASSIGN_OR_RETURN(std::uint64_t base, in_.Field(4, "a base file"));
    OTA_ASSIGN_OR_RETURN(std::uint64_t offset, in_.Field(8, "a base offset"));
    OTA_ASSIGN_OR_RETURN(std::uint64_t n, in_.Field(8, "a copy length"));
    if (n == 0) return CorruptDelta("empty copy at offset " + std::to_string(in_.pos()));
    if (n > room) {
      return CorruptDelta("copy of " + std::to_string(n) + " bytes runs past the end of " + name);
    }
    if (base >= bases_.size() || offset > info_.base_files[base].size ||
        n > info_.base_files[base].size - offset) {
      return CorruptDelta("copy reads past the end of a base file");
    }
    for (std::uint64_t done = 0; done < n;) {
      const std::uint64_t piece = std::min<std::uint64_t>(n - done, kReadPiece * 4);
      OTA_TRY(Base(base, offset + done, piece, out_));
      OTA_TRY(writer.WriteAndRecycle(out_));
      done += piece;
    }
    last_copy_ = n;
    return Ok();
  }

  Result<std::uint64_t> Length(const char* what) {
    OTA_ASSIGN_OR_RETURN(std::uint64_t n, in_.Field(8, what));
    if (n == 0 || n > kMaxDeltaWindow) {
      return CorruptDelta(std::string(what) + " " + std::to_string(n) + " at offset " +
                          std::to_string(in_.pos()) + " is outside 1.." +
                          std::to_string(kMaxDeltaWindow));
    }
    return n;
  }
  Result<std::uint32_t> Width() {
    OTA_ASSIGN_OR_RETURN(std::uint64_t w, in_.Field(4, "a width"));
    if (w == 0 || w > kMaxGroupWidth) return CorruptDelta("group width " + std::to_string(w));
    return static_cast<std::uint32_t>(w);
  }
  Status Frame(std::uint64_t length) {
    OTA_ASSIGN_OR_RETURN(std::uint64_t n, in_.Field(8, "a frame length"));
    if (n == 0 || n > MaxCompressedSize(static_cast<std::size_t>(length))) {
      return CorruptDelta("frame of " + std::to_string(n) + " bytes for " + std::to_string(length) +
                          " bytes at offset " + std::to_string(in_.pos()));
    }
    frame_.resize(static_cast<std::size_t>(n));
    return in_.Read(frame_, "a frame");
  }
  // Reads [offset, offset + n) of base file `index` into `out`.
  Status Base(std::uint64_t index, std::uint64_t offset, std::uint64_t n,
              std::vector<std::uint8_t>& out) {
    if (index >= bases_.size())
      return CorruptDelta("base file " + std::to_string(index) + " unknown");
    const manifest::BundleFile& f = info_.base_files[index];
    if (offset > f.size || n > f.size - offset) {
      return CorruptDelta("reads past the end of base file " + f.path);
    }
    if (!bases_[index]) {
      OTA_ASSIGN_OR_RETURN(bases_[index], fs_.OpenReadable(JoinPath(base_dir_, f.path)));
    }
    out.resize(static_cast<std::size_t>(n));
    std::size_t done = 0;
    while (done < out.size()) {
      OTA_ASSIGN_OR_RETURN(std::size_t got,
                           bases_[index]->ReadAt(offset + done, std::span(out).subspan(done)));
      if (got == 0) {
        return MakeError(ErrorCode::kIntegrity, "base file " + f.path + " is shorter than " +
                                                    std::to_string(f.size) + " bytes");
      }
      done += got;
    }
    return Ok();
  }

  Status Op(DeltaOp op, const std::string& name) {
    const std::string what =
        "delta window of " + name + " at payload offset " + std::to_string(in_.pos());
    switch (op) {
      case DeltaOp::kDiff: {
        OTA_ASSIGN_OR_RETURN(std::uint64_t t, in_.Get(1, "a transform"));
        if (t == 0 || t > kMaxDiffTransform ||
            (in_.version() == 1 && t > static_cast<std::uint8_t>(DiffTransform::kSub))) {
          return CorruptDelta("unknown transform " + std::to_string(t));
        }
        const auto transform = static_cast<DiffTransform>(t);
        OTA_ASSIGN_OR_RETURN(std::uint32_t width, Width());
        if (!TransformFitsWidth(transform, width)) {
          return CorruptDelta("transform " + std::to_string(t) + " cannot use width " +
                              std::to_string(width));
        }
        OTA_ASSIGN_OR_RETURN(std::uint64_t base, in_.Field(4, "a base file"));
        OTA_ASSIGN_OR_RETURN(std::uint64_t offset, in_.Field(8, "a base offset"));
        OTA_ASSIGN_OR_RETURN(std::uint64_t n, Length("a difference length"));
        OTA_TRY(Frame(n));
        OTA_TRY(Base(base, offset, n, old_));
        OTA_TRY(z_->Decompress(frame_, static_cast<std::size_t>(n), grouped_, what));
        UngroupByWidth(grouped_, width, out_);
        ApplyTransform(transform, width, old_, out_);
        return Ok();
      }
      case DeltaOp::kPrefix: {
        OTA_ASSIGN_OR_RETURN(std::uint64_t base, in_.Field(4, "a base file"));
        OTA_ASSIGN_OR_RETURN(std::uint64_t offset, in_.Field(8, "a base offset"));
        OTA_ASSIGN_OR_RETURN(std::uint64_t ref, in_.Field(8, "a prefix length"));
        if (ref == 0 || ref > kMaxPrefixBytes) {
          return CorruptDelta("prefix of " + std::to_string(ref) + " bytes is outside 1.." +
                              std::to_string(kMaxPrefixBytes));
        }
        OTA_ASSIGN_OR_RETURN(std::uint64_t n, Length("a window length"));
        OTA_TRY(Frame(n));
        OTA_TRY(Base(base, offset, ref, old_));
        return z_->DecompressWithPrefix(frame_, old_, static_cast<std::size_t>(n), out_, what);
      }
      case DeltaOp::kLiteral: {
        OTA_ASSIGN_OR_RETURN(std::uint32_t width, Width());
        OTA_ASSIGN_OR_RETURN(std::uint64_t n, Length("a literal length"));
        OTA_TRY(Frame(n));
        OTA_TRY(z_->Decompress(frame_, static_cast<std::size_t>(n), grouped_, what));
        UngroupByWidth(grouped_, width, out_);
        return Ok();
      }
      case DeltaOp::kEnd:
      case DeltaOp::kCopy:
        break;
    }
    return CorruptDelta("unknown operation " + std::to_string(static_cast<int>(op)) +
                        " at offset " + std::to_string(in_.pos() - 1));
  }

  FileSystem& fs_;
  const DeltaInfo& info_;
  const std::string base_dir_;
  PayloadReader& in_;
  std::unique_ptr<ZstdDecompressor> z_;
  std::vector<std::unique_ptr<ReadableFile>> bases_;
  std::vector<std::uint8_t> frame_, old_, grouped_, out_;
  std::uint64_t last_copy_ = 0;
};

// The checks that need no writing: the container header, the base id and
// the base files the payload reads.
Status CheckBase(FileSystem& fs, const ContainerHeader& header, const std::string& base_dir,
                 const std::string& base_id) {
  if (!header.delta) {
    return MakeError(ErrorCode::kInvalidArgument, "this is a full bundle, not a delta bundle");
  }
  const DeltaInfo& delta = *header.delta;
  if (delta.base_id != base_id) {
    return MakeError(ErrorCode::kIntegrity, "delta is for base " + delta.base_id +
                                                ", but the installed version is " + base_id);
  }
  OTA_ASSIGN_OR_RETURN(
      std::string text,
      fs.ReadFile(JoinPath(base_dir, manifest::kBundleManifestFileName), 16u << 20));
  OTA_ASSIGN_OR_RETURN(manifest::BundleManifest base, manifest::ParseBundleManifest(text));
  for (const manifest::BundleFile& want : delta.base_files) {
    auto it = std::find_if(base.files.begin(), base.files.end(),
                           [&](const manifest::BundleFile& f) { return f.path == want.path; });
    if (it == base.files.end() || it->size != want.size || it->sha256 != want.sha256) {
      return MakeError(
          ErrorCode::kIntegrity,
          "delta is for base " + delta.base_id + ", whose " + want.path + " has SHA-256 " +
              want.sha256 + "; the installed version's " +
              (it == base.files.end() ? "has no such file" : "has SHA-256 " + it->sha256));
    }
  }
  return Ok();
}

}  // namespace

Status CheckDeltaTargetTotal(const manifest::BundleManifest& target, const UnpackLimits& limits) {
  std::uint64_t target_total = 0;
  for (const manifest::BundleFile& f : target.files) {
    // Sizes come from the delta file: two near 2^64 must not wrap to a small
    // total that passes the limit.
    std::optional<std::uint64_t> sum = CheckedAdd(target_total, f.size);
    if (!sum) {
      return CorruptDelta("target bundle.json file sizes add up to more than 2^64 bytes");
    }
    target_total = *sum;
  }
  if (target_total > limits.max_total_bytes) {
    return MakeError(ErrorCode::kIncompatible, "delta target holds " +
                                                   std::to_string(target_total) +
                                                   " bytes, more than this reader's limit of " +
                                                   std::to_string(limits.max_total_bytes));
  }
  return Ok();
}

namespace {

// A container delta: reads its header once, checks the base and the signed
// facts, then opens the content key (all before anything is written) for
// reading the payload chunk by chunk.
Result<std::unique_ptr<ChunkReader>> OpenContainer(FileSystem& fs, const std::string& delta_path,
                                                   const std::string& base_dir,
                                                   const std::string& base_id,
                                                   const UnpackLimits& limits,
                                                   std::optional<RecipientPrivateKey> key,
                                                   const SignedDeltaFacts* facts) {
  OTA_ASSIGN_OR_RETURN(auto reader, ChunkReader::Open(fs, delta_path, limits));
  const ContainerHeader& header = reader->header();
  OTA_TRY(CheckBase(fs, header, base_dir, base_id));
  const DeltaInfo& delta = *header.delta;
  if (facts != nullptr &&
      (facts->base_id != delta.base_id || facts->target_id != delta.target_id)) {
    return MakeError(ErrorCode::kIntegrity, "delta is from " + delta.base_id + " to " +
                                                delta.target_id +
                                                ", but its signed target says from " +
                                                facts->base_id + " to " + facts->target_id);
  }
  OTA_TRY(CheckDeltaTargetTotal(header.manifest, limits));
  if (facts != nullptr && !facts->manifest_sha256.empty() &&
      ManifestSha256(header.manifest) != facts->manifest_sha256) {
    return MakeError(ErrorCode::kIntegrity, "delta rebuilds a bundle.json with SHA-256 " +
                                                ManifestSha256(header.manifest) +
                                                ", but its signed target says " +
                                                facts->manifest_sha256);
  }
  // Last of the checks that need no key: a device that is not a recipient
  // hears about the wrong base first.
  OTA_TRY(reader->OpenContentKey(std::move(key)));
  return reader;
}

// A compact delta: every check of its header and rebuilt bundle.json; its
// payload is read in place from the delta file.
Result<manifest::BundleManifest> PrepareCompact(
    FileSystem& fs, const std::string& delta_path, const std::string& base_dir,
    const std::string& base_id, const UnpackLimits& limits, const SignedDeltaFacts* facts,
    DeltaInfo& info, std::unique_ptr<PayloadSource>& source, std::uint64_t& payload_size) {
  if (facts == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "a compact delta is applied with its signed target metadata (base and "
                     "target ids, bundle.json SHA-256), and none was given");
  }
  if (facts->base_id != base_id) {
    return MakeError(ErrorCode::kIntegrity, "delta is for base " + facts->base_id +
                                                ", but the installed version is " + base_id);
  }
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  OTA_ASSIGN_OR_RETURN(
      manifest::BundleManifest target,
      PrepareCompactDelta(fs, delta_path, base_dir, base_id, *facts, limits, info, offset, bytes));
  OTA_TRY(CheckDeltaTargetTotal(target, limits));
  OTA_ASSIGN_OR_RETURN(auto file, fs.OpenReadable(delta_path));
  source = std::make_unique<CompactPayload>(std::move(file), offset, bytes);
  payload_size = sizeof(kDeltaPayloadMagic) + bytes;
  return target;
}

Result<manifest::BundleManifest> Apply(FileSystem& fs, const std::string& delta_path,
                                       const std::string& base_dir, const std::string& base_id,
                                       const std::string& out_dir, const UnpackLimits& limits,
                                       std::optional<RecipientPrivateKey> key,
                                       const SignedDeltaFacts* facts, bool& wrote_out) {
  DeltaInfo info;
  manifest::BundleManifest target;
  std::unique_ptr<PayloadSource> source;
  std::uint64_t payload_size = 0;
  OTA_ASSIGN_OR_RETURN(bool compact, IsCompactDeltaFile(fs, delta_path));
  if (compact) {
    OTA_ASSIGN_OR_RETURN(target, PrepareCompact(fs, delta_path, base_dir, base_id, limits, facts,
                                                info, source, payload_size));
  } else {
    OTA_ASSIGN_OR_RETURN(auto reader, OpenContainer(fs, delta_path, base_dir, base_id, limits,
                                                    std::move(key), facts));
    target = reader->header().manifest;
    info = *reader->header().delta;
    payload_size = reader->header().total_plain;
    source = std::make_unique<ContainerPayload>(std::move(reader));
  }
  PayloadReader payload(std::move(source), payload_size);
  Applier applier(fs, info, base_dir, payload);
  OTA_TRY(applier.Init());
  PlainFileWriter writer(fs, out_dir, target.files);
  OTA_TRY(writer.Start());
  wrote_out = true;
  for (const manifest::BundleFile& f : target.files) {
    OTA_TRY(applier.File(f.path, f.size, writer));
  }
  if (!payload.at_end()) {
    return CorruptDelta("has " + std::to_string(payload_size - payload.pos()) +
                        " bytes after its last file");
  }
  OTA_TRY(payload.Finish());
  OTA_TRY(writer.Finish());
  // Written last: a folder with bundle.json holds a complete, verified version.
  OTA_TRY(WriteFileAtomic(fs, JoinPath(out_dir, manifest::kBundleManifestFileName),
                          manifest::SerializeBundleManifest(target)));
  return target;
}

}  // namespace

Result<manifest::BundleManifest> ApplyDeltaBundleFile(
    FileSystem& fs, const std::string& delta_path, const std::string& base_dir,
    const std::string& base_id, const std::string& out_dir, const UnpackLimits& limits,
    std::optional<RecipientPrivateKey> key, const SignedDeltaFacts* signed_facts) {
  bool wrote_out = false;
  auto result = Apply(fs, delta_path, base_dir, base_id, out_dir, limits, std::move(key),
                      signed_facts, wrote_out);
  if (!result.ok() && wrote_out) (void)fs.RemoveAll(out_dir);
  return result;
}

}  // namespace ota::bundle
