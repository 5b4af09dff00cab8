#include "device_chain.h"

#include <algorithm>

#include "ota/common/hash.h"
#include "ota/common/hex.h"
#include "ota/manifest/audit_log.h"
#include "ota/verifier/keys.h"

namespace ota::server {
namespace {

std::string ChainEventText(std::int64_t seq) { return "event " + std::to_string(seq); }

DeviceChainNote ChainAlert(std::int64_t seq, std::string kind, std::string problem) {
  return DeviceChainNote{true, seq, std::move(kind), std::move(problem), ""};
}

}  // namespace

bool EventLinkMatches(const Event& e, const std::string& prev, int* link_version) {
  if (!e.body_digest.empty() && manifest::AuditLink(prev, e.seq, e.body_digest) == e.chain) {
    *link_version = 2;
    return true;
  }
  if (manifest::AuditLinkV1(prev, e.seq, e.v1_body) == e.chain) {
    *link_version = 1;
    return true;
  }
  return false;
}

std::vector<DeviceChainNote> CheckDeviceChain(
    DeviceChainState& st, const std::vector<Event>& events,
    const std::function<std::optional<std::string>(std::int64_t)>& stored_chain) {
  std::vector<const Event*> order;
  order.reserve(events.size());
  for (const Event& e : events) order.push_back(&e);
  if (!std::is_sorted(order.begin(), order.end(),
                      [](const Event* a, const Event* b) { return a->seq < b->seq; })) {
    std::stable_sort(order.begin(), order.end(),
                     [](const Event* a, const Event* b) { return a->seq < b->seq; });
  }
  std::vector<DeviceChainNote> notes;
  const std::string genesis(manifest::kAuditGenesis);
  int version = 0;
  for (const Event* e : order) {
    if (e->chain.empty()) {
      // Events written before the device had a chain carry none; after its
      // first chained event every new one must.
      if (st.known && e->seq > st.last_seq) {
        notes.push_back(ChainAlert(e->seq, "unlinked",
                                   ChainEventText(e->seq) + " has no chain link after " +
                                       ChainEventText(st.last_seq) + " had one"));
      }
      continue;
    }
    if (!st.known) {
      st.known = true;
      st.anchor_link = genesis;
      st.anchor_seq = e->seq;
      if (!EventLinkMatches(*e, genesis, &version)) {
        if (e->seq == 1) {
          notes.push_back(ChainAlert(1, "edited",
                                     "event 1 does not match its chain link from the genesis "
                                     "link (edited)"));
        } else {
          // The device's log started before this server heard of it: its
          // chain is trusted from this event on (first use).
          st.anchor_seq = e->seq + 1;
          st.anchor_link = e->chain;
          notes.push_back(DeviceChainNote{false, e->seq, "anchored",
                                          "chain anchored at " + ChainEventText(e->seq) +
                                              ", the first event received (trust on first use)",
                                          ""});
        }
      }
    } else if (e->seq <= st.last_seq) {
      auto stored = stored_chain(e->seq);
      if (stored && *stored != e->chain) {
        DeviceChainNote fork = ChainAlert(
            e->seq, "fork",
            ChainEventText(e->seq) + " was received again with another chain link (a forked log)");
        fork.event = e->json;
        notes.push_back(std::move(fork));
      }
      continue;
    } else if (e->seq > st.last_seq + 1) {
      notes.push_back(ChainAlert(e->seq, "gap",
                                 "events " + std::to_string(st.last_seq + 1) + " to " +
                                     std::to_string(e->seq - 1) + " are missing before " +
                                     ChainEventText(e->seq)));
    } else if (!EventLinkMatches(*e, st.last_link, &version)) {
      notes.push_back(ChainAlert(e->seq, "edited",
                                 ChainEventText(e->seq) + " does not match its chain link from " +
                                     ChainEventText(st.last_seq) + " (edited or replaced)"));
    }
    st.last_seq = e->seq;
    st.last_link = e->chain;
  }
  for (const DeviceChainNote& n : notes) {
    if (n.alert && st.problem.empty()) {
      st.problem = n.kind + ": " + n.problem;
      st.problem_seq = n.seq;
    }
  }
  return notes;
}

std::string CheckDeviceCheckpointHead(
    const DeviceCheckpoint& c, const std::vector<Event>& batch,
    const std::function<std::optional<std::string>(std::int64_t)>& stored_chain) {
  const std::string what = "checkpoint #" + std::to_string(c.checkpoint.seq);
  if (!c.problem.empty()) return what + " " + c.problem;
  std::optional<std::string> link;
  for (const Event& e : batch) {
    if (e.seq == c.checkpoint.seq) link = e.chain;
  }
  if (!link) link = stored_chain(c.checkpoint.seq);
  if (c.checkpoint.seq == 0) link = std::string(manifest::kAuditGenesis);
  if (!link) return what + " names an event the server has not received";
  if (*link != c.checkpoint.head) {
    return what + " signs a head other than the chain link of " + ChainEventText(c.checkpoint.seq) +
           " as received";
  }
  return "";
}

namespace {

constexpr std::size_t kMaxReportCheckpoints = 100;

Error BadCheckpoint(std::size_t i, const std::string& what) {
  return MakeError(ErrorCode::kInvalidArgument, "checkpoints[" + std::to_string(i) + "]" + what);
}

Result<manifest::AuditCheckpoint> ParseOneCheckpoint(const nlohmann::json& c, std::size_t i,
                                                     const std::string& log) {
  if (!c.is_object()) return BadCheckpoint(i, " must be an object");
  for (auto it = c.begin(); it != c.end(); ++it) {
    if (it.key() != "seq" && it.key() != "head" && it.key() != "time" && it.key() != "keyid" &&
        it.key() != "signature") {
      return BadCheckpoint(i, ": unknown field " + it.key());
    }
  }
  auto seq = c.find("seq");
  if (seq == c.end() || !seq->is_number_unsigned() ||
      seq->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    return BadCheckpoint(i, ".seq must be an integer from 0 to 2^63-1");
  }
  manifest::AuditCheckpoint out;
  out.log = log;
  out.seq = static_cast<std::int64_t>(seq->get<std::uint64_t>());
  for (const char* field : {"head", "keyid"}) {
    auto v = c.find(field);
    if (v == c.end() || !v->is_string() || !IsLowerHex(v->get_ref<const std::string&>(), 64)) {
      return BadCheckpoint(i, std::string(".") + field + " must be 64 lower-case hex digits");
    }
  }
  out.head = c["head"].get<std::string>();
  out.keyid = c["keyid"].get<std::string>();
  auto time = c.find("time");
  if (time == c.end() || !time->is_string() ||
      !manifest::ParseExpires(time->get_ref<const std::string&>()).ok()) {
    return BadCheckpoint(i, ".time must be a UTC time YYYY-MM-DDTHH:MM:SSZ");
  }
  out.time = time->get<std::string>();
  auto sig = c.find("signature");
  if (sig == c.end() || !sig->is_string() || !IsLowerHex(sig->get_ref<const std::string&>(), 128)) {
    return BadCheckpoint(i, ".signature must be 128 lower-case hex digits");
  }
  out.signature = sig->get<std::string>();
  return out;
}

}  // namespace

Status ParseReportCheckpoints(const nlohmann::json& report, const std::string& device_id,
                              const manifest::Key& device_key, EventBatch* batch) {
  auto list = report.find("checkpoints");
  if (list == report.end()) return Ok();
  if (!list->is_array() || list->size() > kMaxReportCheckpoints) {
    return MakeError(ErrorCode::kInvalidArgument, "checkpoints must be an array of at most " +
                                                      std::to_string(kMaxReportCheckpoints) +
                                                      " checkpoints");
  }
  const std::string log = manifest::DeviceAuditLog(device_id);
  const std::string keyid = verifier::ComputeKeyId(device_key);
  for (std::size_t i = 0; i < list->size(); ++i) {
    OTA_ASSIGN_OR_RETURN(manifest::AuditCheckpoint c, ParseOneCheckpoint((*list)[i], i, log));
    DeviceCheckpoint dc{std::move(c), ""};
    if (dc.checkpoint.keyid != keyid) {
      dc.problem = "is signed by key " + dc.checkpoint.keyid + ", not the device's report key";
    } else if (!verifier::VerifyEd25519(device_key, dc.checkpoint.signature,
                                        manifest::AuditCheckpointSigningBytes(dc.checkpoint))) {
      dc.problem = "has a bad signature";
    }
    batch->checkpoints.push_back(std::move(dc));
  }
  return Ok();
}

std::string StoredEventChain(const std::string& body) {
  const nlohmann::json e = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!e.is_object()) return "";
  auto c = e.find("chain");
  return c != e.end() && c->is_string() ? c->get<std::string>() : "";
}

}  // namespace ota::server
