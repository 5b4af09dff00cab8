// Delegated targets roles (specification 5.6.7): the search order, the
// pattern and hash-prefix rules, the limits, and attacks on delegated
// metadata.
#include <gmock/gmock.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>

#include "delegation_fixture.h"
#include "ota/common/hash.h"
#include "ota/verifier/delegations.h"
#include "ota/verifier/updater.h"
#include "test_support.h"

namespace ota::verifier {
namespace {

using ota::testing::DelegationRepo;
using ota::testing::ReadTestFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Metadata requests for roles other than the top-level ones, in order.
std::vector<std::string> DelegatedRequests(const ota::testing::FileHttpClient& http) {
  std::vector<std::string> out;
  for (const std::string& r : http.requests()) {
    bool top = false;
    for (const char* name : {"root.json", "timestamp.json", "snapshot.json", "targets.json"}) {
      top = top || r.ends_with(name);
    }
    if (!top) out.push_back(r);
  }
  return out;
}

class DelegationTest : public ::testing::Test {
 protected:
  DelegationTest() : repo_(false) {}

  // Refreshes a new Updater and looks `path` up.
  Result<manifest::TargetFile> Lookup(const std::string& path, int max_delegations = 32) {
    UpdaterOptions options = repo_.f.Options();
    options.max_delegations = max_delegations;
    updater_ = std::make_unique<Updater>(repo_.f.env, options);
    Status refreshed = updater_->Refresh();
    if (!refreshed.ok()) return refreshed.error();
    repo_.f.http.ClearRequests();
    return updater_->GetTargetInfo(path);
  }

  void ExpectLookupError(const std::string& path, ErrorCode code, const std::string& message) {
    auto info = Lookup(path);
    ASSERT_FALSE(info.ok()) << "expected: " << message;
    EXPECT_EQ(info.error().code, code) << info.error().ToString();
    EXPECT_THAT(info.error().message, HasSubstr(message));
  }

  DelegationRepo repo_;
  std::unique_ptr<Updater> updater_;
};

TEST_F(DelegationTest, FindsTargetInDelegatedRoleAndPersistsIt) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("models", {"models/*"})});
  repo_.roles["models"].targets["models/chat.gguf"] = DelegationRepo::Target("weights");
  repo_.Publish();
  auto info = Lookup("models/chat.gguf");
  ASSERT_OK(info);
  EXPECT_EQ(info->length, 7u);
  EXPECT_EQ(info->hashes.at("sha256"), Sha256Hex("weights"));
  EXPECT_THAT(DelegatedRequests(repo_.f.http), ElementsAre("metadata/models.json"));
  HttpRequest request;
  request.url = std::string(ota::testing::RepoFixture::kBaseUrl) + "metadata/models.json";
  auto served = repo_.f.http.Fetch(request);
  ASSERT_OK(served);
  EXPECT_EQ(ReadTestFile(repo_.f.device_dir + "/models.json"), served->body);
}

TEST_F(DelegationTest, SecondUpdaterReusesTheLocalCopy) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("models", {"*"})});
  repo_.roles["models"].targets["a"] = DelegationRepo::Target("a");
  repo_.Publish();
  ASSERT_OK(Lookup("a"));
  ASSERT_OK(Lookup("a"));
  EXPECT_TRUE(DelegatedRequests(repo_.f.http).empty());
}

