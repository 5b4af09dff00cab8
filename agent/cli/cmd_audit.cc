// ota-agent audit: print the event log and check its hash chain (read-only;
// exit 1 when the chain was altered); `audit export` writes it as a signed
// export file, `audit public-key` prints the key that verifies it, `audit
// prune` deletes delivered events behind a signed checkpoint.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "ota/common/filesystem.h"

namespace ota::agent::cli {
namespace {

void PrintJson(const AuditReport& report) {
  nlohmann::json j = {{"intact", report.intact},
                      {"checkpoints", report.checkpoints},
                      {"last_checkpoint", report.last_checkpoint},
                      {"events", nlohmann::json::array()}};
  if (!report.intact) j["problem"] = report.problem;
  for (const AuditEntry& e : report.entries) {
    auto body = nlohmann::json::parse(e.body, nullptr, /*allow_exceptions=*/false);
    j["events"].push_back({{"seq", e.seq},
                           {"chain", e.chain},
                           {"delivered", e.delivered},
                           {"event", body.is_discarded() ? nlohmann::json(e.body) : body}});
  }
  std::printf("%s\n", j.dump(2).c_str());
}

void PrintText(const AuditReport& report) {
  for (const AuditEntry& e : report.entries) {
    std::printf("%6lld %.12s %s %s\n", static_cast<long long>(e.seq),
                e.chain.empty() ? "(unchained) " : e.chain.c_str(),
                e.delivered ? "sent  " : "queued", e.body.c_str());
  }
  if (report.intact) {
    std::printf("chain intact: %zu events, head %s\n", report.entries.size(),
                report.entries.empty() ? "(none)" : report.entries.back().chain.c_str());
    std::printf("signed checkpoints: %lld, the newest at event %lld\n",
                static_cast<long long>(report.checkpoints),
                static_cast<long long>(report.last_checkpoint));
  }
}

int RunAudit(Agent& agent, bool json) {
  auto report = agent.Audit();
  if (!report.ok()) return Fail(report.error());
  if (json) {
    PrintJson(*report);
  } else {
    PrintText(*report);
  }
  if (!report->intact) {
    std::fprintf(stderr, "ota-agent: audit chain broken: %s\n", report->problem.c_str());
    return 1;
  }
  return 0;
}

struct ExportArgs {
  AuditExportOptions filters;
  std::string out;  // "": stdout.
};

int RunExport(Env& env, Agent& agent, const ExportArgs& args) {
  std::string file;
  AuditSink sink = [&](std::string_view line) -> Status {
    if (!args.out.empty()) {
      file.append(line);
      return Ok();
    }
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) {
      return MakeError(ErrorCode::kIo, "cannot write the export to stdout");
    }
    return Ok();
  };
  auto summary = agent.ExportAudit(args.filters, sink);
  if (!summary.ok()) return Fail(summary.error());
  if (!args.out.empty()) {
    // Whole or not at all: a temp file renamed over --out.
    if (Status s = WriteFileAtomic(*env.fs, args.out, file); !s.ok()) return Fail(s.error());
  }
  std::fflush(stdout);
  std::fprintf(stderr, "exported %llu records, %llu omitted, %llu checkpoints (head event %lld)\n",
               static_cast<unsigned long long>(summary->records),
               static_cast<unsigned long long>(summary->omitted),
               static_cast<unsigned long long>(summary->checkpoints),
               static_cast<long long>(summary->head_seq));
  return 0;
}

int RunPublicKey(Env& env, Agent& agent, const std::string& out) {
  auto key = agent.AuditPublicKey();
  if (!key.ok()) return Fail(key.error());
  if (out.empty()) {
    std::printf("%s", key->c_str());
    return 0;
  }
  if (Status s = WriteFileAtomic(*env.fs, out, *key); !s.ok()) return Fail(s.error());
  return 0;
}

struct PruneArgs {
  std::int64_t before = 0;
  std::int64_t keep = -1;
};

int RunPrune(Agent& agent, const PruneArgs& args) {
  if ((args.before > 0) == (args.keep >= 0)) {
    std::fprintf(stderr, "ota-agent: give --before SEQ or --keep N (one of them)\n");
    return 2;
  }
  std::int64_t before = args.before;
  if (args.keep >= 0) {
    auto report = agent.Audit();
    if (!report.ok()) return Fail(report.error());
    const std::int64_t last = report->entries.empty() ? 0 : report->entries.back().seq;
    before = last - args.keep + 1;
  }
  auto pruned = agent.PruneAudit(before);
  if (!pruned.ok()) return Fail(pruned.error());
  std::printf(
      "pruned events %lld to %lld (%lld records) behind their signed checkpoint; "
      "recorded as event %lld\n",
      static_cast<long long>(pruned->from), static_cast<long long>(pruned->to),
      static_cast<long long>(pruned->records), static_cast<long long>(pruned->record_seq));
  return 0;
}

void RegisterAuditSubcommands(CLI::App* audit, const GlobalOptions& global,
                              CommandRunner* selected) {
  auto exp = std::make_shared<ExportArgs>();
  auto* export_cmd = audit->add_subcommand(
      "export", "Write the audit log as a signed export (JSON Lines) for an auditor");
  export_cmd->add_option("--out", exp->out, "File to write (atomically); default stdout");
  export_cmd->add_option("--since", exp->filters.since, "Records at or after (RFC 3339 UTC)");
  export_cmd->add_option("--until", exp->filters.until, "Records before (RFC 3339 UTC)");
  export_cmd->add_option("--model", exp->filters.model, "Records of this model");
  export_cmd->callback([exp, &global, selected] {
    selected->run = OnAgent(global, AgentAccess::kCommand,
                            [exp](Env& env, Agent& agent) { return RunExport(env, agent, *exp); });
  });
  auto key_out = std::make_shared<std::string>();
  auto* key_cmd = audit->add_subcommand(
      "public-key", "Print the device's report key (TUF key JSON) that verifies its exports");
  key_cmd->add_option("--out", *key_out, "File to write; default stdout");
  key_cmd->callback([key_out, &global, selected] {
    selected->run = OnAgent(global, AgentAccess::kReadOnly, [key_out](Env& env, Agent& agent) {
      return RunPublicKey(env, agent, *key_out);
    });
  });
  auto prune = std::make_shared<PruneArgs>();
  auto* prune_cmd = audit->add_subcommand(
      "prune", "Delete delivered events behind a signed checkpoint (an audit-pruned record stays)");
  prune_cmd->add_option("--before", prune->before, "Prune events before this seq")
      ->check(CLI::PositiveNumber);
  prune_cmd->add_option("--keep", prune->keep, "Keep this many newest events")
      ->check(CLI::NonNegativeNumber);
  prune_cmd->callback([prune, &global, selected] {
    selected->run = OnAgent(global, AgentAccess::kCommand,
                            [prune](Env&, Agent& agent) { return RunPrune(agent, *prune); });
  });
}

}  // namespace

void RegisterAuditCommand(CLI::App& app, const GlobalOptions& global, CommandRunner* selected) {
  auto json = std::make_shared<bool>(false);
  auto* audit = app.add_subcommand(
      "audit", "Print the event log and check its hash chain (exit 1 if it was altered)");
  audit->add_flag("--json", *json, "Print JSON");
  RegisterAuditSubcommands(audit, global, selected);
  audit->callback([json, audit, &global, selected] {
    if (!audit->get_subcommands().empty()) return;  // export, public-key or prune.
    selected->run = OnAgent(global, AgentAccess::kReadOnly,
                            [json](Env&, Agent& agent) { return RunAudit(agent, *json); });
  });
}

}  // namespace ota::agent::cli
