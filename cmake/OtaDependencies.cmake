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

# The Java binding (bindings/java, docs/app-integration.md "Java and Kotlin"):
# javac, jar and the JNI headers of a JDK (Debian's default-jdk-headless,
# which scripts/setup installs). Without them the binding and its test are not
# built. Never in sanitizer or fuzz builds: a JVM does not load an
# instrumented library unless the sanitizer runtime is preloaded into it.
set(OTA_HAVE_JAVA OFF)
if(NOT OTA_SANITIZE AND NOT OTA_FUZZ)
  find_package(Java 11 QUIET COMPONENTS Development Runtime)
  # Only jni.h is needed (JNI::JNI): the library is loaded by a JVM, never links one.
  find_package(JNI QUIET OPTIONAL_COMPONENTS JVM)
  if(Java_FOUND AND JNI_FOUND)
    set(OTA_HAVE_JAVA ON)
    message(STATUS "ModelOTA: JDK ${Java_VERSION_STRING} found: the Java binding is built")
  else()
    message(STATUS "ModelOTA: no JDK found: the Java binding (bindings/java) is NOT built. "
                   "Run scripts/setup.")
  endif()
endif()

# RE2 runs the regex checks of shadow-test eval sets: linear time, so a
# hostile pattern cannot hang the agent (shadow/src/checks.cc only).
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