// A diamond: A and B both delegate "C", each with its own keys, and C is
// signed by the key A gives it. Reached through A, C's targets are trusted;
// reached through B they are not, even though C is already loaded from the
// lookup through A (the public conformance suite's
// test_cached_role_is_verified_against_current_delegator).
TEST_F(DelegationTest, ARoleTrustedThroughOneDelegatorIsCheckedAgainstTheNext) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"a/*"}), repo_.Role("B", {"b/*"})});
  repo_.roles["A"].delegations = repo_.Delegations({repo_.Role("C", {"a/*"})});
  const PrivateKey& other = repo_.KeyOf("C-as-B-sees-it");
  nlohmann::json via_b = repo_.Role("C", {"b/*"});
  via_b["keyids"] = {other.keyid};
  repo_.roles["B"].delegations = {{"keys", {{other.keyid, manifest::ToJson(other.public_key)}}},
                                  {"roles", {via_b}}};
  repo_.roles["C"].targets["a/x"] = DelegationRepo::Target("x");
  repo_.roles["C"].targets["b/y"] = DelegationRepo::Target("y");
  repo_.Publish();
  ASSERT_OK(Lookup("a/x"));
  auto through_b = updater_->GetTargetInfo("b/y");
  ASSERT_FALSE(through_b.ok()) << "C was trusted through B without B's keys";
  EXPECT_EQ(through_b.error().code, ErrorCode::kSecurity) << through_b.error().ToString();
  EXPECT_THAT(through_b.error().message, HasSubstr("does not verify through B"));
  // Through A it stays trusted in the same session.
  ASSERT_OK(updater_->GetTargetInfo("a/x"));
  // A new session reading the kept copy of C refuses it through B as well.
  auto fresh = Lookup("b/y");
  ASSERT_FALSE(fresh.ok());
  EXPECT_EQ(fresh.error().code, ErrorCode::kSecurity) << fresh.error().ToString();
}

TEST_F(DelegationTest, PreOrderDepthFirstAndEarlierRoleWins) {
  // targets -> A -> C, then B. C and B both list the path: C is visited first.
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"*"}), repo_.Role("B", {"*"})});
  repo_.roles["A"].delegations = repo_.Delegations({repo_.Role("C", {"*"})});
  repo_.roles["B"].targets["t"] = DelegationRepo::Target("from B");
  repo_.roles["C"].targets["t"] = DelegationRepo::Target("from C!");
  repo_.Publish();
  auto info = Lookup("t");
  ASSERT_OK(info);
  EXPECT_EQ(info->length, 7u);
  EXPECT_THAT(DelegatedRequests(repo_.f.http), ElementsAre("metadata/A.json", "metadata/C.json"));
}

TEST_F(DelegationTest, VisitsInListedOrderWhenNotFound) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"*"}), repo_.Role("B", {"*"})});
  repo_.roles["A"].delegations =
      repo_.Delegations({repo_.Role("C", {"*"}), repo_.Role("D", {"*"})});
  repo_.roles["B"];
  repo_.roles["C"];
  repo_.roles["D"];
  repo_.Publish();
  EXPECT_EQ(Lookup("t").error().code, ErrorCode::kNotFound);
  EXPECT_THAT(DelegatedRequests(repo_.f.http), ElementsAre("metadata/A.json", "metadata/C.json",
                                                           "metadata/D.json", "metadata/B.json"));
}

TEST_F(DelegationTest, TerminatingDelegationEndsTheSearch) {
  repo_.top_delegations =
      repo_.Delegations({repo_.Role("A", {"*"}, /*terminating=*/true), repo_.Role("B", {"*"})});
  repo_.roles["A"];
  repo_.roles["B"].targets["t"] = DelegationRepo::Target("b");
  repo_.Publish();
  EXPECT_EQ(Lookup("t").error().code, ErrorCode::kNotFound);
  EXPECT_THAT(DelegatedRequests(repo_.f.http), ElementsAre("metadata/A.json"));
}

TEST_F(DelegationTest, TerminatingInsideASubtreeAlsoSkipsLaterSiblingsOfItsParent) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"*"}), repo_.Role("B", {"*"})});
  repo_.roles["A"].delegations = repo_.Delegations({repo_.Role("C", {"*"}, true)});
  repo_.roles["B"].targets["t"] = DelegationRepo::Target("b");
  repo_.roles["C"];
  repo_.Publish();
  EXPECT_EQ(Lookup("t").error().code, ErrorCode::kNotFound);
  EXPECT_THAT(DelegatedRequests(repo_.f.http), ElementsAre("metadata/A.json", "metadata/C.json"));
}

TEST_F(DelegationTest, TerminatingDelegationThatDoesNotCoverThePathIsSkipped) {
  repo_.top_delegations = repo_.Delegations(
      {repo_.Role("A", {"other/*"}, /*terminating=*/true), repo_.Role("B", {"*"})});
  repo_.roles["A"];
  repo_.roles["B"].targets["t"] = DelegationRepo::Target("b");
  repo_.Publish();
  ASSERT_OK(Lookup("t"));
  EXPECT_THAT(DelegatedRequests(repo_.f.http), ElementsAre("metadata/B.json"));
}

