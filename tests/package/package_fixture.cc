// package-fixture PREFIX: a signed repository and a fleet server on loopback,
// made with the programs installed in PREFIX (PREFIX/bin/otactl and
// PREFIX/bin/ota-server), for the installed-package test
// (tests/package/package_test.sh).
//
// Publishes chat 1.0.0, starts the server on an ephemeral port and prints
// `key=value` lines, then `ready`:
//   url=http://127.0.0.1:PORT   root=<root.json>   token_file=<enrollment token>
//   state=<an empty device folder>   id=<1.0.0's bundle SHA-256>   version=1.0.0
// Each line `next` read from stdin publishes the next minor version and prints
// its id= and version= lines, then `ready`. At the end of stdin the server
// stops and every file goes.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "ota/common/hash.h"
#include "test_support.h"

namespace {

using ota::testing::ChildProcess;
using ota::testing::CommandResult;
using ota::testing::RunCommand;
using ota::testing::TempDir;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "package-fixture: %s\n", message.c_str());
  std::exit(1);
}

class Fixture {
 public:
  explicit Fixture(std::string prefix) : bin_(std::move(prefix) + "/bin/") {}

  // Keys, an initialised repository and a prompt file for bundles.
  void InitRepository() {
    for (const char* role : {"root", "targets", "snapshot", "timestamp"}) {
      Run("otactl", {"keygen", "--out", Key(role)});
    }
    Run("otactl",
        {"repo", "init", "--repo", dir_.Sub("repo"), "--root-key", Key("root"), "--targets-key",
         Key("targets"), "--snapshot-key", Key("snapshot"), "--timestamp-key", Key("timestamp")});
    ota::testing::WriteTestFile(dir_.Sub("prompts/chat.txt"), "Answer briefly: {{q}}\n");
  }

  // Builds chat `version` from a synthesized model (`seed` picks its
  // weights), publishes it and returns its bundle's SHA-256.
  std::string Publish(const std::string& version, int seed) {
    const std::string model = dir_.Sub("model-" + version + ".gguf");
    const std::string bundle = dir_.Sub("chat-" + version + ".otab");
    Run("otactl", {"model", "synth", "--seed", std::to_string(seed), "--type", "f16", "--layers",
                   "2", "--width", "64", "--out", model});
    Run("otactl", {"bundle", "build", "--name", "chat", "--version", version, "--model", model,
                   "--prompts", dir_.Sub("prompts"), "--out", bundle});
    Run("otactl",
        {"publish", "--repo", dir_.Sub("repo"), "--bundle", bundle, "--targets-key", Key("targets"),
         "--snapshot-key", Key("snapshot"), "--timestamp-key", Key("timestamp")});
    auto id = ota::HashFileHex(bundle, ota::HashAlgorithm::kSha256);
    if (!id.ok()) Die("cannot hash " + bundle + ": " + id.error().message);
    return *id;
  }

  // Starts the server; returns its URL.
  std::string StartServer() {
    const std::string db = dir_.Sub("server.db");
    CommandResult token =
        Run("ota-server", {"enrollment-token", "create", "--db", db, "--name", "package-test"});
    while (!token.out.empty() && token.out.back() == '\n') token.out.pop_back();
    ota::testing::WriteTestFile(TokenFile(), token.out + "\n");
    const std::string line = server_.Start(
        {bin_ + "ota-server", "--repo", dir_.Sub("repo"), "--port", "0", "--db", db, "--quiet"});
    const auto pos = line.find("http://");
    if (pos == std::string::npos) Die("ota-server did not start: " + line);
    return line.substr(pos);
  }

  std::string Sub(const std::string& name) const { return dir_.Sub(name); }
  std::string TokenFile() const { return dir_.Sub("enrollment.token"); }

 private:
  std::string Key(const std::string& role) const { return dir_.Sub("keys/" + role + ".key"); }

  CommandResult Run(const std::string& program, std::vector<std::string> args) {
    args.insert(args.begin(), bin_ + program);
    CommandResult r = RunCommand(args);
    if (r.exit_code != 0) {
      Die(program + " " + args[1] + " exited " + std::to_string(r.exit_code) + ": " + r.err);
    }
    return r;
  }

  std::string bin_;
  TempDir dir_;
  ChildProcess server_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) Die("usage: package-fixture PREFIX");
  Fixture fixture(argv[1]);
  fixture.InitRepository();
  int minor = 0;
  const std::string first_id = fixture.Publish("1.0.0", 1);
  std::cout << "url=" << fixture.StartServer() << "\n"
            << "root=" << fixture.Sub("repo/metadata/root.json") << "\n"
            << "token_file=" << fixture.TokenFile() << "\n"
            << "state=" << fixture.Sub("device") << "\n"
            << "id=" << first_id << "\nversion=1.0.0\nready" << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line != "next") Die("unknown request: " + line);
    const std::string version = "1." + std::to_string(++minor) + ".0";
    const std::string id = fixture.Publish(version, 1 + minor);
    std::cout << "id=" << id << "\nversion=" << version << "\nready" << std::endl;
  }
  return 0;
}
