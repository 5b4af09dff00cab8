// audit_bench: the offline verifier on a large audit export (goal: at least
// 500,000 records/s on one core), with `sha256sum` of the same file in the
// same run as the floor any verifier reading those bytes pays, and the cost
// of writing the export.
//   audit_bench [--records N] [--checkpoint-every K] [--work DIR]
// Exit 1 if the goal is missed or the export does not verify.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "ota/common/env.h"
#include "ota/common/hash.h"
#include "ota/manifest/audit_log.h"
#include "ota/verifier/audit_verify.h"
#include "ota/verifier/keys.h"

namespace {

using Seconds = std::chrono::duration<double>;

double CpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// A device-event-like body of about 250 bytes.
std::string BodyOf(std::int64_t seq) {
  nlohmann::json body = {{"type", seq % 7 == 0 ? "activated" : "downloaded"},
                         {"time", "2026-12-06T12:00:00Z"},
                         {"model", "chat-small"},
                         {"version", "1.2." + std::to_string(seq % 50)},
                         {"target", "models/chat-small/1.2.0.bundle"},
                         {"deployment_id", seq / 10},
                         {"bytes", 123456789 + seq},
                         {"sha256", ota::Sha256Hex(std::to_string(seq))}};
  return ota::manifest::AuditBody(body).value();
}

int Run(int argc, char** argv) {
  std::int64_t records = 1000000;
  std::int64_t checkpoint_every = 1000;
  std::string work = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    if (name == "--records") records = std::atoll(argv[i + 1]);
    if (name == "--checkpoint-every") checkpoint_every = std::atoll(argv[i + 1]);
    if (name == "--work") work = argv[i + 1];
  }
  if (records < 1 || checkpoint_every < 1) {
    std::fprintf(stderr, "audit_bench: --records and --checkpoint-every must be >= 1\n");
    return 2;
  }
  auto random = ota::MakeSecureRandom();
  auto key = ota::verifier::GenerateEd25519Key(*random);
  if (!key.ok()) return 1;
  const std::string path = work + "/audit_bench.jsonl";

  // Write: links, checkpoint signatures and lines.
  const auto write_start = std::chrono::steady_clock::now();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    ota::manifest::AuditExportWriter writer(
        [&out](std::string_view line) -> ota::Status {
          out.write(line.data(), static_cast<std::streamsize>(line.size()));
          return out ? ota::Ok() : ota::MakeError(ota::ErrorCode::kIo, "write failed");
        },
        "server", "2026-12-06T12:00:00Z", nlohmann::json::object());
    std::string prev(ota::manifest::kAuditGenesis);
    for (std::int64_t seq = 1; seq <= records; ++seq) {
      const std::string body = BodyOf(seq);
      const std::string hash =
          ota::manifest::AuditLink(prev, seq, ota::manifest::AuditBodyDigest(body));
      if (!writer.Record("server", seq, prev, hash, body).ok()) return 1;
      if (seq % checkpoint_every == 0 || seq == records) {
        ota::manifest::AuditCheckpoint c{"server",   seq, hash, "2026-12-06T12:00:00Z",
                                         key->keyid, ""};
        c.signature =
            ota::verifier::SignBytes(*key, ota::manifest::AuditCheckpointSigningBytes(c)).value();
        if (!writer.Checkpoint(c).ok()) return 1;
      }
      prev = hash;
    }
    auto signer =
        [&](std::string_view bytes) -> ota::Result<ota::manifest::AuditExportWriter::Signature> {
      OTA_ASSIGN_OR_RETURN(std::string sig, ota::verifier::SignBytes(*key, bytes));
      return ota::manifest::AuditExportWriter::Signature{key->keyid, sig};
    };
    if (!writer.Finish("2026-12-06T12:00:00Z", signer).ok()) return 1;
  }
  const double write_s = Seconds(std::chrono::steady_clock::now() - write_start).count();
  std::ifstream size_probe(path, std::ios::binary | std::ios::ate);
  const double mib = static_cast<double>(size_probe.tellg()) / (1 << 20);

  // sha256sum of the same file (the file is in the page cache for both).
  const auto sum_start = std::chrono::steady_clock::now();
  const std::string command = "sha256sum '" + path + "' > /dev/null";
  if (std::system(command.c_str()) != 0) return 1;
  const double sum_s = Seconds(std::chrono::steady_clock::now() - sum_start).count();

  const auto verify_start = std::chrono::steady_clock::now();
  const double cpu_start = CpuSeconds();
  std::ifstream in(path, std::ios::binary);
  const auto result = ota::verifier::VerifyAuditExport(in, {key->public_key});
  const double verify_cpu = CpuSeconds() - cpu_start;
  const double verify_s = Seconds(std::chrono::steady_clock::now() - verify_start).count();
  std::remove(path.c_str());
  if (result.verdict != ota::verifier::AuditVerdict::kVerified ||
      result.records != static_cast<std::uint64_t>(records)) {
    std::fprintf(stderr, "audit_bench: the export did not verify: line %llu: %s\n",
                 static_cast<unsigned long long>(result.line), result.message.c_str());
    return 1;
  }
  const double rate = static_cast<double>(records) / verify_cpu;
  std::printf("audit export: %lld records, a checkpoint every %lld, %.0f MiB\n",
              static_cast<long long>(records), static_cast<long long>(checkpoint_every), mib);
  std::printf("%-34s %10s %12s %14s\n", "step", "wall s", "MiB/s", "records/s");
  std::printf("%-34s %10.2f %12.0f %14.0f\n", "write (links, signatures, lines)", write_s,
              mib / write_s, static_cast<double>(records) / write_s);
  std::printf("%-34s %10.2f %12.0f %14s\n", "sha256sum of the file (peer floor)", sum_s,
              mib / sum_s, "-");
  std::printf("%-34s %10.2f %12.0f %14.0f  (CPU %.2f s, one core)\n", "otactl audit verify",
              verify_s, mib / verify_s, rate, verify_cpu);
  std::printf("verify / sha256sum wall time: %.2fx\n", verify_s / sum_s);
  const bool met = rate >= 500000;
  std::printf("goal: verify >= 500,000 records/s on one core: %s\n", met ? "met" : "MISSED");
  return met ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
