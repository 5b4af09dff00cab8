// Drills: reports of `otactl drill run --out` from the server's drills
// folder, and a report's table and timeline picture. The picture needs the
// operator token, which an <img> cannot send: it is fetched with the header
// and shown through a blob: URL.
import {getBlob, getJson} from './api.js';
import {badge, facts, h, num, replace, section, table} from './dom.js';

export function mountDrills() {
  const list = h('div');
  const node = h('div', {class: 'page'}, h('h1', {}, 'Drills'), section('Reports', list));
  async function refresh() {
    let drills;
    try {
      ({drills} = await getJson('/v1/drills'));
    } catch (e) {
      if (e.status !== 404) throw e;
      replace(list, h('p', {class: 'empty'}, e.message));
      return;
    }
    replace(list, table(['Drill', 'Scenario', 'Devices', 'Result'], drills.map((d) => [
      h('a', {href: `#/drills/${encodeURIComponent(d.name)}`}, d.name), d.scenario ?? '—',
      num(d.devices), d.error ? badge(d.error, 'warn') : badge(d.passed ? 'passed' : 'failed',
        d.passed ? 'good' : 'bad')]), 'No drill report in the drills folder.'));
  }
  return {node, refresh};
}

const seconds = (v) => (v === null || v === undefined ? '—' : `${v} s`);

export function mountDrill(name) {
  const body = h('div');
  const picture = h('img', {alt: `Timeline of drill ${name}`, class: 'timeline', id: 'timeline-img'});
  let pictureUrl = null;
  const node = h('div', {class: 'page'}, h('p', {}, h('a', {href: '#/drills'}, '← All drills')),
    body, section('Timeline', picture));

  async function loadPicture() {
    try {
      const blob = await getBlob(`/v1/drills/${encodeURIComponent(name)}/timeline.svg`);
      if (pictureUrl) URL.revokeObjectURL(pictureUrl);
      pictureUrl = URL.createObjectURL(blob);
      picture.src = pictureUrl;
    } catch (e) {
      picture.replaceWith(h('p', {class: 'empty'}, `No picture: ${e.message}`));
    }
  }

  async function refresh() {
    const r = await getJson(`/v1/drills/${encodeURIComponent(name)}`);
    const back = r.back_after_seconds ?? {};
    replace(body,
      h('h1', {}, `Drill ${name} `, badge(r.passed ? 'passed' : 'failed', r.passed ? 'good' : 'bad')),
      h('div', {class: 'grid'},
        section('Outcome', facts([
          ['Scenario', r.scenario], ['Devices', r.devices],
          ['First failure', seconds(r.first_failure_at)],
          ['Stopped', r.stopped_at === null ? 'never' :
            `${seconds(r.stopped_at)} (${r.stopped_state}, stage ${r.stopped_stage})`],
          ['Rollback ordered', seconds(r.rollback_at)], ['Highest stage', r.max_stage],
          ['Exposed', `${r.exposed} (${r.exposed_percent}%)`],
          ['Back after (p50 / p95 / max)', `${seconds(back.p50)} / ${seconds(back.p95)} / ` +
            `${seconds(back.max)}`],
          ['Never back', r.never_back], ['Reports lost', r.reports_lost],
        ])),
        section('Checks', table(['Check', 'Result', 'Detail'], (r.checks ?? []).map((c) => [
          c.name, badge(c.passed ? 'passed' : 'failed', c.passed ? 'good' : 'bad'), c.detail])))),
      (r.stuck ?? []).length ? section('Stuck devices', table(['Error', 'Devices'],
        r.stuck.map((s) => [s.error, num(s.devices)]))) : null);
    if (!pictureUrl) await loadPicture();
  }
  return {node, refresh};
}
