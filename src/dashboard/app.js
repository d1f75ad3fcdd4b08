// The built-in dashboard: wires the protocol client, the REST history and the views.
//
// Order at start, chosen so that no event is missed or shown twice: connect the WebSocket
// first (the server subscribes us to live events before it sends its first status), then,
// once greeted, load the newest page of history over REST. An event committed in between is
// in both; rows are keyed by event id and keep the message with the highest seq. The newest
// history seq becomes the client's resume point, so later reconnects replay exactly what
// was missed. Nothing is polled: the page only reacts to messages and user actions.

import { connect } from './client.js';
import { pickLanguage, translator } from './i18n.js';
import {
  ApiError, eventsSocketUrl, fetchEvents, fetchHealth, loadToken, saveToken,
} from './api.js';
import { renderConnection, renderStatus } from './view-status.js';
import { EventList, Toasts } from './view-events.js';

const LANG_KEY = 'gozcu.lang';
const $ = (id) => document.getElementById(id);

const state = {
  t: null,
  token: loadToken(),
  client: null,
  status: null,
  conn: { state: 'connecting', attempt: 0, offline: false, needsToken: false, everConnected: false },
  history: { loaded: false, loading: false, nextBefore: null, error: null },
  list: null,
  toasts: null,
  /** Bumped on every reload so an answer to an older request is ignored. */
  historyRun: 0,
};

function storedLanguage() {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch {
    return null;
  }
}

function applyLanguage(lang) {
  const t = translator(lang, navigator.languages ?? [navigator.language]);
  state.t = t;
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll('[data-i18n]')) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const node of document.querySelectorAll('[data-i18n-aria]')) {
    node.setAttribute('aria-label', t(node.dataset.i18nAria));
  }
  for (const b of document.querySelectorAll('[data-lang]')) {
    b.setAttribute('aria-pressed', String(b.dataset.lang === lang));
  }
  if (state.list) {
    state.list.refresh(t);
    state.toasts.t = t;
  }
  renderConnection(t, state.conn);
  renderStatus(t, state.status);
  renderHistoryState();
}

function renderHistoryState() {
  const t = state.t;
  const h = state.history;
  const note = $('events-status');
  const empty = state.list && state.list.size === 0;
  note.replaceChildren();
  if (h.error) {
    note.textContent = t('events.loadFailed', { error: h.error });
    const again = document.createElement('button');
    again.type = 'button';
    again.className = 'link-button';
    again.textContent = t('events.retry');
    again.addEventListener('click', () => loadHistory(false));
    note.append(' ', again);
  } else if (h.loading && empty) {
    note.textContent = t('events.loading');
  } else if (h.loaded && empty) {
    note.textContent = t('events.empty');
  }
  note.hidden = note.childNodes.length === 0;
  $('load-more').hidden = !(h.loaded && h.nextBefore !== null);
  $('load-more').disabled = h.loading;
}

function setConn(patch) {
  Object.assign(state.conn, patch);
  renderConnection(state.t, state.conn);
}

/** Loads the newest history page (`more`: the next older page) and merges it. */
async function loadHistory(more) {
  const h = state.history;
  const run = more ? state.historyRun : ++state.historyRun;
  h.loading = true;
  h.error = null;
  renderHistoryState();
  try {
    const page = await fetchEvents(state.token, more ? { beforeSeq: h.nextBefore } : {});
    if (run !== state.historyRun) return;
    const events = Array.isArray(page?.events) ? page.events : [];
    for (const ev of events) state.list.upsert(ev);
    if (!more) {
      // Resume from the newest history message: nothing older needs replaying.
      const newest = events.reduce((m, ev) => Math.max(m, Number.isInteger(ev.seq) ? ev.seq : 0), 0);
      state.client?.noteSeq(newest);
      h.loaded = true;
    }
    h.nextBefore = page?.next_before_seq ?? null;
  } catch (e) {
    if (run !== state.historyRun) return;
    if (e instanceof ApiError && e.status === 401) {
      needToken(true);
    } else {
      h.error = e.message;
    }
  } finally {
    if (run === state.historyRun) {
      h.loading = false;
      renderHistoryState();
    }
  }
}

