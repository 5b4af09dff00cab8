#include "gguf_synth.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

namespace ota::testing {
namespace {

constexpr std::uint64_t kAlign = 32;

struct Spec {
  std::string name;
  SynthType type;
  std::uint64_t ne0, ne1;     // ne1 == 1 for vectors.
  int layer;                  // -1 outside the blocks.
  std::uint64_t shared_rows;  // Rows that equal the base's (vocab growth).
};

void PutU32(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string& s, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}
void PutStr(std::string& s, const std::string& v) {
  PutU64(s, v.size());
  s += v;
}

std::uint64_t Seed(const std::string& name, std::uint64_t salt) {
  std::uint64_t h = 1469598103934665603ull ^ salt;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

// Box-Muller normals from a 64-bit generator (deterministic everywhere).
class Normal {
 public:
  explicit Normal(std::uint64_t seed) : gen_(seed) {}
  float Next() {
    if (have_) {
      have_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(gen_() >> 11) + 1.0) / 9007199254740993.0;
    const double u2 = static_cast<double>(gen_() >> 11) / 9007199254740992.0;
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(6.283185307179586 * u2));
    have_ = true;
    return static_cast<float>(r * std::cos(6.283185307179586 * u2));
  }

 private:
  std::mt19937_64 gen_;
  bool have_ = false;
  float spare_ = 0;
};

std::uint64_t TypeBytes(SynthType t, std::uint64_t elements) {
  switch (t) {
    case SynthType::kF32:
      return elements * 4;
    case SynthType::kF16:
    case SynthType::kBF16:
      return elements * 2;
    case SynthType::kQ8_0:
      return elements / 32 * 34;
    case SynthType::kQ4_0:
      return elements / 32 * 18;
  }
  return 0;
}

void Encode(SynthType t, const std::vector<float>& x, std::string& out) {
  out.clear();
  auto put16 = [&](std::uint16_t v) {
    out.push_back(static_cast<char>(v & 0xff));
    out.push_back(static_cast<char>(v >> 8));
  };
  if (t == SynthType::kF32) {
    out.resize(x.size() * 4);
    std::memcpy(out.data(), x.data(), out.size());
    return;
  }
  if (t == SynthType::kF16) {
    for (float v : x) put16(FloatToHalf(v));
    return;
  }
  if (t == SynthType::kBF16) {
    for (float v : x) put16(FloatToBf16(v));
    return;
  }
  for (std::size_t b = 0; b + 32 <= x.size(); b += 32) {
    if (t == SynthType::kQ8_0) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
      const float d = amax / 127.0f;
      const float id = d != 0 ? 1.0f / d : 0.0f;
      put16(FloatToHalf(d));
      for (int j = 0; j < 32; ++j) {
        out.push_back(static_cast<char>(static_cast<std::int8_t>(std::lround(x[b + j] * id))));
      }
    } else {
      float amax = 0, max = 0;
      for (int j = 0; j < 32; ++j) {
        if (std::fabs(x[b + j]) > amax) {
          amax = std::fabs(x[b + j]);
          max = x[b + j];
        }
      }
      const float d = max / -8.0f;
      const float id = d != 0 ? 1.0f / d : 0.0f;
      put16(FloatToHalf(d));
      for (int j = 0; j < 16; ++j) {
        const int q0 = std::min(15, static_cast<int>(x[b + j] * id + 8.5f));
        const int q1 = std::min(15, static_cast<int>(x[b + j + 16] * id + 8.5f));
        out.push_back(static_cast<char>(q0 | (q1 << 4)));
      }
    }
  }
}

std::vector<Spec> Specs(const SynthShape& s, int extra_vocab) {
  const std::uint64_t e = static_cast<std::uint64_t>(s.n_embd);
  const std::uint64_t f = static_cast<std::uint64_t>(s.n_ff);
  const std::uint64_t v = static_cast<std::uint64_t>(s.n_vocab + extra_vocab);
  const SynthType w = s.weight_type;
  std::vector<Spec> out;
  out.push_back({"token_embd.weight", w, e, v, -1, static_cast<std::uint64_t>(s.n_vocab)});
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    out.push_back({p + "attn_norm.weight", SynthType::kF32, e, 1, l, 1});
    for (const char* n : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      out.push_back({p + n + ".weight", w, e, e, l, e});
    }
    out.push_back({p + "ffn_norm.weight", SynthType::kF32, e, 1, l, 1});
    out.push_back({p + "ffn_gate.weight", w, e, f, l, f});
    out.push_back({p + "ffn_up.weight", w, e, f, l, f});
    out.push_back({p + "ffn_down.weight", w, f, e, l, e});
  }
  out.push_back({"output_norm.weight", SynthType::kF32, e, 1, -1, 1});
  out.push_back({"output.weight", w, e, v, -1, static_cast<std::uint64_t>(s.n_vocab)});
  return out;
}

