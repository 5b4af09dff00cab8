// Choosing a runtime from what bundle.json declares.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ota/runtime_adapter/runtime_registry.h"
#include "test_support.h"

namespace ota::runtime_adapter {
namespace {

manifest::Version V(const char* text) { return *manifest::ParseVersion(text); }

class FakeRuntime final : public Runtime {
 public:
  FakeRuntime(std::string name, const char* version, std::vector<std::string> formats)
      : name_(std::move(name)), version_(V(version)), formats_(std::move(formats)) {}
  std::string_view Name() const override { return name_; }
  const manifest::Version& RuntimeVersion() const override { return version_; }
  std::vector<std::string> Formats() const override { return formats_; }
  Result<std::unique_ptr<LoadedModel>> Open(const ModelOpenOptions&) override {
    return MakeError(ErrorCode::kInternal, "fake");
  }

 private:
  std::string name_;
  manifest::Version version_;
  std::vector<std::string> formats_;
};

manifest::BundleRuntime Need(const char* name, const char* range) {
  return manifest::BundleRuntime{name, range};
}

class RuntimeRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_
                    .Register(std::make_shared<FakeRuntime>("llama.cpp", "0.5.0+de3ff81",
                                                            std::vector<std::string>{"gguf"}))
                    .ok());
    ASSERT_TRUE(registry_
                    .Register(std::make_shared<FakeRuntime>("onnxruntime", "1.19.2",
                                                            std::vector<std::string>{"onnx"}))
                    .ok());
  }
  RuntimeRegistry registry_;
};

TEST_F(RuntimeRegistryTest, PicksByFormatWithoutARequirement) {
  Result<std::shared_ptr<Runtime>> r = registry_.Select("onnx", std::nullopt);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ((*r)->Name(), "onnxruntime");
}

TEST_F(RuntimeRegistryTest, PicksByNameAndVersionRange) {
  for (const char* range : {"", "*", ">=0.5.0", ">=0.4.0 <0.6.0", "0.5.0", "<0.1.0 || >=0.5.0"}) {
    Result<std::shared_ptr<Runtime>> r = registry_.Select("gguf", Need("llama.cpp", range));
    ASSERT_TRUE(r.ok()) << range << ": " << r.error().ToString();
    EXPECT_EQ((*r)->Name(), "llama.cpp");
  }
}

TEST_F(RuntimeRegistryTest, UnsatisfiableRequirementsAreIncompatible) {
  Result<std::shared_ptr<Runtime>> r = registry_.Select("gguf", Need("llama.cpp", ">=1.0.0"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIncompatible);
  EXPECT_EQ(r.error().message, "llama.cpp 0.5.0+de3ff81 does not satisfy '>=1.0.0'");

  r = registry_.Select("tflite", std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIncompatible);
  EXPECT_EQ(r.error().message,
            "no runtime for model format 'tflite' (registered: llama.cpp 0.5.0+de3ff81 for gguf; "
            "onnxruntime 1.19.2 for onnx)");

  r = registry_.Select("gguf", Need("executorch", ""));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIncompatible);
  EXPECT_EQ(r.error().message.rfind("runtime 'executorch' is not available (", 0), 0u);

  r = registry_.Select("onnx", Need("llama.cpp", ""));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIncompatible);
  EXPECT_EQ(r.error().message, "llama.cpp 0.5.0+de3ff81 does not open model format 'onnx'");
}

TEST_F(RuntimeRegistryTest, MalformedRangeIsInvalidArgument) {
  for (const char* range : {"~1.2", ">=", ">=1.0", "1.0.0 ||", "\x01"}) {
    Result<std::shared_ptr<Runtime>> r = registry_.Select("gguf", Need("llama.cpp", range));
    ASSERT_FALSE(r.ok()) << range;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << range;
  }
}

TEST_F(RuntimeRegistryTest, SelectForReadsTheBundleManifest) {
  manifest::BundleManifest m;
  m.model.format = "gguf";
  m.runtime = Need("llama.cpp", ">=0.5.0 <0.6.0");
  Result<std::shared_ptr<Runtime>> r = registry_.SelectFor(m);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ((*r)->Name(), "llama.cpp");
}

TEST_F(RuntimeRegistryTest, RefusesDuplicatesAndNull) {
  EXPECT_EQ(registry_.Register(nullptr).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(registry_
                .Register(std::make_shared<FakeRuntime>("llama.cpp", "9.9.9",
                                                        std::vector<std::string>{"gguf"}))
                .error()
                .code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(registry_.runtimes().size(), 2u);
}

TEST(DefaultRuntimeRegistryTest, HoldsLlamaWhenBuiltWithIt) {
  const RuntimeRegistry registry = MakeDefaultRuntimeRegistry();
  Result<std::shared_ptr<Runtime>> r =
      registry.Select("gguf", manifest::BundleRuntime{"llama.cpp", ">=0.5.0"});
  if (!LlamaRuntimeAvailable()) {
    EXPECT_TRUE(registry.runtimes().empty());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kIncompatible);
    EXPECT_EQ(MakeLlamaRuntime().error().message, "built without llama.cpp: run scripts/setup");
    return;
  }
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ((*r)->Name(), kLlamaRuntimeName);
}

}  // namespace
}  // namespace ota::runtime_adapter
