// gozcu protocol client: one reconnecting WebSocket to /api/ws/events.
//
// Framework-free ES module that any page on the LAN can import straight from the device:
//
//   import { connect } from 'http://gozcu.local:8080/client.js';
//   const client = connect('ws://gozcu.local:8080/api/ws/events', {
//     onEvent: (ev) => ..., onStatus: (st) => ..., onReset: () => refetchHistory(),
//   });
//
// What it does beyond a plain WebSocket (docs/protocol.md, "Browser client"):
// - reconnects with exponential backoff and full jitter (0.5 s doubling up to 20 s);
// - resumes with `since=<last seq>` (and the database `epoch`), so no event is missed, and
//   drops any event whose seq it has already delivered;
// - sends the text `ping` every 25 s and treats a connection that then stays silent as dead
//   (a half-open TCP connection after Wi-Fi drops can otherwise look alive for minutes);
// - reconnects at once when the tab becomes visible again or the network comes back;
// - passes `reset` on so the page reloads its history over REST.
//
// The pure parts (backoffDelay, SeqGate, resumeUrl) are exported for tests.

/** Defaults of the timing options, in milliseconds. */
export const DEFAULTS = Object.freeze({
  reconnectInterval: 500,
  maxReconnectInterval: 20000,
  maxReconnectAttempts: Infinity,
  pingInterval: 25000,
  deadTimeout: 10000,
  connectTimeout: 15000,
});

/**
 * Delay before retry number `attempt` (1 = first retry): "full jitter", a uniformly random
 * time between 0 and min(max, base * 2^(attempt-1)). Randomness spreads out the reconnects of
 * many dashboards after the device restarts, so they do not all arrive at the same moment.
 */
export function backoffDelay(attempt, base = DEFAULTS.reconnectInterval,
  max = DEFAULTS.maxReconnectInterval, random = Math.random) {
  const exponent = Math.max(0, Math.min(attempt - 1, 52));
  const cap = Math.min(max, base * 2 ** exponent);
  return Math.floor(random() * cap);
}

/**
 * Remembers the highest event seq delivered. The server sends seqs in increasing order and
 * replays everything after `since` on resume, so anything at or below the mark is a repeat.
 */
export class SeqGate {
  constructor(since = null) {
    this.last = Number.isInteger(since) && since >= 0 ? since : null;
  }

  /** True when `seq` is new (and records it); messages without a seq always pass. */
  accept(seq) {
    if (!Number.isInteger(seq)) return true;
    if (this.last !== null && seq <= this.last) return false;
    this.last = seq;
    return true;
  }

  /** Raises the mark to `seq` (e.g. the newest seq of history loaded over REST). */
  note(seq) {
    if (Number.isInteger(seq) && seq >= 0 && (this.last === null || seq > this.last)) {
      this.last = seq;
    }
  }

  /** After a `reset` the old seqs mean nothing (possibly another database). */
  reset() {
    this.last = null;
  }
}

/**
 * The WebSocket URL for the next attempt: `url` (ws:, wss:, http:, https: or relative to the
 * page) with `since` and `epoch` set when a resume point is known, other parameters kept.
 */
