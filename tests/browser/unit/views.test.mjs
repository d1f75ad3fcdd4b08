// Unit tests of the pure parts of the views: what the connection indicator shows in each
// state, the storage notes, and the order of the event list.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { translator } from '../../../src/dashboard/i18n.js';
import { connectionView, storageNotes } from '../../../src/dashboard/view-status.js';
import { compareEvents } from '../../../src/dashboard/view-events.js';

const en = translator('en');
const tr = translator('tr');
const conn = (patch) => ({ state: 'connecting', attempt: 0, offline: false, needsToken: false, everConnected: false, ...patch });

test('indicator: green when live, amber while reconnecting, red when it lasts or is hopeless', () => {
  assert.deepEqual(connectionView(en, conn({})), { tone: 'amber', text: 'Connecting…', retry: false });
  assert.deepEqual(connectionView(en, conn({ state: 'open', everConnected: true })), { tone: 'live', text: 'Live', retry: false });
  assert.deepEqual(connectionView(tr, conn({ state: 'open' })), { tone: 'live', text: 'Canlı Bağlantı', retry: false });
  assert.deepEqual(connectionView(en, conn({ state: 'waiting', attempt: 1, everConnected: true })),
    { tone: 'amber', text: 'Reconnecting… (attempt 1)', retry: false });
  assert.deepEqual(connectionView(en, conn({ state: 'connecting', attempt: 3, everConnected: true })),
    { tone: 'amber', text: 'Reconnecting… (attempt 3)', retry: false });
  assert.deepEqual(connectionView(en, conn({ state: 'waiting', attempt: 4, everConnected: true })),
    { tone: 'red', text: 'Disconnected · attempt 4', retry: true });
  assert.deepEqual(connectionView(tr, conn({ state: 'waiting', attempt: 7 })),
    { tone: 'red', text: 'Bağlantı Kesildi · 7. deneme', retry: true });
  assert.deepEqual(connectionView(en, conn({ state: 'waiting', attempt: 1, offline: true })),
    { tone: 'red', text: 'Disconnected (offline) · attempt 1', retry: true });
  assert.deepEqual(connectionView(en, conn({ state: 'closed', attempt: 11 })),
    { tone: 'red', text: 'Disconnected: gave up reconnecting', retry: true });
  assert.deepEqual(connectionView(tr, conn({ state: 'closed', needsToken: true })),
    { tone: 'red', text: 'Bağlantı Kesildi', retry: true });
});

test('events: newest start first, then the higher event number', () => {
  const ev = (id, timestamp) => ({ id, timestamp });
  const list = [
    ev('evt-2', '2026-05-17T10:00:00Z'),
    ev('evt-10', '2026-05-17T10:00:05Z'),
    ev('evt-9', '2026-05-17T10:00:05Z'),
    ev('evt-11', 'garbage'),
    ev('evt-3', '2026-05-17T11:00:00Z'),
  ];
  assert.deepEqual(list.sort(compareEvents).map((e) => e.id), ['evt-3', 'evt-10', 'evt-9', 'evt-2', 'evt-11']);
});

test('storage notes: events waiting to be stored, lost ones, snapshot state, start-up notice', () => {
  assert.deepEqual(storageNotes(en, { state: 'ok', pending: 0, dropped: 0, snapshots: 'ok' }), []);
  assert.deepEqual(storageNotes(en, {
    state: 'error', pending: 3, dropped: 5, snapshots: 'error', snapshot_error: 'permission denied',
    notice: 'the database was corrupt; moved aside',
  }), [
    { key: 'pending', text: '3 events (stored once the disk works again)' },
    { key: 'dropped', text: '5 events (sent live, missing from the history)' },
    { key: 'snapshots', text: 'not saved: permission denied' },
    { key: 'notice', text: 'the database was corrupt; moved aside' },
  ]);
  assert.deepEqual(storageNotes(tr, { pending: 2, snapshots: 'low_space' }), [
    { key: 'pending', text: '2 olay (disk yeniden çalışınca kaydedilecek)' },
    { key: 'snapshots', text: 'duraklatıldı: disk neredeyse dolu' },
  ]);
});