TEST_F(DelegationTest, RoleOutsideItsPathsIsNeverAsked) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"models/*.gguf"})});
  repo_.roles["A"].targets["models/x/y.gguf"] = DelegationRepo::Target("y");
  repo_.Publish();
  // "*" does not cross '/': the role is not trusted for this path, even
  // though it lists it.
  EXPECT_EQ(Lookup("models/x/y.gguf").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(DelegatedRequests(repo_.f.http).empty());
}

TEST_F(DelegationTest, HashPrefixesSelectTheBin) {
  const std::string digest = Sha256Hex("t");
  const std::string other = digest[0] == '0' ? "1" : "0";
  repo_.top_delegations = repo_.Delegations(
      {repo_.HashRole("bin-other", {other}), repo_.HashRole("bin-t", {digest.substr(0, 2)})});
  repo_.roles["bin-other"].targets["t"] = DelegationRepo::Target("wrong bin");
  repo_.roles["bin-t"].targets["t"] = DelegationRepo::Target("t");
  repo_.Publish();
  auto info = Lookup("t");
  ASSERT_OK(info);
  EXPECT_EQ(info->length, 1u);
  EXPECT_THAT(DelegatedRequests(repo_.f.http), ElementsAre("metadata/bin-t.json"));
}

TEST_F(DelegationTest, CycleEndsWithEachRoleVisitedOnce) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"*"})});
  repo_.roles["A"].delegations = repo_.Delegations({repo_.Role("B", {"*"})});
  repo_.roles["B"].delegations = repo_.Delegations({repo_.Role("A", {"*"})});
  repo_.Publish();
  EXPECT_EQ(Lookup("t").error().code, ErrorCode::kNotFound);
  EXPECT_THAT(DelegatedRequests(repo_.f.http), ElementsAre("metadata/A.json", "metadata/B.json"));
}

TEST_F(DelegationTest, VisitLimitBoundsTheSearch) {
  // A chain targets -> r0 -> r1 -> ... -> r39; only r39 lists the target.
  repo_.top_delegations = repo_.Delegations({repo_.Role("r0", {"*"})});
  for (int i = 0; i < 40; ++i) {
    const std::string name = "r" + std::to_string(i);
    if (i < 39) {
      repo_.roles[name].delegations =
          repo_.Delegations({repo_.Role("r" + std::to_string(i + 1), {"*"})});
    } else {
      repo_.roles[name].targets["t"] = DelegationRepo::Target("deep");
    }
  }
  repo_.Publish();
  EXPECT_EQ(Lookup("t", 32).error().code, ErrorCode::kNotFound);
  // The top-level role counts: 31 delegated roles were visited.
  EXPECT_EQ(DelegatedRequests(repo_.f.http).size(), 31u);
  EXPECT_OK(Lookup("t", 41));
}

TEST_F(DelegationTest, DelegatedRoleWithBadSignatureIsRejected) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"*"})});
  repo_.roles["A"].targets["t"] = DelegationRepo::Target("t");
  repo_.roles["A"].signer = &repo_.f.targets_key;  // Not A's key.
  repo_.Publish();
  ExpectLookupError("t", ErrorCode::kSecurity, "A has 0 of 1 required signatures");
}

TEST_F(DelegationTest, ExpiredDelegatedRoleIsRejected) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"*"})});
  repo_.roles["A"].targets["t"] = DelegationRepo::Target("t");
  repo_.roles["A"].lifetime = std::chrono::hours(1);
  repo_.Publish();
  repo_.f.clock.Advance(std::chrono::hours(2));
  ExpectLookupError("t", ErrorCode::kSecurity, "A.json expired at");
}

TEST_F(DelegationTest, VersionMustMatchSnapshot) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"*"})});
  repo_.roles["A"].version = 1;
  repo_.roles["A"].listed_version = 2;
  repo_.Publish();
  ExpectLookupError("t", ErrorCode::kSecurity,
                    "A version 1 does not match version 2 in snapshot.json");
}

