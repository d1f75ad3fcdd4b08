// Unit tests of src/dashboard/i18n.js: language choice, translations, locale formatting.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  MESSAGES, pickLanguage, translator, eventTypeLabel, aiReasonText, aiFallbackText, formatPercent,
  formatDuration, formatMegabytes, formatTime,
} from '../../../src/dashboard/i18n.js';

test('the language follows the browser unless the user chose one', () => {
  assert.equal(pickLanguage(['tr-TR', 'en-US']), 'tr');
  assert.equal(pickLanguage(['de-DE', 'TR']), 'tr');
  assert.equal(pickLanguage(['de-DE', 'fr']), 'en');
  assert.equal(pickLanguage([]), 'en');
  assert.equal(pickLanguage(['tr-TR'], 'en'), 'en');
  assert.equal(pickLanguage(['tr-TR'], 'xx'), 'tr', 'an unknown stored choice is ignored');
});

test('every English string has a Turkish translation and the same placeholders', () => {
  // A message is a string or an object of plural forms; every form has the same placeholders.
  const forms = (m) => (typeof m === 'string' ? [m] : Object.values(m));
  const names = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  assert.deepEqual(Object.keys(MESSAGES.tr).sort(), Object.keys(MESSAGES.en).sort());
  for (const [key, message] of Object.entries(MESSAGES.en)) {
    const expected = names(forms(message)[0]);
    for (const text of [...forms(message), ...forms(MESSAGES.tr[key])]) {
      assert.deepEqual(names(text), expected, key);
    }
    if (typeof message !== 'string') assert.ok(message.other, `${key} has an "other" form`);
  }
});

test('counted messages agree with the count', () => {
  const en = translator('en', ['en-US']);
  const tr = translator('tr', ['tr-TR']);
  assert.equal(en('sys.storage.pending', { n: 1 }), '1 event (stored once the disk works again)');
  assert.equal(en('sys.storage.pending', { n: 3 }), '3 events (stored once the disk works again)');
  assert.equal(en('sys.storage.dropped', { n: 0 }), '0 events (sent live, missing from the history)');
  assert.equal(tr('sys.storage.dropped', { n: 1 }), '1 olay (canlı gönderildi, geçmişte yok)');
  assert.equal(tr('sys.storage.dropped', { n: 7 }), '7 olay (canlı gönderildi, geçmişte yok)');
});

test('translations fill placeholders', () => {
  const tr = translator('tr', ['tr-TR']);
  const en = translator('en', ['en-US']);
  assert.equal(tr('conn.live'), 'Canlı Bağlantı');
  assert.equal(tr('conn.disconnected'), 'Bağlantı Kesildi');
  assert.equal(tr('toast.new', { camera: 'Front door' }), 'Yeni olay: Front door');
  assert.equal(en('toast.new', { camera: 'Front door' }), 'New event: Front door');
  assert.equal(en('conn.reconnecting', { n: 3 }), 'Reconnecting… (attempt 3)');
  assert.equal(tr('conn.reconnecting', { n: 3 }), 'Yeniden bağlanıyor… (3. deneme)');
  assert.equal(en('no.such.key'), 'no.such.key');
  assert.equal(eventTypeLabel(tr, 'person'), 'Kişi');
  assert.equal(eventTypeLabel(en, 'forklift'), 'forklift');
  assert.equal(aiReasonText(en, 'no_model'), 'no model file; events come from motion only');
  assert.equal(aiReasonText(tr, 'weird'), 'kapalı (weird)');
  assert.equal(aiFallbackText(en, { reason: 'npu_unavailable', message: 'NPU unavailable: x' }),
    'not used, detecting on the CPU: the NPU is not available');
  assert.equal(aiFallbackText(tr, { reason: 'model_load_failed' }),
    'kullanılmıyor, algılama CPU üzerinde: NPU modeli yüklenemedi');
  assert.equal(aiFallbackText(en, { reason: 'npu_on_fire' }), 'not used, detecting on the CPU: npu_on_fire');
});

test('numbers, durations and times use the language\'s conventions', () => {
  const tr = translator('tr', ['tr-TR']);
  const en = translator('en', ['en-US']);
  assert.equal(formatPercent(en, 0.873), '87%');
  assert.equal(formatPercent(tr, 0.873), '%87');
  assert.equal(formatPercent(en, null), '–');
  assert.equal(formatMegabytes(tr, 51234), '50 GB');
  assert.equal(formatMegabytes(tr, 1536), '1,5 GB');
  assert.equal(formatMegabytes(en, 700), '700 MB');
  assert.equal(formatDuration(en, 42), '42 s');
  assert.equal(formatDuration(en, 300), '5 min');
  assert.equal(formatDuration(tr, 3 * 3600 + 12 * 60), '3 sa 12 dk');
  assert.equal(formatDuration(en, 2 * 86400 + 4 * 3600), '2 d 4 h');
  // Clock time only for today, with the date otherwise, in the browser's time zone.
  const now = new Date(2026, 4, 17, 15, 0, 0);
  const today = new Date(2026, 4, 17, 14, 2, 11).toISOString();
  const earlier = new Date(2026, 4, 12, 9, 5, 0).toISOString();
  assert.equal(formatTime(tr, today, now), '14:02:11');
  assert.match(formatTime(en, today, now), /^02:02:11\s?PM$/);
  assert.match(formatTime(tr, earlier, now), /^12 May 09:05:00$/);
  assert.equal(formatTime(en, 'not a time', now), 'not a time');
  assert.equal(formatTime(en, null, now), '');
});
