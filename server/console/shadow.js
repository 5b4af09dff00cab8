// Shadow tests of a model: per candidate version, verdict counts and the
// distribution of every numeric metric the devices reported.
import {getJson} from './api.js';
import {h, num, phaseBadge, replace, section, table} from './dom.js';

function fixed(x) {
  return Number.isInteger(x) ? String(x) : x.toPrecision(4);
}

export function mountShadow(query) {
  const model = query.get('model') ?? '';
  const picker = h('div', {class: 'pills'});
  const body = h('div');
  const node = h('div', {class: 'page'}, h('h1', {}, 'Shadow tests'),
    section('Model', picker), body);

  async function refresh() {
    const {models} = await getJson('/v1/fleet');
    const {rollouts} = await getJson('/v1/rollouts');
    const names = [...new Set([...Object.keys(models), ...rollouts.map((r) => r.model)])].sort();
    replace(picker, names.length ? names.map((m) => h('a', {
      href: `#/shadow?model=${encodeURIComponent(m)}`, class: m === model ? 'pill current' : 'pill',
    }, m)) : h('p', {class: 'empty'}, 'No model known yet.'));
    if (!model) {
      replace(body, h('p', {class: 'help'}, 'Pick a model.'));
      return;
    }
    const s = await getJson(`/v1/shadow?model=${encodeURIComponent(model)}`);
    replace(body,
      h('p', {class: 'help'}, `${s.events} shadow events of ${model}` +
        (s.truncated ? ` (the newest ${s.limit})` : '')),
      s.versions.length ? s.versions.map((v) => section(`Candidate ${v.version}`,
        h('p', {class: 'verdicts'}, Object.entries(v.verdicts).map(([k, n]) =>
          h('span', {class: 'phase'}, phaseBadge(k), ` ${n}`))),
        table(['Metric', 'Count', 'Min', 'p50', 'p95', 'Max'],
          Object.entries(v.metrics).map(([name, m]) => [name, num(m.count), num(fixed(m.min)),
            num(fixed(m.p50)), num(fixed(m.p95)), num(fixed(m.max))]),
          'No numeric metric reported.')))
        : h('p', {class: 'empty'}, 'No shadow results for this model yet.'));
  }
  return {node, refresh};
}
