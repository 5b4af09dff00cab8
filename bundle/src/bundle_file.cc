// Whole-file entry points on top of the streaming unpacker and the format.
#include <vector>

#include "chunk_reader.h"
#include "container_format.h"
#include "ota/bundle/bundle.h"

namespace ota::bundle {
namespace {

constexpr std::size_t kReadPieceBytes = 1u << 20;

}  // namespace

Result<manifest::BundleManifest> UnpackBundleFile(FileSystem& fs, const std::string& bundle_path,
                                                  const std::string& out_dir,
                                                  const UnpackLimits& limits,
                                                  std::optional<RecipientPrivateKey> key) {
  OTA_ASSIGN_OR_RETURN(auto file, fs.OpenReadable(bundle_path));
  StreamingUnpacker unpacker(fs, out_dir, limits, std::move(key));
  std::vector<std::uint8_t> piece(kReadPieceBytes);
  std::uint64_t offset = 0;
  while (true) {
    OTA_ASSIGN_OR_RETURN(std::size_t n, file->ReadAt(offset, piece));
    if (n == 0) break;
    OTA_TRY(unpacker.Feed(std::span<const std::uint8_t>(piece.data(), n)));
    offset += n;
  }
  return unpacker.Finish();
}

Result<BundleInfo> ReadBundleHeader(FileSystem& fs, const std::string& path,
                                    const UnpackLimits& limits) {
  OTA_ASSIGN_OR_RETURN(auto file, fs.OpenReadable(path));
  OTA_ASSIGN_OR_RETURN(StoredHeader stored, ReadStoredHeader(*file, limits));
  const Preamble& preamble = stored.preamble;
  ContainerHeader& header = stored.header;
  BundleInfo info;
  info.file_size = stored.file_size;
  info.manifest = std::move(header.manifest);
  info.format_version = preamble.format;
  info.flags = preamble.flags;
  info.chunk_size = header.chunk_size;
  info.chunk_count = header.chunks.size();
  info.total_plain = header.total_plain;
  info.total_stored = header.total_stored;
  info.encrypted = header.encryption.has_value();
  info.delta = header.delta;
  info.head = stored.head;
  if (header.encryption) {
    for (const Recipient& r : header.encryption->recipients) {
      info.recipient_key_ids.push_back(r.key_id);
    }
  }
  for (const ChunkEntry& c : header.chunks) {
    for (const ByteGroup& g : c.groups) info.grouped_bytes += g.length;
  }
  return info;
}

}  // namespace ota::bundle
