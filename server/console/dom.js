// Small DOM helpers. Every string from the server becomes a text node or an
// attribute value: nothing is parsed as HTML.

// h('td', {class: 'num', onclick: f}, 'text', childNode, [more children])
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.append(child);
    else node.append(document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

// "2026-01-31T10:00:00Z" as local date and time; "" stays "—".
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

// Seconds as "2 h 5 min", "40 s".
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
}

export function badge(text, kind = '') {
  return h('span', {class: `badge ${kind}`}, text);
}

const PHASE_KIND = {
  confirmed: 'good', activated: 'info', downloading: 'info', shadow_pass: 'info',
  shadow_fail: 'bad', rolled_back: 'bad', failed: 'bad', incompatible: 'warn',
  active: 'good', paused: 'warn', halted: 'bad', pass: 'good', fail: 'bad',
  inconclusive: 'warn', skip: 'warn',
};

export function phaseBadge(phase) {
  return badge(String(phase).replaceAll('_', ' '), PHASE_KIND[phase] ?? '');
}

// A table from column titles and rows of cells; `empty` when no rows.
export function table(columns, rows, empty = 'Nothing to show.') {
  if (rows.length === 0) return h('p', {class: 'empty'}, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) =>
      c instanceof Node && c.tagName === 'TD' ? c : h('td', {}, c))))));
}

export function num(value) {
  return h('td', {class: 'num'}, value ?? '—');
}

export function section(title, ...children) {
  return h('section', {class: 'card'}, h('h2', {}, title), children);
}

// A definition list from [label, value] pairs.
export function facts(pairs) {
  return h('dl', {class: 'facts'}, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));
}

export function deviceLink(id) {
  return h('a', {href: `#/devices/${encodeURIComponent(id)}`}, id);
}
