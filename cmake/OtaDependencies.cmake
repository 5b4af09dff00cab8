# Every third-party dependency is found here, once. scripts/setup installs them.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(CURL REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
# Audit export lines are parsed with simdjson for speed (D39).
find_package(simdjson REQUIRED)
# libcrypto verifies ECDSA and RSA signatures (verifier/src/openssl_verify.cc only).
find_package(OpenSSL REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
# Debian builds cpp-httplib as a shared library described by pkg-config.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
if(NOT TARGET httplib::httplib)
  add_library(httplib::httplib ALIAS PkgConfig::HTTPLIB)
endif()

# llama.cpp (pinned release, see docs/architecture.md). scripts/setup installs
# it into a cache folder and passes CMAKE_PREFIX_PATH; any other install works.
find_package(ggml CONFIG QUIET)
find_package(llama CONFIG QUIET)
if(llama_FOUND AND ggml_FOUND)
  set(OTA_HAVE_LLAMA ON)
  message(STATUS "ModelOTA: llama.cpp found: the llama.cpp runtime adapter is built")
  # scripts/setup keeps a few of llama.cpp's vocabulary files (real tokenizers
  # with test strings) beside the install prefix: <prefix>/../vocab, where
  # llama_DIR is <prefix>/lib/cmake/llama. The tests that need them fail,
  # naming this folder, when it is missing. -DOTA_LLAMA_VOCAB_DIR=... for
  # another place.
  if(NOT DEFINED OTA_LLAMA_VOCAB_DIR)
    get_filename_component(OTA_LLAMA_VOCAB_DIR "${llama_DIR}/../../../../vocab" ABSOLUTE)
  endif()
  message(STATUS "ModelOTA: llama.cpp vocabulary files expected in ${OTA_LLAMA_VOCAB_DIR}")
else()
  set(OTA_HAVE_LLAMA OFF)
  message(STATUS "ModelOTA: llama.cpp not found: the llama.cpp runtime adapter is NOT built "
                 "and `otactl model synth` fails as incompatible. Run scripts/setup and pass "
                 "-DCMAKE_PREFIX_PATH=$(scripts/setup --print-llama-prefix).")
endif()

# RE2 runs the regex checks of shadow-test eval sets: linear time, so a
# hostile pattern cannot hang the agent (shadow/src/checks.cc only).
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
