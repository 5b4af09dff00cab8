// Pure functions for serving repository files over HTTP: single byte ranges
// (RFC 9110 section 14), strong entity tags and the conditional headers that
// compare them. No I/O; thread-safe.
#ifndef OTA_SERVER_HTTP_RANGE_H_
#define OTA_SERVER_HTTP_RANGE_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace ota::server {

// An inclusive byte range [first, last] inside a representation.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const { return last - first + 1; }
};

enum class RangeOutcome {
  kIgnore,         // Serve the whole representation with 200.
  kPartial,        // Serve `range` with 206.
  kUnsatisfiable,  // Answer 416 with "Content-Range: bytes */size".
};

struct RangeDecision {
  RangeOutcome outcome = RangeOutcome::kIgnore;
  ByteRange range;  // Meaningful only for kPartial.
};

// Evaluates a Range header value against a representation of `size` bytes.
// Accepted forms: "bytes=a-b", "bytes=a-", "bytes=-n" (unit case-insensitive,
// optional whitespace). A last position past the end is clamped; a suffix
// longer than the representation selects all of it.
// kIgnore: empty value, another unit, malformed syntax (including b < a), or
//   more than one range (multi-range requests get the whole representation).
// kUnsatisfiable: a >= size, a suffix of 0 bytes, or any range of an empty
//   representation.
RangeDecision EvaluateRange(std::string_view header, std::uint64_t size);

// "Content-Range" value for a partial answer: "bytes a-b/size".
std::string ContentRange(const ByteRange& range, std::uint64_t size);

// Strong entity tag, quotes included: "<size>-<mtime ns>-<inode>" in lower-case
// hex. Any change of content through a new file, a rewrite or a touch changes it.
std::string MakeEtag(std::uint64_t size, std::uint64_t mtime_ns, std::uint64_t inode);

// If-None-Match (weak comparison): true if the list holds "*" or a tag equal
// to `etag` ignoring any W/ prefix.
bool IfNoneMatchMatches(std::string_view header, std::string_view etag);

// If-Range: true only for a strong tag equal to `etag`. Weak tags and dates
// never match (the server sends no Last-Modified), so the client then gets the
// whole representation.
bool IfRangeMatches(std::string_view header, std::string_view etag);

}  // namespace ota::server

#endif  // OTA_SERVER_HTTP_RANGE_H_
