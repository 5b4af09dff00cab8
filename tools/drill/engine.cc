// The drill's event loop: device check-ins, controller passes and the
// operator's response, in simulated time.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <span>
#include <thread>

#include "agent_slots.h"
#include "drill.h"
#include "fleet.h"
#include "ota/agent/sessions.h"
#include "ota/common/filesystem.h"
#include "ota/manifest/rollout_manifest.h"
#include "ota/rollout/bucket.h"
#include "ota/rollout/controller.h"
#include "power_cut.h"
#include "sim_runtime.h"
#include "sim_storage.h"
#include "workers.h"

namespace ota::drill {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr char kRolloutId[] = "drill";

// The threads that run devices' check-ins side by side: as many as the
// machine has cores. One when the outcome would depend on which device's
// request reaches the server first: the network's truncated downloads hit
// whichever downloads come first. The real runtime runs one device at a
// time (llama.cpp uses every core itself).
unsigned DeviceThreads(const manifest::DrillScenario& s, const DrillOptions& o) {
  if (o.threads != 0) return o.threads;
  if (o.real_runtime || s.network.truncated_downloads > 0) return 1;
  return std::max(1U, std::thread::hardware_concurrency());
}

// `message` with file paths (words starting with '/') replaced by
// "<path>", so that the same error on many devices counts once.
std::string WithoutPaths(const std::string& message) {
  std::string out;
  bool in_path = false;
  for (std::size_t i = 0; i < message.size(); ++i) {
    const char c = message[i];
    if (in_path) {
      if (c != ' ' && c != ':' && c != ',' && c != ')') continue;
      in_path = false;
    } else if (c == '/' && (i == 0 || message[i - 1] == ' ' || message[i - 1] == '(')) {
      in_path = true;
      out += "<path>";
      continue;
    }
    out += c;
  }
  return out;
}

enum class Step { kDevice, kController, kRollback, kServerDown, kServerUp };

// A device's next check-in comes at least this long (simulated seconds)
// after its last, so the check-ins within one such slice are of different
// devices and run side by side.
constexpr std::int64_t kMinCheckInterval = 60;

struct Scheduled {
  std::int64_t t;
  std::uint64_t order;  // Ties: in the order scheduled.
  Step step;
  std::size_t device;
  bool operator>(const Scheduled& o) const { return t != o.t ? t > o.t : order > o.order; }
};

class DrillRun {
 public:
  DrillRun(const manifest::DrillScenario& s, const DrillOptions& o)
      : s_(s),
        o_(o),
        site_{o.work_dir, o.otactl, o.real_runtime, {}},
        start_(std::chrono::floor<seconds>(std::chrono::system_clock::now()) -
               seconds(s.duration_seconds + 4 * s.fleet.check_interval_seconds + 3600)),
        clock_(start_),
        jitter_(s.seed ^ 0x9e3779b97f4a7c15ULL),
        power_(s.seed ^ 0xc2b2ae3d27d4eb4fULL) {}

  Result<DrillReport> Run() {
    report_.scenario = s_.name;
    report_.devices = s_.fleet.devices;
    OTA_TRY(Prepare());
    Say("baseline: " + std::to_string(devices_.size()) + " devices install " +
        manifest::ToString(s_.from));
    OTA_TRY(Baseline());
    SetTime(0);
    if (s_.network.truncated_downloads > 0) OTA_TRY(RestartServer(/*truncate=*/true));
    OTA_TRY(PublishRelease(site_, s_.to, /*with_fault_variants=*/true));
    OTA_TRY(CreateRollout());
    Say("rollout of " + manifest::ToString(s_.to) + " created; playing " +
        std::to_string(s_.duration_seconds) + " s of simulated time");
    OTA_TRY(Play());
    Say("played " + std::to_string(report_.device_checks) + " check-ins; final flush");
    OTA_TRY(Finish());
    server_->Stop();
    return std::move(report_);
  }

 private:
  void Say(const std::string& line) const {
    if (o_.progress) o_.progress(line);
  }
  void SetTime(std::int64_t t) { clock_.Set(start_at_ + seconds(t)); }

