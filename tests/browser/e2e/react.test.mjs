// react.js in a React page of another origin (as a LAN dashboard would be): React 18 from
// node_modules (UMD builds, nothing from the internet) served by a tiny server here, the
// hook module from the daemon, the WebSocket straight to the daemon (its origin allowed in
// server.allowed_origins).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  Daemon, launchBrowser, missingPrerequisite, waitFor, watchConsole, screenshot,
  CONNECTION_NOISE, DESKTOP,
} from '../lib/harness.mjs';

const skip = missingPrerequisite() ?? false;
const modules = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../node_modules');

const UMD = {
  '/node_modules/react.js': path.join(modules, 'react/umd/react.development.js'),
  '/node_modules/react-dom.js': path.join(modules, 'react-dom/umd/react-dom.development.js'),
};

/** The test page: two components, one on the global-React hook, one on createUseWebSocket. */
function pageHtml(moduleUrl, wsUrl) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>React + gozcu</title><link rel="icon" href="data:,">
<script src="/node_modules/react.js"></script>
<script src="/node_modules/react-dom.js"></script>
</head><body><div id="root"></div>
<script type="module">
import { useWebSocket, createUseWebSocket } from ${JSON.stringify(moduleUrl)};
const e = React.createElement;
const WS = ${JSON.stringify(wsUrl)};
const useBound = createUseWebSocket(React);

function Live() {
  const [events, setEvents] = React.useState([]);
  const [status, setStatus] = React.useState(null);
  const { isConnected, error, send, reconnect } = useWebSocket(WS, {
    onEvent: (ev) => setEvents((list) => [ev, ...list.filter((x) => x.id !== ev.id)].slice(0, 200)),
    onStatus: setStatus,
    maxReconnectInterval: 2000,
  });
  return e('section', { id: 'live' },
    e('p', { id: 'conn' }, isConnected ? 'connected' : 'disconnected'),
    e('p', { id: 'error' }, error ? error.message : ''),
    e('p', { id: 'online' }, status ? String(status.cameras.online) : ''),
    e('button', { id: 'reconnect', onClick: reconnect }, 'reconnect'),
    e('button', { id: 'ping', onClick: () => { window.pingSent = send('ping'); } }, 'ping'),
    e('ul', { id: 'events' }, events.map((ev) => e('li', {
      key: ev.id, 'data-id': ev.id, 'data-seq': ev.seq, 'data-camera': ev.camera_id,
    }, ev.camera_name + ': ' + ev.event_type + ' (' + ev.phase + ')'))));
}

function DoorOnly() {
  const [cams, setCams] = React.useState([]);
  const { isConnected } = useBound(WS + '&cameras=door', {
    onEvent: (ev) => setCams((list) => [...list, ev.camera_id]),
  });
  return e('section', { id: 'door' },
    e('p', { id: 'door-conn' }, isConnected ? 'connected' : 'disconnected'),
    e('p', { id: 'door-cams' }, cams.join(',')));
}

function App() {
  const [showDoor, setShowDoor] = React.useState(true);
  return e('main', null,
    e(Live),
    e('button', { id: 'toggle-door', onClick: () => setShowDoor((s) => !s) }, 'toggle'),
    showDoor ? e(DoorOnly) : null);
}
ReactDOM.createRoot(document.getElementById('root')).render(e(App));
</script></body></html>`;
}

/**
 * The page's own server. `/device/*` passes requests on to the daemon, for when the daemon
 * does not allow cross-origin module imports (see the test).
 */
