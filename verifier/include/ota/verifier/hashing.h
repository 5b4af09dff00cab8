// Length and hash checks of metadata bytes and target files against what
// signed metadata lists, and the description of a file as a TUF target.
//
// Only sha256 and sha512 exist in the model (the parsers refuse others), and
// every listed hash is checked: one matching hash is not enough, since the
// weaker of two algorithms would otherwise decide. An entry with any other
// algorithm that reaches these checks anyway is refused, never skipped
// (kIntegrity "<what> lists unsupported hash algorithm <name>").
//
// Thread-safety: pure functions; file functions need a thread-safe FileSystem.
#ifndef OTA_VERIFIER_HASHING_H_
#define OTA_VERIFIER_HASHING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ota/common/filesystem.h"
#include "ota/common/result.h"
#include "ota/manifest/tuf_metadata.h"

namespace ota::verifier {

// Checks `bytes` against an expected exact length (if any) and hashes.
// `what` names the data ("snapshot.json"), `listed_in` the metadata that
// listed it ("timestamp"). Errors: kIntegrity
// "<what> length N does not match <listed_in> (M)",
// "<what> hash does not match <listed_in>" (sha256 or sha512 named).
Status CheckBytes(std::string_view bytes, std::optional<std::uint64_t> length,
                  const manifest::Hashes& hashes, std::string_view what,
                  std::string_view listed_in);

// Checks a file on disk against its target description: the length first
// (cheap, and stops hashing an endless file), then every listed hash, reading
// in bounded memory. Errors: kIntegrity (mismatch), kNotFound, kIo.
Status CheckFile(FileSystem& fs, const std::string& path, const manifest::TargetFile& target);

// The same verdict as CheckFile for digests computed elsewhere (while the
// file was downloaded): `length` bytes whose sha256 and sha512 are the given
// lower-case hex digests (empty: not computed, which fails any target that
// lists that algorithm). Errors: kIntegrity, with CheckFile's messages.
Status CheckFileDigests(const std::string& path, std::uint64_t length, const std::string& sha256,
                        const std::string& sha512, const manifest::TargetFile& target);

// Length and sha256 of a file, and its sha512 too `with_sha512` (custom left
// null). Errors: kNotFound, kIo.
Result<manifest::TargetFile> DescribeFile(FileSystem& fs, const std::string& path,
                                          bool with_sha512 = false);

}  // namespace ota::verifier

#endif  // OTA_VERIFIER_HASHING_H_