  Status Prepare() {
    if (o_.real_runtime && s_.fleet.devices > kRealRuntimeMaxDevices) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "--real-runtime runs llama.cpp on every device: at most " +
                           std::to_string(kRealRuntimeMaxDevices) +
                           " devices, and fleet.devices is " + std::to_string(s_.fleet.devices));
    }
    OTA_ASSIGN_OR_RETURN(std::size_t budget, OpenAgentBudget(s_.fleet.devices));
    if (o_.max_open_agents != 0) budget = std::min(budget, o_.max_open_agents);
    slots_ = AgentSlots(budget);
    disk_ = MakePosixFileSystem();
    fs_ = MakeSimStorage(*disk_);
    http_ = MakeCurlHttpClient();
    workers_ = std::make_unique<Workers>(DeviceThreads(s_, o_));
    OTA_TRY(fs_->CreateDirs(site_.dir));
    OTA_ASSIGN_OR_RETURN(std::vector<std::string> entries, fs_->ListDir(site_.dir));
    if (!entries.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "the drill's work folder " + site_.dir + " is not empty");
    }
    auto policy = rollout::ParseControllerPolicy(s_.policy);
    if (!policy.ok()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "drill scenario: rollout.policy: " + policy.error().message);
    }
    Say("preparing the repository, keys and the releases " + manifest::ToString(s_.from) + " and " +
        manifest::ToString(s_.to));
    OTA_ASSIGN_OR_RETURN(auto digests, PrepareRepository(site_, s_));
    model_digests_ = digests;
    OTA_TRY(StartServer());
    Say("enrolling " + std::to_string(s_.fleet.devices) + " devices");
    return EnrollFleet();
  }

  // (Re)starts the server on its port; `truncate` cuts the network's first
  // downloads of signed targets (the release's, after the baseline).
  Status RestartServer(bool truncate) {
    if (!server_down_) server_->Stop();
    so_.port = port_;
    so_.fault_drop_count = truncate ? s_.network.truncated_downloads : 0;
    so_.fault_drop_after_bytes = s_.network.truncate_after_bytes;
    server_ = std::make_unique<server::Server>(so_);
    return server_->Start();
  }

  Status StartServer() {
    server::RepoPublisherOptions p;
    p.repo_dir = site_.Sub("repo");
    p.rollouts_key = site_.Key("rollouts");
    p.snapshot_key = site_.Key("snapshot");
    p.timestamp_key = site_.Key("timestamp");
    p.work_dir = site_.Sub("publish");
    OTA_ASSIGN_OR_RETURN(publisher_, server::MakeRepoPublisher(p));
    const std::string db = site_.Sub("server.db");
    OTA_ASSIGN_OR_RETURN(token_, server::CreateOperatorToken(db, "drill-operator"));
    OTA_ASSIGN_OR_RETURN(enroll_token_, server::CreateEnrollmentToken(db, {"drill-fleet", 0, 0}));
    so_.repo_dir = site_.Sub("repo");
    so_.db_path = db;
    so_.port = 0;
    so_.quiet = true;
    so_.clock = &clock_;
    so_.publisher = publisher_.get();
    so_.threads = std::max(2U, workers_->threads());
    so_.enroll_burst = static_cast<double>(s_.fleet.devices) + 10;
    server_ = std::make_unique<server::Server>(so_);
    OTA_TRY(server_->Start());
    port_ = server_->port();
    url_ = "http://127.0.0.1:" + std::to_string(port_);
    return Ok();
  }

  // Which group each device belongs to, and which faults hit it.
  void AssignGroupsAndFaults() {
    std::size_t next = 0;
    for (const manifest::DrillGroup& g : s_.fleet.groups) {
      const auto n = static_cast<std::size_t>(
          std::llround(static_cast<double>(s_.fleet.devices) * g.percent / 100.0));
      for (std::size_t i = 0; i < n && next < devices_.size(); ++i) devices_[next++].group = g.name;
    }
    std::mt19937_64 pick(s_.seed);
    for (const manifest::DrillFault& f : s_.faults) {
      std::vector<std::size_t> candidates;
      for (std::size_t i = 0; i < devices_.size(); ++i) {
        const bool in_groups = f.groups.empty() || std::find(f.groups.begin(), f.groups.end(),
                                                             devices_[i].group) != f.groups.end();
        if (in_groups) candidates.push_back(i);
      }
      std::shuffle(candidates.begin(), candidates.end(), pick);
      const auto n = static_cast<std::size_t>(
          std::ceil(static_cast<double>(candidates.size()) * f.percent / 100.0));
      for (std::size_t k = 0; k < n; ++k) {
        SimDevice& d = devices_[candidates[k]];
        d.shadow_fail |= f.kind == manifest::DrillFaultKind::kShadowFail;
        d.sessions_fail |= f.kind == manifest::DrillFaultKind::kSessionsFail;
        d.crash |= f.kind == manifest::DrillFaultKind::kCrashAfterActivation;
        d.load_fail |= f.kind == manifest::DrillFaultKind::kLoadFail;
        d.power_loss |= f.kind == manifest::DrillFaultKind::kPowerLoss;
      }
    }
  }

  Status EnrollFleet() {
    OTA_ASSIGN_OR_RETURN(std::string root,
                         fs_->ReadFile(site_.Sub("repo/metadata/root.json"), 1 << 20));
    devices_.resize(s_.fleet.devices);
    AssignGroupsAndFaults();
    std::map<std::string, const manifest::DrillGroup*> groups;
    for (const manifest::DrillGroup& g : s_.fleet.groups) groups[g.name] = &g;
    SetTime(-3 * static_cast<std::int64_t>(s_.fleet.check_interval_seconds));
    for (std::size_t i = 0; i < devices_.size(); ++i) {
      SimDevice& d = devices_[i];
      d.clock = std::make_unique<SimClock>(clock_.Now());
      d.random = std::make_unique<SeededRandom>(DeviceSeed(s_.seed, i));
      d.env = {d.clock.get(), d.random.get(), fs_.get(), &device_http_};
      d.state_dir = site_.Sub("devices/" + std::to_string(i));
    }
    return ForDevices(AllDevices(),
                      [&](std::size_t i) { return EnrollDevice(devices_[i], root, groups); });
  }

  std::vector<std::size_t> AllDevices() const {
    std::vector<std::size_t> all(devices_.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    return all;
  }

  // Runs fn(k) (a Status) for every position k of `ids` (device indices)
  // on the device threads, slots_.budget() devices at a time, with room made
  // for their agents; the first error by position, if any.
  template <typename Fn>
  Status ForDevices(const std::vector<std::size_t>& ids, Fn fn) {
    std::vector<Status> results(ids.size());
    for (std::size_t first = 0; first < ids.size(); first += slots_.budget()) {
      const std::size_t n = std::min(slots_.budget(), ids.size() - first);
      const std::span<const std::size_t> chunk(ids.data() + first, n);
      slots_.MakeRoom(devices_, chunk);
      workers_->Run(n, [&](std::size_t k) { results[first + k] = fn(first + k); });
      slots_.Used(devices_, chunk);
    }
    for (Status& r : results) OTA_TRY(std::move(r));
    return Ok();
  }

  // Opens a device's agent again after AgentSlots::MakeRoom closed it. As a command
  // (AgentAccess::kCommand), not as a start of the updating process: the
  // daemon the device plays never stopped, so no crash loop is counted.
  Status Awake(SimDevice& d) {
    if (d.agent || !d.dead.empty()) return Ok();
    agent::AgentOptions o = d.options;
    o.access = agent::AgentAccess::kCommand;
    OTA_ASSIGN_OR_RETURN(d.agent, agent::Agent::Open(d.env, o));
    return Ok();
  }

  Status EnrollDevice(SimDevice& d, const std::string& root,
                      const std::map<std::string, const manifest::DrillGroup*>& groups) {
    OTA_TRY(agent::Agent::Enroll(d.env,
                                 {d.state_dir, url_, root, {"chat"}, "", enroll_token_, "", {}}));
    json facts = d.group.empty() ? json::object() : GroupFacts(*groups.at(d.group));
    if (!site_.fault_variants.empty()) {
      // The variants of the new release this device takes: the real
      // runtime's faults, or the standard one.
      json accelerators = json::array();
      if (d.shadow_fail) accelerators.push_back(kShadowFailVariant);
      if (d.load_fail) accelerators.push_back(kLoadFailVariant);
      if (accelerators.empty()) accelerators.push_back(kStandardVariant);
      facts["accelerators"] = accelerators;
    }
    if (!facts.empty()) {
      OTA_TRY(WriteFileAtomic(*fs_, d.state_dir + "/device-facts.json", facts.dump(), 0644));
    }
    d.options.state_dir = d.state_dir;
    d.options.space_margin_bytes = 0;
    d.options.keep_versions = 2;
    if (!o_.real_runtime) {  // Else the agent's default registry: llama.cpp.
      SimBehaviour b;
      b.fs = fs_.get();
      if (d.shadow_fail) b.diverging.insert(model_digests_.second);
      if (d.load_fail) b.unloadable.insert(model_digests_.second);
      auto registry = std::make_shared<runtime_adapter::RuntimeRegistry>();
      OTA_TRY(registry->Register(MakeSimRuntime(std::move(b))));
      d.options.runtimes = registry;
    }
    // Long enough for the app's sessions (reported at each check-in) to decide.
    d.options.confirm_window = seconds(4 * s_.fleet.check_interval_seconds);
    return OpenAgent(d);
  }

  Status OpenAgent(SimDevice& d) {
    d.agent.reset();
    OTA_ASSIGN_OR_RETURN(d.agent, agent::Agent::Open(d.env, d.options));
    OTA_ASSIGN_OR_RETURN(agent::AgentStatus status, d.agent->GetStatus());
    d.device_id = status.device_id;
    return Ok();
  }

  Status Baseline() {
    std::vector<std::string> errors(devices_.size()), versions(devices_.size());
    OTA_TRY(ForDevices(AllDevices(), [&](std::size_t i) -> Status {
      SimDevice& d = devices_[i];
      OTA_TRY(Awake(d));
      OTA_ASSIGN_OR_RETURN(auto outcomes, d.agent->Update(nullptr));
      for (const agent::UpdateOutcome& o : outcomes) {
        if (o.error) errors[i] = o.error->message;
      }
      OTA_ASSIGN_OR_RETURN(versions[i], ActiveVersion(d));
      return Ok();
    }));
    for (std::size_t i = 0; i < devices_.size(); ++i) {
      SimDevice& d = devices_[i];
      Saw(d, -1, versions[i]);
      if (d.version != manifest::ToString(s_.from)) {
        return MakeError(ErrorCode::kInternal, "device " + d.device_id + " did not install " +
                                                   manifest::ToString(s_.from) + ": " + errors[i]);
      }
    }
    return Ok();
  }

  Status CreateRollout() {
    manifest::RolloutManifest m;
    m.rollout_id = kRolloutId;
    m.model = "chat";
    m.version = 1;
    m.target.bundle_version = s_.to;
    for (const manifest::DrillStage& st : s_.stages) {
      manifest::RolloutStage stage;
      stage.percent_hundredths = st.percent * 100;
      stage.min_soak_seconds = st.soak_seconds;
      m.stages.push_back(stage);
    }
    OTA_ASSIGN_OR_RETURN(json r, Api("POST", "/v1/rollouts",
                                     {{"manifest", manifest::ToJson(m)},
                                      {"policy", s_.policy},
                                      {"reason", "drill " + s_.name}}));
    (void)r;
    for (SimDevice& d : devices_) {
      d.bucket = rollout::CohortBucket(d.device_id, kRolloutId);
      d.in_canary = rollout::InStage(d.bucket, s_.stages.front().percent * 100);
    }
    return Ok();
  }

  Result<json> Api(const std::string& method, const std::string& path, const json& body) {
    HttpRequest req;
    req.method = method;
    req.url = url_ + path;
    req.headers = {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/json"}};
    if (!body.is_null()) req.body = body.dump();
    OTA_ASSIGN_OR_RETURN(HttpResponse r, http_->Fetch(req));
    if (r.status >= 300) {
      return MakeError(ErrorCode::kInvalidArgument,
                       method + " " + path + ": HTTP " + std::to_string(r.status) + " " + r.body);
    }
    return json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  }

  void Schedule(std::int64_t t, Step step, std::size_t device = 0) {
    queue_.push({t, order_++, step, device});
  }

  std::int64_t NextCheckIn() {
    const auto interval = static_cast<std::int64_t>(s_.fleet.check_interval_seconds);
    const auto jitter = static_cast<std::int64_t>(s_.fleet.jitter_seconds);
    std::int64_t offset = 0;
    if (jitter > 0)
      offset = std::uniform_int_distribution<std::int64_t>(-jitter / 2, jitter / 2)(jitter_);
    return std::max<std::int64_t>(kMinCheckInterval, interval + offset);
  }

  Status Play() {
    const auto interval = static_cast<std::int64_t>(s_.fleet.check_interval_seconds);
    for (std::size_t i = 0; i < devices_.size(); ++i) {
      Schedule(std::uniform_int_distribution<std::int64_t>(1, interval)(jitter_), Step::kDevice, i);
    }
    Schedule(static_cast<std::int64_t>(s_.controller_interval_seconds), Step::kController);
    for (const manifest::DrillOutage& o : s_.network.outages) {
      Schedule(static_cast<std::int64_t>(o.at_seconds), Step::kServerDown);
      Schedule(static_cast<std::int64_t>(o.at_seconds + o.duration_seconds), Step::kServerUp);
    }
    const auto end = static_cast<std::int64_t>(s_.duration_seconds);
    std::vector<Scheduled> batch;
    while (!queue_.empty() && !done_) {
      const Scheduled next = queue_.top();
      if (next.t > end) break;
      if (next.step == Step::kDevice && !PowerCutDue(devices_[next.device])) {
        // The check-ins of the next minute, up to the next other step, run
        // side by side (a power cut runs alone: it rehearses the cycle).
        batch.clear();
        while (!queue_.empty() && queue_.top().step == Step::kDevice &&
               queue_.top().t < next.t + kMinCheckInterval && queue_.top().t <= end &&
               !PowerCutDue(devices_[queue_.top().device])) {
          batch.push_back(queue_.top());
          queue_.pop();
        }
        OTA_TRY(CheckInSideBySide(batch));
        continue;
      }
      queue_.pop();
      SetTime(next.t);
      now_ = next.t;
      switch (next.step) {
        case Step::kDevice: {
          Visit v;
          OTA_TRY(ForDevices({next.device}, [&](std::size_t) {
            return VisitDevice(devices_[next.device], next.t, /*may_cut_power=*/true, v);
          }));
          Apply(devices_[next.device], next.t, v);
          Schedule(next.t + NextCheckIn(), Step::kDevice, next.device);
          break;
        }
        case Step::kController:
          OTA_TRY(ControllerPass());
          Schedule(next.t + static_cast<std::int64_t>(s_.controller_interval_seconds),
                   Step::kController);
          break;
        case Step::kRollback:
          if (server_down_) {
            pending_rollback_ = true;  // Ordered once the server is back.
          } else {
            OTA_TRY(OrderRollback());
          }
          break;
        case Step::kServerDown:
          server_->Stop();
          server_down_ = true;
          report_.marks.push_back({now_, "server down"});
          break;
        case Step::kServerUp:
          OTA_TRY(ServerUp());
          break;
      }
    }
    report_.simulated_seconds = now_;
    return Ok();
  }

  // What one device's check-in did, for Apply.
  struct Visit {
    bool checked = false;  // Its update cycle ran.
    bool cut = false;      // Its power was cut mid-update (counted by the cut).
    std::optional<std::vector<agent::UpdateOutcome>> outcomes;  // None: the cycle failed.
    std::string version;                                        // Active afterwards.
  };

  // Check-ins of different devices within one minute: each device runs at
  // its own time on the device threads; the server's clock shows the
  // minute's first check-in. What they did is then taken in queue order, so
  // the report and the next check-ins' jitter do not depend on the threads.
  Status CheckInSideBySide(const std::vector<Scheduled>& batch) {
    SetTime(batch.front().t);
    std::vector<Visit> visits(batch.size());
    std::vector<std::size_t> ids;
    for (const Scheduled& c : batch) ids.push_back(c.device);
    OTA_TRY(ForDevices(ids, [&](std::size_t k) {
      return VisitDevice(devices_[batch[k].device], batch[k].t, /*may_cut_power=*/false, visits[k]);
    }));
    for (std::size_t k = 0; k < batch.size(); ++k) {
      now_ = batch[k].t;
      Apply(devices_[batch[k].device], batch[k].t, visits[k]);
      Schedule(batch[k].t + NextCheckIn(), Step::kDevice, batch[k].device);
    }
    return Ok();
  }

  // The app's side between two check-ins, then the agent's update cycle (or,
  // when `may_cut_power` and the device is due, a power cut in it). Touches
  // only the device, so several run at once (never a power cut).
  Status VisitDevice(SimDevice& d, std::int64_t t, bool may_cut_power, Visit& v) {
    if (!d.dead.empty()) return Ok();  // Its agent does not start: it takes no part.
    d.clock->Set(start_at_ + seconds(t));
    OTA_TRY(Awake(d));
    const std::string to = manifest::ToString(s_.to);
    if (d.version == to && d.confirming) {
      if (d.crash) {
        // The app crash-loops: every start of the agent counts.
        for (int i = 0; i < 2; ++i) OTA_TRY(OpenAgent(d));
      } else {
        OTA_ASSIGN_OR_RETURN(auto log, agent::SessionLog::Open(d.state_dir, d.clock.get()));
        OTA_ASSIGN_OR_RETURN(agent::AgentStatus st, d.agent->GetStatus());
        const std::string id =
            st.active.empty() || !st.active[0].active ? "" : st.active[0].active->id;
        for (int i = 0; i < 3 && !id.empty(); ++i) {
          OTA_TRY(
              log->Report(id, !d.sessions_fail, d.sessions_fail ? "drill: session failed" : ""));
        }
      }
    }
    if (may_cut_power && PowerCutDue(d)) {
      OTA_ASSIGN_OR_RETURN(v.cut, CutPowerMidUpdate(d, t));
      if (v.cut) {
        if (!d.dead.empty()) return Ok();
        OTA_ASSIGN_OR_RETURN(v.version, ActiveVersion(d));
        return Ok();
      }
    }
    v.checked = true;
    auto outcomes = d.agent->Update(nullptr);
    if (outcomes.ok()) v.outcomes = std::move(*outcomes);
    // A cycle that failed as a whole (the server unreachable) is retried at
    // the next check-in, as the daemon does; Finish reports what stayed stuck.
    OTA_ASSIGN_OR_RETURN(v.version, ActiveVersion(d));
    return Ok();
  }

  // Takes what a device's check-in did into the report.
  void Apply(SimDevice& d, std::int64_t t, const Visit& v) {
    if (!d.dead.empty()) return;
    if (v.checked) ++report_.device_checks;
    const std::string to = manifest::ToString(s_.to);
    if (v.outcomes) {
      for (const agent::UpdateOutcome& o : *v.outcomes) {
        // What happened with the release in this cycle: switched to (and
        // perhaps rolled back within it), or stopped before the switch.
        if (o.to_version == to &&
            (o.confirming || o.kind == agent::UpdateOutcome::Kind::kUpdated)) {
          MarkExposed(d);
        }
        if (o.to_version == to && o.kind == agent::UpdateOutcome::Kind::kFailed) MarkFailure(t);
        d.bytes += o.bytes_fetched;
        d.confirming = o.confirming;
      }
    }
    Saw(d, t, v.version);
  }

  // A power-loss device whose update cycle may deploy now.
  bool PowerCutDue(const SimDevice& d) const {
    return d.power_loss && !d.power_cut && d.dead.empty() && MayDeploy(d);
  }

  // Whether the device may start a deployment now: the rollout still runs
  // and its current stage takes the device's bucket.
  bool MayDeploy(const SimDevice& d) const {
    if (report_.stopped_at || report_.rollback_at) return false;
    const std::size_t stage = std::min<std::size_t>(report_.max_stage, s_.stages.size() - 1);
    return rollout::InStage(d.bucket, s_.stages[stage].percent * 100);
  }

  // A power-loss device's check-in: when its update cycle deploys (as a
  // rehearsal on a copy of its state shows), the power is cut before one of
  // the cycle's mutating file operations (from the second to the last, drawn
  // from the seed), the unsynced writes are lost, and the device reboots.
  // False when the cycle would not deploy (the caller runs it as usual).
  Result<bool> CutPowerMidUpdate(SimDevice& d, std::int64_t t) {
    const auto before = d.clock->Now();
    OTA_ASSIGN_OR_RETURN(Rehearsal rehearsal,
                         RehearseUpdate(d.env, d.options, site_.Sub("rehearsal")));
    d.clock->Set(before);  // The rehearsal's waits take no time of the drill.
    if (!rehearsal.deploys || rehearsal.operations < 2) return false;
    DrillPowerCut cut;
    cut.device_id = d.device_id;
    cut.t = t;
    cut.operations = rehearsal.operations;
    cut.operation =
        std::uniform_int_distribution<std::uint64_t>(1, rehearsal.operations - 1)(power_);
    ++report_.device_checks;
    d.agent.reset();
    OTA_ASSIGN_OR_RETURN(PowerCutResult run, UpdateWithPowerCut(d.env, d.options, cut.operation,
                                                                d.state_dir + ".aside"));
    d.bytes += run.bytes_fetched;
    cut.mid_update = run.mid_update;
    auto after = VerifiedActiveVersion(*fs_, d.state_dir, "chat");
    cut.after_cut = after.ok() ? *after : "broken: " + after.error().message;
    d.power_cut = report_.power_cuts.size();
    report_.power_cuts.push_back(std::move(cut));
    if (o_.after_power_cut) o_.after_power_cut(d.state_dir);
    // The reboot: the agent starts again from its state folder. One that
    // does not is a finding of the drill, not the end of it.
    d.confirming = false;
    if (Status s = OpenAgent(d); !s.ok()) {
      d.agent.reset();
      d.dead = "does not start after its power cut: " + WithoutPaths(s.error().message);
      d.version.clear();
      ++report_.not_starting;
    }
    return true;
  }

  // The device's active version ("" none).
  static Result<std::string> ActiveVersion(SimDevice& d) {
    OTA_ASSIGN_OR_RETURN(agent::AgentStatus st, d.agent->GetStatus());
    return st.active.empty() || !st.active[0].active ? "" : st.active[0].active->version;
  }

  // The device runs `version` after a check-in at `t` (< 0: the baseline).
  void Saw(SimDevice& d, std::int64_t t, const std::string& version) {
    if (!d.dead.empty()) return;
    const std::string before = d.version;
    d.version = version;
    if (t < 0) return;
    const std::string from = manifest::ToString(s_.from), to = manifest::ToString(s_.to);
    if (d.version == to) MarkExposed(d);
    if (d.exposed && !d.back_at && d.version == from) {
      d.back_at = t;
      // Rolled back by the device itself (an order comes after a failure).
      if (before == to && !report_.rollback_at) MarkFailure(t);
    }
  }

  void MarkExposed(SimDevice& d) { d.exposed = true; }

  void MarkFailure(std::int64_t t) {
    if (!report_.first_failure_at) report_.first_failure_at = t;
  }

  Status ServerUp() {
    OTA_TRY(RestartServer(/*truncate=*/false));
    server_down_ = false;
    report_.marks.push_back({now_, "server up"});
    if (pending_rollback_) {
      pending_rollback_ = false;
      OTA_TRY(OrderRollback());
    }
    return Ok();
  }

  Status ControllerPass() {
    if (server_down_) {
      Sample();
      return Ok();
    }
    OTA_ASSIGN_OR_RETURN(int changed, server_->RunControllerOnce());
    (void)changed;
    OTA_ASSIGN_OR_RETURN(json st, Api("GET", std::string("/v1/rollouts/") + kRolloutId, nullptr));
    const std::string state = st.value("state", "");
    const auto stage = st.value("current_stage", static_cast<std::int64_t>(0));
    if (stage > static_cast<std::int64_t>(report_.max_stage)) {
      report_.max_stage = static_cast<std::uint64_t>(stage);
      report_.marks.push_back({now_, "stage " + std::to_string(stage)});
    }
    if ((state == "halted" || state == "paused") && !report_.stopped_at) {
      report_.stopped_at = now_;
      report_.stopped_state = state;
      report_.stopped_stage = stage;
      report_.marks.push_back({now_, state});
      if (s_.response.rollback_on_stop) {
        Schedule(now_ + static_cast<std::int64_t>(s_.response.reaction_seconds), Step::kRollback);
      }
    }
    Sample();
    done_ = Settled(stage);
    return Ok();
  }

  Status OrderRollback() {
    OTA_ASSIGN_OR_RETURN(
        json r, Api("POST", std::string("/v1/rollouts/") + kRolloutId + "/rollback",
                    {{"to_version", manifest::ToString(s_.from)},
                     {"reason", "drill " + s_.name + ": the controller stopped the rollout"}}));
    (void)r;
    report_.rollback_at = now_;
    report_.marks.push_back({now_, "rollback ordered"});
    return Ok();
  }

  void Sample() {
    DrillSample sample;
    sample.t = now_;
    const std::string from = manifest::ToString(s_.from), to = manifest::ToString(s_.to);
    for (const SimDevice& d : devices_) {
      if (d.version == from) {
        ++sample.on_from;
      } else if (d.version == to) {
        ++sample.on_to;
      } else {
        ++sample.other;
      }
    }
    report_.timeline.push_back(sample);
  }

  // Nothing more will change: everyone is back after a rollback order that
  // every device has seen, or the rollout reached everyone.
  bool Settled(std::int64_t stage) const {
    const auto settle =
        static_cast<std::int64_t>(s_.fleet.check_interval_seconds + s_.fleet.jitter_seconds);
    const DrillSample& last = report_.timeline.back();
    if (report_.rollback_at && now_ - *report_.rollback_at > settle) {
      return std::none_of(devices_.begin(), devices_.end(), [](const SimDevice& d) {
        return d.exposed && !d.back_at && d.dead.empty();
      });
    }
    if (report_.stopped_at && !s_.response.rollback_on_stop) {
      return now_ - *report_.stopped_at > 2 * settle;
    }
    return stage + 1 == static_cast<std::int64_t>(s_.stages.size()) &&
           last.on_to + report_.not_starting == devices_.size();
  }

  Status Finish() {
    if (server_down_) OTA_TRY(ServerUp());  // The final flush needs it.
    // Every device flushes its reports at the end, side by side.
    std::vector<agent::AgentStatus> ends(devices_.size());
    OTA_TRY(ForDevices(AllDevices(), [&](std::size_t i) -> Status {
      SimDevice& d = devices_[i];
      if (!d.dead.empty()) return Ok();
      d.clock->Set(start_at_ + seconds(now_));
      OTA_TRY(Awake(d));
      OTA_ASSIGN_OR_RETURN(int flushed, d.agent->FlushReports());
      (void)flushed;
      OTA_ASSIGN_OR_RETURN(ends[i], d.agent->GetStatus());
      return Ok();
    }));
    std::map<std::string, std::uint64_t> stuck;
    for (std::size_t i = 0; i < devices_.size(); ++i) {
      SimDevice& d = devices_[i];
      report_.bytes_total += d.bytes;
      report_.bytes_max = std::max(report_.bytes_max, d.bytes);
      if (d.exposed) {
        ++report_.exposed;
        if (!d.in_canary) ++report_.exposed_outside_canary;
        if (d.back_at && report_.rollback_at) {
          report_.back_after.push_back(
              std::max<std::int64_t>(0, *d.back_at - *report_.rollback_at));
        } else if (!d.back_at && report_.rollback_at) {
          ++report_.never_back;
        }
      }
      if (d.power_cut) CheckAfterPowerCut(d, report_.power_cuts[*d.power_cut]);
      if (!d.dead.empty()) {
        ++stuck[d.dead.substr(0, 200)];
        continue;
      }
      const agent::AgentStatus& st = ends[i];
      report_.reports_lost += static_cast<std::uint64_t>(st.pending_reports);
      if (d.version == manifest::ToString(s_.to)) ++report_.on_to_at_end;
      if (d.version == manifest::ToString(s_.from)) ++report_.on_from_at_end;
      // Its newest deployment, when that ended (or waits) with an error.
      const auto newest =
          std::max_element(st.recent_deployments.begin(), st.recent_deployments.end(),
                           [](const agent::DeploymentSummary& a,
                              const agent::DeploymentSummary& b) { return a.id < b.id; });
      if (newest != st.recent_deployments.end() && !newest->error.empty()) {
        ++stuck[newest->state + ": " + WithoutPaths(newest->error).substr(0, 160)];
      }
    }
    report_.stuck.assign(stuck.begin(), stuck.end());
    EvaluateExpectations(s_, report_);
    return Ok();
  }

  // At the end: a device whose power was cut runs a verified old or new
  // version (never a mix), as it did right after the cut, and its agent
  // says the same.
  void CheckAfterPowerCut(const SimDevice& d, DrillPowerCut& cut) {
    const std::string from = manifest::ToString(s_.from), to = manifest::ToString(s_.to);
    auto end = VerifiedActiveVersion(*fs_, d.state_dir, "chat");
    cut.at_end = end.ok() ? *end : "broken: " + end.error().message;
    if (!d.dead.empty()) cut.at_end = d.dead;  // Whatever its files say, it does not run.
    auto known = [&](const std::string& v) { return v == from || v == to; };
    cut.verified = known(cut.after_cut) && known(cut.at_end) && cut.at_end == d.version;
    if (cut.verified) ++report_.power_lost_verified;
  }

  const manifest::DrillScenario& s_;
  const DrillOptions& o_;
  DrillSite site_;
  std::chrono::system_clock::time_point start_;
  std::chrono::system_clock::time_point start_at_ =
      start_ + seconds(3 * s_.fleet.check_interval_seconds + 3600);
  SimClock clock_;
  std::mt19937_64 jitter_;
  std::mt19937_64 power_;  // Where each power cut falls.
  std::unique_ptr<FileSystem> disk_;
  std::unique_ptr<FileSystem> fs_;  // The devices' (simulated) storage, over disk_.
  std::unique_ptr<HttpClient> http_;
  PerThreadHttpClient device_http_;  // The devices' (they run on several threads).
  std::unique_ptr<Workers> workers_;
  AgentSlots slots_{1};  // Which devices' agents are open.
  std::pair<std::string, std::string> model_digests_;
  std::unique_ptr<server::RolloutPublisher> publisher_;
  server::ServerOptions so_;
  int port_ = 0;
  std::unique_ptr<server::Server> server_;
  bool server_down_ = false;
  bool pending_rollback_ = false;
  std::string url_, token_, enroll_token_;
  std::vector<SimDevice> devices_;
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<>> queue_;
  std::uint64_t order_ = 0;
  std::int64_t now_ = 0;
  bool done_ = false;
  DrillReport report_;
};

}  // namespace

Result<DrillReport> RunDrill(const manifest::DrillScenario& scenario, const DrillOptions& options) {
  DrillRun run(scenario, options);
  return run.Run();
}

}  // namespace ota::drill