TEST_F(DelegationTest, HashMustMatchSnapshot) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"*"})});
  repo_.roles["A"].list_hash = true;
  repo_.roles["A"].wrong_hash = true;
  repo_.Publish();
  ExpectLookupError("t", ErrorCode::kIntegrity, "A.json hash does not match snapshot (sha256)");
}

TEST_F(DelegationTest, RoleMissingFromSnapshotIsRejected) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"*"})});
  repo_.Publish();
  ExpectLookupError("t", ErrorCode::kSecurity, "snapshot.json does not list A.json");
}

TEST_F(DelegationTest, RollbackAgainstTheLocalCopyIsRejected) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"*"})});
  repo_.roles["A"].version = 3;
  repo_.roles["A"].targets["t"] = DelegationRepo::Target("new");
  repo_.Publish();
  ASSERT_OK(Lookup("t"));
  // The repository goes back to A version 2, and the device has lost its
  // snapshot baseline (as after fast-forward recovery): the verified local
  // copy of A still holds the floor.
  repo_.roles["A"].version = 2;
  repo_.roles["A"].targets["t"] = DelegationRepo::Target("old");
  repo_.Publish();
  std::filesystem::remove(repo_.f.device_dir + "/snapshot.json");
  ExpectLookupError("t", ErrorCode::kSecurity,
                    "snapshot.json lists A.json version 2, lower than trusted version 3");
}

// Top-level targets delegating to 2^bits hash bins "bin-*" that all use the
// key of the role "bins".
nlohmann::json SuccinctDelegations(DelegationRepo& repo, int bits) {
  const PrivateKey& key = repo.KeyOf("bins");
  return {
      {"keys", {{key.keyid, manifest::ToJson(key.public_key)}}},
      {"succinct_roles",
       {{"keyids", {key.keyid}}, {"threshold", 1}, {"bit_length", bits}, {"name_prefix", "bin"}}}};
}

TEST_F(DelegationTest, SuccinctRolesVisitOnlyTheTargetsBin) {
  // SHA-256("too") starts with 0b10...: bin 2 of 4.
  repo_.top_delegations = SuccinctDelegations(repo_, 2);
  for (const char* bin : {"bin-0", "bin-1", "bin-2", "bin-3"}) {
    repo_.roles[bin].signer = &repo_.KeyOf("bins");
  }
  repo_.roles["bin-2"].targets["too"] = DelegationRepo::Target("in bin two");
  repo_.roles["bin-1"].targets["too"] = DelegationRepo::Target("wrong bin");
  repo_.Publish();
  auto info = Lookup("too");
  ASSERT_OK(info);
  EXPECT_EQ(info->hashes.at("sha256"), Sha256Hex("in bin two"));
  EXPECT_THAT(DelegatedRequests(repo_.f.http), ElementsAre(HasSubstr("bin-2.json")));
  EXPECT_TRUE(std::filesystem::exists(repo_.f.device_dir + "/bin-2.json"));

  // A path whose bin does not list it is not found; no other bin is tried.
  ExpectLookupError("boo", ErrorCode::kNotFound, "is not listed by any trusted targets role");
}

TEST_F(DelegationTest, SuccinctBinSignedByAnotherKeyIsRejected) {
  repo_.top_delegations = SuccinctDelegations(repo_, 1);
  // SHA-256("too") starts with bit 1: bin-1 of 2.
  repo_.roles["bin-0"].signer = &repo_.KeyOf("bins");
  repo_.roles["bin-1"].targets["too"] = DelegationRepo::Target("evil");  // Own key, not "bins".
  repo_.Publish();
  ExpectLookupError("too", ErrorCode::kSecurity, "bin-1 has 0 of 1 required signatures");
}

