// Real tokenizers for tests: the vocabulary-only GGUF files of llama.cpp that
// scripts/setup keeps (docs/decisions.md D35), with their test strings and the
// token ids llama.cpp's own tokenizer test expects.
#ifndef OTA_TESTS_SUPPORT_REAL_VOCAB_H_
#define OTA_TESTS_SUPPORT_REAL_VOCAB_H_

#include <cstdint>
#include <string>
#include <vector>

namespace ota::testing {

// One test string and its expected token ids, tokenized without BOS/EOS and
// without parsing special tokens (as llama.cpp's tests/test-tokenizer-0 does).
struct VocabCase {
  std::string text;
  std::vector<std::int32_t> ids;
};

// The folder of the kept files (OTA_LLAMA_VOCAB_DIR, set by CMake from the
// llama.cpp prefix). Adds a test failure naming the folder and telling to run
// scripts/setup, and returns "", when the folder is not complete (its
// .complete stamp is missing).
std::string RealVocabDir();

// <RealVocabDir()>/ggml-vocab-<name>.gguf, or "" (with a failure) as above.
std::string RealVocabFile(const std::string& name);

// Reads <vocab_file>.inp and <vocab_file>.out: inputs separated by
// "\n__ggml_vocab_test__\n" (the file ends with one), one line of
// space-separated ids per input. Adds a test failure and returns what it read
// so far when the files are missing or do not match.
std::vector<VocabCase> ReadVocabCases(const std::string& vocab_file);

}  // namespace ota::testing

#endif  // OTA_TESTS_SUPPORT_REAL_VOCAB_H_
