// Renders the connection indicator and the device status (camera counts and list, detector
// with its NPU fallback reason or why it is off, storage with events waiting to be stored
// and the snapshot state, a refused configuration reload, uptime) from the
// `status` message. DOM only through textContent, never HTML
// built from data.

import {
  aiFallbackText, aiReasonText, formatDuration, formatMegabytes, formatTime,
} from './i18n.js';

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

/** Attempts shown amber before the indicator turns red (about 4 s of backoff on average). */
const AMBER_ATTEMPTS = 3;

/**
 * What the indicator shows for a connection: { tone: live|amber|red, text, retry }.
 * `conn` is { state, attempt, offline, needsToken, everConnected }. Pure, for tests.
 */
export function connectionView(t, conn) {
  if (conn.needsToken) return { tone: 'red', text: t('conn.disconnected'), retry: true };
  switch (conn.state) {
    case 'open':
      return { tone: 'live', text: t('conn.live'), retry: false };
    case 'closed':
      return { tone: 'red', text: t('conn.gaveUp'), retry: true };
    default:
      break;
  }
  if (!conn.everConnected && conn.attempt === 0) {
    return { tone: 'amber', text: t('conn.connecting'), retry: false };
  }
  const n = Math.max(1, conn.attempt);
  if (conn.offline) {
    return { tone: 'red', text: `${t('conn.offline')} · ${t('conn.attempt', { n })}`, retry: true };
  }
  if (conn.attempt > AMBER_ATTEMPTS) {
    return { tone: 'red', text: `${t('conn.disconnected')} · ${t('conn.attempt', { n })}`, retry: true };
  }
  return { tone: 'amber', text: t('conn.reconnecting', { n }), retry: false };
}

export function renderConnection(t, conn) {
  const view = connectionView(t, conn);
  const box = $('conn');
  box.className = `conn conn-${view.tone}`;
  box.dataset.state = conn.needsToken ? 'token' : conn.state;
  $('conn-text').textContent = view.text;
  $('retry-now').hidden = !view.retry;
  const stale = view.tone !== 'live';
  document.body.classList.toggle('is-stale', stale);
  $('stale-note').hidden = !stale || !conn.everConnected;
}

function fact(dl, label, value, className) {
  const dt = el('dt', null, label);
  const dd = el('dd', className, value);
  dl.append(dt, dd);
}

function cameraItem(t, cam) {
  const li = el('li', `camera cam-${cam.state}`);
  li.dataset.camera = cam.id;
  const head = el('div', 'camera-head');
  head.append(el('span', 'camera-name', cam.name || cam.id));
  const state = t(`cam.state.${cam.state}`);
  head.append(el('span', `state state-${cam.state}`, state.startsWith('cam.state.') ? cam.state : state));
  li.append(head);
  const meta = [];
  if (cam.state === 'online' && typeof cam.fps === 'number') {
    meta.push(t('cam.fps', { fps: new Intl.NumberFormat(t.locale, { maximumFractionDigits: 1 }).format(cam.fps) }));
  }
  if (cam.frames_skipped > 0) meta.push(t('cam.skipped', { n: cam.frames_skipped }));
  if (cam.frames_corrupt > 0) meta.push(t('cam.corrupt', { n: cam.frames_corrupt }));
  if (meta.length) li.append(el('div', 'camera-meta', meta.join(' · ')));
  if (cam.last_error) li.append(el('div', 'camera-error', cam.last_error));
  return li;
}

/**
 * What the storage part of the status needs the operator to know beyond OK / error, as
 * [{ key, text }] (key names the fact for styling and tests). Pure, for tests.
 */
export function storageNotes(t, storage) {
  const notes = [];
  if (storage.pending > 0) notes.push({ key: 'pending', text: t('sys.storage.pending', { n: storage.pending }) });
  if (storage.dropped > 0) notes.push({ key: 'dropped', text: t('sys.storage.dropped', { n: storage.dropped }) });
  if (storage.snapshots === 'low_space') {
    notes.push({ key: 'snapshots', text: t('sys.snapshots.lowSpace') });
  } else if (storage.snapshots === 'error') {
    notes.push({ key: 'snapshots', text: t('sys.snapshots.error', { error: storage.snapshot_error ?? '?' }) });
  }
  if (storage.notice) notes.push({ key: 'notice', text: storage.notice });
  return notes;
}

export function renderStatus(t, status) {
  if (!status) return;
  const counts = status.cameras ?? {};
  for (const key of ['online', 'retrying', 'down']) {
    $(`count-${key}`).textContent = String(counts[key] ?? 0);
  }
  const list = $('camera-list');
  const cams = Array.isArray(status.camera_list) ? status.camera_list : [];
  list.replaceChildren(...cams.map((cam) => cameraItem(t, cam)));
  if (!cams.length) list.append(el('li', 'camera-none', t('cams.none')));

  const ai = status.ai ?? {};
  const pill = $('ai-state');
  pill.textContent = ai.enabled ? t('ai.on') : t('ai.off');
  pill.className = `pill ${ai.enabled ? 'pill-on' : 'pill-off'}`;
  const aiList = $('ai-details');
  aiList.replaceChildren();
  if (ai.enabled) {
    if (ai.backend) fact(aiList, t('ai.backend'), String(ai.backend).toUpperCase());
    if (ai.model) fact(aiList, t('ai.model'), String(ai.model).split('/').pop(), 'mono');
    if (typeof ai.inference_ms === 'number') {
      const ms = new Intl.NumberFormat(t.locale, { maximumFractionDigits: 1 }).format(ai.inference_ms);
      fact(aiList, t('ai.inference'), t('ai.ms', { ms }));
    }
    if (ai.fallback) {
      fact(aiList, t('ai.npu'), aiFallbackText(t, ai.fallback), 'warn ai-fallback');
      if (ai.fallback.message) aiList.append(el('p', 'ai-reason ai-fallback-message mono', ai.fallback.message));
    }
  } else {
    aiList.append(el('p', 'ai-reason', aiReasonText(t, ai.reason ?? 'disabled')));
    // The daemon's own message names the file and the setting to change.
    if (ai.error) aiList.append(el('p', 'ai-reason ai-error mono', ai.error));
  }

  const sys = $('sys-details');
  sys.replaceChildren();
  const reloadError = status.config?.reload_error;
  if (reloadError) {
    const time = formatTime(t, status.config.reload_error_at) || '?';
    fact(sys, t('sys.config'), t('sys.config.reloadFailed', { time, error: reloadError }), 'bad reload-error');
  }
  const storage = status.storage ?? {};
  if (storage.state === 'error') {
    fact(sys, t('sys.storage'), t('sys.storage.error', { error: storage.error ?? '?' }), 'bad');
  } else if (storage.state) {
    fact(sys, t('sys.storage'), typeof storage.free_mb === 'number'
      ? t('sys.storage.ok', { free: formatMegabytes(t, storage.free_mb) })
      : t('sys.storage.okNoFree'));
  }
  for (const note of storageNotes(t, storage)) {
    fact(sys, t(`sys.note.${note.key}`), note.text, `warn storage-${note.key}`);
  }
  if (typeof status.uptime_s === 'number') fact(sys, t('sys.uptime'), formatDuration(t, status.uptime_s));
  if (typeof status.clients === 'number') fact(sys, t('sys.clients'), String(status.clients));
  if (status.version) fact(sys, t('sys.version'), status.version, 'mono');
}
