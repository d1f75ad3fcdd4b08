// The built-in dashboard in Chromium against the real daemon (two replay cameras on the
// PETS 2009 street scene, the CPU detector with YOLOX-Nano): live status, new events with
// toasts and snapshots, a connection cut while events keep coming (every seq shown exactly
// once afterwards), and the daemon stopping and starting again.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import {
  Daemon, launchBrowser, missingPrerequisite, screenshot, waitFor, watchConsole, recordSocket,
  recordAppSocket, newToast, someSnapshotLoaded, sleep, CONNECTION_NOISE, DESKTOP, PHONE,
} from '../lib/harness.mjs';

const skip = missingPrerequisite() ?? false;

/** Rows of the event list: [{ id, seq, phase }] in page order. */
const rows = (page) => page.$$eval('#event-list > li', (lis) => lis.map((li) => ({
  id: li.dataset.id, seq: Number(li.dataset.seq), phase: li.dataset.phase,
})));

const connState = (page) => page.$eval('#conn', (el) => ({
  state: el.dataset.state, cls: el.className, text: el.querySelector('#conn-text').textContent,
}));

/** Every image in `selector` has loaded real pixels. */
const imagesLoaded = (page, selector) => page.$$eval(selector, (imgs) => imgs.length > 0
  && imgs.every((img) => img.complete && img.naturalWidth > 0));

function assertUniqueRows(list, where) {
  const ids = list.map((r) => r.id);
  const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
  assert.deepEqual(dupes, [], `${where}: event ids shown more than once`);
}

