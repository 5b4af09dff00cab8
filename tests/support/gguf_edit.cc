#include "gguf_edit.h"

#include <gguf.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

namespace ota::testing {
namespace {

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};

}  // namespace

std::string EditGgufMetadata(const std::string& in, const std::string& out,
                             const std::function<void(gguf_context*)>& edit) {
  gguf_init_params params{};
  params.no_alloc = true;
  params.ctx = nullptr;
  std::unique_ptr<gguf_context, GgufDeleter> ctx(gguf_init_from_file(in.c_str(), params));
  if (!ctx) return in + " is not a readable GGUF file";
  const std::size_t data_offset = gguf_get_data_offset(ctx.get());
  edit(ctx.get());
  std::vector<char> meta(gguf_get_meta_size(ctx.get()));
  gguf_get_meta_data(ctx.get(), meta.data());

  std::ifstream src(in, std::ios::binary);
  std::ofstream dst(out, std::ios::binary | std::ios::trunc);
  if (!src || !dst) return "cannot open " + in + " or " + out;
  dst.write(meta.data(), static_cast<std::streamsize>(meta.size()));
  src.seekg(static_cast<std::streamoff>(data_offset));
  std::vector<char> buf(1 << 20);
  while (src) {
    src.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    dst.write(buf.data(), src.gcount());
  }
  dst.flush();
  return dst ? "" : "cannot write " + out;
}

}  // namespace ota::testing
