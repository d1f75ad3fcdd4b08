// Unit tests of src/dashboard/client.js without a browser: backoff, seq dedupe, resume URLs,
// and the reconnect / ping / resume logic of connect() driven by a scripted WebSocket
// stand-in (the browser's WebSocket is not our code) and node's mock timers.

import { test, describe, mock, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';

import { backoffDelay, SeqGate, resumeUrl, connect, DEFAULTS } from '../../../src/dashboard/client.js';

test('backoff delays stay below an exponentially growing cap that stops at 20 s', () => {
  const almostOne = () => 0.999999;
  const caps = [1, 2, 3, 4, 5, 6, 7, 8, 100, 5000].map((n) => backoffDelay(n, 500, 20000, almostOne));
  assert.deepEqual(caps, [499, 999, 1999, 3999, 7999, 15999, 19999, 19999, 19999, 19999]);
  assert.equal(backoffDelay(1, 500, 20000, () => 0), 0);
  assert.equal(backoffDelay(3, 500, 20000, () => 0.5), 1000);
  // Default parameters are the documented 0.5 s -> 20 s.
  assert.equal(DEFAULTS.reconnectInterval, 500);
  assert.equal(DEFAULTS.maxReconnectInterval, 20000);
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelay(4);
    assert.ok(d >= 0 && d < 4000, `delay ${d} outside [0, 4000)`);
  }
});

test('full jitter spreads delays over the whole range', () => {
  const samples = Array.from({ length: 2000 }, () => backoffDelay(5, 500, 20000));
  const low = samples.filter((d) => d < 2000).length;
  const high = samples.filter((d) => d >= 6000).length;
  // Uniform over [0, 8000): about a quarter in each of these bands.
  assert.ok(low > 350 && low < 650, `low band ${low}`);
  assert.ok(high > 350 && high < 650, `high band ${high}`);
});

test('SeqGate delivers each seq once and only in increasing order', () => {
  const gate = new SeqGate();
  assert.equal(gate.last, null);
  assert.deepEqual([1, 2, 2, 3, 1, 5, 4, 6].filter((s) => gate.accept(s)), [1, 2, 3, 5, 6]);
  assert.equal(gate.last, 6);
  assert.equal(gate.accept(undefined), true, 'messages without a seq pass');
  gate.note(3);
  assert.equal(gate.last, 6, 'note never lowers the mark');
  gate.note(10);
  assert.equal(gate.accept(9), false);
  assert.equal(gate.accept(11), true);
  gate.reset();
  assert.equal(gate.accept(1), true, 'after a reset old seqs mean nothing');
  assert.equal(new SeqGate(41).accept(41), false);
  assert.equal(new SeqGate(-3).last, null);
  assert.equal(new SeqGate('7').last, null);
});

test('resumeUrl sets since and epoch, keeps other parameters and maps http to ws', () => {
  assert.equal(resumeUrl('/api/ws/events?token=t%20x&cameras=a,b', null, 'E1', 'http://dev:8080/'),
    'ws://dev:8080/api/ws/events?token=t+x&cameras=a%2Cb');
  assert.equal(resumeUrl('https://dev/api/ws/events?since=3&epoch=old', 41, 'E1'),
    'wss://dev/api/ws/events?since=41&epoch=E1');
  assert.equal(resumeUrl('ws://dev/api/ws/events', 0, null), 'ws://dev/api/ws/events?since=0');
  assert.throws(() => resumeUrl('/api/ws/events', 1, null, undefined), /Invalid URL/);
});

// --- connect() with a scripted socket -------------------------------------------------

class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeSocket.all.push(this);
  }
  send(text) {
    this.sent.push(text);
  }
  close(code, reason) {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }
  // Test controls: what the server / network does.
  serverOpen() {
    this.readyState = 1;
    this.onopen?.({});
  }
  serverSend(obj) {
    this.onmessage?.({ data: typeof obj === 'string' ? obj : JSON.stringify(obj) });
  }
  serverClose(code, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  static last() {
    return FakeSocket.all[FakeSocket.all.length - 1];
  }
}

const status = (epoch = 'E1') => ({
  type: 'status',
  data: { cameras: { online: 1, retrying: 0, down: 0 }, ai: { enabled: false, reason: 'no_model' }, epoch },
});
const event = (seq, id = `evt-${seq}`) => ({
  type: 'event',
  data: { id, seq, camera_id: 'cam-1', event_type: 'person', phase: 'start', confidence: 0.9 },
});

function recorder() {
  const log = [];
  const options = {
    WebSocket: FakeSocket,
    onEvent: (e) => log.push(['event', e.seq]),
    onStatus: () => log.push(['status']),
    onConnect: (i) => log.push(['connect', i.attempt]),
    onDisconnect: (i) => log.push(['disconnect', i.code, i.willRetry, i.attempt, i.wasConnected]),
    onReset: (d) => log.push(['reset', d.reason]),
    onError: (e) => log.push(['error', e.message]),
  };
  return { log, options };
}

