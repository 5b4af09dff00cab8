#include "kquant_blocks.h"

#include <array>
#include <cstring>

#include "diff_arith.h"

namespace ota::bundle {
namespace {

// Where a weight's quant bits live: `bits` bits at `shift` in byte `offset`
// of the block; a quant of more than one piece has its low piece first.
struct Piece {
  std::uint8_t shift = 0, bits = 0;
  std::uint16_t offset = 0;
};
struct QuantMap {
  std::array<std::array<Piece, 2>, kKQuantWeights> pieces{};
  std::uint8_t count = 1;            // Pieces per weight.
  std::uint8_t bits = 0;             // Bits per weight.
  std::uint16_t first = 0, end = 0;  // The quant arrays' bytes in the block.
};

constexpr std::size_t kTypes = 5;

// The layouts of ggml-common.h, in the weight order of ggml's dequantize_row_*
// functions (so that neighbouring weights share a sub-block scale).
QuantMap MakeMap(KQuant type) {
  QuantMap m;
  auto set = [&m](std::size_t weight, std::size_t piece, unsigned offset, unsigned shift,
                  unsigned bits) {
    m.pieces[weight][piece] =
        Piece{static_cast<std::uint8_t>(shift), static_cast<std::uint8_t>(bits),
              static_cast<std::uint16_t>(offset)};
  };
  switch (type) {
    case KQuant::kQ2K:  // scales[16], qs[64], d, dmin
      m.bits = 2, m.first = 16, m.end = 80;
      for (unsigned h = 0; h < 2; ++h)
        for (unsigned s = 0; s < 4; ++s)
          for (unsigned l = 0; l < 32; ++l) set(128 * h + 32 * s + l, 0, 16 + 32 * h + l, 2 * s, 2);
      break;
    case KQuant::kQ3K:  // hmask[32], qs[64], scales[12], d
      m.bits = 3, m.count = 2, m.first = 0, m.end = 96;
      for (unsigned h = 0; h < 2; ++h) {
        for (unsigned s = 0; s < 4; ++s) {
          for (unsigned l = 0; l < 32; ++l) {
            set(128 * h + 32 * s + l, 0, 32 + 32 * h + l, 2 * s, 2);
            set(128 * h + 32 * s + l, 1, l, 4 * h + s, 1);
          }
        }
      }
      break;
    case KQuant::kQ4K:  // d, dmin, scales[12], qs[128]
    case KQuant::kQ5K:  // d, dmin, scales[12], qh[32], qs[128]
    {
      const bool five = type == KQuant::kQ5K;
      const unsigned qs = five ? 48 : 16;
      m.bits = five ? 5 : 4, m.count = five ? 2 : 1, m.first = 16, m.end = five ? 176 : 144;
      for (unsigned c = 0; c < 4; ++c) {
        for (unsigned l = 0; l < 32; ++l) {
          set(64 * c + l, 0, qs + 32 * c + l, 0, 4);
          set(64 * c + 32 + l, 0, qs + 32 * c + l, 4, 4);
          if (five) {
            set(64 * c + l, 1, 16 + l, 2 * c, 1);
            set(64 * c + 32 + l, 1, 16 + l, 2 * c + 1, 1);
          }
        }
      }
      break;
    }
    case KQuant::kQ6K:  // ql[128], qh[64], scales[16] (int8), d
      m.bits = 6, m.count = 2, m.first = 0, m.end = 192;
      for (unsigned h = 0; h < 2; ++h) {
        for (unsigned l = 0; l < 32; ++l) {
          for (unsigned k = 0; k < 4; ++k) {
            const unsigned weight = 128 * h + 32 * k + l;
            set(weight, 0, 64 * h + l + 32 * (k & 1), 4 * (k >> 1), 4);
            set(weight, 1, 128 + 32 * h + l, 2 * k, 2);
          }
        }
      }
      break;
  }
  return m;
}

const QuantMap& MapOf(KQuant type) {
  static const std::array<QuantMap, kTypes> maps = [] {
    std::array<QuantMap, kTypes> all;
    for (std::size_t t = 0; t < kTypes; ++t) all[t] = MakeMap(static_cast<KQuant>(t));
    return all;
  }();
  return maps[static_cast<std::size_t>(type)];
}

void UnpackQuants(const QuantMap& m, const std::uint8_t* block, std::uint8_t* q) {
  for (std::size_t i = 0; i < kKQuantWeights; ++i) {
    unsigned v = 0, at = 0;
    for (std::size_t p = 0; p < m.count; ++p) {
      const Piece& piece = m.pieces[i][p];
      v |= ((block[piece.offset] >> piece.shift) & ((1u << piece.bits) - 1)) << at;
      at += piece.bits;
    }
    q[i] = static_cast<std::uint8_t>(v);
  }
}

void PackQuants(const QuantMap& m, const std::uint8_t* q, std::uint8_t* block) {
  std::memset(block + m.first, 0, m.end - m.first);
  for (std::size_t i = 0; i < kKQuantWeights; ++i) {
    unsigned v = q[i];
    for (std::size_t p = 0; p < m.count; ++p) {
      const Piece& piece = m.pieces[i][p];
      block[piece.offset] = static_cast<std::uint8_t>(
          block[piece.offset] | ((v & ((1u << piece.bits) - 1)) << piece.shift));
      v >>= piece.bits;
    }
  }
}

// A difference keeps the weights' zig-zag coded quant differences in the
// quant arrays' bytes as two planes: the low 2 bits of every weight (four
// weights a byte, weight 4k + i at bits 2i of byte k), then the remaining
// bits of every weight as one little-endian bit stream (weight i at bit
// i * (bits - 2)). A fine-tune moves most quants by 0 or 1 step, so the
// first plane holds nearly all the information, four weights a byte, and
// the second is nearly all zero bits.
void PackPlanes(const QuantMap& m, const std::uint8_t* z, std::uint8_t* block) {
  std::uint8_t* out = block + m.first;
  std::memset(out, 0, m.end - m.first);
  const unsigned high = m.bits - 2u;
  for (std::size_t i = 0; i < kKQuantWeights; ++i) {
    out[i / 4] = static_cast<std::uint8_t>(out[i / 4] | ((z[i] & 3u) << (2 * (i % 4))));
    if (high == 0) continue;
    const std::size_t bit = i * high;
    const unsigned v = static_cast<unsigned>(z[i] >> 2) << (bit % 8);
    std::uint8_t* at = out + kKQuantWeights / 4 + bit / 8;
    at[0] = static_cast<std::uint8_t>(at[0] | (v & 0xffu));
    if ((v >> 8) != 0) at[1] = static_cast<std::uint8_t>(at[1] | (v >> 8));
  }
}
void UnpackPlanes(const QuantMap& m, const std::uint8_t* block, std::uint8_t* z) {
  const std::uint8_t* in = block + m.first;
  const unsigned high = m.bits - 2u;
  const std::size_t high_bytes = m.end - m.first - kKQuantWeights / 4;
  for (std::size_t i = 0; i < kKQuantWeights; ++i) {
    unsigned v = (in[i / 4] >> (2 * (i % 4))) & 3u;
    if (high > 0) {
      const std::size_t bit = i * high;
      const std::uint8_t* at = in + kKQuantWeights / 4 + bit / 8;
      unsigned word = at[0];
      if (bit / 8 + 1 < high_bytes) word |= static_cast<unsigned>(at[1]) << 8;
      v |= ((word >> (bit % 8)) & ((1u << high) - 1)) << 2;
    }
    z[i] = static_cast<std::uint8_t>(v);
  }
}

// The 12 bytes of Q4_K/Q5_K scales: eight 6-bit scales, then eight 6-bit
// mins (ggml's get_scale_min_k4 order), and back.
void UnpackScales6(const std::uint8_t* s, std::uint8_t* v) {
  for (unsigned j = 0; j < 4; ++j) {
    v[j] = s[j] & 63;
    v[8 + j] = s[j + 4] & 63;
    v[4 + j] = static_cast<std::uint8_t>((s[j + 8] & 15) | ((s[j] >> 6) << 4));
    v[12 + j] = static_cast<std::uint8_t>((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
  }
}
void PackScales6(const std::uint8_t* v, std::uint8_t* s) {
  for (unsigned j = 0; j < 4; ++j) {
    s[j] = static_cast<std::uint8_t>((v[j] & 63) | ((v[4 + j] >> 4) << 6));
    s[j + 4] = static_cast<std::uint8_t>((v[8 + j] & 63) | ((v[12 + j] >> 4) << 6));
    s[j + 8] = static_cast<std::uint8_t>((v[4 + j] & 15) | ((v[12 + j] & 15) << 4));
  }
}

unsigned Lane(bool encode, unsigned o, unsigned x, unsigned bits) {
  return encode ? SmallDiff(o, x, bits) : SmallUndo(o, x, bits);
}

void F16(bool encode, const std::uint8_t* o, std::uint8_t* x) {
  const auto ov = Load<std::uint16_t>(o), xv = Load<std::uint16_t>(x);
  Store<std::uint16_t>(x, encode ? OrderedDiff(ov, xv) : OrderedUndo(ov, xv));
}

// `n` bytes, each as lanes of `bits` bits (8, 4 or 2).
void Lanes(bool encode, const std::uint8_t* o, std::uint8_t* x, std::size_t n, unsigned bits) {
  const unsigned mask = (1u << bits) - 1;
  for (std::size_t i = 0; i < n; ++i) {
    unsigned out = 0;
    for (unsigned shift = 0; shift < 8; shift += bits) {
      out |= Lane(encode, (o[i] >> shift) & mask, (x[i] >> shift) & mask, bits) << shift;
    }
    x[i] = static_cast<std::uint8_t>(out);
  }
}

void Scales6(bool encode, const std::uint8_t* o, std::uint8_t* x) {
  std::uint8_t ov[16], xv[16];
  UnpackScales6(o, ov);
  UnpackScales6(x, xv);
  for (int i = 0; i < 16; ++i) xv[i] = static_cast<std::uint8_t>(Lane(encode, ov[i], xv[i], 6));
  PackScales6(xv, x);
}

// The fields besides the quant arrays.
void Header(bool encode, KQuant type, const std::uint8_t* o, std::uint8_t* x) {
  switch (type) {
    case KQuant::kQ2K:
      Lanes(encode, o, x, 16, 4);
      F16(encode, o + 80, x + 80);
      F16(encode, o + 82, x + 82);
      break;
    case KQuant::kQ3K:
      Lanes(encode, o + 96, x + 96, 8, 4);
      Lanes(encode, o + 104, x + 104, 4, 2);
      F16(encode, o + 108, x + 108);
      break;
    case KQuant::kQ4K:
    case KQuant::kQ5K:
      F16(encode, o, x);
      F16(encode, o + 2, x + 2);
      Scales6(encode, o + 4, x + 4);
      break;
    case KQuant::kQ6K:
      Lanes(encode, o + 192, x + 192, 16, 8);
      F16(encode, o + 208, x + 208);
      break;
  }
}

}  // namespace

std::uint32_t KQuantBlockBytes(KQuant type) {
  switch (type) {
    case KQuant::kQ2K:
      return 84;
    case KQuant::kQ3K:
      return 110;
    case KQuant::kQ4K:
      return 144;
    case KQuant::kQ5K:
      return 176;
    case KQuant::kQ6K:
      return 210;
  }
  return 0;
}

std::optional<KQuant> KQuantOfGgmlType(std::uint32_t ggml_type) {
  if (ggml_type < 10 || ggml_type > 14) return std::nullopt;
  return static_cast<KQuant>(ggml_type - 10);
}

std::vector<std::uint32_t> KQuantFieldStarts(KQuant type) {
  switch (type) {
    case KQuant::kQ2K:
      return {16, 80, 81, 82, 83};
    case KQuant::kQ3K:
      return {64, 96, 108, 109};
    case KQuant::kQ4K:
    case KQuant::kQ5K:
      return {1, 2, 3, 4, 16, 80};
    case KQuant::kQ6K:
      return {64, 192, 208, 209};
  }
  return {};
}

void KQuantDiffBlocks(bool encode, KQuant type, const std::uint8_t* old_bytes, std::uint8_t* x,
                      std::size_t whole) {
  const QuantMap& map = MapOf(type);
  const std::size_t size = KQuantBlockBytes(type);
  std::uint8_t qo[kKQuantWeights], qx[kKQuantWeights];
  for (std::size_t b = 0; b + size <= whole; b += size) {
    const std::uint8_t* o = old_bytes + b;
    std::uint8_t* xb = x + b;
    Header(encode, type, o, xb);
    UnpackQuants(map, o, qo);
    if (encode) {
      UnpackQuants(map, xb, qx);
      for (std::size_t i = 0; i < kKQuantWeights; ++i) {
        qx[i] = static_cast<std::uint8_t>(SmallDiff(qo[i], qx[i], map.bits));
      }
      PackPlanes(map, qx, xb);
    } else {
      UnpackPlanes(map, xb, qx);
      for (std::size_t i = 0; i < kKQuantWeights; ++i) {
        qx[i] = static_cast<std::uint8_t>(SmallUndo(qo[i], qx[i], map.bits));
      }
      PackQuants(map, qx, xb);
    }
  }
}

}  // namespace ota::bundle
