// FleetStore's read-only views for the operator console: devices with their
// per-model state and what went wrong, one device's timeline, and the shadow
// results of a model. Plain SQL with `?` parameters, so that SQLite and
// PostgreSQL run the same text; facts are matched in SQL loosely (LIKE on the
// stored JSON text) and then exactly on the parsed object.
#include <algorithm>
#include <utility>

#include "fleet_store.h"

namespace ota::server {
namespace {

using nlohmann::json;

// Recent events searched for the one that explains an error phase.
constexpr int kErrorEventScan = 50;
// Recent events searched for the versions a device confirmed before.
constexpr int kConfirmedScan = 500;

// `text` as a LIKE pattern matching itself anywhere (escape character '\').
std::string ContainsPattern(const std::string& text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + "%";
}

std::string JsonText(const std::string& s) { return json(s).dump(); }

bool FactsMatch(const json& facts, const DeviceFilter& f) {
  auto text = [&](const char* key) -> std::string {
    auto it = facts.find(key);
    return it != facts.end() && it->is_string() ? it->get<std::string>() : "";
  };
  if (!f.region.empty() && text("region") != f.region) return false;
  if (!f.app_version.empty() && text("app_version") != f.app_version) return false;
  if (!f.tag.empty()) {
    auto tags = facts.find("tags");
    if (tags == facts.end() || !tags->is_array() ||
        std::find(tags->begin(), tags->end(), json(f.tag)) == tags->end()) {
      return false;
    }
  }
  return true;
}

bool IsErrorEvent(const json& event) {
  auto phase = rollout::PhaseForEvent(event);
  return phase &&
         (*phase == rollout::DevicePhase::kFailed || *phase == rollout::DevicePhase::kRolledBack ||
          *phase == rollout::DevicePhase::kShadowFail);
}

StoredEvent EventFromRow(const Statement& q) {
  StoredEvent e;
  e.seq = q.ColumnInt(0);
  e.received_at = q.ColumnInt(1);
  e.type = q.ColumnText(2);
  e.body = json::parse(q.ColumnText(3), nullptr, /*allow_exceptions=*/false);
  if (e.body.is_discarded()) e.body = json::object();
  return e;
}

// The SQL of ListDevices for `f`, with its text parameters in order.
std::string DeviceListSql(const DeviceFilter& f, std::vector<std::string>* params) {
  std::string sql =
      "SELECT d.device_id, d.facts, d.enrolled_at, d.last_seen, d.last_seq FROM devices d "
      "WHERE 1 = 1";
  if (!f.model.empty() || !f.version.empty() || !f.state.empty()) {
    sql += " AND EXISTS (SELECT 1 FROM device_models m WHERE m.device_id = d.device_id";
    for (const auto& [column, value] :
         {std::pair<const char*, const std::string*>{"model", &f.model},
          {"version", &f.version},
          {"phase", &f.state}}) {
      if (value->empty()) continue;
      sql += std::string(" AND m.") + column + " = ?";
      params->push_back(*value);
    }
    sql += ")";
  }
  if (f.problem) {
    sql +=
        " AND (EXISTS (SELECT 1 FROM device_models m WHERE m.device_id = d.device_id AND "
        "(m.phase IN ('failed', 'rolled_back', 'shadow_fail') OR (m.phase IN ('downloading', "
        "'shadow_pass', 'activated') AND m.updated_at < ?))) OR EXISTS (SELECT 1 FROM "
        "device_chains c WHERE c.device_id = d.device_id AND c.problem IS NOT NULL))";
    params->push_back(std::to_string(f.stuck_before));
  }
  auto like = [&](const std::string& needle) {
    sql += " AND d.facts LIKE ? ESCAPE '\\'";
    params->push_back(ContainsPattern(needle));
  };
  if (!f.region.empty()) like("\"region\":" + JsonText(f.region));
  if (!f.app_version.empty()) like("\"app_version\":" + JsonText(f.app_version));
  if (!f.tag.empty()) like(JsonText(f.tag));
  return sql + " ORDER BY d.device_id";
}

// The per-model rows, chain problem and latest error event of a device
// (mu_ held by the caller).
Status FillSummary(Database& db, DeviceSummary& s) {
  OTA_ASSIGN_OR_RETURN(Statement m,
                       db.Prepare("SELECT model, version, phase, updated_at FROM device_models "
                                  "WHERE device_id = ? ORDER BY model"));
  m.Bind(1, s.device_id);
  bool failing = false;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, m.Step());
    if (!row) break;
    s.models.push_back({m.ColumnText(0), m.ColumnText(1), m.ColumnText(2), m.ColumnInt(3)});
    const std::string& phase = s.models.back().phase;
    failing = failing || phase == "failed" || phase == "rolled_back" || phase == "shadow_fail";
  }
  OTA_ASSIGN_OR_RETURN(
      Statement c,
      db.Prepare("SELECT problem, problem_seq FROM device_chains WHERE device_id = ? AND problem "
                 "IS NOT NULL"));
  c.Bind(1, s.device_id);
  OTA_ASSIGN_OR_RETURN(bool broken, c.Step());
  if (broken) {
    s.chain_problem = c.ColumnText(0);
    s.chain_problem_seq = c.ColumnInt(1);
  }
  if (!failing) return Ok();
  OTA_ASSIGN_OR_RETURN(
      Statement e,
      db.Prepare("SELECT seq, received_at, type, body FROM events WHERE device_id = ? AND type "
                 "IN ('state', 'failed', 'rolled-back', 'shadow-result') ORDER BY seq DESC "
                 "LIMIT ?"));
  e.Bind(1, s.device_id).Bind(2, std::int64_t{kErrorEventScan});
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, e.Step());
    if (!row) break;
    StoredEvent ev = EventFromRow(e);
    if (IsErrorEvent(ev.body)) {
      s.last_error = std::move(ev);
      break;
    }
  }
  return Ok();
}

}  // namespace

