// A tiny runnable model for the C API test (which is C and cannot call the
// C++ synthesizer itself).
#include "ota/runtime_adapter/model_synth.h"

extern "C" int ota_test_synth_model(const char* path) {
  ota::runtime_adapter::SynthOptions options;
  options.seed = 5;
  return ota::runtime_adapter::SynthesizeModel(options, path).ok() ? 0 : -1;
}