export function resumeUrl(url, since, epoch, base = globalThis.location?.href) {
  const u = new URL(url, base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  u.searchParams.delete('since');
  u.searchParams.delete('epoch');
  if (Number.isInteger(since)) {
    u.searchParams.set('since', String(since));
    if (epoch) u.searchParams.set('epoch', epoch);
  }
  return u.toString();
}

/**
 * Opens a connection that keeps itself alive until `close()`.
 *
 * Options: onEvent(data), onStatus(data), onConnect({url, attempt}), onDisconnect({code,
 * reason, wasConnected, willRetry, attempt, delay, error}), onReset(data), onError(error),
 * onStateChange(state), reconnectInterval, maxReconnectInterval, maxReconnectAttempts,
 * pingInterval, deadTimeout, connectTimeout, since (resume point), epoch, WebSocket
 * (constructor; default the global one).
 *
 * "Connected" means the server has greeted us with its first `status` message.
 * Returns { isConnected, error, state, lastSeq, send(msg), reconnect(), close(), noteSeq(seq) }.
 */
export function connect(url, options = {}) {
  const opt = { ...DEFAULTS, ...options };
  const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
  if (typeof WebSocketImpl !== 'function') {
    throw new Error('gozcu client: this environment has no WebSocket; pass options.WebSocket');
  }
  const gate = new SeqGate(options.since);
  let socket = null;
  let state = 'connecting';
  let connected = false;
  let attempt = 0;
  let lastError = null;
  let epoch = options.epoch ?? null;
  let retryTimer = null;
  let pingTimer = null;
  let deadTimer = null;
  let stopped = false;

  const call = (name, ...args) => {
    const fn = options[name];
    if (typeof fn !== 'function') return;
    try {
      fn(...args);
    } catch (e) {
      // A throwing callback must not break the connection logic.
      console.error(`gozcu client: ${name} threw`, e);
    }
  };

  const setState = (next) => {
    if (state === next) return;
    state = next;
    call('onStateChange', next);
  };

  const clearTimers = () => {
    clearTimeout(retryTimer);
    clearInterval(pingTimer);
    clearTimeout(deadTimer);
    retryTimer = pingTimer = deadTimer = null;
  };

  // Sends `ping` and expects some message back within deadTimeout.
  const probe = () => {
    if (!socket || socket.readyState !== 1 || deadTimer !== null) return;
    try {
      socket.send('ping');
    } catch {
      // A failing send shows up as a close event.
    }
    deadTimer = setTimeout(() => {
      deadTimer = null;
      drop(4000, `no answer to ping within ${opt.deadTimeout / 1000} s`);
    }, opt.deadTimeout);
  };

  const detach = (ws) => {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
  };

  const open = () => {
    clearTimers();
    if (stopped) return;
    setState('connecting');
    const target = resumeUrl(url, gate.last, epoch);
    let ws;
    try {
      ws = new WebSocketImpl(target);
    } catch (e) {
      lastError = e instanceof Error ? e : new Error(String(e));
      call('onError', lastError);
      retry(1006, lastError.message, false);
      return;
    }
    socket = ws;
    // A handshake into a black hole can hang for minutes; the greeting must come in time.
    deadTimer = setTimeout(() => {
      deadTimer = null;
      drop(4001, `no answer from the server within ${opt.connectTimeout / 1000} s`);
    }, opt.connectTimeout);
    ws.onopen = () => {
      pingTimer = setInterval(probe, opt.pingInterval);
    };
    ws.onmessage = (msg) => onMessage(msg.data, target);
    ws.onerror = () => {
      // The browser tells nothing more; the close event that follows carries the code.
    };
    ws.onclose = (ev) => {
      if (socket !== ws) return;
      socket = null;
      lost(ev.code, ev.reason);
    };
  };

  const onMessage = (text, target) => {
    clearTimeout(deadTimer);
    deadTimer = null;
    if (text === 'pong' || typeof text !== 'string') return;
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      call('onError', new Error(`gozcu client: not JSON: ${text.slice(0, 80)}`));
      return;
    }
    const data = msg?.data ?? {};
    switch (msg?.type) {
      case 'status':
        if (typeof data.epoch === 'string' && data.epoch) epoch = data.epoch;
        if (!connected) {
          connected = true;
          lastError = null;
          const was = attempt;
          attempt = 0;
          setState('open');
          call('onConnect', { url: target, attempt: was });
        }
        call('onStatus', data);
        break;
      case 'event':
        if (gate.accept(data.seq)) call('onEvent', data);
        break;
      case 'reset':
        gate.reset();
        call('onReset', data);
        break;
      case 'error':
        lastError = new Error(`server: ${data.code ?? 'error'}: ${data.message ?? ''}`);
        call('onError', lastError);
        break;
      default:
        break;
    }
  };

  // The current socket is gone (closed by the server, the network or us).
  const lost = (code, reason) => {
    clearTimers();
    const wasConnected = connected;
    connected = false;
    if (code !== 1000 && code !== 1001) {
      lastError = new Error(reason ? `connection closed (${code}): ${reason}`
        : `connection closed (${code})`);
    }
    retry(code, reason, wasConnected);
  };

  const retry = (code, reason, wasConnected) => {
    if (stopped) return;
    attempt += 1;
    if (attempt > opt.maxReconnectAttempts) {
      lastError = new Error(`gave up after ${opt.maxReconnectAttempts} reconnect attempts`);
      setState('closed');
      call('onDisconnect', { code, reason, wasConnected, willRetry: false, attempt, delay: null,
        error: lastError });
      return;
    }
    const delay = backoffDelay(attempt, opt.reconnectInterval, opt.maxReconnectInterval);
    setState('waiting');
    call('onDisconnect', { code, reason, wasConnected, willRetry: true, attempt, delay,
      error: lastError });
    retryTimer = setTimeout(open, delay);
  };

  // Abandons a socket that looks dead without waiting for a close handshake that may never
  // come (the browser can take minutes to notice a vanished peer).
  const drop = (code, reason) => {
    const ws = socket;
    if (!ws) return;
    socket = null;
    detach(ws);
    try {
      ws.close(4000, reason.slice(0, 120));
    } catch {
      // Already closing.
    }
    lost(code, reason);
  };

  // Tab visible again or network back: a waiting client retries now, a connected one checks
  // that its connection survived.
  const wake = () => {
    if (stopped) return;
    if (state === 'waiting' || state === 'closed') {
      // After giving up, the user coming back is worth a fresh series of attempts.
      if (state === 'closed') attempt = 0;
      open();
    } else if (state === 'open') {
      probe();
    }
  };
  const onVisibility = () => {
    if (globalThis.document?.visibilityState === 'visible') wake();
  };
  const listen = (target, name, fn, on) => {
    if (typeof target?.addEventListener !== 'function') return;
    if (on) target.addEventListener(name, fn);
    else target.removeEventListener(name, fn);
  };
  listen(globalThis.document, 'visibilitychange', onVisibility, true);
  listen(globalThis.window, 'online', wake, true);

  open();

  return {
    get isConnected() {
      return connected;
    },
    get error() {
      return lastError;
    },
    /** connecting | open | waiting (for a retry) | closed */
    get state() {
      return state;
    },
    /** Highest event seq delivered (the next resume point), or null. */
    get lastSeq() {
      return gate.last;
    },
    /** Sends a string as is or an object as JSON; false when not connected. */
    send(message) {
      if (!socket || socket.readyState !== 1) return false;
      socket.send(typeof message === 'string' ? message : JSON.stringify(message));
      return true;
    },
    /** Drops the current connection (if any) and connects again now, backoff reset. */
    reconnect() {
      stopped = false;
      attempt = 0;
      if (socket) {
        const ws = socket;
        socket = null;
        detach(ws);
        try {
          ws.close(1000, 'reconnect');
        } catch {
          // Already closing.
        }
        if (connected) {
          connected = false;
          call('onDisconnect', { code: 1000, reason: 'reconnect', wasConnected: true,
            willRetry: true, attempt: 0, delay: 0, error: null });
        }
      }
      open();
    },
    /** Closes for good; no callback runs after this. */
    close() {
      stopped = true;
      clearTimers();
      listen(globalThis.document, 'visibilitychange', onVisibility, false);
      listen(globalThis.window, 'online', wake, false);
      connected = false;
      if (socket) {
        const ws = socket;
        socket = null;
        detach(ws);
        try {
          ws.close(1000, 'client closed');
        } catch {
          // Already closing.
        }
      }
      state = 'closed';
    },
    /** Raises the resume point, e.g. to the newest seq of history loaded over REST. */
    noteSeq(seq) {
      gate.note(seq);
    },
  };
}
