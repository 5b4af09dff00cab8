// A bundle as it streams from the network into the unpacker: preamble,
// header, chunk index, chunks (plain, byte-grouped, BF16-split, encrypted),
// split at a point the input chooses. Whatever the bytes, the unpacker must
// return an error or a manifest, and never write outside its folder; the
// download checker must accept every bundle the unpacker accepts.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "fuzz_support.h"
#include "ota/bundle/bundle.h"
#include "ota/bundle/recipient_keys.h"
#include "ota/common/env.h"
#include "ota/common/filesystem.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto fs = ota::MakePosixFileSystem();
  // A fixed device key, so that encrypted chunks can be reached when the
  // input carries a header sealed to it (seeds do).
  static const auto key = [] {
    std::vector<std::uint8_t> raw(32, 7);
    return ota::bundle::RecipientKeyFromPrivate(
        std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
  }();
  FuzzedDataProvider in(data, size);
  const bool with_key = in.ConsumeBool();
  const std::size_t split = in.ConsumeIntegralInRange<std::size_t>(0, in.remaining_bytes());
  const std::vector<std::uint8_t> bundle = in.ConsumeRemainingBytes<std::uint8_t>();
  const std::string out = ota::fuzz::ScratchDir() + "/out";
  std::error_code ec;
  std::filesystem::remove_all(out, ec);
  ota::bundle::UnpackLimits limits;
  limits.max_total_bytes = 8u << 20;
  limits.max_chunk_size = 1u << 20;
  limits.max_header_bytes = 1u << 20;
  std::optional<ota::bundle::RecipientPrivateKey> device_key;
  if (with_key && key.ok()) device_key = *key;
  ota::bundle::StreamingUnpacker unpacker(*fs, out, limits, device_key);
  const std::span<const std::uint8_t> all(bundle);
  const std::size_t cut = std::min(split, all.size());
  bool unpacked = false;
  if (unpacker.Feed(all.first(cut)).ok() && unpacker.Feed(all.subspan(cut)).ok()) {
    unpacked = unpacker.Finish().ok();
  }
  // The same bytes as a download sees them, piece by piece: whatever the
  // unpacker accepts, the download checker accepts too, and it never reads
  // past a piece.
  ota::bundle::DownloadChecker checker(all.size(), std::nullopt, limits);
  bool checked = true;
  while (checked && checker.fed() < all.size()) {
    const std::uint64_t n =
        std::min<std::uint64_t>(checker.piece_end(), all.size()) - checker.fed();
    ota::fuzz::Require(n > 0, "the download checker asked for an empty piece");
    checked = checker.Feed(all.subspan(checker.fed(), n)).ok();
  }
  ota::fuzz::Require(!unpacked || (checked && checker.checked() == all.size()),
                     "the download checker refused a bundle the unpacker accepted");
  // Nothing may appear beside the output folder.
  for (const auto& entry : std::filesystem::directory_iterator(ota::fuzz::ScratchDir())) {
    ota::fuzz::Require(entry.path().filename() == "out" || entry.path().filename() == "in",
                       "the unpacker wrote outside its folder");
  }
  return 0;
}
