// Reference server for the fan-out benchmark: Node.js with the npm `ws` package doing the
// same job as gozcu's server, the way ws's README broadcasts ("send to every open client").
// It speaks the stdin protocol of benches/fanout/server.rs:
//   prints `port <n>`; `publish <count> <interval_us>` -> `published <count>`; `quit`.
// Every client first gets a status message, then every event message; each event carries
// `sent_us` (wall clock, microseconds) set when it is handed to the sockets.
import { createInterface } from 'node:readline';
import { WebSocketServer, WebSocket } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/api/ws/events' });
const status = JSON.stringify({
  type: 'status',
  data: {
    cameras: { online: 1, retrying: 0, down: 0 },
    ai: { enabled: false, reason: 'disabled', backend: null, model: null, inference_ms: null },
    camera_list: [],
    storage: { state: 'ok', error: null, free_mb: null },
    clients: 0,
    version: 'ws-reference',
    uptime_s: 0,
    epoch: 'reference',
  },
});

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.send(status);
});

// Wall clock in microseconds (Date.now() has only milliseconds).
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

let seq = 0;
function eventText() {
  seq += 1;
  return JSON.stringify({
    type: 'event',
    data: {
      id: `evt-${seq}`,
      camera_id: 'cam-1',
      event_type: 'person',
      timestamp: '2026-11-29T12:00:00.000Z',
      confidence: 0.8731,
      seq,
      phase: 'start',
      camera_name: 'Front door',
      end_timestamp: null,
      box: [0.3125, 0.2083, 0.4531, 0.8125],
      snapshot_url: `/api/events/evt-${seq}/snapshot.jpg`,
      sent_us: nowUs(),
    },
  });
}

function broadcast() {
  const text = eventText();
  for (const client of wss.clients) {
    if (client.readyState === WebSocket.OPEN) client.send(text);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function publish(count, intervalUs) {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + (i * intervalUs) / 1000 - performance.now();
    if (wait > 0) await sleep(wait);
    broadcast();
  }
  process.stdout.write(`published ${count}\n`);
}

wss.on('listening', () => {
  process.stdout.write(`port ${wss.address().port}\n`);
});

// Commands run one after another, like the Rust server's stdin loop.
let queue = Promise.resolve();
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const words = line.trim().split(/\s+/);
  queue = queue.then(async () => {
    if (words[0] === 'publish' && words.length === 3) {
      await publish(Number(words[1]), Number(words[2]));
    } else if (words[0] === 'quit') {
      process.exit(0);
    } else {
      process.stderr.write(`unknown command ${JSON.stringify(line)}\n`);
      process.exit(1);
    }
  });
});
rl.on('close', () => queue.then(() => process.exit(0)));
