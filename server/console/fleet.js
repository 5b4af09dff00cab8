// Fleet: devices by model version and phase, app version, region and tag
// (GET /v1/fleet), devices that need attention with why, and a filterable
// device list (GET /v1/devices).
import {getJson} from './api.js';
import {deviceLink, h, num, phaseBadge, replace, section, table, when} from './dom.js';

const FILTERS = [
  ['model', 'Model', 'chat'], ['version', 'Version', '2.0.0'], ['state', 'State', 'failed'],
  ['app_version', 'App version', '2.3.0'], ['region', 'Region', 'eu'], ['tag', 'Tag', 'beta'],
];
const PAGE_SIZE = 50;

function counts(title, map) {
  const rows = Object.entries(map ?? {}).sort((a, b) => b[1] - a[1]);
  return section(title, table(['', 'Devices'], rows.map(([k, n]) => [k, num(n)]), 'None.'));
}

function models(map) {
  const rows = [];
  for (const [model, versions] of Object.entries(map ?? {})) {
    for (const [version, phases] of Object.entries(versions)) {
      const total = Object.values(phases).reduce((a, b) => a + b, 0);
      rows.push([model, version, num(total), h('td', {class: 'phases'},
        Object.entries(phases).map(([p, n]) => h('span', {class: 'phase'}, phaseBadge(p), ` ${n}`)))]);
    }
  }
  return section('Models: devices by version and state',
    table(['Model', 'Version', 'Devices', 'States'], rows, 'No device has reported yet.'));
}

function why(device) {
  return h('ul', {class: 'why'}, device.problems.map((p) => h('li', {},
    p.model ? `${p.model} ${p.version}: ` : '', p.why)));
}

function deviceRows(devices) {
  return devices.map((d) => [
    deviceLink(d.device_id),
    d.facts.app_version ?? '—',
    d.facts.region ?? '—',
    (d.facts.tags ?? []).join(', ') || '—',
    h('td', {}, d.models.map((m) => h('div', {}, `${m.model} ${m.version} `, phaseBadge(m.phase)))),
    when(d.last_seen),
    d.problems.length ? why(d) : '—',
  ]);
}

const DEVICE_COLUMNS = ['Device', 'App', 'Region', 'Tags', 'Models', 'Last seen', 'Needs attention'];

export function mountFleet(query) {
  const summary = h('div', {class: 'grid'});
  const problems = h('div');
  const list = h('div');
  const pager = h('div', {class: 'pager'});
  const form = h('form', {class: 'filters', id: 'device-filters'},
    FILTERS.map(([name, label, example]) => h('label', {class: 'field'}, label,
      h('input', {name, value: query.get(name) ?? '', placeholder: example, autocomplete: 'off'}))),
    h('label', {class: 'field check'},
      h('input', {type: 'checkbox', name: 'problem', checked: query.get('problem') === '1'}),
      'Only devices that need attention'),
    h('button', {type: 'submit', class: 'primary'}, 'Filter'));
  const offset = Math.max(0, Number.parseInt(query.get('offset') ?? '0', 10) || 0);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name] of FILTERS) {
      const value = form.elements[name].value.trim();
      if (value) params.set(name, value);
    }
    if (form.elements.problem.checked) params.set('problem', '1');
    location.hash = `#/fleet?${params}`;
  });
  const node = h('div', {class: 'page'}, h('h1', {}, 'Fleet'), summary, problems,
    section('Devices', form, list, pager));

  async function refresh() {
    const params = new URLSearchParams();
    for (const [name] of FILTERS) if (query.get(name)) params.set(name, query.get(name));
    if (query.get('problem') === '1') params.set('problem', '1');
    params.set('limit', String(PAGE_SIZE));
    params.set('offset', String(offset));
    const [fleet, attention, page] = await Promise.all([
      getJson('/v1/fleet'), getJson('/v1/devices?problem=1&limit=100'),
      getJson(`/v1/devices?${params}`)]);
    replace(summary,
      h('section', {class: 'card stat'}, h('div', {class: 'big'}, fleet.devices), 'devices enrolled'),
      h('section', {class: `card stat ${attention.total ? 'alert' : ''}`},
        h('div', {class: 'big'}, attention.total), 'need attention'),
      h('section', {class: `card stat ${fleet.chain_alerts.length ? 'alert' : ''}`},
        h('div', {class: 'big'}, fleet.chain_alerts.length), 'broken audit chains'),
      models(fleet.models), counts('App versions', fleet.app_versions),
      counts('Regions', fleet.regions), counts('Tags', fleet.tags));
    replace(problems, section(`Failing or stuck devices (${attention.total})`,
      table(DEVICE_COLUMNS, deviceRows(attention.devices), 'No device needs attention.')));
    replace(list, h('p', {class: 'help'}, `${page.total} matching devices`),
      table(DEVICE_COLUMNS, deviceRows(page.devices), 'No device matches.'));
    const link = (label, to) => {
      const q = new URLSearchParams(query);
      q.set('offset', String(to));
      return h('a', {href: `#/fleet?${q}`, class: 'button'}, label);
    };
    replace(pager,
      offset > 0 ? link('← Previous', Math.max(0, offset - PAGE_SIZE)) : null,
      offset + PAGE_SIZE < page.total ? link('Next →', offset + PAGE_SIZE) : null);
  }
  return {node, refresh};
}
