// The console's shell: sign-in, hash routing (#/fleet, #/rollouts/<id>, ...),
// and live updates (every page refreshes every few seconds while the tab is
// visible).
import {ApiError, clearToken, setToken, token, whoami} from './api.js';
import {h, replace} from './dom.js';
import {mountFleet} from './fleet.js';
import {mountRollouts, mountRollout} from './rollouts.js';
import {mountDevice} from './device.js';
import {mountShadow} from './shadow.js';
import {mountDrills, mountDrill} from './drills.js';

const REFRESH_MS = 5000;
const main = document.getElementById('main');
const status = document.getElementById('status');

// Routes: the first path segment after "#/", with an optional id.
const ROUTES = {
  fleet: (id, query) => mountFleet(query),
  devices: (id) => (id ? mountDevice(id) : mountFleet(new URLSearchParams())),
  rollouts: (id) => (id ? mountRollout(id) : mountRollouts()),
  shadow: (id, query) => mountShadow(query),
  drills: (id) => (id ? mountDrill(id) : mountDrills()),
};

const session = {who: null, page: null, timer: null, generation: 0};

export function say(message, kind = 'info') {
  replace(status, message ? h('span', {class: `note ${kind}`}, message) : null);
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, queryText = ''] = raw.split('?');
  const [page, ...rest] = path.split('/');
  const id = rest.length ? decodeURIComponent(rest.join('/')) : '';
  return {page: page || 'fleet', id, query: new URLSearchParams(queryText)};
}

function showSignedIn(who) {
  document.getElementById('nav').hidden = !who;
  document.getElementById('who').hidden = !who;
  if (!who) return;
  document.getElementById('who-name').textContent = who.name;
  document.getElementById('who-role').textContent = who.role;
}

function signOut(message = '') {
  clearToken();
  session.who = null;
  stopPage();
  showSignedIn(null);
  renderSignIn(message);
}

function renderSignIn(message) {
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true,
    spellcheck: 'false', placeholder: 'ota_…', 'aria-describedby': 'token-help'});
  const error = h('p', {class: 'error', id: 'sign-in-error', role: 'alert'}, message);
  const form = h('form', {class: 'card sign-in', id: 'sign-in'},
    h('h1', {}, 'Sign in'),
    h('label', {for: 'token'}, 'Operator token'),
    input,
    h('p', {class: 'help', id: 'token-help'},
      'Made with ota-server token create. Kept in this tab only (sessionStorage) and sent ' +
      'in the Authorization header; signing out forgets it.'),
    error,
    h('button', {type: 'submit', class: 'primary'}, 'Sign in'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    input.value = '';
    await start();
  });
  replace(main, form);
  input.focus();
}

function stopPage() {
  clearInterval(session.timer);
  session.timer = null;
  session.page = null;
  session.generation++;
}

async function refresh() {
  const page = session.page;
  const generation = session.generation;
  if (!page || document.visibilityState !== 'visible') return;
  try {
    await page.refresh();
    if (generation !== session.generation) return;
    document.getElementById('updated').textContent = new Date().toLocaleTimeString();
    if (status.querySelector('.note.stale')) say('');
  } catch (e) {
    if (generation !== session.generation) return;
    handleError(e, 'stale');
  }
}

// A refused token (401; 403 "forbidden": unknown or revoked; 403
// "token-expired") ends the session; other refusals (403
// "insufficient-role": a role not allowed an action) are shown.
const SESSION_ENDING_CODES = new Set(['forbidden', 'token-expired']);

export function handleError(e, kind = 'bad') {
  if (e instanceof ApiError && (e.status === 401 || (e.status === 403 && SESSION_ENDING_CODES.has(e.code)))) {
    signOut(`Signed out: ${e.message}`);
    return;
  }
  say(e.message ?? String(e), kind);
}

function route() {
  if (!session.who) return;
  stopPage();
  const {page, id, query} = parseHash();
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('current', link.dataset.page === (page === 'devices' ? 'fleet' : page));
  }
  const mount = ROUTES[page] ?? ROUTES.fleet;
  session.page = mount(id, query);
  session.page.who = session.who;
  replace(main, session.page.node);
  say('');
  refresh();
  session.timer = setInterval(refresh, REFRESH_MS);
}

export function currentUser() {
  return session.who;
}

export function refreshNow() {
  return refresh();
}

async function start() {
  if (!token()) {
    renderSignIn('');
    return;
  }
  try {
    session.who = await whoami();
  } catch (e) {
    const message = e instanceof ApiError && (e.status === 401 || e.status === 403)
      ? `The token was refused: ${e.message}` : `Cannot sign in: ${e.message}`;
    signOut(message);
    return;
  }
  showSignedIn(session.who);
  route();
}

document.getElementById('sign-out').addEventListener('click', () => signOut('Signed out.'));
window.addEventListener('hashchange', route);
document.addEventListener('visibilitychange', refresh);
start();
