#include "real_vocab.h"

#include <gtest/gtest.h>

#include <charconv>
#include <filesystem>
#include <sstream>
#include <string_view>
#include <system_error>

#include "test_support.h"

namespace ota::testing {
namespace {

constexpr std::string_view kSeparator = "\n__ggml_vocab_test__\n";

// Space-separated decimal ids; false on anything else.
bool ParseIds(std::string_view line, std::vector<std::int32_t>& ids) {
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
  std::size_t pos = 0;
  while (pos < line.size()) {
    if (line[pos] == ' ') {
      ++pos;
      continue;
    }
    std::int32_t id = 0;
    const auto [end, ec] = std::from_chars(line.data() + pos, line.data() + line.size(), id);
    if (ec != std::errc() || id < 0) return false;
    ids.push_back(id);
    pos = static_cast<std::size_t>(end - line.data());
  }
  return true;
}

}  // namespace

std::string RealVocabDir() {
  const std::string dir = OTA_LLAMA_VOCAB_DIR;
  std::error_code ec;
  if (dir.empty() || !std::filesystem::exists(dir + "/.complete", ec)) {
    ADD_FAILURE() << "llama.cpp vocabulary folder '" << dir
                  << "' is missing or incomplete: run scripts/setup";
    return "";
  }
  return dir;
}

std::string RealVocabFile(const std::string& name) {
  const std::string dir = RealVocabDir();
  return dir.empty() ? "" : dir + "/ggml-vocab-" + name + ".gguf";
}

std::vector<VocabCase> ReadVocabCases(const std::string& vocab_file) {
  std::vector<VocabCase> cases;
  const std::string inputs = ReadTestFile(vocab_file + ".inp");
  const std::string outputs = ReadTestFile(vocab_file + ".out");
  if (inputs.empty() || outputs.empty()) {
    ADD_FAILURE() << "no test strings in " << vocab_file << ".inp/.out";
    return cases;
  }
  std::size_t pos = 0;
  while (pos < inputs.size()) {
    std::size_t next = inputs.find(kSeparator, pos);
    if (next == std::string::npos) next = inputs.size();
    cases.push_back({inputs.substr(pos, next - pos), {}});
    pos = next + kSeparator.size();
  }
  std::istringstream lines(outputs);
  std::size_t index = 0;
  for (std::string line; std::getline(lines, line); ++index) {
    if (index >= cases.size()) {
      ADD_FAILURE() << vocab_file << ".out has more lines than .inp has strings";
      return cases;
    }
    if (!ParseIds(line, cases[index].ids)) {
      ADD_FAILURE() << vocab_file << ".out line " << index + 1 << " is not a list of ids";
      return cases;
    }
  }
  if (index != cases.size()) {
    ADD_FAILURE() << vocab_file << ".out has " << index << " lines for " << cases.size()
                  << " strings";
  }
  return cases;
}

}  // namespace ota::testing
