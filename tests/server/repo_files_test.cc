// GET/HEAD /repo/...: bytes, ranges, entity tags, confinement, fault drops.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "ota/common/http.h"
#include "server_fixture.h"

namespace ota::server {
namespace {

using RepoFilesTest = ServerFixture;

TEST_F(RepoFilesTest, FullGetReturnsTheFileWithHeaders) {
  StartServer();
  auto res = Client()->Get("/repo/targets/model.bin");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, model_);
  EXPECT_EQ(res->get_header_value("Content-Length"), std::to_string(kModelSize));
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(res->get_header_value("Accept-Ranges"), "bytes");
  EXPECT_FALSE(res->has_header("Content-Range"));
  EXPECT_FALSE(res->has_header("Cache-Control"));
}

TEST_F(RepoFilesTest, MetadataIsJsonAndNotCached) {
  StartServer();
  auto res = Client()->Get("/repo/timestamp.json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "{\"signed\":{\"version\":3}}");
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res->get_header_value("Cache-Control"), "no-cache");
}

struct ServeRangeCase {
  std::string header;
  std::uint64_t first;
  std::uint64_t last;
};

class RangeFormTest : public ServerFixture, public ::testing::WithParamInterface<ServeRangeCase> {};

TEST_P(RangeFormTest, Returns206WithExactBytesAndHeaders) {
  StartServer();
  const ServeRangeCase& c = GetParam();
  auto res = Client()->Get("/repo/targets/model.bin", {{"Range", c.header}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 206);
  const std::uint64_t length = c.last - c.first + 1;
  EXPECT_EQ(res->get_header_value("Content-Range"), "bytes " + std::to_string(c.first) + "-" +
                                                        std::to_string(c.last) + "/" +
                                                        std::to_string(kModelSize));
  EXPECT_EQ(res->get_header_value("Content-Length"), std::to_string(length));
  EXPECT_EQ(res->body, model_.substr(c.first, length));
}

INSTANTIATE_TEST_SUITE_P(Forms, RangeFormTest,
                         ::testing::Values(ServeRangeCase{"bytes=10-19", 10, 19},
                                           ServeRangeCase{"bytes=0-0", 0, 0},
                                           ServeRangeCase{"bytes=9990-", 9990, 9999},
                                           ServeRangeCase{"bytes=-25", 9975, 9999},
                                           ServeRangeCase{"bytes=9990-20000", 9990, 9999},
                                           ServeRangeCase{"bytes=-20000", 0, 9999}));

TEST_F(RepoFilesTest, RangeAcrossReadChunksIsExact) {
  const std::string big = TestBytes(1024 * 1024 + 123);
  ota::testing::WriteTestFile(Repo("targets/big.bin"), big);
  StartServer();
  auto res = Client()->Get("/repo/targets/big.bin", {{"Range", "bytes=70000-400000"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 206);
  EXPECT_EQ(res->body, big.substr(70000, 330001));
  auto full = Client()->Get("/repo/targets/big.bin");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->body, big);
}

TEST_F(RepoFilesTest, UnsatisfiableRangeIs416WithSize) {
  StartServer();
  for (const char* header : {"bytes=10000-", "bytes=20000-30000", "bytes=-0"}) {
    SCOPED_TRACE(header);
    auto res = Client()->Get("/repo/targets/model.bin", {{"Range", header}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 416);
    EXPECT_EQ(res->get_header_value("Content-Range"), "bytes */10000");
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  }
  auto empty = Client()->Get("/repo/targets/empty.bin", {{"Range", "bytes=0-"}});
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 416);
  EXPECT_EQ(empty->get_header_value("Content-Range"), "bytes */0");
}

TEST_F(RepoFilesTest, RangeHeadersWeDoNotServeGiveTheWholeFile) {
  StartServer();
  // Invalid (b < a), another unit, and multi-range: all answered 200 in full.
  for (const char* header : {"bytes=5-2", "items=0-1", "bytes=0-1,5-6", "bytes=0-1, 99999999-"}) {
    SCOPED_TRACE(header);
    auto res = Client()->Get("/repo/targets/model.bin", {{"Range", header}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_FALSE(res->has_header("Content-Range"));
    EXPECT_EQ(res->body, model_);
  }
}

TEST_F(RepoFilesTest, EmptyFileIsServed) {
  StartServer();
  auto res = Client()->Get("/repo/targets/empty.bin");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "");
  EXPECT_EQ(res->get_header_value("Content-Length"), "0");
}

TEST_F(RepoFilesTest, HeadReportsSizeWithoutBodyAndIgnoresRange) {
  StartServer();
  auto res = Client()->Head("/repo/targets/model.bin", {{"Range", "bytes=0-9"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Length"), std::to_string(kModelSize));
  EXPECT_TRUE(res->body.empty());
  EXPECT_TRUE(res->has_header("ETag"));
  EXPECT_FALSE(res->has_header("Content-Range"));
}

TEST_F(RepoFilesTest, EtagIsStrongSizeMtimeInode) {
  StartServer();
  auto res = Client()->Get("/repo/targets/model.bin");
  ASSERT_TRUE(res);
  struct stat st {};
  ASSERT_EQ(::stat(Repo("targets/model.bin").c_str(), &st), 0);
  char expected[80];
  std::snprintf(expected, sizeof(expected), "\"%llx-%llx-%llx\"",
                static_cast<unsigned long long>(st.st_size),
                static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1'000'000'000ull +
                    static_cast<unsigned long long>(st.st_mtim.tv_nsec),
                static_cast<unsigned long long>(st.st_ino));
  EXPECT_EQ(res->get_header_value("ETag"), expected);
}

TEST_F(RepoFilesTest, IfNoneMatchGives304) {
  StartServer();
  auto first = Client()->Get("/repo/targets/model.bin");
  ASSERT_TRUE(first);
  const std::string etag = first->get_header_value("ETag");
  for (const std::string& header : {etag, "W/" + etag, "\"other\", " + etag, std::string("*")}) {
    SCOPED_TRACE(header);
    auto res = Client()->Get("/repo/targets/model.bin", {{"If-None-Match", header}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 304);
    EXPECT_TRUE(res->body.empty());
    EXPECT_EQ(res->get_header_value("ETag"), etag);
    EXPECT_FALSE(res->has_header("Content-Length"));
  }
  auto head = Client()->Head("/repo/targets/model.bin", {{"If-None-Match", etag}});
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 304);
  auto stale = Client()->Get("/repo/targets/model.bin", {{"If-None-Match", "\"0-0-0\""}});
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 200);
  EXPECT_EQ(stale->body, model_);
}

TEST_F(RepoFilesTest, EtagChangesWhenTheFileIsReplaced) {
  StartServer();
  auto before = Client()->Get("/repo/timestamp.json");
  ASSERT_TRUE(before);
  // Published metadata is replaced by rename: new inode and size.
  ota::testing::WriteTestFile(Repo("timestamp.json.tmp"), "{\"signed\":{\"version\":40}}");
  std::filesystem::rename(Repo("timestamp.json.tmp"), Repo("timestamp.json"));
  auto after =
      Client()->Get("/repo/timestamp.json", {{"If-None-Match", before->get_header_value("ETag")}});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
  EXPECT_EQ(after->body, "{\"signed\":{\"version\":40}}");
  EXPECT_NE(after->get_header_value("ETag"), before->get_header_value("ETag"));
}

TEST_F(RepoFilesTest, IfRangeHonoursOnlyTheCurrentEtag) {
  StartServer();
  auto first = Client()->Get("/repo/targets/model.bin");
  ASSERT_TRUE(first);
  const std::string etag = first->get_header_value("ETag");
  auto resumed =
      Client()->Get("/repo/targets/model.bin", {{"Range", "bytes=100-"}, {"If-Range", etag}});
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->status, 206);
  EXPECT_EQ(resumed->body, model_.substr(100));
  for (const std::string& stale : {std::string("\"1-2-3\""), "W/" + etag}) {
    SCOPED_TRACE(stale);
    auto full =
        Client()->Get("/repo/targets/model.bin", {{"Range", "bytes=100-"}, {"If-Range", stale}});
    ASSERT_TRUE(full);
    EXPECT_EQ(full->status, 200);
    EXPECT_FALSE(full->has_header("Content-Range"));
    EXPECT_EQ(full->body, model_);
  }
}

TEST_F(RepoFilesTest, PathsOutsideTheRepositoryAreRejected) {
  ASSERT_EQ(::symlink("../../secret.txt", Repo("targets/escape").c_str()), 0);
  ASSERT_EQ(::symlink(tmp_.Sub("secret.txt").c_str(), Repo("absolute-escape").c_str()), 0);
  StartServer();
  struct Case {
    const char* path;
    int status;
  };
  for (const Case& c :
       {Case{"/repo/../secret.txt", 400}, Case{"/repo/targets/../../secret.txt", 400},
        Case{"/repo/%2e%2e/secret.txt", 400}, Case{"/repo/targets/%2E%2E/%2e%2E/secret.txt", 400},
        Case{"/repo/..%2fsecret.txt", 400},
        Case{"/repo/%2F"
             "etc/passwd",
             400},
        Case{"/repo//etc/passwd", 400}, Case{"/repo/./timestamp.json", 400},
        Case{"/repo/timestamp.json%00.bin", 400}, Case{"/repo/targets/", 400},
        Case{"/repo/targets/escape", 404}, Case{"/repo/absolute-escape", 404},
        Case{"/repo/targets", 404}, Case{"/repo/%252e%252e/secret.txt", 404},
        Case{"/repo/missing.json", 404}}) {
    SCOPED_TRACE(c.path);
    auto res = Client()->Get(c.path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, c.status);
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    EXPECT_EQ(res->body.find("TOP-SECRET"), std::string::npos);
  }
}

TEST_F(RepoFilesTest, SymlinkInsideTheRepositoryIsServed) {
  ASSERT_EQ(::symlink("model.bin", Repo("targets/alias.bin").c_str()), 0);
  StartServer();
  auto res = Client()->Get("/repo/targets/alias.bin");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, model_);
}

// Downloads through the product's own client, counting bytes that arrive.
Result<HttpResponse> Download(const std::string& url, std::uint64_t& received,
                              std::optional<std::uint64_t> range_start = std::nullopt) {
  auto client = MakeCurlHttpClient();
  HttpRequest req;
  req.url = url;
  req.range_start = range_start;
  received = 0;
  return client->Fetch(req, [&](std::span<const std::uint8_t> d) {
    received += d.size();
    return Ok();
  });
}

TEST_F(RepoFilesTest, FaultDropCutsOnlyTheFirstTargetDownloads) {
  ServerOptions options;
  options.fault_drop_after_bytes = 1000;
  options.fault_drop_count = 2;
  StartServer(options);
  std::uint64_t received = 0;
  // Metadata and HEAD requests neither get cut nor use up the count.
  auto meta = Download(Url("/repo/timestamp.json"), received);
  ASSERT_OK(meta);
  EXPECT_EQ(meta->status, 200);
  ASSERT_TRUE(Client()->Head("/repo/targets/model.bin"));

  auto first = Download(Url("/repo/targets/model.bin"), received);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, ErrorCode::kRetryLater);
  EXPECT_EQ(received, 1000u);

  auto resumed = Download(Url("/repo/targets/model.bin"), received, 5000);
  ASSERT_FALSE(resumed.ok());
  EXPECT_EQ(received, 1000u);  // The cut counts body bytes of the range.

  auto third = Download(Url("/repo/targets/model.bin"), received);
  ASSERT_OK(third);
  EXPECT_EQ(third->status, 200);
  EXPECT_EQ(received, kModelSize);
}

TEST_F(RepoFilesTest, WithoutFaultInjectionDownloadsComplete) {
  StartServer();
  std::uint64_t received = 0;
  auto res = Download(Url("/repo/targets/model.bin"), received, 4000);
  ASSERT_OK(res);
  EXPECT_EQ(res->status, 206);
  EXPECT_EQ(received, kModelSize - 4000);
}

}  // namespace
}  // namespace ota::server
