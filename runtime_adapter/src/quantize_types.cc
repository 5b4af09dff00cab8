// Names of the quantization types (no llama.cpp needed).
#include <algorithm>
#include <cctype>

#include "ota/runtime_adapter/quantize.h"

namespace ota::runtime_adapter {

std::string_view QuantTypeName(QuantType type) {
  switch (type) {
    case QuantType::kF16:
      return "f16";
    case QuantType::kQ8_0:
      return "q8_0";
    case QuantType::kQ6_K:
      return "q6_k";
    case QuantType::kQ5_K_M:
      return "q5_k_m";
    case QuantType::kQ5_K_S:
      return "q5_k_s";
    case QuantType::kQ4_K_M:
      return "q4_k_m";
    case QuantType::kQ4_K_S:
      return "q4_k_s";
    case QuantType::kQ4_0:
      return "q4_0";
    case QuantType::kQ3_K_M:
      return "q3_k_m";
    case QuantType::kQ2_K:
      return "q2_k";
  }
  return "unknown";
}

const std::vector<QuantType>& AllQuantTypes() {
  static const std::vector<QuantType> kAll = {
      QuantType::kF16,    QuantType::kQ8_0,   QuantType::kQ6_K,   QuantType::kQ5_K_M,
      QuantType::kQ5_K_S, QuantType::kQ4_K_M, QuantType::kQ4_K_S, QuantType::kQ4_0,
      QuantType::kQ3_K_M, QuantType::kQ2_K};
  return kAll;
}

std::string QuantTypeList() {
  std::string list;
  for (QuantType type : AllQuantTypes()) {
    if (!list.empty()) list += ", ";
    list += QuantTypeName(type);
  }
  return list;
}

Result<QuantType> ParseQuantType(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (QuantType type : AllQuantTypes()) {
    if (QuantTypeName(type) == lower) return type;
  }
  std::string shown(name.substr(0, 64));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   "unknown quantization type '" + shown + "'; valid types: " + QuantTypeList());
}

}  // namespace ota::runtime_adapter
