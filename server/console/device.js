// One device: facts, per-model versions, what needs attention, whether its
// audit chain verifies, and its event timeline (newest first) with shadow
// verdicts shown against their thresholds.
import {getJson} from './api.js';
import {badge, facts, h, num, phaseBadge, replace, section, table, when} from './dom.js';

const TIMELINE_PAGE = 100;

function chainStatus(chain) {
  if (!chain.known) return badge('no chained events yet', 'warn');
  if (chain.verified) return badge(`verified through event ${chain.checked_seq}`, 'good');
  return h('span', {}, badge('broken', 'bad'), ` at event ${chain.problem_seq}: ${chain.problem}`);
}

function shadowRows(report) {
  const rows = (report?.rows ?? []).map((r) => [
    r.metric, num(r.value), num(r.threshold), r.comparison ?? '—',
    r.ok === undefined ? '—' : badge(r.ok ? 'ok' : 'over', r.ok ? 'good' : 'bad')]);
  return table(['Metric', 'Value', 'Threshold', 'Rule', ''], rows, 'No gate rows reported.');
}

// One line about an event, and details for shadow results.
function describe(e) {
  const ev = e.event ?? {};
  const parts = [];
  if (ev.model) parts.push(`${ev.model} ${ev.version ?? ''}`);
  if (ev.state) parts.push(phaseBadge(ev.state.replaceAll('-', '_')));
  if (ev.verdict) parts.push(phaseBadge(ev.verdict));
  for (const key of ['error_code', 'error', 'reason', 'decided_by']) {
    if (typeof ev[key] === 'string' && ev[key]) parts.push(`${key.replace('_', ' ')}: ${ev[key]}`);
  }
  const cell = h('td', {}, parts.map((p, i) => [i ? ' · ' : '', p]));
  if (e.type === 'shadow-result' && ev.report) {
    const reasons = (ev.report.reasons ?? []).join('; ');
    cell.append(h('details', {class: 'shadow'},
      h('summary', {}, `Shadow test (${ev.report.applied_gate ?? ev.report.gate ?? 'gate'})`),
      reasons ? h('p', {}, reasons) : null, shadowRows(ev.report)));
  }
  return cell;
}

export function mountDevice(id) {
  const body = h('div');
  let before = 0;
  const node = h('div', {class: 'page'}, h('p', {}, h('a', {href: '#/fleet'}, '← Fleet')), body);

  async function refresh() {
    const q = new URLSearchParams({limit: String(TIMELINE_PAGE)});
    if (before) q.set('before', String(before));
    const d = await getJson(`/v1/devices/${encodeURIComponent(id)}?${q}`);
    const f = d.facts ?? {};
    const older = d.events_truncated
      ? h('button', {type: 'button', onclick: () => { before = d.next_before; refresh(); }},
        'Older events →') : null;
    const newest = before
      ? h('button', {type: 'button', onclick: () => { before = 0; refresh(); }}, '← Newest')
      : null;
    replace(body,
      h('h1', {}, `Device ${d.device_id}`),
      h('div', {class: 'grid'},
        section('Facts', facts([
          ['App version', f.app_version], ['Region', f.region],
          ['Tags', (f.tags ?? []).join(', ') || '—'],
          ['Attributes', Object.entries(f.attributes ?? {}).map(([k, v]) => `${k}=${v}`)
            .join(', ') || '—'],
          ['OS / CPU', [f.os, f.cpu_arch].filter(Boolean).join(' / ') || '—'],
          ['Enrolled', `${when(d.enrolled_at)} (token ${d.enrolled_with || '—'})`],
          ['Last seen', when(d.last_seen)], ['Last report', d.last_seq],
        ])),
        section('Audit chain', h('p', {id: 'chain-status'}, chainStatus(d.chain)),
          h('p', {class: 'help'}, 'Every event links to the one before it; the server checks ' +
            'each link as reports arrive.'))),
      section('Models', table(['Model', 'Current', 'State', 'Since', 'Previous'],
        d.models.map((m) => [m.model, m.version, phaseBadge(m.phase), when(m.updated_at),
          m.previous_version || '—']), 'No model reported yet.')),
      d.problems.length ? section('Needs attention', h('ul', {class: 'why'},
        d.problems.map((p) => h('li', {}, p.model ? `${p.model} ${p.version}: ` : '', p.why))))
        : null,
      section('Timeline', h('div', {class: 'pager'}, newest, older),
        h('div', {id: 'timeline'}, table(['Seq', 'Received', 'Event', 'Details'],
          d.events.map((e) => [num(e.seq), when(e.received_at), e.type, describe(e)]),
          'No events.'))));
  }
  return {node, refresh};
}