TEST(SuccinctRolesTest, BinOfAPathIsTheTopBitsOfItsDigest) {
  manifest::SuccinctRoles s;
  s.name_prefix = "bin";
  s.bit_length = 1;
  EXPECT_EQ(SuccinctRoleFor(s, "boo"), "bin-0");
  EXPECT_EQ(SuccinctRoleFor(s, "too"), "bin-1");
  s.bit_length = 2;
  EXPECT_EQ(SuccinctRoleFor(s, "foo"), "bin-0");
  EXPECT_EQ(SuccinctRoleFor(s, "doo"), "bin-1");
  EXPECT_EQ(SuccinctRoleFor(s, "too"), "bin-2");
  EXPECT_EQ(SuccinctRoleFor(s, "bar"), "bin-3");
  s.bit_length = 8;
  EXPECT_EQ(SuccinctRoleFor(s, "bar"), "bin-fc");
  // Width follows the largest bin: 9 bits need 3 hex digits.
  s.bit_length = 9;
  EXPECT_EQ(SuccinctRoleFor(s, "bar").size(), std::string("bin-").size() + 3);
  s.bit_length = 32;
  EXPECT_EQ(SuccinctRoleFor(s, "bar"), "bin-" + Sha256Hex("bar").substr(0, 8));
}

TEST(SuccinctRolesTest, OnlyWellFormedBinNamesBelong) {
  manifest::SuccinctRoles s;
  s.name_prefix = "bin";
  s.bit_length = 3;  // bin-0 .. bin-7, one digit.
  EXPECT_TRUE(IsSuccinctRole(s, "bin-0"));
  EXPECT_TRUE(IsSuccinctRole(s, "bin-7"));
  EXPECT_FALSE(IsSuccinctRole(s, "bin-8"));
  EXPECT_FALSE(IsSuccinctRole(s, "bin-00"));
  EXPECT_FALSE(IsSuccinctRole(s, "bin-A"));
  EXPECT_FALSE(IsSuccinctRole(s, "bin-"));
  EXPECT_FALSE(IsSuccinctRole(s, "bins-0"));
  EXPECT_FALSE(IsSuccinctRole(s, "other-0"));
}

TEST_F(DelegationTest, DelegatingToATopLevelNameMakesTargetsInvalid) {
  auto role = repo_.Role("snapshot", {"*"});
  repo_.top_delegations = repo_.Delegations({role});
  repo_.Publish();
  Updater updater(repo_.f.env, repo_.f.Options());
  Status s = updater.Refresh();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kIntegrity);
  EXPECT_THAT(s.error().message, HasSubstr("is a top-level role"));
}

class ConsistentDelegationTest : public ::testing::Test {
 protected:
  DelegationRepo repo_{true};
};

TEST_F(ConsistentDelegationTest, FetchesVersionedRoleFiles) {
  repo_.top_delegations = repo_.Delegations({repo_.Role("A", {"*"})});
  repo_.roles["A"].version = 4;
  repo_.roles["A"].targets["t"] = DelegationRepo::Target("t");
  repo_.Publish();
  Updater updater(repo_.f.env, repo_.f.Options());
  ASSERT_OK(updater.Refresh());
  ASSERT_OK(updater.GetTargetInfo("t"));
  EXPECT_TRUE(repo_.f.http.WasRequested("metadata/4.A.json"));
  EXPECT_FALSE(repo_.f.http.WasRequested("metadata/A.json"));
  EXPECT_TRUE(repo_.f.http.WasRequested("metadata/timestamp.json"));
  // Local files keep unversioned names.
  EXPECT_TRUE(std::filesystem::exists(repo_.f.device_dir + "/A.json"));
}

// Records raw URLs before handing requests to the folder-backed client.
class RecordingHttpClient : public HttpClient {
 public:
  explicit RecordingHttpClient(HttpClient& inner) : inner_(inner) {}
  Result<HttpResponse> Fetch(const HttpRequest& request, const HttpBodySink& sink) override {
    urls.push_back(request.url);
    return inner_.Fetch(request, sink);
  }
  using HttpClient::Fetch;
  std::vector<std::string> urls;

 private:
  HttpClient& inner_;
};

class UnusualRoleNameTest : public ::testing::TestWithParam<std::string> {};