describe('dashboard against the real daemon', { skip }, () => {
  let daemon;
  let browser;
  let page;
  let problems;

  before(async () => {
    daemon = new Daemon('dashboard');
    await daemon.start();
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    page = await context.newPage();
    problems = watchConsole(page, CONNECTION_NOISE);
  });

  after(async () => {
    await browser?.close();
    await daemon?.dispose();
  });

  test('shows Live, both cameras online and the detector', async () => {
    await page.goto(daemon.url);
    await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
    assert.equal((await connState(page)).text, 'Live');
    assert.match((await connState(page)).cls, /conn-live/);
    await waitFor(async () => (await page.textContent('#count-online')) === '2',
      { message: 'two cameras online', timeout: 20000 });
    const cams = await page.$$eval('#camera-list .camera', (lis) => lis.map((li) => ({
      id: li.dataset.camera, text: li.textContent,
    })));
    assert.deepEqual(cams.map((c) => c.id).sort(), ['door', 'street']);
    for (const c of cams) assert.match(c.text, /online/);
    assert.equal(await page.textContent('#ai-state'), 'On');
    const ai = await page.textContent('#ai-details');
    assert.match(ai, /CPU/);
    assert.match(ai, /yolox_nano\.onnx/);
    assert.equal(await page.textContent('#count-down'), '0');
    await screenshot(page, 'desktop-live');
  });

  test('a new event appears in the list and as a toast with its snapshot', async () => {
    const { id: toast, title } = await newToast(page, (await rows(page)).map((r) => r.id));
    const ev = await daemon.api(`/api/events/${toast}`);
    assert.equal(title, `New event: ${ev.camera_name}`);
    assert.ok(['Street', 'Front door'].includes(ev.camera_name), ev.camera_name);
    // The row is there, once, with the snapshot and the box over it.
    const row = `#event-list > li[data-id="${toast}"]`;
    await page.waitForSelector(row);
    assertUniqueRows(await rows(page), 'after a new event');
    assert.equal(await page.$eval(`${row} .event-camera`, (e) => e.textContent), ev.camera_name);
    assert.match(await page.$eval(`${row} .type`, (e) => e.textContent), /^Person$/);
    assert.match(await page.$eval(`${row} .event-meta`, (e) => e.textContent), /\d+% confidence/);
    await waitFor(() => imagesLoaded(page, `${row} .thumb img`), { message: 'the row snapshot to load' });
    await waitFor(() => imagesLoaded(page, `#toasts .toast[data-id="${toast}"] img`),
      { message: 'the toast snapshot to load', timeout: 10000 }).catch(async () => {
      // The toast may have closed by itself after 8 s; then the row snapshot is enough.
      assert.equal(await page.$(`#toasts .toast[data-id="${toast}"]`), null);
    });
    const box = await page.$eval(`${row} .thumb .box`, (b) => ({ left: b.style.left, width: b.style.width }));
    assert.match(box.left, /%$/);
    assert.ok(parseFloat(box.width) > 0, `box width ${box.width}`);
    // Start time shown in the browser's local time, as the server's timestamp says.
    const shown = await page.$eval(`${row} time.start`, (e) => e.dateTime);
    assert.equal(shown, ev.timestamp);
    await screenshot(page, 'desktop-event-toast');
  });

  test('history is loaded from /api/events and "Load more" pages back', async () => {
    // Enough events for a second page of history (the page asks for 30 at a time).
    await waitFor(async () => (await daemon.api('/api/events?limit=35')).events.length === 35,
      { timeout: 120000, interval: 1000, message: 'more than 30 events in the database' });
    await page.reload();
    await page.waitForSelector('#conn[data-state="open"]');
    await waitFor(async () => (await rows(page)).length >= 30, { message: 'the first history page' });
    // (Waited for: an event stored just before this request may still be on its way to the page.)
    let first;
    await waitFor(async () => {
      first = await daemon.api('/api/events?limit=30');
      const shown = new Set((await rows(page)).map((r) => r.id));
      return first.events.slice(0, 25).every((ev) => shown.has(ev.id));
    }, { message: 'the newest 25 events from /api/events in the list' });
    // Newest first by start time.
    const starts = await page.$$eval('#event-list > li time.start', (ts) => ts.map((t) => Date.parse(t.dateTime)));
    assert.deepEqual(starts, [...starts].sort((a, b) => b - a));
    assert.equal(await page.isVisible('#load-more'), true, 'Load more is offered');
    const older = await daemon.api(`/api/events?limit=30&before_seq=${first.next_before_seq}`);
    assert.ok(older.events.length > 0);
    await page.click('#load-more');
    await waitFor(async () => {
      const ids = new Set((await rows(page)).map((r) => r.id));
      return older.events.every((ev) => ids.has(ev.id));
    }, { message: 'the older page in the list' });
    assertUniqueRows(await rows(page), 'after Load more');
    await screenshot(page, 'desktop-history');
  });

  test('a cut connection resumes: every seq shown exactly once', async () => {
    // A second page stays connected the whole time: the reference of what was sent.
    const refPage = await browser.newPage();
    const ref = recordSocket(refPage);
    await refPage.goto(daemon.url);
    await refPage.waitForSelector('#conn[data-state="open"]');

    // The page under test goes through a route the test can cut.
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const cut = await ctx.newPage();
    const cutProblems = watchConsole(cut, CONNECTION_NOISE);
    let blocked = false;
    let current = null;
    const urls = [];
    await cut.routeWebSocket(/\/api\/ws\/events/, (ws) => {
      urls.push(ws.url());
      if (blocked) {
        ws.close({ code: 4500, reason: 'blocked by the test' });
        return;
      }
      const server = ws.connectToServer();
      current = { ws, server };
      ws.onMessage((m) => server.send(m));
      server.onMessage((m) => ws.send(m));
    });
    // What the app received (the proxy may forward a message into a closing socket, which
    // the app never gets and rightly asks for again on resume).
    const received = await recordAppSocket(cut);
    await cut.goto(daemon.url);
    await cut.waitForSelector('#conn[data-state="open"]');
    await waitFor(async () => (await rows(cut)).length > 0, { message: 'history on the page' });
    await waitFor(async () => (await received.events()).length >= 2, { timeout: 45000, message: 'live events before the cut' });
    const lastBefore = Math.max(...(await rows(cut)).map((r) => r.seq));

    // Cut: close both sides and refuse new connections while events keep coming.
    blocked = true;
    const refCountAtCut = ref.seqs().length;
    await current.ws.close({ code: 4501, reason: 'cut by the test' });
    await current.server.close();
    await waitFor(async () => (await connState(cut)).state !== 'open', { message: 'the page to notice the cut' });
    await waitFor(() => ref.seqs().length >= refCountAtCut + 3, { timeout: 45000, message: 'events during the cut' });
    const c = await connState(cut);
    assert.match(c.cls, /conn-(amber|red)/);
    assert.match(c.text, /^(Reconnecting… \(attempt \d+\)|Disconnected · attempt \d+)$/);
    await screenshot(cut, 'desktop-reconnecting');
    const missedSeqs = ref.seqs().slice(refCountAtCut);

    // Back: the page reconnects by itself with since=<last seq it had>.
    blocked = false;
    // The next attempt may be a whole backoff step away (up to 20 s) plus a slow handshake.
    await cut.waitForSelector('#conn[data-state="open"]', { timeout: 60000 });
    const resumeUrl = new URL(urls.at(-1));
    const since = Number(resumeUrl.searchParams.get('since'));
    assert.ok(since >= lastBefore, `resumed with since=${since}, page had seq ${lastBefore}`);
    assert.ok(resumeUrl.searchParams.get('epoch'), 'resume names the database epoch');
    // Wait for the page to catch up with the reference, then compare.
    // (A fixed target: the routed page trails the reference, so a moving one may keep escaping.)
    const refMax = Math.max(...ref.seqs());
    await waitFor(async () => (await received.events()).some((e) => e.seq >= refMax),
      { timeout: 30000, message: 'the page to catch up after the cut' });
    // Freeze the page's input (cut again) so its list and `delivered` can be compared exactly.
    blocked = true;
    await current.ws.close({ code: 4501, reason: 'frozen by the test' });
    await current.server.close();
    await waitFor(async () => (await connState(cut)).state !== 'open', { message: 'the page to stop' });
    await sleep(300);

    assert.equal(await received.wrapsNative(), false, 'the recorder sits between the route and the app');
    const delivered = await received.events();
    const seqs = delivered.map((e) => e.seq);
    assert.deepEqual(seqs.filter((s, i) => seqs.indexOf(s) !== i), [], 'no seq delivered twice');
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'seqs delivered in order');
    for (const s of missedSeqs) assert.ok(seqs.includes(s), `seq ${s} (sent during the cut) reached the page`);
    // From the first seq both saw to the last one the page saw, the page got what the
    // reference got: nothing lost, nothing extra.
    const refSeqs = ref.seqs();
    const lo = Math.max(seqs[0], refSeqs[0]);
    const hi = Math.min(seqs.at(-1), refSeqs.at(-1));
    assert.deepEqual(seqs.filter((s) => s >= lo && s <= hi), refSeqs.filter((s) => s >= lo && s <= hi));

    // The list: each event once, each showing its newest message.
    const list = await rows(cut);
    assertUniqueRows(list, 'after the cut');
    const latestRef = new Map();
    for (const e of ref.events()) latestRef.set(e.id, Math.max(latestRef.get(e.id) ?? 0, e.seq));
    const latestPage = new Map();
    for (const e of delivered) latestPage.set(e.id, Math.max(latestPage.get(e.id) ?? 0, e.seq));
    const shown = new Map(list.map((r) => [r.id, r.seq]));
    for (const [id, seq] of latestPage) {
      assert.equal(shown.get(id), seq, `row ${id} shows the newest message the page received`);
    }
    for (const [id, seq] of latestRef) {
      if (seq <= hi) assert.ok(shown.get(id) >= seq, `row ${id} is at least as new as the reference's`);
    }
    // And for events that have ended, the same message the database has.
    for (const r of list.filter((x) => x.phase === 'end').slice(0, 15)) {
      const ev = await daemon.api(`/api/events/${r.id}`);
      assert.equal(r.seq, ev.seq, `row ${r.id} matches /api/events/${r.id}`);
    }
    assert.deepEqual(cutProblems, []);
    await ctx.close();
    await refPage.close();
  });

  test('stopping the daemon turns the indicator amber/red; it reconnects by itself', async () => {
    const seqBefore = Math.max(...(await rows(page)).map((r) => r.seq));
    await daemon.stop();
    await waitFor(async () => /conn-(amber|red)/.test((await connState(page)).cls),
      { timeout: 10000, message: 'the indicator to leave green' });
    const down = await connState(page);
    assert.match(down.text, /^(Reconnecting… \(attempt \d+\)|Disconnected · attempt \d+)$/);
    assert.equal(await page.isVisible('#stale-note'), true, 'last known state is marked');
    await screenshot(page, 'desktop-daemon-stopped');
    // Long enough for several attempts, short enough that the next retry comes soon.
    await waitFor(async () => Number((await connState(page)).text.match(/attempt (\d+)/)?.[1] ?? 0) >= 3,
      { timeout: 15000, message: 'a few reconnect attempts' });
    await daemon.start();
    // A hang guard: the next attempt may be a whole backoff step (up to 20 s) away.
    await page.waitForSelector('#conn[data-state="open"]', { timeout: 45000 });
    assert.equal((await connState(page)).text, 'Live');
    assert.equal(await page.isVisible('#stale-note'), false);
    await waitFor(async () => Math.max(...(await rows(page)).map((r) => r.seq)) > seqBefore,
      { timeout: 45000, message: 'events after the restart' });
    assertUniqueRows(await rows(page), 'after the restart');
    await screenshot(page, 'desktop-reconnected');
    assert.deepEqual(problems, []);
  });

  test('a new database: the resume is answered with reset and the page reloads history', async () => {
    const rec = recordSocket(page);
    const oldEpoch = (await daemon.api('/api/health')).epoch;
    await daemon.stop();
    daemon.wipeStorage();
    await daemon.start();
    assert.notEqual((await daemon.api('/api/health')).epoch, oldEpoch);
    await page.waitForSelector('#conn[data-state="open"]', { timeout: 30000 });
    await waitFor(() => rec.frames.some((f) => f.type === 'reset'), { message: 'a reset message', timeout: 10000 });
    assert.equal(rec.frames.find((f) => f.type === 'reset').data.reason, 'epoch_mismatch');
    assert.match(rec.urls.at(-1), /[?&]epoch=/);
    // The list now holds only the new database's events, each as the database has it. (Its
    // ids start again at evt-1, so an old row may share an id: ended rows' seqs are compared.)
    let list;
    let known;
    await waitFor(async () => {
      list = await rows(page);
      known = new Set((await daemon.api('/api/events?limit=500')).events.map((e) => e.id));
      return list.length > 0 && list.every((r) => known.has(r.id));
    }, { timeout: 45000, message: 'only events from the new database in the list' });
    assertUniqueRows(list, 'after the reset');
    for (const r of list.filter((x) => x.phase === 'end')) {
      const ev = await daemon.api(`/api/events/${r.id}`);
      assert.equal(r.seq, ev.seq, `row ${r.id} belongs to the new database`);
    }
    for (const r of list) assert.ok(known.has(r.id), `row ${r.id} is in the new database`);
  });

  test('phone-sized screen: one column, nothing cut off', async () => {
    const ctx = await browser.newContext({ viewport: PHONE, locale: 'en-US', isMobile: true, hasTouch: true });
    const phone = await ctx.newPage();
    await phone.goto(daemon.url);
    await phone.waitForSelector('#conn[data-state="open"]');
    await waitFor(async () => (await rows(phone)).length > 0, { message: 'events on the phone' });
    await waitFor(() => someSnapshotLoaded(phone), { message: 'a snapshot on the phone' });
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
    const [cams, events] = await Promise.all(['.cams', '.events'].map((s) => phone.$eval(s, (e) => e.getBoundingClientRect())));
    assert.ok(events.top > cams.bottom - 1, 'events come below the cameras');
    assert.ok(Math.abs(cams.width - events.width) < 2, 'one column');
    await screenshot(phone, 'phone-live');
    await waitFor(async () => (await phone.$('#toasts .toast')) !== null, { timeout: 45000, message: 'a toast on the phone' });
    await screenshot(phone, 'phone-event-toast');
    await ctx.close();
  });

  test('dark theme follows the system setting', async () => {
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', colorScheme: 'dark' });
    const dark = await ctx.newPage();
    await dark.goto(daemon.url);
    await dark.waitForSelector('#conn[data-state="open"]');
    await waitFor(() => someSnapshotLoaded(dark), { message: 'a snapshot' });
    const bg = await dark.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g).map(Number);
    assert.ok(r + g + b < 120, `dark background, got ${bg}`);
    await screenshot(dark, 'desktop-dark');
    await ctx.close();
  });
});
