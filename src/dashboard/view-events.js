// The event list (one row per event id, updated in place as its start / update / end
// messages arrive, newest start first) and the "New event" toasts.

import { eventTypeLabel, formatPercent, formatTime, formatDuration } from './i18n.js';
import { snapshotSrc } from './api.js';

/** Rows kept in the page; older ones are dropped (and can be loaded again with "Load more"). */
const MAX_ROWS = 500;
const MAX_TOASTS = 4;
const TOAST_MS = 8000;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

/** Start time in ms for ordering; unparsable times sort last. */
const startMs = (ev) => {
  const ms = Date.parse(ev.timestamp);
  return Number.isNaN(ms) ? -Infinity : ms;
};

/** Newer start first; the same start: higher event number first. */
export function compareEvents(a, b) {
  const d = startMs(b) - startMs(a);
  if (d !== 0) return d;
  const n = (ev) => Number(String(ev.id).replace(/^\D+/, '')) || 0;
  return n(b) - n(a);
}

/** A snapshot with the detection box drawn over it (box is normalized x1,y1,x2,y2). */
export function snapshotFigure(t, ev, token, className) {
  const fig = el('div', className);
  const src = snapshotSrc(ev, token);
  if (!src) {
    fig.classList.add('no-snapshot');
    fig.append(el('span', 'no-snapshot-text', t('events.noSnapshot')));
    return fig;
  }
  const img = el('img');
  img.alt = '';
  img.decoding = 'async';
  img.src = src;
  fig.append(img);
  const b = Array.isArray(ev.box) && ev.box.length === 4 ? ev.box.map(Number) : null;
  if (b && b.every(Number.isFinite)) {
    const clamp = (v) => Math.min(1, Math.max(0, v));
    const [x1, y1, x2, y2] = b.map(clamp);
    const box = el('span', 'box');
    box.style.left = `${x1 * 100}%`;
    box.style.top = `${y1 * 100}%`;
    box.style.width = `${Math.max(0, x2 - x1) * 100}%`;
    box.style.height = `${Math.max(0, y2 - y1) * 100}%`;
    fig.append(box);
  }
  return fig;
}

export class EventList {
  constructor(t, listEl, token) {
    this.t = t;
    this.listEl = listEl;
    this.token = token;
    /** id -> { ev, row } */
    this.rows = new Map();
  }

  get size() {
    return this.rows.size;
  }

  has(id) {
    return this.rows.has(id);
  }

  get(id) {
    return this.rows.get(id)?.ev;
  }

  /** Smallest latest-seq shown: where "Load more" continues after rows were trimmed. */
  oldestSeq() {
    let min = null;
    for (const { ev } of this.rows.values()) if (min === null || ev.seq < min) min = ev.seq;
    return min;
  }

  clear() {
    this.rows.clear();
    this.listEl.replaceChildren();
  }

  /**
   * Shows `ev` unless a newer message (higher seq) of the same event is already shown.
   * Returns 'new', 'updated' or 'stale'.
   */
  upsert(ev) {
    if (!ev || typeof ev.id !== 'string') return 'stale';
    const known = this.rows.get(ev.id);
    if (known && Number.isInteger(known.ev.seq) && Number.isInteger(ev.seq) && ev.seq <= known.ev.seq) {
      return 'stale';
    }
    const row = this.renderRow(ev);
    if (known) {
      known.row.replaceWith(row);
      this.rows.set(ev.id, { ev, row });
      if (startMs(known.ev) !== startMs(ev)) this.place(ev, row);
      return 'updated';
    }
    this.rows.set(ev.id, { ev, row });
    this.place(ev, row);
    this.trim();
    return 'new';
  }

  place(ev, row) {
    // Most rows are the newest: walk from the top.
    for (const child of this.listEl.children) {
      if (child === row) continue;
      const other = this.rows.get(child.dataset.id)?.ev;
      if (other && compareEvents(ev, other) < 0) {
        this.listEl.insertBefore(row, child);
        return;
      }
    }
    this.listEl.append(row);
  }

  trim() {
    while (this.rows.size > MAX_ROWS) {
      const last = this.listEl.lastElementChild;
      if (!last) return;
      this.rows.delete(last.dataset.id);
      last.remove();
    }
  }