TEST_P(UnusualRoleNameTest, IsEncodedInUrlsAndStaysInsideTheMetadataFolder) {
  const std::string role = GetParam();
  DelegationRepo repo(false);
  RecordingHttpClient recording(repo.f.http);
  repo.f.env.http = &recording;
  repo.top_delegations = repo.Delegations({repo.Role(role, {"*"})});
  repo.roles[role].targets["t"] = DelegationRepo::Target("t");
  repo.Publish();
  Updater updater(repo.f.env, repo.f.Options());
  ASSERT_OK(updater.Refresh());
  ASSERT_OK(updater.GetTargetInfo("t"));
  const std::string expected_url = std::string(ota::testing::RepoFixture::kBaseUrl) + "metadata/" +
                                   PercentEncode(role, false) + ".json";
  EXPECT_EQ(recording.urls.back(), expected_url);
  const std::string prefix = std::string(ota::testing::RepoFixture::kBaseUrl) + "metadata/";
  EXPECT_EQ(recording.urls.back().substr(prefix.size()).find('/'), std::string::npos)
      << "a '/' of the role name reached the URL";
  // Exactly the four top-level files and one file for the role, all inside.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(repo.f.device_dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> expected = {"root.json", "snapshot.json", "targets.json",
                                       "timestamp.json", RoleFileName(role)};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(names, expected);
  std::size_t outside = 0;
  for (const auto& e : std::filesystem::directory_iterator(repo.f.tmp.Sub("device"))) {
    (void)e;
    ++outside;
  }
  EXPECT_EQ(outside, 1u) << "only the metadata folder may exist next to it";
}

INSTANTIATE_TEST_SUITE_P(Names, UnusualRoleNameTest,
                         ::testing::Values("?", "#", "/delegatedrole", "../delegatedrole", "a b",
                                           "..", "x.json"));

TEST(RoleFileNameTest, TopLevelNamesArePlain) {
  EXPECT_EQ(RoleFileName("root"), "root.json");
  EXPECT_EQ(RoleFileName("timestamp"), "timestamp.json");
  EXPECT_EQ(RoleFileName("snapshot"), "snapshot.json");
  EXPECT_EQ(RoleFileName("targets"), "targets.json");
}

TEST(RoleFileNameTest, HostileNamesCannotEscapeOrCollide) {
  EXPECT_EQ(RoleFileName("../x"), "%2E%2E%2Fx.json");
  EXPECT_EQ(RoleFileName("/x"), "%2Fx.json");
  EXPECT_EQ(RoleFileName("?"), "%3F.json");
  EXPECT_EQ(RoleFileName("#"), "%23.json");
  EXPECT_EQ(RoleFileName("."), "%2E.json");
  EXPECT_EQ(RoleFileName(".."), "%2E%2E.json");
  EXPECT_EQ(RoleFileName(""), ".json");
  EXPECT_EQ(RoleFileName("A-b_9"), "A-b_9.json");
  const std::vector<std::string> names = {"",     ".",      "..",       "../x",     "/x",
                                          "?",    "#",      "%",        "%25",      "root.json",
                                          "root", "a.json", "a%2Ejson", "targets ", "é"};
  std::set<std::string> files;
  for (const std::string& n : names) {
    const std::string file = RoleFileName(n);
    EXPECT_EQ(file.find('/'), std::string::npos) << n;
    EXPECT_NE(file, ".") << n;
    EXPECT_NE(file, "..") << n;
    files.insert(file);
  }
  EXPECT_EQ(files.size(), names.size());
}

