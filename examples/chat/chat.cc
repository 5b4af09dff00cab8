// ota-chat: a small chat app on top of the agent's app API.
//
// For each prompt (from --prompt arguments, else one per stdin line) it
// leases the model's active version, loads the leased model file through the
// llama.cpp adapter (reusing the loaded model while the version stays the
// same), answers greedily, reports the session's outcome, and releases the
// lease. The agent may activate a new version at any time: the next answer
// uses it, the current one finishes on the version it started with.
//
// With --mirror, while the agent shadow-tests a candidate version with live
// mirroring, a sample of the (question, answer) pairs is replayed on the
// candidate in this process; only aggregate statistics reach the agent.
//
// Exit codes: 0 every prompt answered; 1 an answer failed; 2 usage error.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ota/agent/leases.h"
#include "ota/agent/mirror.h"
#include "ota/agent/sessions.h"
#include "ota/common/main_guard.h"
#include "ota/runtime_adapter/runtime.h"

namespace {

namespace rt = ota::runtime_adapter;

struct Loaded {
  std::string version_id;
  std::unique_ptr<rt::LoadedModel> model;
};

// Fills {{question}} in the bundle's first prompt template, if it has one.
std::string ApplyTemplate(const ota::agent::Lease& lease, const std::string& question) {
  for (const ota::agent::LeaseFile& f : lease.files()) {
    if (f.role != "prompt") continue;
    auto fs = ota::MakePosixFileSystem();
    auto text = fs->ReadFile(f.path, 64 << 10);
    if (!text.ok()) break;
    std::string out = *text;
    const std::string slot = "{{question}}";
    auto pos = out.find(slot);
    if (pos == std::string::npos) return out + question;
    return out.replace(pos, slot.size(), question);
  }
  return question;
}

ota::Result<std::string> Answer(rt::Runtime& runtime, Loaded& loaded,
                                const ota::agent::Lease& lease, const std::string& question,
                                int max_tokens) {
  if (!loaded.model || loaded.version_id != lease.version_id()) {
    loaded.model.reset();
    rt::ModelOpenOptions o;
    o.path = lease.model_path();
    o.context_length = 256;
    OTA_ASSIGN_OR_RETURN(loaded.model, runtime.Open(o));
    loaded.version_id = lease.version_id();
  }
  OTA_ASSIGN_OR_RETURN(auto tokens,
                       loaded.model->Tokenize(ApplyTemplate(lease, question), /*add_bos=*/true));
  const int room = loaded.model->Info().context_length - max_tokens - 1;
  if (room < 1) return ota::MakeError(ota::ErrorCode::kInvalidArgument, "--max-tokens too large");
  if (static_cast<int>(tokens.size()) > room) tokens.resize(static_cast<std::size_t>(room));
  OTA_ASSIGN_OR_RETURN(auto generated, loaded.model->Generate(tokens, max_tokens));
  return loaded.model->Detokenize(generated);
}

// Printable form of model output (synthesized models emit arbitrary bytes).
std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '.');
  return out;
}

int ChatMain(int argc, char** argv) {
  CLI::App app{"ota-chat: answers prompts with the active model, leasing it per answer"};
  std::string state_dir;
  std::string model = "chat";
  std::vector<std::string> prompts;
  int max_tokens = 16;
  app.add_option("--state-dir", state_dir, "The agent's state folder")->required();
  app.add_option("--model", model, "Model name");
  app.add_option("--prompt", prompts, "Prompt to answer (repeatable); default: stdin lines");
  app.add_option("--max-tokens", max_tokens, "Tokens per answer")->check(CLI::Range(1, 128));
  int hold_ms = 0;
  app.add_option("--hold-ms", hold_ms,
                 "Keep each answer's lease this many milliseconds after answering, as a long "
                 "session would (to watch the agent's drain)")
      ->check(CLI::Range(0, 600000));
  bool mirror_answers = false;
  app.add_flag("--mirror", mirror_answers,
               "Replay a sample of the answers on a candidate the agent is shadow-testing "
               "(texts stay in this process)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  ota::agent::LeaseOptions options;
  options.state_dir = state_dir;
  auto leases = ota::agent::LeaseManager::Open(options);
  if (!leases.ok()) {
    std::fprintf(stderr, "ota-chat: %s\n", leases.error().ToString().c_str());
    return 1;
  }
  auto sessions = ota::agent::SessionLog::Open(state_dir);
  if (!sessions.ok()) {
    std::fprintf(stderr, "ota-chat: %s\n", sessions.error().ToString().c_str());
    return 1;
  }
  auto runtime = rt::MakeLlamaRuntime();
  if (!runtime.ok()) {
    std::fprintf(stderr, "ota-chat: %s\n", runtime.error().ToString().c_str());
    return 1;
  }

  std::unique_ptr<ota::agent::MirrorClient> mirror;
  if (mirror_answers) {
    ota::agent::MirrorClientOptions mo;
    mo.state_dir = state_dir;
    mo.model = model;
    auto opened = ota::agent::MirrorClient::Open(mo);
    if (!opened.ok()) {
      std::fprintf(stderr, "ota-chat: --mirror: %s\n", opened.error().ToString().c_str());
      return 1;
    }
    mirror = std::move(*opened);
    if (auto s = mirror->Poll(); !s.ok()) {
      std::fprintf(stderr, "ota-chat: not mirroring: %s\n", s.error().ToString().c_str());
    }
  }

  Loaded loaded;
  int rc = 0;
  auto ask = [&](const std::string& question) {
    auto lease = (*leases)->Acquire(model);
    if (!lease.ok()) {
      std::fprintf(stderr, "ota-chat: %s\n", lease.error().ToString().c_str());
      rc = 1;
      return;
    }
    auto answer = Answer(**runtime, loaded, *lease, question, max_tokens);
    const std::string note = answer.ok() ? "" : answer.error().ToString();
    if (auto s = (*sessions)->Report(lease->version_id(), answer.ok(), note); !s.ok()) {
      std::fprintf(stderr, "ota-chat: session report: %s\n", s.error().ToString().c_str());
    }
    if (!answer.ok()) {
      std::fprintf(stderr, "ota-chat: %s %s: %s\n", model.c_str(), lease->version().c_str(),
                   note.c_str());
      rc = 1;
      return;
    }
    std::printf("[%s %s] %s\n", model.c_str(), lease->version().c_str(),
                Printable(*answer).c_str());
    std::fflush(stdout);
    if (mirror) mirror->Offer(question, *answer);
    if (hold_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
  };  // The lease ends here, after the answer.
  if (!prompts.empty()) {
    for (const std::string& p : prompts) ask(p);
  } else {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty()) ask(line);
    }
  }
  if (mirror) (void)mirror->Flush();  // The last replays count too.
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  return ota::RunGuardedMain("ota-chat", [&] { return ChatMain(argc, argv); });
}
