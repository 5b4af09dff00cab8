// Rollouts: the list, and one rollout's stages (targeted, reporting,
// confirmed, failed), soak timer, thresholds, the controller's decision,
// the audit trail, and the operator actions of POST /v1/rollouts/<id>/<action>.
import {ROLES_THAT_CHANGE_ROLLOUTS, getJson, postJson} from './api.js';
import {currentUser, handleError, refreshNow, say} from './app.js';
import {confirmAction} from './confirm.js';
import {badge, duration, facts, h, num, phaseBadge, replace, section, table, when} from './dom.js';

export function mountRollouts() {
  const list = h('div');
  const node = h('div', {class: 'page'}, h('h1', {}, 'Rollouts'), section('All rollouts', list));
  async function refresh() {
    const {rollouts} = await getJson('/v1/rollouts');
    replace(list, table(['Rollout', 'Model', 'Target', 'State', 'Stage', 'Manifest version'],
      rollouts.slice().reverse().map((r) => [
        h('a', {href: `#/rollouts/${encodeURIComponent(r.rollout_id)}`}, r.rollout_id),
        r.model, r.target_version, phaseBadge(r.state), `${r.current_stage + 1} of ${r.stages}`,
        num(r.version)]), 'No rollout yet.'));
  }
  return {node, refresh};
}

// The actions the server accepts, each with the fields its body takes.
const ACTIONS = [
  {action: 'advance', label: 'Advance', when: (r) => r.state === 'active' &&
    r.current_stage + 1 < r.stages.length,
   text: 'Move the rollout to its next stage now.',
   fields: [{name: 'force', label: 'Force past the stage gate', type: 'checkbox'}]},
  {action: 'pause', label: 'Pause', when: (r) => r.state === 'active',
   text: 'Devices stop taking the target version until the rollout is resumed.'},
  {action: 'resume', label: 'Resume', when: (r) => r.state !== 'active',
   text: 'The rollout continues from its current stage; a rollback order is cleared.'},
  {action: 'halt', label: 'Halt', when: (r) => r.state !== 'halted', danger: true,
   text: 'Stop the rollout for good; a new rollout of the model can start afterwards.'},
  {action: 'rollback', label: 'Roll back', when: () => true, danger: true,
   text: 'Order devices back to an earlier version.',
   fields: [{name: 'to_version', label: 'Version to go back to', required: true,
             placeholder: '1.0.0'},
            {name: 'percent', label: 'Only devices below this bucket (hundredths, optional)',
             type: 'number', number: true, min: 1, max: 10000}]},
  {action: 'pin', label: 'Pin', when: () => true,
   text: 'Hold devices of some app versions on one bundle version.',
   fields: [{name: 'app_versions', label: 'App versions (range)', required: true,
             placeholder: '<2.0.0'},
            {name: 'bundle_version', label: 'Bundle version', required: true,
             placeholder: '1.0.0'}]},
  {action: 'unpin', label: 'Unpin', when: (r) => (r.manifest?.pins ?? []).length > 0,
   text: 'Remove the pin of exactly this range.',
   fields: [{name: 'app_versions', label: 'App versions (range)', required: true}]},
];

async function act(rollout, spec) {
  const label = spec.action === 'advance' && rollout.next_action.action === 'await-approval'
    ? 'Approve and advance' : spec.label;
  const values = await confirmAction({
    title: `${label}: ${rollout.rollout_id}`, text: spec.text, fields: spec.fields,
    confirmLabel: label});
  if (!values) return;
  try {
    const r = await postJson(
      `/v1/rollouts/${encodeURIComponent(rollout.rollout_id)}/${spec.action}`, values);
    say(`${rollout.rollout_id}: ${r.action} done; now ${r.state}, manifest version ${r.version}.`,
      'good');
  } catch (e) {
    handleError(e);
  }
  await refreshNow();
}

function actions(rollout) {
  const who = currentUser();
  if (!who || !ROLES_THAT_CHANGE_ROLLOUTS.has(who.role)) {
    return h('p', {class: 'help'}, `Your role (${who?.role}) cannot change rollouts.`);
  }
  return h('div', {class: 'actions', id: 'rollout-actions'}, ACTIONS.filter((a) => a.when(rollout))
    .map((a) => h('button', {
      type: 'button', class: a.danger ? 'danger' : '', 'data-action': a.action,
      onclick: () => act(rollout, a)},
    a.action === 'advance' && rollout.next_action.action === 'await-approval'
      ? 'Approve and advance' : a.label)));
}

function soak(rollout) {
  const left = (Date.parse(rollout.soak_ends_at) - Date.now()) / 1000;
  return Number.isNaN(left) ? '—' : left > 0 ? `ends in ${duration(left)}` : 'complete';
}

function stages(rollout) {
  return table(['Stage', 'Percent', 'Soak', 'Targeted', 'Reporting', 'Confirmed', 'Failed',
    'Success', 'Errors', 'Thresholds'],
  rollout.stages.map((s) => [
    h('td', {}, `${s.index + 1}`, s.current ? badge('current', 'info') : null),
    `${s.percent}%`, duration(s.min_soak_seconds), num(s.targeted), num(s.reporting),
    num(s.phases.confirmed), num(s.errors),
    num(`${s.success_rate.toFixed(1)}%`), num(`${s.error_rate.toFixed(1)}%`),
    `advance ≥ ${s.policy.success_percent}% of ≥ ${s.policy.min_reporting}; ` +
      `${s.policy.on_error} at ${s.policy.error_percent}%` +
      (s.policy.max_errors ? ` or ${s.policy.max_errors} errors` : ''),
  ]));
}

function lastControllerDecision(rollout) {
  const mine = rollout.audit.filter((a) => a.actor === 'controller');
  const last = mine[mine.length - 1];
  return last ? `${last.action}: ${last.reason} (${when(last.at)})` : 'none yet';
}

export function mountRollout(id) {
  const body = h('div');
  const node = h('div', {class: 'page'},
    h('p', {}, h('a', {href: '#/rollouts'}, '← All rollouts')), body);
  async function refresh() {
    const r = await getJson(`/v1/rollouts/${encodeURIComponent(id)}`);
    replace(body,
      h('h1', {}, `Rollout ${r.rollout_id} `, h('span', {id: 'rollout-state'}, phaseBadge(r.state))),
      h('div', {class: 'grid'},
        section('Overview', facts([
          ['Model', r.model], ['Target version', r.target_version],
          ['Manifest version', r.version], ['Approval', r.approval],
          ['Stage', `${r.current_stage + 1} of ${r.stages.length}`],
          ['Stage started', when(r.stage_started_at)], ['Soak', soak(r)],
          ['Pins', (r.manifest?.pins ?? []).map((p) => `${p.app_versions} → ${p.bundle_version}`)
            .join('; ') || 'none'],
        ])),
        section('Controller', facts([
          ['Would now', h('span', {}, phaseBadge(r.next_action.action), ' ', r.next_action.reason)],
          ['Last decision', lastControllerDecision(r)],
        ]), actions(r))),
      section('Stages', stages(r)),
      section('Audit trail', table(['When', 'Who', 'Action', 'Reason', 'Version'],
        r.audit.slice(-30).reverse().map((a) => [when(a.at), a.actor, a.action, a.reason,
          num(a.version)]), 'No entry.')));
  }
  return {node, refresh};
}
