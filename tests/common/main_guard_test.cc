// The top-level guard every program's main() runs in: an escaped exception
// becomes one line on stderr and exit status 70, never an abort.
#include "ota/common/main_guard.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace ota {
namespace {

TEST(MainGuardTest, ReturnsTheBodysStatus) {
  EXPECT_EQ(RunGuardedMain("prog", [] { return 3; }), 3);
}

TEST(MainGuardTest, StdExceptionIsOneLineAndExit70) {
  ::testing::internal::CaptureStderr();
  const int rc = RunGuardedMain("ota-agent", []() -> int {
    throw std::runtime_error("[json.exception.type_error.302] type must be string,\nbut is number");
  });
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, kInternalErrorExit);
  EXPECT_EQ(kInternalErrorExit, 70);
  EXPECT_EQ(err,
            "ota-agent: internal error: [json.exception.type_error.302] type must be string, but "
            "is number\n");
}

TEST(MainGuardTest, AnythingElseThrownIsCaughtToo) {
  ::testing::internal::CaptureStderr();
  const int rc = RunGuardedMain("otactl", []() -> int { throw 42; });
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, kInternalErrorExit);
  EXPECT_EQ(err, "otactl: internal error: unknown exception\n");
}

TEST(MainGuardTest, ProtocolBoundProgramsChooseTheirCode) {
  ::testing::internal::CaptureStderr();
  const int rc = RunGuardedMain(
      "ota-tuf-client", []() -> int { throw std::logic_error("x"); }, 1);
  (void)::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 1);
}

}  // namespace
}  // namespace ota