function startPageServer(state) {
  const server = http.createServer(async (req, res) => {
    const file = UMD[req.url];
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(pageHtml(state.moduleUrl, state.wsUrl));
    } else if (file) {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(fs.readFileSync(file));
    } else if (req.url.startsWith('/device/')) {
      const upstream = await fetch(`${state.daemonUrl}${req.url.slice('/device/'.length)}`);
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/plain' });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('React hook (react.js) in a page of another origin', { skip }, () => {
  let daemon;
  let browser;
  let pageServer;
  const state = {};

  before(async () => {
    pageServer = await startPageServer(state);
    const origin = `http://127.0.0.1:${pageServer.address().port}`;
    daemon = new Daemon('react', { allowedOrigins: [origin] });
    await daemon.start();
    state.daemonUrl = daemon.url;
    state.wsUrl = `ws://127.0.0.1:${daemon.port}/api/ws/events?x=1`;
    // A LAN dashboard imports the hook straight from the device when the device allows it
    // (Access-Control-Allow-Origin); otherwise through its own server.
    const probe = await fetch(`${daemon.url}react.js`, { headers: { Origin: origin } });
    const cors = probe.headers.get('access-control-allow-origin');
    if (probe.ok && (cors === origin || cors === '*')) {
      state.moduleUrl = `${daemon.url}react.js`;
    } else {
      console.log(`# the daemon answered /react.js for Origin ${origin} with ${probe.status} and no `
        + 'Access-Control-Allow-Origin: importing it through the page\'s own server');
      state.moduleUrl = `${origin}/device/react.js`;
    }
    state.origin = origin;
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await daemon?.dispose();
    pageServer?.close();
  });

  test('connects, shows status and events, filters by camera, survives a restart', async () => {
    const ctx = await browser.newContext({ viewport: DESKTOP });
    const page = await ctx.newPage();
    const problems = watchConsole(page, CONNECTION_NOISE);
    await page.goto(state.origin);
    await page.waitForSelector('#conn:text-is("connected")', { timeout: 15000 });
    assert.equal(await page.textContent('#error'), '');
    await waitFor(async () => (await page.textContent('#online')) === '2', { message: 'status with 2 cameras online' });
    // The door-only hook has a connection of its own, whose greeting may come later.
    await page.waitForSelector('#door-conn:text-is("connected")', { timeout: 15000 });

    // Live events from both cameras; the door-only hook gets only door events.
    await waitFor(async () => {
      const cams = await page.$$eval('#events li', (lis) => lis.map((li) => li.dataset.camera));
      return cams.includes('street') && cams.includes('door');
    }, { timeout: 60000, message: 'events from both cameras' });
    await waitFor(async () => (await page.textContent('#door-cams')).length > 0,
      { timeout: 30000, message: 'a door event in the filtered hook' });
    const doorCams = (await page.textContent('#door-cams')).split(',');
    assert.deepEqual([...new Set(doorCams)], ['door']);
    const seqs = await page.$$eval('#events li', (lis) => lis.map((li) => Number(li.dataset.seq)));
    assert.ok(seqs.every(Number.isInteger));

    // send() works on an open connection.
    await page.click('#ping');
    assert.equal(await page.evaluate(() => window.pingSent), true);

    // reconnect() drops and reopens the connection.
    const clientsBefore = (await daemon.api('/api/health')).clients;
    await page.click('#reconnect');
    await page.waitForSelector('#conn:text-is("connected")');
    await waitFor(async () => (await daemon.api('/api/health')).clients === clientsBefore,
      { message: 'the same number of clients after reconnect()' });

    // Unmounting a component closes its connection.
    await page.click('#toggle-door');
    await waitFor(async () => (await daemon.api('/api/health')).clients === clientsBefore - 1,
      { message: 'the unmounted hook to close its connection' });

    // Daemon stopped: the hook says so, with an error; started again: it reconnects.
    await daemon.stop();
    await page.waitForSelector('#conn:text-is("disconnected")', { timeout: 10000 });
    await waitFor(async () => /connection closed \(1006\)/.test(await page.textContent('#error')),
      { timeout: 10000, message: 'the hook error after failed attempts' });
    await screenshot(page, 'react-disconnected');
    await daemon.start();
    // A hang guard: the next attempt may be a whole backoff step (up to 20 s) away.
    await page.waitForSelector('#conn:text-is("connected")', { timeout: 45000 });
    assert.equal(await page.textContent('#error'), '');
    await screenshot(page, 'react-connected');
    assert.deepEqual(problems, []);
    await ctx.close();
  });
});