void Weights(const Spec& t, const SynthEdit& edit, std::vector<float>& x) {
  x.resize(t.ne0 * t.ne1);
  Normal base(Seed(t.name, 0));
  const bool norm = t.ne1 == 1;
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = norm ? 1.0f + 0.1f * base.Next() : 0.02f * base.Next();
  }
  const bool changed = edit.all_tensors || (t.layer >= 0 && edit.changed_layers.count(t.layer));
  if (!changed) return;
  if (edit.lora_rank > 0) {
    if (t.name.find("attn_q") == std::string::npos && t.name.find("attn_v") == std::string::npos) {
      return;
    }
    Normal g(Seed(t.name, edit.nudge_seed));
    const int r = edit.lora_rank;
    std::vector<float> a(t.ne1 * r), b(r * t.ne0);
    for (float& v : a) v = g.Next() * 0.05f;
    for (float& v : b) v = g.Next() * 0.05f;
    for (std::uint64_t row = 0; row < t.ne1; ++row) {
      for (std::uint64_t col = 0; col < t.ne0; ++col) {
        float sum = 0;
        for (int k = 0; k < r; ++k) sum += a[row * r + k] * b[k * t.ne0 + col];
        x[row * t.ne0 + col] += sum;
      }
    }
    return;
  }
  Normal g(Seed(t.name, edit.nudge_seed));
  for (float& v : x) v += edit.nudge * g.Next();
}

}  // namespace

std::uint16_t FloatToHalf(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  const std::uint32_t sign = (x >> 16) & 0x8000;
  const int exp = static_cast<int>((x >> 23) & 0xff) - 127 + 15;
  std::uint32_t mant = x & 0x7fffff;
  if (exp <= 0) {
    if (exp < -10) return static_cast<std::uint16_t>(sign);
    mant |= 0x800000;
    const int shift = 14 - exp;
    std::uint32_t h = mant >> shift;
    const std::uint32_t rem = mant & ((1u << shift) - 1);
    const std::uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return static_cast<std::uint16_t>(sign | h);
  }
  if (exp >= 31) return static_cast<std::uint16_t>(sign | 0x7c00);
  std::uint32_t h = (static_cast<std::uint32_t>(exp) << 10) | (mant >> 13);
  const std::uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;
  return static_cast<std::uint16_t>(sign | h);
}

std::uint16_t FloatToBf16(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<std::uint16_t>((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return static_cast<std::uint16_t>(x >> 16);
}

bool WriteSynthGguf(const std::string& path, const SynthShape& shape, const SynthEdit& edit) {
  const std::vector<Spec> specs = Specs(shape, edit.extra_vocab);
  std::string head("GGUF", 4);
  PutU32(head, 3);
  PutU64(head, specs.size());
  PutU64(head, 5);
  PutStr(head, "general.architecture");
  PutU32(head, 8);
  PutStr(head, "llama");
  PutStr(head, "llama.block_count");
  PutU32(head, 4);
  PutU32(head, static_cast<std::uint32_t>(shape.layers));
  PutStr(head, "llama.embedding_length");
  PutU32(head, 4);
  PutU32(head, static_cast<std::uint32_t>(shape.n_embd));
  PutStr(head, "tokenizer.chat_template");
  PutU32(head, 8);
  PutStr(head, edit.chat_template);
  PutStr(head, "tokenizer.ggml.tokens");
  PutU32(head, 9);
  PutU32(head, 8);
  const int vocab = shape.n_vocab + edit.extra_vocab;
  PutU64(head, static_cast<std::uint64_t>(vocab));
  for (int i = 0; i < vocab; ++i) PutStr(head, "tok" + std::to_string(i));
  std::uint64_t offset = 0;
  for (const Spec& t : specs) {
    PutStr(head, t.name);
    PutU32(head, t.ne1 == 1 ? 1 : 2);
    PutU64(head, t.ne0);
    if (t.ne1 != 1) PutU64(head, t.ne1);
    PutU32(head, static_cast<std::uint32_t>(t.type));
    PutU64(head, offset);
    offset += (TypeBytes(t.type, t.ne0 * t.ne1) + kAlign - 1) / kAlign * kAlign;
  }
  head.resize((head.size() + kAlign - 1) / kAlign * kAlign, '\0');
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  bool ok = std::fwrite(head.data(), 1, head.size(), f) == head.size();
  std::vector<float> x;
  std::string bytes;
  for (const Spec& t : specs) {
    if (!ok) break;
    Weights(t, edit, x);
    Encode(t.type, x, bytes);
    bytes.resize((bytes.size() + kAlign - 1) / kAlign * kAlign, '\0');
    ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  }
  return std::fclose(f) == 0 && ok;
}

}  // namespace ota::testing