describe('connect()', () => {
  beforeEach(() => {
    FakeSocket.all = [];
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    // Jitter at its midpoint keeps the retry delays predictable.
    mock.method(Math, 'random', () => 0.5);
  });

  afterEach(() => {
    mock.timers.reset();
    mock.restoreAll();
    delete globalThis.window;
    delete globalThis.document;
  });

  test('connects, resumes after a drop with since and epoch, and drops repeated seqs', () => {
    const { log, options } = recorder();
    const client = connect('ws://dev/api/ws/events?token=t', options);
    const first = FakeSocket.last();
    assert.equal(first.url, 'ws://dev/api/ws/events?token=t');
    assert.equal(client.isConnected, false);
    assert.equal(client.state, 'connecting');
    first.serverOpen();
    assert.equal(client.isConnected, false, 'connected only once the server greets us');
    first.serverSend(status('E1'));
    assert.equal(client.isConnected, true);
    first.serverSend(event(1));
    first.serverSend(event(2));
    first.serverSend(event(2));
    first.serverClose(1006);
    assert.equal(client.isConnected, false);
    assert.equal(client.state, 'waiting');
    assert.match(client.error.message, /connection closed \(1006\)/);

    // First retry: full jitter at 0.5 of a 500 ms cap.
    mock.timers.tick(249);
    assert.equal(FakeSocket.all.length, 1);
    mock.timers.tick(1);
    const second = FakeSocket.last();
    assert.equal(second.url, 'ws://dev/api/ws/events?token=t&since=2&epoch=E1');
    second.serverOpen();
    second.serverSend(status('E1'));
    second.serverSend(event(2)); // replayed again by an overlapping resume: dropped
    second.serverSend(event(3));
    assert.equal(client.error, null);
    assert.equal(client.lastSeq, 3);
    assert.deepEqual(log, [
      ['connect', 0], ['status'], ['event', 1], ['event', 2],
      ['disconnect', 1006, true, 1, true],
      ['connect', 1], ['status'], ['event', 3],
    ]);
    client.close();
  });

  test('backoff grows while attempts fail and resets only after a greeting', () => {
    const { log, options } = recorder();
    const client = connect('ws://dev/api/ws/events', options);
    const delays = [];
    for (let i = 0; i < 4; i++) {
      const ws = FakeSocket.last();
      // Accepted, then closed before any status (e.g. a proxy): not a success.
      ws.serverOpen();
      ws.serverClose(1011);
      const before = FakeSocket.all.length;
      let waited = 0;
      while (FakeSocket.all.length === before) {
        mock.timers.tick(10);
        waited += 10;
      }
      delays.push(waited);
    }
    assert.deepEqual(delays, [250, 500, 1000, 2000]);
    FakeSocket.last().serverOpen();
    FakeSocket.last().serverSend(status());
    FakeSocket.last().serverClose(1001);
    assert.deepEqual(log.at(-1), ['disconnect', 1001, true, 1, true]);
    client.close();
  });

  test('gives up after maxReconnectAttempts and says so', () => {
    const { log, options } = recorder();
    const client = connect('ws://dev/api/ws/events', { ...options, maxReconnectAttempts: 2 });
    FakeSocket.last().serverClose(1006);
    mock.timers.tick(20000);
    FakeSocket.last().serverClose(1006);
    mock.timers.tick(20000);
    FakeSocket.last().serverClose(1006);
    mock.timers.tick(60000);
    assert.equal(FakeSocket.all.length, 3);
    assert.equal(client.state, 'closed');
    assert.equal(client.error.message, 'gave up after 2 reconnect attempts');
    assert.deepEqual(log.at(-1), ['disconnect', 1006, false, 3, false]);
  });

  test('pings every 25 s and abandons a connection that stays silent', () => {
    const { log, options } = recorder();
    const client = connect('ws://dev/api/ws/events', options);
    const ws = FakeSocket.last();
    ws.serverOpen();
    ws.serverSend(status());
    mock.timers.tick(24999);
    assert.deepEqual(ws.sent, []);
    mock.timers.tick(1);
    assert.deepEqual(ws.sent, ['ping']);
    ws.serverSend('pong');
    mock.timers.tick(25000);
    assert.deepEqual(ws.sent, ['ping', 'ping']);
    // Silence: after the dead timeout the socket is given up without waiting for a close.
    mock.timers.tick(9999);
    assert.equal(client.isConnected, true);
    mock.timers.tick(1);
    assert.equal(client.isConnected, false);
    assert.equal(ws.closedWith.code, 4000);
    assert.match(client.error.message, /no answer to ping within 10 s/);
    assert.deepEqual(log.at(-1), ['disconnect', 4000, true, 1, true]);
    mock.timers.tick(250);
    assert.equal(FakeSocket.all.length, 2);
    client.close();
  });

  test('a handshake that never completes is abandoned after connectTimeout', () => {
    const { options } = recorder();
    const client = connect('ws://dev/api/ws/events', { ...options, connectTimeout: 3000 });
    mock.timers.tick(3000);
    assert.equal(FakeSocket.all[0].closedWith.code, 4000);
    assert.match(client.error.message, /no answer from the server within 3 s/);
    assert.equal(client.state, 'waiting');
    client.close();
  });

  test('reset clears the resume point and is passed on', () => {
    const { log, options } = recorder();
    const client = connect('ws://dev/api/ws/events', { ...options, since: 50, epoch: 'OLD' });
    const ws = FakeSocket.last();
    assert.equal(ws.url, 'ws://dev/api/ws/events?since=50&epoch=OLD');
    ws.serverOpen();
    ws.serverSend(status('NEW'));
    ws.serverSend({ type: 'reset', data: { reason: 'epoch_mismatch' } });
    ws.serverSend(event(3));
    client.noteSeq(2);
    assert.equal(client.lastSeq, 3);
    ws.serverSend({ type: 'error', data: { code: 'bad_message', message: 'expected "ping"' } });
    assert.deepEqual(log.slice(2), [
      ['reset', 'epoch_mismatch'], ['event', 3], ['error', 'server: bad_message: expected "ping"'],
    ]);
    ws.serverClose(1006);
    mock.timers.tick(250);
    assert.equal(FakeSocket.last().url, 'ws://dev/api/ws/events?since=3&epoch=NEW');
    client.close();
  });

  test('network back or tab visible: a waiting client reconnects at once', () => {
    globalThis.window = new EventTarget();
    globalThis.document = Object.assign(new EventTarget(), { visibilityState: 'hidden' });
    const { options } = recorder();
    const client = connect('ws://dev/api/ws/events', options);
    for (let i = 0; i < 6; i++) {
      FakeSocket.last().serverClose(1006);
      mock.timers.tick(20000);
    }
    FakeSocket.last().serverClose(1006); // next retry is seconds away
    const count = FakeSocket.all.length;
    globalThis.window.dispatchEvent(new Event('online'));
    assert.equal(FakeSocket.all.length, count + 1);
    FakeSocket.last().serverClose(1006);
    globalThis.document.visibilityState = 'visible';
    globalThis.document.dispatchEvent(new Event('visibilitychange'));
    assert.equal(FakeSocket.all.length, count + 2);
    // Connected: coming back only probes the connection with a ping.
    const ws = FakeSocket.last();
    ws.serverOpen();
    ws.serverSend(status());
    globalThis.window.dispatchEvent(new Event('online'));
    assert.deepEqual(ws.sent, ['ping']);
    assert.equal(FakeSocket.all.length, count + 2);
    client.close();
    globalThis.window.dispatchEvent(new Event('online'));
    assert.equal(FakeSocket.all.length, count + 2, 'a closed client stays closed');
  });

  test('send, reconnect and close', () => {
    const { log, options } = recorder();
    const client = connect('ws://dev/api/ws/events', options);
    assert.equal(client.send('ping'), false, 'nothing is sent before the socket is open');
    const ws = FakeSocket.last();
    ws.serverOpen();
    ws.serverSend(status());
    assert.equal(client.send({ type: 'subscribe', cameras: ['cam-1'] }), true);
    assert.deepEqual(ws.sent, ['{"type":"subscribe","cameras":["cam-1"]}']);
    client.reconnect();
    assert.equal(ws.closedWith.code, 1000);
    assert.equal(FakeSocket.all.length, 2, 'reconnect() connects at once');
    client.close();
    assert.equal(FakeSocket.all[1].closedWith.code, 1000);
    const before = log.length;
    FakeSocket.all[1].serverClose(1000);
    mock.timers.tick(60000);
    assert.equal(FakeSocket.all.length, 2);
    assert.equal(log.length, before, 'no callbacks after close()');
    assert.equal(client.state, 'closed');
  });

  test('a throwing callback does not break the client', () => {
    const errors = mock.method(console, 'error', () => {});
    const client = connect('ws://dev/api/ws/events', {
      WebSocket: FakeSocket,
      onStatus: () => {
        throw new Error('page bug');
      },
    });
    FakeSocket.last().serverOpen();
    FakeSocket.last().serverSend(status());
    assert.equal(client.isConnected, true);
    assert.equal(errors.mock.callCount(), 1);
    client.close();
  });

  test('without a WebSocket implementation connect() says what to do', () => {
    const saved = globalThis.WebSocket;
    globalThis.WebSocket = undefined;
    try {
      assert.throws(() => connect('ws://dev/api/ws/events'), /this environment has no WebSocket; pass options.WebSocket/);
    } finally {
      globalThis.WebSocket = saved;
    }
  });
});