Result<DevicePage> FleetStore::ListDevices(const DeviceFilter& filter) {
  std::lock_guard lock(mu_);
  std::vector<std::string> params;
  const std::string sql = DeviceListSql(filter, &params);
  OTA_ASSIGN_OR_RETURN(Statement q, db_->Prepare(sql));
  for (std::size_t i = 0; i < params.size(); ++i) q.Bind(static_cast<int>(i + 1), params[i]);
  const bool facts_filter =
      !filter.region.empty() || !filter.tag.empty() || !filter.app_version.empty();
  DevicePage page;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    const bool wanted = page.total >= filter.offset && page.devices.size() < filter.limit;
    if (!facts_filter && !wanted) {
      ++page.total;
      continue;
    }
    json facts = json::parse(q.ColumnText(1), nullptr, /*allow_exceptions=*/false);
    if (!facts.is_object()) facts = json::object();
    if (facts_filter && !FactsMatch(facts, filter)) continue;
    ++page.total;
    if (!wanted) continue;
    DeviceSummary s;
    s.device_id = q.ColumnText(0);
    s.facts = std::move(facts);
    s.enrolled_at = q.ColumnInt(2);
    s.last_seen = q.ColumnIsNull(3) ? 0 : q.ColumnInt(3);
    s.last_seq = q.ColumnInt(4);
    page.devices.push_back(std::move(s));
  }
  q.Reset();
  for (DeviceSummary& s : page.devices) OTA_TRY(FillSummary(*db_, s));
  return page;
}

