#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "ota/common/filesystem.h"
#include "ota/common/hash.h"
#include "ota/common/result.h"
#include "ota/common/sqlite.h"
#include "ota/common/thread_priority.h"
#include "test_support.h"

namespace ota {
namespace {

using ota::testing::ReadTestFile;
using ota::testing::TempDir;

TEST(HashTest, KnownVectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha512Hex("").substr(0, 16), "cf83e1357eefb8bd");
  Hasher h(HashAlgorithm::kSha256);
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.FinishHex(), Sha256Hex("abc"));
}

TEST(HashTest, HexRoundTripAndRejects) {
  auto decoded = HexDecode("00ff10Ab");
  ASSERT_OK(decoded);
  EXPECT_EQ(HexEncode(*decoded), "00ff10ab");
  EXPECT_EQ(HexDecode("abc").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(HexDecode("zz").error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(IsLowerHex("00ff", 4));
  EXPECT_FALSE(IsLowerHex("00FF", 4));
  EXPECT_FALSE(IsLowerHex("00f", 4));
}

TEST(HashTest, HashFile) {
  TempDir dir;
  ota::testing::WriteTestFile(dir.Sub("f"), "abc");
  auto h = HashFileHex(dir.Sub("f"), HashAlgorithm::kSha256);
  ASSERT_OK(h);
  EXPECT_EQ(*h, Sha256Hex("abc"));
  EXPECT_EQ(HashFileHex(dir.Sub("missing"), HashAlgorithm::kSha256).error().code, ErrorCode::kIo);
}

TEST(FileSystemTest, AtomicWriteReplacesAndKeepsMode) {
  TempDir dir;
  auto fs = MakePosixFileSystem();
  const std::string path = dir.Sub("key");
  ASSERT_OK(WriteFileAtomic(*fs, path, "one", 0600));
  ASSERT_OK(WriteFileAtomic(*fs, path, "two", 0600));
  EXPECT_EQ(ReadTestFile(path), "two");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto names = fs->ListDir(dir.path());
  ASSERT_OK(names);
  EXPECT_EQ(*names, std::vector<std::string>{"key"});  // No temp file left behind.
}

TEST(FileSystemTest, AtomicWriteIntoMissingFolderFailsCleanly) {
  TempDir dir;
  auto fs = MakePosixFileSystem();
  Status s = WriteFileAtomic(*fs, dir.Sub("nope/file"), "x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
}

TEST(FileSystemTest, SymlinkSwitchIsAtomicReplace) {
  TempDir dir;
  auto fs = MakePosixFileSystem();
  ASSERT_OK(fs->CreateDirs(dir.Sub("a")));
  ASSERT_OK(fs->CreateDirs(dir.Sub("b")));
  ASSERT_OK(ReplaceSymlinkAtomic(*fs, "a", dir.Sub("current")));
  ASSERT_OK(ReplaceSymlinkAtomic(*fs, "b", dir.Sub("current")));
  auto target = fs->ReadSymlink(dir.Sub("current"));
  ASSERT_OK(target);
  EXPECT_EQ(*target, "b");
  auto names = fs->ListDir(dir.path());
  ASSERT_OK(names);
  EXPECT_EQ(names->size(), 3u);
}

TEST(FileSystemTest, ReadFileHonoursLimit) {
  TempDir dir;
  auto fs = MakePosixFileSystem();
  ota::testing::WriteTestFile(dir.Sub("f"), std::string(100, 'x'));
  EXPECT_OK(fs->ReadFile(dir.Sub("f"), 100));
  EXPECT_EQ(fs->ReadFile(dir.Sub("f"), 99).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(fs->ReadFile(dir.Sub("g"), 99).error().code, ErrorCode::kNotFound);
}

TEST(PathTest, JoinAndDirName) {
  EXPECT_EQ(JoinPath("a/", "/b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/c"), "/");
}

std::vector<Migration> TestMigrations() {
  return {{1, "CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER);"},
          {2, "ALTER TABLE t ADD COLUMN note TEXT;"}};
}

TEST(SqliteTest, MigratesOnceAndPersists) {
  TempDir dir;
  {
    auto db = Database::Open(dir.Sub("db"), TestMigrations());
    ASSERT_OK(db);
    EXPECT_EQ((*db)->SchemaVersion(), 2);
    auto ins = (*db)->Prepare("INSERT INTO t(k, v, note) VALUES (?, ?, ?)");
    ASSERT_OK(ins);
    ins->Bind(1, "a").Bind(2, std::int64_t{42}).BindNull(3);
    ASSERT_OK(ins->Run());
  }
  auto db = Database::Open(dir.Sub("db"), TestMigrations());
  ASSERT_OK(db);
  auto sel = (*db)->Prepare("SELECT v, note FROM t WHERE k = ?");
  ASSERT_OK(sel);
  sel->Bind(1, "a");
  auto row = sel->Step();
  ASSERT_OK(row);
  ASSERT_TRUE(*row);
  EXPECT_EQ(sel->ColumnInt(0), 42);
  EXPECT_TRUE(sel->ColumnIsNull(1));
}

TEST(SqliteTest, FailedTransactionRollsBack) {
  TempDir dir;
  auto db = Database::Open(dir.Sub("db"), TestMigrations());
  ASSERT_OK(db);
  Status s = InTransaction(**db, [&]() -> Status {
    OTA_TRY((*db)->Exec("INSERT INTO t(k, v) VALUES ('x', 1)"));
    return MakeError(ErrorCode::kInternal, "boom");
  });
  EXPECT_FALSE(s.ok());
  auto sel = (*db)->Prepare("SELECT COUNT(*) FROM t");
  ASSERT_OK(sel);
  ASSERT_TRUE(*sel->Step());
  EXPECT_EQ(sel->ColumnInt(0), 0);
}

TEST(SqliteTest, ADatabaseOnStorageThatIsNotDurableSkipsItsSyncs) {
  TempDir dir;
  auto synchronous = [](Database& db) {
    auto q = db.Prepare("PRAGMA synchronous");
    EXPECT_TRUE(q.ok());
    if (!q.ok()) return std::int64_t{-1};
    auto row = q->Step();
    EXPECT_TRUE(row.ok() && *row);
    return q->ColumnInt(0);
  };
  auto durable = Database::Open(dir.Sub("durable"), TestMigrations());
  ASSERT_OK(durable);
  EXPECT_EQ(synchronous(**durable), 2);  // FULL
  auto simulated = Database::Open(dir.Sub("simulated"), TestMigrations(), /*durable=*/false);
  ASSERT_OK(simulated);
  EXPECT_EQ(synchronous(**simulated), 0);  // OFF
}

TEST(SqliteTest, RefusesNewerSchemaAndGarbageFile) {
  TempDir dir;
  {
    auto db = Database::Open(dir.Sub("db"), TestMigrations());
    ASSERT_OK(db);
  }
  auto older = Database::Open(dir.Sub("db"), {{1, "CREATE TABLE t(k TEXT);"}});
  ASSERT_FALSE(older.ok());
  EXPECT_EQ(older.error().code, ErrorCode::kRestartDeployment);

  ota::testing::WriteTestFile(dir.Sub("junk"), std::string(4096, 'j'));
  auto junk = Database::Open(dir.Sub("junk"), TestMigrations());
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.error().code, ErrorCode::kRestartDeployment);
}

// A statement prepared again comes from the connection's cache, reset and
// without its old bindings; two in use at once are independent; one that
// outlives its database is harmless.
TEST(SqliteTest, StatementsPreparedAgainAreReusedResetAndIndependent) {
  TempDir dir;
  auto db = Database::Open(dir.Sub("db"), TestMigrations());
  ASSERT_OK(db);
  for (const char* k : {"a", "b", "c"}) {
    auto ins = (*db)->Prepare("INSERT INTO t(k, v) VALUES (?, ?)");
    ASSERT_OK(ins);
    ins->Bind(1, k).Bind(2, std::int64_t{k[0]});
    ASSERT_OK(ins->Run());
  }
  const std::uint64_t compiled = StatementsCompiled(**db);
  const std::string select = "SELECT k FROM t WHERE v >= ? ORDER BY k";
  {
    auto first = (*db)->Prepare(select);
    ASSERT_OK(first);
    first->Bind(1, std::int64_t{'b'});
    ASSERT_TRUE(*first->Step());
    EXPECT_EQ(first->ColumnText(0), "b");
    // The same SQL while the first is mid-way: a statement of its own.
    auto second = (*db)->Prepare(select);
    ASSERT_OK(second);
    second->Bind(1, std::int64_t{'a'});
    ASSERT_TRUE(*second->Step());
    EXPECT_EQ(second->ColumnText(0), "a");
    ASSERT_TRUE(*first->Step());
    EXPECT_EQ(first->ColumnText(0), "c");
  }
  EXPECT_EQ(StatementsCompiled(**db), compiled + 2);
  // Back from the cache: from its first row, and its parameter unbound.
  auto again = (*db)->Prepare(select);
  ASSERT_OK(again);
  EXPECT_EQ(StatementsCompiled(**db), compiled + 2) << "not compiled again";
  EXPECT_FALSE(*again->Step()) << "its old binding is gone: no row is >= NULL";
  again->Reset();
  again->Bind(1, std::int64_t{0});
  ASSERT_TRUE(*again->Step());
  EXPECT_EQ(again->ColumnText(0), "a");
  // A statement that outlives its database is finalized, not returned.
  db->reset();
  again->Reset();
}

// All pending migrations apply in one transaction: one that fails leaves
// the database as it was, the earlier ones included.
TEST(SqliteTest, AFailedMigrationLeavesTheSchemaAsItWas) {
  TempDir dir;
  std::vector<Migration> broken = TestMigrations();
  broken.push_back({3, "CREATE TABLE u(x); THIS IS NOT SQL;"});
  auto failed = Database::Open(dir.Sub("db"), broken);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("migration 3 of "), std::string::npos)
      << failed.error().message;
  auto db = Database::Open(dir.Sub("db"), {});
  ASSERT_OK(db);
  EXPECT_EQ((*db)->SchemaVersion(), 0);
  auto tables = (*db)->Prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'");
  ASSERT_OK(tables);
  ASSERT_TRUE(*tables->Step());
  EXPECT_EQ(tables->ColumnInt(0), 0);
}

TEST(SqliteTest, PrepareErrorIsAValue) {
  TempDir dir;
  auto db = Database::Open(dir.Sub("db"), TestMigrations());
  ASSERT_OK(db);
  auto bad = (*db)->Prepare("SELEC nonsense");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("cannot prepare"), std::string::npos);
}

}  // namespace
}  // namespace ota

namespace ota {
namespace {

// Background work lowers only its own thread: the caller keeps its priority.
TEST(ThreadPriorityTest, LowersOnlyTheCallingThread) {
  const auto main_tid = static_cast<id_t>(::syscall(SYS_gettid));
  errno = 0;
  const int main_nice = ::getpriority(PRIO_PROCESS, main_tid);
  int policy_in_thread = -1;
  int nice_in_thread = 0;
  std::string applied;
  std::thread worker([&] {
    applied = LowerThisThreadPriority();
    policy_in_thread = ::sched_getscheduler(0);
    nice_in_thread = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)));
  });
  worker.join();
  if (applied == "idle") {
    EXPECT_EQ(policy_in_thread, SCHED_IDLE);
  } else {
    ASSERT_EQ(applied, "nice 19");
    EXPECT_EQ(nice_in_thread, 19);
  }
  EXPECT_NE(::sched_getscheduler(0), SCHED_IDLE);
  EXPECT_EQ(::getpriority(PRIO_PROCESS, main_tid), main_nice);
}

}  // namespace
}  // namespace ota
