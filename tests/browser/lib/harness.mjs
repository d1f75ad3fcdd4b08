// Shared pieces of the browser suite: locating the daemon binary, test data and Chromium,
// running the real daemon on a temporary config, launching Chromium through playwright-core,
// and small waiting helpers.

import { spawn } from 'node:child_process';
import { after, before } from 'node:test';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '../../..');
export const OUTPUT = path.resolve(here, '../output');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Flags for a headless Chromium on a machine without network (see docs/protocol.md, "Browser client"). */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic',
];

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export function sharedDir() {
  return process.env.GOZCU_SHARED ?? path.resolve(ROOT, '../shared');
}

export function gozcuBin() {
  return process.env.GOZCU_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, 'target'), 'debug/gozcu');
}

export const replayDir = () => path.join(sharedDir(), 'testdata/pets2009/img');
export const modelPath = () => path.join(sharedDir(), 'models/yolox_nano.onnx');

/**
 * Why this suite cannot run here, or null. Missing pieces fail the run under CI (env CI
 * set) and skip it elsewhere, with the note printed.
 */
export function missingPrerequisite() {
  const problems = [];
  if (!fs.existsSync(CHROMIUM)) problems.push(`no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  if (!fs.existsSync(gozcuBin())) problems.push(`no daemon binary at ${gozcuBin()} (make daemon-bin, or set GOZCU_BIN)`);
  if (!fs.existsSync(replayDir())) problems.push(`no test images at ${replayDir()} (set GOZCU_SHARED)`);
  if (!fs.existsSync(modelPath())) problems.push(`no model at ${modelPath()} (set GOZCU_SHARED)`);
  if (!problems.length) return null;
  const text = problems.join('; ');
  if (process.env.CI) throw new Error(`browser tests cannot run: ${text}`);
  console.log(`# skipping browser tests: ${text}`);
  return text;
}

/** A TCP port free right now on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const toml = (v) => JSON.stringify(String(v));

/**
 * Writes a daemon config: two replay cameras on the PETS 2009 street scene and the CPU
 * detector, with short event timings so events start and end every few seconds.
 * `detector` replaces the backend and model lines (TOML text).
 */
export function writeConfig(dir, { port, token = '', allowedOrigins = [], cameras, detector } = {}) {
  const cams = cameras ?? [
    { id: 'street', name: 'Street' },
    { id: 'door', name: 'Front door' },
  ];
  const text = `# written by tests/browser
[server]
listen = [${toml(`127.0.0.1:${port}`)}]
token = ${toml(token)}
allowed_origins = [${allowedOrigins.map(toml).join(', ')}]

[storage]
dir = ${toml(path.join(dir, 'data'))}

[detector]
${detector ?? `backend = "cpu"
model = ${toml(modelPath())}`}
family = "yolox"
labels = ["person"]
threads = 1

[events]
end_after_s = 2
update_interval_s = 1

[log]
level = "info"
${cams.map((c) => `
[[cameras]]
id = ${toml(c.id)}
name = ${toml(c.name)}
device = ${toml(`replay:${replayDir()}`)}
width = 768
height = 576
fps = 7
detect_fps = 7.0
`).join('')}`;
  const file = path.join(dir, 'gozcu.toml');
  fs.writeFileSync(file, text);
  return file;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Retries `fn` until it returns a truthy value; the message says what never happened. */
export async function waitFor(fn, { timeout = 30000, interval = 200, message = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeout} ms waiting for ${message}${last ? `: ${last.message}` : ''}`);
    }
    await sleep(interval);
  }
}

/**
 * Waits for a toast of an event whose id is not in `knownIds` and returns its id and title,
 * read in one step: toasts close after 8 s and newer ones push older ones out, so a second
 * read may find it gone.
 */
export function newToast(page, knownIds, { timeout = 45000 } = {}) {
  return waitFor(() => page.$$eval('#toasts .toast', (toasts, known) => {
    const t = toasts.find((x) => !known.includes(x.dataset.id));
    return t && { id: t.dataset.id, title: t.querySelector('.toast-title')?.textContent };
  }, [...knownIds]), { timeout, message: 'a toast for a new event' });
}

/**
 * Some event row's snapshot has loaded real pixels. (Not the first row's: each new event
 * takes that place and each update draws its row anew, so during a burst the first image
 * may never be seen loaded.)
 */
export const someSnapshotLoaded = (page) => page.$$eval('#event-list .thumb img',
  (imgs) => imgs.some((img) => img.complete && img.naturalWidth > 0));

/** GETs JSON from the daemon (with the token when given). */
export async function api(port, p, token = '') {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { headers });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`GET ${p}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** The real gozcu daemon on a temporary config; start() / stop() can be repeated. */
export class Daemon {
  constructor(name, options = {}) {
    this.name = name;
    this.options = options;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `gozcu-browser-${name}-`));
    this.proc = null;
    this.port = null;
    fs.mkdirSync(OUTPUT, { recursive: true });
    this.logPath = path.join(OUTPUT, `${name}-daemon.log`);
    fs.writeFileSync(this.logPath, '');
  }

  get url() {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** Starts the daemon (same port and database as before on a restart) and waits for HTTP. */
  async start() {
    if (this.port === null) {
      this.port = await freePort();
      this.config = writeConfig(this.dir, { port: this.port, ...this.options });
    }
    const log = fs.openSync(this.logPath, 'a');
    fs.writeSync(log, `\n--- start ${new Date().toISOString()} ---\n`);
    const proc = spawn(gozcuBin(), ['run', '--config', this.config], {
      stdio: ['ignore', log, log],
      env: { ...process.env, NO_COLOR: '1' },
    });
    fs.closeSync(log);
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
    const early = this.exited.then(({ code, signal }) => {
      throw new Error(`gozcu exited early (code ${code}, signal ${signal}); see ${this.logPath}`);
    });
    await Promise.race([
      early,
      waitFor(async () => {
        const res = await fetch(`${this.url}api/health`, { headers: this.authHeaders() });
        return res.status === 200;
      }, { timeout: 30000, message: `gozcu to answer on ${this.url} (log: ${this.logPath})` }),
    ]);
    early.catch(() => {});
  }

  authHeaders() {
    return this.options.token ? { Authorization: `Bearer ${this.options.token}` } : {};
  }

  /** SIGTERM (a clean shutdown closes WebSockets with 1001), SIGKILL after 10 s. */
  async stop(signal = 'SIGTERM') {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return null;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
    const result = await this.exited;
    clearTimeout(timer);
    this.proc = null;
    return result;
  }

  api(p) {
    return api(this.port, p, this.options.token ?? '');
  }

  /** Deletes the database and snapshots (only while stopped): the next start has a new epoch. */
  wipeStorage() {
    if (this.proc) throw new Error('stop the daemon before wiping its storage');
    fs.rmSync(path.join(this.dir, 'data'), { recursive: true, force: true });
  }

  /** Stops the daemon and removes its temporary folder. */
  async dispose() {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Chromium from Debian through playwright-core (no browser download). */
/**
 * For a describe block: `before` starts a daemon (after `prepare(daemon)`, which may change
 * its options or write files into its folder) and Chromium, `after` closes both. Returns
 * `{ daemon, browser }`, filled in once `before` has run.
 */
export function useDaemonAndBrowser(name, options = {}, prepare = () => {}) {
  const env = { daemon: null, browser: null };
  before(async () => {
    env.daemon = new Daemon(name, options);
    await prepare(env.daemon);
    await env.daemon.start();
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.daemon?.dispose();
  });
  return env;
}

export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  // playwright gives every launch a new, empty profile directory of its own.
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** Saves a screenshot under output/ and returns its path. */
export async function screenshot(page, name) {
  fs.mkdirSync(OUTPUT, { recursive: true });
  const file = path.join(OUTPUT, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/**
 * Collects page errors and console errors so a test can assert there were none. Messages
 * matching `expected` (e.g. Chromium's note on a refused WebSocket while the daemon is
 * stopped on purpose) are left out.
 */
export function watchConsole(page, expected = /^$/) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  return problems;
}

/** Chromium's console lines for connections refused while a daemon is down. */
export const CONNECTION_NOISE = /WebSocket connection to .* failed|Failed to load resource: net::ERR_CONNECTION_REFUSED|net::ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET/;

/**
 * Records the event messages the page's own code receives, by wrapping `WebSocket` inside
 * the page. With page.routeWebSocket, `page.on('websocket')` sees the real socket in front
 * of the test's proxy, so a message the proxy forwards into a closing socket would count as
 * received though the app never got it. Call this after routeWebSocket: init scripts run in
 * the order they were added, so it wraps Playwright's routing mock, the object the app
 * talks to (`wrapsNative()` says which one it wrapped).
 */
export async function recordAppSocket(page) {
  await page.addInitScript(() => {
    const Base = globalThis.WebSocket;
    const rec = { sockets: 0, events: [], wrapsNative: /\[native code\]/.test(Function.prototype.toString.call(Base)) };
    window.__gozcuRecorder = rec;
    globalThis.WebSocket = class extends Base {
      constructor(...args) {
        super(...args);
        const conn = rec.sockets++;
        this.addEventListener('message', (m) => {
          if (typeof m.data !== 'string' || m.data === 'pong') return;
          try {
            const msg = JSON.parse(m.data);
            if (msg.type === 'event') rec.events.push({ conn, ...msg.data });
          } catch {
            // Not JSON: ignored.
          }
        });
      }
    };
  });
  const read = (key) => page.evaluate((k) => window.__gozcuRecorder?.[k], key);
  return {
    events: async () => (await read('events')) ?? [],
    wrapsNative: () => read('wrapsNative'),
  };
}

/**
 * Records every event message each WebSocket of `page` receives (in order, per connection)
 * and the URLs it connected to. Works for routed and unrouted sockets alike.
 */
export function recordSocket(page) {
  const rec = { urls: [], frames: [] };
  page.on('websocket', (ws) => {
    const conn = rec.urls.length;
    rec.urls.push(ws.url());
    ws.on('framereceived', ({ payload }) => {
      if (typeof payload !== 'string' || payload === 'pong') return;
      try {
        const msg = JSON.parse(payload);
        rec.frames.push({ conn, type: msg.type, data: msg.data });
      } catch {
        // Not JSON: ignored.
      }
    });
  });
  rec.events = () => rec.frames.filter((f) => f.type === 'event').map((f) => ({ conn: f.conn, ...f.data }));
  rec.seqs = () => rec.events().map((e) => e.seq);
  return rec;
}