function onEvent(ev) {
  const result = state.list.upsert(ev);
  // A toast for each event that starts while we watch (also one replayed after a
  // reconnect), not for later messages of events that began before the page was opened.
  if (result === 'new' && ev.phase === 'start') state.toasts.show(ev);
  else if (result === 'updated') state.toasts.update(ev);
  renderHistoryState();
}

function onReset() {
  // Resume was impossible (e.g. the database was recreated): the old ids may mean other
  // events now, so start the list over from REST.
  state.list.clear();
  state.history.loaded = false;
  loadHistory(false);
}

/** Asks whether a failed connection was refused for the token. */
async function checkToken() {
  try {
    await fetchHealth(state.token);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) needToken(Boolean(state.token));
  }
}

function startClient() {
  state.client?.close();
  state.client = connect(eventsSocketUrl(state.token), {
    onStateChange: (s) => setConn({ state: s }),
    onConnect: () => {
      setConn({ state: 'open', attempt: 0, everConnected: true, needsToken: false });
      if (!state.history.loaded) loadHistory(false);
    },
    onStatus: (status) => {
      state.status = status;
      renderStatus(state.t, status);
    },
    onEvent,
    onReset,
    onDisconnect: (info) => {
      setConn({ attempt: info.attempt, offline: navigator.onLine === false });
      // The browser hides why a handshake failed; a 401 shows up on a plain request.
      if (!info.wasConnected && info.attempt % 3 === 2) checkToken();
    },
  });
}

function needToken(wrong) {
  state.client?.close();
  state.client = null;
  setConn({ needsToken: true, state: 'closed' });
  $('token-wrong').hidden = !wrong;
  $('token-input').value = '';
  const dialog = $('token-dialog');
  if (!dialog.open) dialog.showModal();
}

function useToken(token) {
  state.token = token;
  saveToken(token);
  state.list.token = token;
  state.toasts.token = token;
  $('token-change').hidden = !token;
  setConn({ needsToken: false, state: 'connecting', attempt: 0 });
  state.list.clear();
  state.history = { loaded: false, loading: false, nextBefore: null, error: null };
  start();
}

async function start() {
  // One plain request first: it tells at once whether a token is needed, and shows the
  // status before the WebSocket is up.
  try {
    const status = await fetchHealth(state.token);
    state.status = status;
    renderStatus(state.t, status);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      needToken(Boolean(state.token));
      return;
    }
    // Anything else (device restarting): the client keeps trying by itself.
  }
  startClient();
}

function init() {
  const lang = pickLanguage(navigator.languages ?? [navigator.language], storedLanguage());
  state.list = new EventList(null, $('event-list'), state.token);
  state.toasts = new Toasts(null, $('toasts'), state.token);
  applyLanguage(lang);
  $('token-change').hidden = !state.token;

  for (const b of document.querySelectorAll('[data-lang]')) {
    b.addEventListener('click', () => {
      try {
        localStorage.setItem(LANG_KEY, b.dataset.lang);
      } catch {
        // No storage: the choice lasts for this page.
      }
      applyLanguage(b.dataset.lang);
    });
  }
  $('load-more').addEventListener('click', () => loadHistory(true));
  $('retry-now').addEventListener('click', () => {
    if (state.conn.needsToken) needToken(false);
    else if (state.client) state.client.reconnect();
    else start();
  });
  $('token-change').addEventListener('click', () => needToken(false));
  $('token-form').addEventListener('submit', () => {
    const token = $('token-input').value.trim();
    if (token) useToken(token);
  });
  window.addEventListener('offline', () => setConn({ offline: true }));
  window.addEventListener('online', () => setConn({ offline: false }));
  start();
}

init();