Result<std::optional<DeviceDetail>> FleetStore::DeviceView(const std::string& device_id,
                                                           std::size_t limit,
                                                           std::int64_t before_seq) {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(
      Statement d,
      db_->Prepare("SELECT d.facts, d.enrolled_at, d.last_seen, d.last_seq, d.enrolled_with, "
                   "d.chain_seq, c.anchor_seq, c.device_id FROM devices d LEFT JOIN "
                   "device_chains c ON c.device_id = d.device_id WHERE d.device_id = ?"));
  d.Bind(1, device_id);
  OTA_ASSIGN_OR_RETURN(bool found, d.Step());
  if (!found) return std::optional<DeviceDetail>();
  DeviceDetail out;
  DeviceSummary& s = out.summary;
  s.device_id = device_id;
  s.facts = json::parse(d.ColumnText(0), nullptr, /*allow_exceptions=*/false);
  if (!s.facts.is_object()) s.facts = json::object();
  s.enrolled_at = d.ColumnInt(1);
  s.last_seen = d.ColumnIsNull(2) ? 0 : d.ColumnInt(2);
  s.last_seq = d.ColumnInt(3);
  out.enrolled_with = d.ColumnIsNull(4) ? "" : d.ColumnText(4);
  out.chain_checked_seq = d.ColumnInt(5);
  out.chain_known = !d.ColumnIsNull(7) || out.chain_checked_seq > 0;
  out.chain_anchor_seq = d.ColumnIsNull(6) ? 0 : d.ColumnInt(6);
  d.Reset();
  OTA_TRY(FillSummary(*db_, s));

  OTA_ASSIGN_OR_RETURN(
      Statement t,
      db_->Prepare("SELECT seq, received_at, type, body FROM events WHERE device_id = ? AND seq "
                   "< ? ORDER BY seq DESC LIMIT ?"));
  t.Bind(1, device_id).Bind(2, before_seq > 0 ? before_seq : INT64_MAX);
  t.Bind(3, static_cast<std::int64_t>(limit) + 1);
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, t.Step());
    if (!row) break;
    if (out.timeline.size() == limit) {
      out.timeline_truncated = true;
      break;
    }
    out.timeline.push_back(EventFromRow(t));
  }
  t.Reset();

  // The versions the device confirmed, newest first: the first one that is
  // not the current version of its model is the previous one.
  OTA_ASSIGN_OR_RETURN(
      Statement v,
      db_->Prepare("SELECT seq, received_at, type, body FROM events WHERE device_id = ? AND type "
                   "IN ('state', 'confirmed') ORDER BY seq DESC LIMIT ?"));
  v.Bind(1, device_id).Bind(2, std::int64_t{kConfirmedScan});
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, v.Step());
    if (!row) break;
    StoredEvent e = EventFromRow(v);
    if (rollout::PhaseForEvent(e.body) != rollout::DevicePhase::kConfirmed) continue;
    const std::string model = e.body.value("model", "");
    const std::string version = e.body.value("version", "");
    if (model.empty() || version.empty() || out.previous_versions.contains(model)) continue;
    auto current = std::find_if(s.models.begin(), s.models.end(),
                                [&](const DeviceModelState& m) { return m.model == model; });
    if (current != s.models.end() && current->version == version) continue;
    out.previous_versions[model] = version;
  }
  return std::optional<DeviceDetail>(std::move(out));
}

Result<std::vector<StoredEvent>> FleetStore::ShadowEvents(const std::string& model,
                                                          std::size_t limit) {
  std::lock_guard lock(mu_);
  OTA_ASSIGN_OR_RETURN(
      Statement q,
      db_->Prepare("SELECT seq, received_at, type, body FROM events WHERE type IN "
                   "('shadow-result', 'shadow-skipped') AND body LIKE ? ESCAPE '\\' ORDER BY "
                   "received_at DESC, device_id, seq DESC LIMIT ?"));
  q.Bind(1, ContainsPattern("\"model\":" + JsonText(model)));
  q.Bind(2, static_cast<std::int64_t>(limit));
  std::vector<StoredEvent> out;
  while (true) {
    OTA_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    StoredEvent e = EventFromRow(q);
    // LIKE also matched a nested "model" or another case (SQLite): check.
    if (e.body.value("model", "") == model) out.push_back(std::move(e));
  }
  return out;
}

}  // namespace ota::server
