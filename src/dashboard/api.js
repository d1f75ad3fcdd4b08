// The dashboard's side of the REST API: the access token (kept in localStorage), URLs of the
// device's endpoints relative to this page (so the dashboard also works behind a reverse
// proxy under a sub-path), and JSON requests with errors that say what went wrong.

const TOKEN_KEY = 'gozcu.token';

/** Thrown for a non-2xx answer; `status` 401 means a token is needed or wrong. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function loadToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function saveToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Private mode without storage: the token lasts for this page only.
  }
}

/** The folder this page was loaded from, e.g. http://device:8080/ */
const base = () => new URL('.', globalThis.location.href);

/** URL of a device path ("/api/events?..." or "api/events"), with the token when set. */
export function deviceUrl(path, token, params = {}) {
  const u = new URL(String(path).replace(/^\//, ''), base());
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
  }
  if (token) u.searchParams.set('token', token);
  return u;
}

/** The WebSocket URL (ws: or wss: to match the page). */
export function eventsSocketUrl(token) {
  const u = deviceUrl('api/ws/events', token);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

/** Where an event's snapshot is; `v` changes with each better snapshot so the image reloads. */
export function snapshotSrc(ev, token) {
  if (!ev?.snapshot_url) return null;
  return deviceUrl(ev.snapshot_url, token, { v: ev.seq }).toString();
}

/** GETs JSON from the device; the token goes in the Authorization header. */
export async function getJson(path, token, params = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(deviceUrl(path, '', params), { headers, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, `the device did not answer (${e.message})`);
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON: reported below by status.
  }
  if (!res.ok) {
    const message = body?.error?.message ?? `HTTP ${res.status}`;
    throw new ApiError(res.status, message);
  }
  return body;
}

/** One page of event history, newest first: { events, next_before_seq }. */
export function fetchEvents(token, { beforeSeq, limit = 30 } = {}) {
  return getJson('api/events', token, { before_seq: beforeSeq, limit });
}

/** The current status (same shape as the WebSocket's status message). */
export function fetchHealth(token) {
  return getJson('api/health', token);
}