TEST(PathPatternTest, StarAndQuestionMarkStopAtSlashes) {
  EXPECT_TRUE(PathPatternMatches("*", "a.bin"));
  EXPECT_FALSE(PathPatternMatches("*", "dir/a.bin"));
  EXPECT_TRUE(PathPatternMatches("dir/*", "dir/a.bin"));
  EXPECT_FALSE(PathPatternMatches("dir/*", "dir/sub/a.bin"));
  EXPECT_TRUE(PathPatternMatches("*/*", "dir/a.bin"));
  EXPECT_TRUE(PathPatternMatches("*.gguf", "m.gguf"));
  EXPECT_FALSE(PathPatternMatches("*.gguf", "m.gguf.sig"));
  EXPECT_TRUE(PathPatternMatches("m?.bin", "m1.bin"));
  EXPECT_FALSE(PathPatternMatches("m?.bin", "m12.bin"));
  EXPECT_FALSE(PathPatternMatches("a?b", "a/b"));
  EXPECT_TRUE(PathPatternMatches("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(PathPatternMatches("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(PathPatternMatches("exact/path", "exact/path"));
  EXPECT_FALSE(PathPatternMatches("exact/path", "exact/path2"));
  EXPECT_FALSE(PathPatternMatches("exact", "xexact"));
  EXPECT_TRUE(PathPatternMatches("", ""));
  EXPECT_FALSE(PathPatternMatches("", "a"));
}

TEST(PathPatternTest, CharacterClassesAsInFnmatch) {
  EXPECT_TRUE(PathPatternMatches("[ab].bin", "a.bin"));
  EXPECT_TRUE(PathPatternMatches("[ab].bin", "b.bin"));
  EXPECT_FALSE(PathPatternMatches("[ab].bin", "c.bin"));
  EXPECT_FALSE(PathPatternMatches("[ab].bin", "[ab].bin"));
  EXPECT_TRUE(PathPatternMatches("v[0-9]/*", "v7/m.gguf"));
  EXPECT_FALSE(PathPatternMatches("v[0-9]/*", "vx/m.gguf"));
  EXPECT_TRUE(PathPatternMatches("v[!0-9]", "vx"));
  EXPECT_FALSE(PathPatternMatches("v[!0-9]", "v3"));
  // '^' is no negation (Python's fnmatch), only a member.
  EXPECT_TRUE(PathPatternMatches("[^a]", "^"));
  EXPECT_FALSE(PathPatternMatches("[^a]", "b"));
  // A ']' first in the class is a member; a trailing '-' is literal.
  EXPECT_TRUE(PathPatternMatches("[]x]", "]"));
  EXPECT_TRUE(PathPatternMatches("[!]]", "a"));
  EXPECT_FALSE(PathPatternMatches("[!]]", "]"));
  EXPECT_TRUE(PathPatternMatches("[a-]", "-"));
  // A class never matches '/', and an unclosed '[' is an ordinary character.
  EXPECT_FALSE(PathPatternMatches("a[/]b", "a/b"));
  EXPECT_TRUE(PathPatternMatches("[ab", "[ab"));
  EXPECT_FALSE(PathPatternMatches("[ab", "a"));
  // Classes combine with '*' backtracking.
  EXPECT_TRUE(PathPatternMatches("*[0-9].bin", "model-v12.bin"));
  EXPECT_FALSE(PathPatternMatches("*[0-9].bin", "model-vx.bin"));
}

TEST(PathPatternTest, HostilePatternStaysFast) {
  const std::string text(20000, 'a');
  std::string pattern;
  for (int i = 0; i < 200; ++i) pattern += "*a";
  pattern += "b";
  EXPECT_FALSE(PathPatternMatches(pattern, text));
  // Unclosed classes are literals and are not rescanned at every step.
  std::string brackets;
  for (int i = 0; i < 200; ++i) brackets += "*[a";
  brackets += "b";
  EXPECT_FALSE(PathPatternMatches(brackets, text));
}

TEST(DelegationCoversTest, PathsOrHashPrefixes) {
  manifest::DelegatedRole role;
  role.paths = std::vector<std::string>{"x/*", "y"};
  EXPECT_TRUE(DelegationCovers(role, "x/1"));
  EXPECT_TRUE(DelegationCovers(role, "y"));
  EXPECT_FALSE(DelegationCovers(role, "z"));
  manifest::DelegatedRole bins;
  const std::string digest = Sha256Hex("file.bin");
  bins.path_hash_prefixes = std::vector<std::string>{digest.substr(0, 3)};
  EXPECT_TRUE(DelegationCovers(bins, "file.bin"));
  bins.path_hash_prefixes = std::vector<std::string>{digest.substr(0, 3) == "000" ? "fff" : "000"};
  EXPECT_FALSE(DelegationCovers(bins, "file.bin"));
  manifest::DelegatedRole none;
  none.paths = std::vector<std::string>{};
  EXPECT_FALSE(DelegationCovers(none, "file.bin"));
}

}  // namespace
}  // namespace ota::verifier
