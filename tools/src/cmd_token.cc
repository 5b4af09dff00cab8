// otactl token create|list|revoke: an administrator manages operator tokens
// through ota-server's API (docs/server-api.md, "Operator tokens"). Each
// change is recorded in the server's audit log under the caller's name.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "server_args.h"

namespace ota::tools {
namespace {

using nlohmann::json;

struct TokenArgs {
  OperatorServerArgs conn;
  std::string name;
  std::string role;
  long long expires_in_days = 90;
  std::string out_file;
  bool json_output = false;
};

int RunCreate(const TokenArgs& a) {
  // The secret's file is made (new, mode 0600) before the token exists, so
  // that a path that cannot be written never costs a token whose secret is
  // lost; it is removed again if the server refuses.
  std::FILE* out = nullptr;
  if (!a.out_file.empty()) {
    const int fd = ::open(a.out_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) out = ::fdopen(fd, "w");
    if (out == nullptr) {
      if (fd >= 0) ::close(fd);
      return Fail("cannot create " + a.out_file + " (it must not exist yet)");
    }
  }
  auto discard = [&] {
    if (out != nullptr) {
      std::fclose(out);
      ::unlink(a.out_file.c_str());
    }
  };
  const json body = {{"name", a.name}, {"role", a.role}, {"expires_in_days", a.expires_in_days}};
  int code = 0;
  auto answer = CallOperatorApi(a.conn, "POST", "/v1/tokens", &body, &code);
  if (!answer) {
    discard();
    return code;
  }
  if (!answer->contains("token") || !(*answer)["token"].is_string()) {
    discard();
    return Fail("the server's answer holds no token");
  }
  const std::string token = (*answer)["token"];
  if (out == nullptr) {
    std::printf("%s\n", token.c_str());
    return 0;
  }
  const bool written = std::fprintf(out, "%s\n", token.c_str()) > 0;
  if (std::fclose(out) != 0 || !written) {
    return Fail("cannot write " + a.out_file + "; revoke token " + a.name +
                " (otactl token revoke)");
  }
  std::printf("created token %s (role %s, expires %s); its secret is in %s\n", a.name.c_str(),
              a.role.c_str(), (*answer)["expires_at"].dump().c_str(), a.out_file.c_str());
  return 0;
}

int RunList(const TokenArgs& a) {
  int code = 0;
  auto answer = CallOperatorApi(a.conn, "GET", "/v1/tokens", nullptr, &code);
  if (!answer) return code;
  if (a.json_output) {
    std::printf("%s\n", answer->dump(2).c_str());
    return 0;
  }
  std::printf("%-24s %-16s %-12s %-12s %-24s %s\n", "name", "role", "created", "expires",
              "created by", "state");
  for (const json& t : answer->value("tokens", json::array())) {
    const std::string state = t.value("revoked", false)   ? "revoked"
                              : t.value("expired", false) ? "expired"
                                                          : "valid";
    const json expires = t.value("expires_at", json(nullptr));
    std::printf("%-24s %-16s %-12s %-12s %-24s %s\n", t.value("name", "?").c_str(),
                t.value("role", "?").c_str(), t.value("created_at", json(0)).dump().c_str(),
                expires.is_null() ? "never" : expires.dump().c_str(),
                t.value("created_by", "?").c_str(), state.c_str());
  }
  return 0;
}

int RunRevoke(const TokenArgs& a) {
  int code = 0;
  auto answer = CallOperatorApi(a.conn, "DELETE", "/v1/tokens/" + a.name, nullptr, &code);
  if (!answer) return code;
  std::printf("revoked token %s\n", a.name.c_str());
  return 0;
}

}  // namespace

void RegisterTokenCommands(CLI::App& app, CommandRunner* selected) {
  auto* token = app.add_subcommand(
      "token", "Manage operator tokens on ota-server (needs an administrator token)");
  token->require_subcommand(1);
  auto args = std::make_shared<TokenArgs>();

  auto* create = token->add_subcommand("create", "Create a token; its secret is shown once");
  AddOperatorServerOptions(*create, args->conn);
  create->add_option("--name", args->name, "Who holds it, [A-Za-z0-9._-]{1,64}")->required();
  create->add_option("--role", args->role, "viewer, release-manager, auditor or administrator")
      ->required()
      ->check(CLI::IsMember({"viewer", "release-manager", "auditor", "administrator"}));
  create->add_option("--expires-in-days", args->expires_in_days, "Lifetime in days")
      ->check(CLI::Range(1LL, 3650LL))
      ->capture_default_str();
  create->add_option("--out", args->out_file,
                     "Write the secret to this new file (mode 0600) instead of stdout");
  create->callback([args, selected] { *selected = [args] { return RunCreate(*args); }; });

  auto* list = token->add_subcommand("list", "List tokens: name, role, expiry (never secrets)");
  AddOperatorServerOptions(*list, args->conn);
  list->add_flag("--json", args->json_output, "Print the server's JSON answer");
  list->callback([args, selected] { *selected = [args] { return RunList(*args); }; });

  auto* revoke = token->add_subcommand("revoke", "Revoke a token at once");
  AddOperatorServerOptions(*revoke, args->conn);
  revoke->add_option("name", args->name, "Token name")->required();
  revoke->callback([args, selected] { *selected = [args] { return RunRevoke(*args); }; });
}

}  // namespace ota::tools
