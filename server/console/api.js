// The server's JSON API with the operator token. The token lives in
// sessionStorage only (gone when the tab closes), travels in the
// Authorization header only, and never in a URL.
const TOKEN_KEY = 'modelota.operator-token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(path, {method = 'GET', body} = {}) {
  const headers = {Authorization: `Bearer ${token() ?? ''}`};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit', redirect: 'error', referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    throw new ApiError(0, 'network', `cannot reach the server (${e.message})`);
  }
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    throw new ApiError(res.status, data?.code ?? '', data?.error ?? `HTTP ${res.status}`);
  }
  return res;
}

export async function getJson(path) {
  return (await request(path)).json();
}

export async function postJson(path, body) {
  return (await request(path, {method: 'POST', body})).json();
}

export async function getBlob(path) {
  return (await request(path)).blob();
}

// Who the token belongs to: {name, role, expires_at, permissions}.
export async function whoami() {
  return getJson('/v1/whoami');
}

export const ROLES_THAT_CHANGE_ROLLOUTS = new Set(['release-manager', 'administrator']);
