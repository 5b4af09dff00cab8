#include "ota/verifier/hashing.h"

#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "ota/common/hash.h"

namespace ota::verifier {
namespace {

bool Supported(std::string_view algorithm) {
  return algorithm == "sha256" || algorithm == "sha512";
}

std::string HashOf(std::string_view algorithm, std::string_view bytes) {
  return algorithm == "sha512" ? Sha512Hex(bytes) : Sha256Hex(bytes);
}

Error Unsupported(std::string_view what, std::string_view algorithm) {
  return MakeError(ErrorCode::kIntegrity, std::string(what) + " lists unsupported hash algorithm " +
                                              std::string(algorithm));
}

// The length and the requested digests of a file (empty when not requested:
// hashing multi-gigabyte models twice for nothing is costly on devices).
struct FileDigest {
  std::uint64_t length = 0;
  std::string sha256;
  std::string sha512;
};

// Reads `path` from the start and feeds every byte to `hasher`; returns the
// number of bytes read.
Result<std::uint64_t> HashWholeFile(FileSystem& fs, const std::string& path, Hasher& hasher) {
  OTA_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file, fs.OpenReadable(path));
  std::vector<std::uint8_t> buf(1 << 20);
  std::uint64_t length = 0;
  while (true) {
    OTA_ASSIGN_OR_RETURN(std::size_t n, file->ReadAt(length, buf));
    if (n == 0) break;
    hasher.Update(std::span<const std::uint8_t>(buf.data(), n));
    length += n;
  }
  return length;
}

Result<FileDigest> DigestFile(FileSystem& fs, const std::string& path, bool want_sha256,
                              bool want_sha512) {
  Hasher sha256(HashAlgorithm::kSha256);
  Hasher sha512(HashAlgorithm::kSha512);
  FileDigest out;
  if (want_sha256 && want_sha512) {
    // Two digests of a file of gigabytes: each on its own core, reading the
    // file (from the page cache) on its own.
    std::optional<Result<std::uint64_t>> second;
    std::thread worker([&] { second = HashWholeFile(fs, path, sha512); });
    Result<std::uint64_t> first = HashWholeFile(fs, path, sha256);
    worker.join();
    if (!first.ok()) return std::move(first).error();
    if (!second->ok()) return std::move(*second).error();
    if (**second != *first) {
      return MakeError(ErrorCode::kIntegrity, path + " changed size while being hashed");
    }
    out.length = *first;
  } else if (want_sha256 || want_sha512) {
    OTA_ASSIGN_OR_RETURN(out.length, HashWholeFile(fs, path, want_sha256 ? sha256 : sha512));
  }
  if (want_sha256) out.sha256 = sha256.FinishHex();
  if (want_sha512) out.sha512 = sha512.FinishHex();
  return out;
}

}  // namespace

Status CheckBytes(std::string_view bytes, std::optional<std::uint64_t> length,
                  const manifest::Hashes& hashes, std::string_view what,
                  std::string_view listed_in) {
  if (length && bytes.size() != *length) {
    return MakeError(ErrorCode::kIntegrity, std::string(what) + " length " +
                                                std::to_string(bytes.size()) + " does not match " +
                                                std::string(listed_in) + " (" +
                                                std::to_string(*length) + ")");
  }
  for (const auto& [algorithm, expected] : hashes) {
    if (!Supported(algorithm)) return Unsupported(what, algorithm);
    if (HashOf(algorithm, bytes) != expected) {
      return MakeError(ErrorCode::kIntegrity, std::string(what) + " hash does not match " +
                                                  std::string(listed_in) + " (" + algorithm + ")");
    }
  }
  return Ok();
}

namespace {

Error WrongLength(const std::string& path, std::uint64_t size, std::uint64_t listed) {
  return MakeError(ErrorCode::kIntegrity, path + " is " + std::to_string(size) +
                                              " bytes, the target lists " + std::to_string(listed));
}

// The algorithms are supported and at least one is listed.
Status CheckListedHashes(const std::string& path, const manifest::TargetFile& target) {
  for (const auto& entry : target.hashes) {
    if (!Supported(entry.first)) return Unsupported(path, entry.first);
  }
  if (target.hashes.empty()) {
    return MakeError(ErrorCode::kIntegrity, "the target for " + path + " lists no hashes");
  }
  return Ok();
}

}  // namespace

Status CheckFileDigests(const std::string& path, std::uint64_t length, const std::string& sha256,
                        const std::string& sha512, const manifest::TargetFile& target) {
  if (length != target.length) return WrongLength(path, length, target.length);
  OTA_TRY(CheckListedHashes(path, target));
  for (const auto& [algorithm, expected] : target.hashes) {
    const std::string& actual = algorithm == "sha512" ? sha512 : sha256;
    if (actual.empty() || actual != expected) {
      return MakeError(ErrorCode::kIntegrity,
                       path + " " + algorithm + " hash does not match the target");
    }
  }
  return Ok();
}

Status CheckFile(FileSystem& fs, const std::string& path, const manifest::TargetFile& target) {
  OTA_ASSIGN_OR_RETURN(std::uint64_t size, fs.FileSize(path));
  if (size != target.length) return WrongLength(path, size, target.length);
  OTA_TRY(CheckListedHashes(path, target));
  OTA_ASSIGN_OR_RETURN(FileDigest digest, DigestFile(fs, path, target.hashes.count("sha256") != 0,
                                                     target.hashes.count("sha512") != 0));
  if (digest.length != target.length) {
    return MakeError(ErrorCode::kIntegrity, path + " changed size while being hashed");
  }
  return CheckFileDigests(path, digest.length, digest.sha256, digest.sha512, target);
}

Result<manifest::TargetFile> DescribeFile(FileSystem& fs, const std::string& path,
                                          bool with_sha512) {
  OTA_ASSIGN_OR_RETURN(FileDigest digest, DigestFile(fs, path, true, with_sha512));
  manifest::TargetFile out;
  out.length = digest.length;
  out.hashes = {{"sha256", digest.sha256}};
  if (with_sha512) out.hashes["sha512"] = digest.sha512;
  return out;
}

}  // namespace ota::verifier
