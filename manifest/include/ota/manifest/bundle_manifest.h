// bundle.json: what a bundle holds (docs/formats.md, "Bundle manifest").
//
// A bundle manifest names the model, its version, the runtime it needs and
// the plaintext size and SHA-256 of every file of the bundle. Manifests come
// from untrusted bytes (a downloaded bundle), so parsing validates every field
// and file path before anything else looks at them.
//
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef OTA_MANIFEST_BUNDLE_MANIFEST_H_
#define OTA_MANIFEST_BUNDLE_MANIFEST_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/common/result.h"
#include "ota/manifest/version.h"

namespace ota::manifest {

// The value of "schema". A reader refuses any other value: an incompatible
// change gets a new schema name.
inline constexpr std::string_view kBundleSchema = "modelota.bundle/1";
// The manifest's own file name at the root of an unpacked bundle. It never
// appears in "files".
inline constexpr std::string_view kBundleManifestFileName = "bundle.json";
// Bounds that keep hostile manifests cheap to reject.
inline constexpr std::size_t kMaxBundleManifestBytes = 4u << 20;
inline constexpr std::size_t kMaxBundleFiles = 10000;
inline constexpr std::size_t kMaxBundlePathBytes = 255;
inline constexpr std::size_t kMaxBundleNameBytes = 64;
inline constexpr std::size_t kMaxRequirementBytes = 256;

struct BundleModel {
  std::string file;    // Path of the model file; one of `files` with role "model".
  std::string format;  // e.g. "gguf"; [a-z0-9][a-z0-9._-]{0,31}.
};

struct BundleRuntime {
  std::string name;     // e.g. "llama.cpp"; non-empty.
  std::string version;  // Version range text, e.g. ">=0.5.0"; empty means any.
};

struct BundleFile {
  std::string path;  // Safe relative path (ValidateBundlePath).
  std::uint64_t size = 0;
  std::string sha256;  // 64 lower-case hex digits, of the plaintext.
  std::string role;    // One of "model", "prompt", "tool-schema", "eval", "other".
};

struct BundleManifest {
  std::string name;  // [a-z0-9][a-z0-9._-]{0,63}
  Version version;
  BundleModel model;
  std::optional<BundleRuntime> runtime;
  std::optional<std::string> app_compat;  // App version range text, e.g. ">=1.0.0 <2.0.0".
  std::optional<std::string> description;
  // In bundle order: the order of the bundle's plaintext stream.
  std::vector<BundleFile> files;
  // Top-level fields this version does not know, kept as they were so that a
  // manifest written by a newer tool survives a parse/serialize round trip.
  // Always an object; its keys never collide with the known fields.
  nlohmann::json extra = nlohmann::json::object();
};

// Parses and validates bundle.json text (see ValidateBundleManifest for the
// rules). Also refuses invalid JSON, non-object documents, duplicate keys,
// documents over kMaxBundleManifestBytes, missing required fields, wrong
// types, unknown fields inside "model", "runtime" and "files" entries, and
// the wrong "schema".
// Errors: kInvalidArgument with one message naming the field.
Result<BundleManifest> ParseBundleManifest(std::string_view json);

// The same as ParseBundleManifest for an already parsed JSON value (the bundle
// container carries the manifest as an object inside its header).
Result<BundleManifest> BundleManifestFromJson(const nlohmann::json& json);

// Checks the rules that do not depend on JSON types:
//   name matches [a-z0-9][a-z0-9._-]{0,63}; model.format matches
//   [a-z0-9][a-z0-9._-]{0,31}; runtime.name non-empty; requirement texts at
//   most kMaxRequirementBytes; strings valid UTF-8;
//   1..kMaxBundleFiles files, each with a valid path (ValidateBundlePath), a
//   64 lower-hex sha256 and a known role; paths unique, none equal to
//   "bundle.json", and no file lying under another file's path ("a" and
//   "a/b" cannot both be files); model.file is a file with role "model";
//   extra is an object whose keys are not known fields.
// Errors: kInvalidArgument naming the field, e.g. `files[2].path "../x": ...`.
Status ValidateBundleManifest(const BundleManifest& manifest);

// A safe relative path inside a bundle: non-empty, at most kMaxBundlePathBytes
// bytes, valid UTF-8, no leading '/', no '\', no NUL or other control
// character, no empty, "." or ".." component, no trailing '/'.
// Errors: kInvalidArgument saying which rule failed.
Status ValidateBundlePath(std::string_view path);

// The manifest as a JSON object (known fields merged with `extra`).
// Requires a manifest that passes ValidateBundleManifest.
nlohmann::json BundleManifestToJson(const BundleManifest& manifest);

// Deterministic pretty JSON (two-space indent, keys sorted, trailing newline):
// the same manifest always gives the same bytes. Never throws; invalid UTF-8
// (only possible in an unvalidated manifest) is replaced by U+FFFD.
std::string SerializeBundleManifest(const BundleManifest& manifest);

}  // namespace ota::manifest

#endif  // OTA_MANIFEST_BUNDLE_MANIFEST_H_