  /** Re-renders every row, e.g. after a language change. */
  refresh(t) {
    this.t = t;
    for (const [id, entry] of this.rows) {
      const row = this.renderRow(entry.ev);
      entry.row.replaceWith(row);
      this.rows.set(id, { ev: entry.ev, row });
    }
  }

  renderRow(ev) {
    const t = this.t;
    const ongoing = ev.phase !== 'end';
    const li = el('li', `event ${ongoing ? 'is-ongoing' : 'is-ended'}`);
    li.dataset.id = ev.id;
    li.dataset.seq = String(ev.seq);
    li.dataset.phase = ev.phase ?? '';
    li.dataset.camera = ev.camera_id ?? '';
    li.append(snapshotFigure(t, ev, this.token, 'thumb'));

    const info = el('div', 'event-info');
    const head = el('div', 'event-head');
    head.append(el('span', `type type-${String(ev.event_type).replace(/[^\w-]/g, '')}`,
      eventTypeLabel(t, ev.event_type)));
    head.append(el('span', 'event-camera', ev.camera_name || ev.camera_id));
    const phase = el('span', ongoing ? 'phase ongoing' : 'phase ended',
      ongoing ? t('events.ongoing') : t('events.ended'));
    head.append(phase);
    info.append(head);

    const when = el('div', 'event-time');
    const start = el('time', 'start', formatTime(t, ev.timestamp));
    start.dateTime = ev.timestamp ?? '';
    when.append(start);
    if (ev.end_timestamp) {
      when.append(document.createTextNode(' – '));
      const end = el('time', 'end', formatTime(t, ev.end_timestamp));
      end.dateTime = ev.end_timestamp;
      when.append(end);
      const secs = (Date.parse(ev.end_timestamp) - Date.parse(ev.timestamp)) / 1000;
      if (Number.isFinite(secs) && secs >= 0) {
        // A visit shorter than a second still lasted: "1 s" reads better than "0 s".
        when.append(el('span', 'duration', ` (${formatDuration(t, Math.max(1, Math.round(secs)))})`));
      }
    }
    info.append(when);

    const meta = [t('events.confidence', { pct: formatPercent(t, ev.confidence) })];
    if (ev.end_reason) {
      const key = `events.reason.${ev.end_reason}`;
      const text = t(key);
      meta.push(text === key ? ev.end_reason : text);
    }
    info.append(el('div', 'event-meta', meta.join(' · ')));
    li.append(info);
    return li;
  }
}

/** The "New event: <camera>" notices, newest on top, each closing by itself. */
export class Toasts {
  constructor(t, container, token) {
    this.t = t;
    this.container = container;
    this.token = token;
    /** id -> element */
    this.open = new Map();
  }

  show(ev) {
    const t = this.t;
    this.dismiss(ev.id);
    const toast = el('div', 'toast');
    toast.dataset.id = ev.id;
    toast.setAttribute('role', 'status');
    toast.append(snapshotFigure(t, ev, this.token, 'toast-thumb'));
    const text = el('div', 'toast-text');
    text.append(el('strong', 'toast-title', t('toast.new', { camera: ev.camera_name || ev.camera_id })));
    text.append(el('span', 'toast-sub',
      `${eventTypeLabel(t, ev.event_type)} · ${formatPercent(t, ev.confidence)} · ${formatTime(t, ev.timestamp)}`));
    toast.append(text);
    const close = el('button', 'toast-close', '×');
    close.type = 'button';
    close.setAttribute('aria-label', t('toast.close'));
    close.addEventListener('click', () => this.dismiss(ev.id));
    toast.append(close);
    this.container.prepend(toast);
    this.open.set(ev.id, toast);
    toast.timer = setTimeout(() => this.dismiss(ev.id), TOAST_MS);
    while (this.open.size > MAX_TOASTS) {
      this.dismiss(this.open.keys().next().value);
    }
  }

  /** A better snapshot for an event whose toast is still up. */
  update(ev) {
    const toast = this.open.get(ev.id);
    if (!toast) return;
    const fig = snapshotFigure(this.t, ev, this.token, 'toast-thumb');
    toast.querySelector('.toast-thumb')?.replaceWith(fig);
  }

  dismiss(id) {
    const toast = this.open.get(id);
    if (!toast) return;
    clearTimeout(toast.timer);
    this.open.delete(id);
    toast.remove();
  }
}
