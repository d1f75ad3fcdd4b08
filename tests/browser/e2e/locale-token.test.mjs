// The dashboard in a Turkish browser (strings, number formats, the language switch) and on a
// daemon that requires an access token (prompt, wrong token, remembered token).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  missingPrerequisite, newToast, screenshot, someSnapshotLoaded, useDaemonAndBrowser, waitFor,
  watchConsole, CONNECTION_NOISE, DESKTOP, PHONE,
} from '../lib/harness.mjs';

const skip = missingPrerequisite() ?? false;
const connText = (page) => page.textContent('#conn-text');

describe('Turkish browser', { skip }, () => {
  const env = useDaemonAndBrowser('turkish');

  test('shows the Turkish strings, a Turkish toast and Turkish reconnect states', async () => {
    const { daemon, browser } = env;
    const ctx = await browser.newContext({ viewport: PHONE, locale: 'tr-TR', isMobile: true, hasTouch: true });
    const page = await ctx.newPage();
    const problems = watchConsole(page, CONNECTION_NOISE);
    await page.goto(daemon.url);
    await page.waitForSelector('#conn[data-state="open"]');
    assert.equal(await connText(page), 'Canlı Bağlantı');
    assert.equal(await page.getAttribute('html', 'lang'), 'tr');
    assert.equal(await page.textContent('#cams-title'), 'Kameralar');
    assert.equal(await page.textContent('#events-title'), 'Olaylar');
    assert.equal(await page.textContent('.count-online .label'), 'Çevrimiçi');
    await waitFor(async () => (await page.textContent('#count-online')) === '2', { message: 'cameras online' });
    assert.match(await page.textContent('#camera-list'), /çevrimiçi/);
    assert.equal(await page.getAttribute('[data-lang="tr"]', 'aria-pressed'), 'true');

    const { id, title } = await newToast(page, []);
    const ev = await daemon.api(`/api/events/${id}`);
    assert.equal(title, `Yeni olay: ${ev.camera_name}`);
    // Turkish puts the percent sign first.
    assert.match(await page.textContent(`#event-list li[data-id="${id}"] .event-meta`), /^%\d+ güven/);
    assert.match(await page.textContent(`#event-list li[data-id="${id}"] .type`), /^Kişi$/);
    await screenshot(page, 'phone-turkish');

    // Record every connection text from here on: on a loaded machine the reconnecting state
    // can be over before daemon.stop() returns, so polling the current text would miss it.
    await page.evaluate(() => {
      const el = document.querySelector('#conn-text');
      window.connTexts = [];
      new MutationObserver(() => window.connTexts.push(el.textContent))
        .observe(el, { childList: true, characterData: true, subtree: true });
    });
    await daemon.stop();
    await waitFor(async () => (await page.evaluate(() => window.connTexts))
      .some((text) => /Yeniden bağlanıyor… \(\d+\. deneme\)/.test(text)),
    { message: 'the Turkish reconnecting text', timeout: 20000 });
    await waitFor(async () => (await connText(page)).startsWith('Bağlantı Kesildi'),
      { message: '"Bağlantı Kesildi" after a few attempts', timeout: 30000 });
    assert.match(await page.$eval('#conn', (e) => e.className), /conn-red/);
    assert.equal(await page.textContent('#retry-now'), 'Şimdi dene');
    await screenshot(page, 'phone-turkish-disconnected');
    await daemon.start();
    // "Retry now" connects without waiting for the backoff (unless a retry just got there).
    // (Clicked in the page: Playwright's actionability checks can outlast a short timeout
    // on a loaded machine, and then the wait below must cover a whole backoff step.)
    await page.evaluate(() => {
      const retry = document.getElementById('retry-now');
      if (retry && !retry.hidden) retry.click();
    });
    await page.waitForSelector('#conn[data-state="open"]', { timeout: 45000 });
    assert.equal(await connText(page), 'Canlı Bağlantı');
    assert.deepEqual(problems, []);
    await ctx.close();
  });

  test('the language switch changes everything at once and is remembered', async () => {
    const { daemon, browser } = env;
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'tr-TR' });
    const page = await ctx.newPage();
    await page.goto(daemon.url);
    await page.waitForSelector('#conn[data-state="open"]');
    await page.waitForSelector('#event-list li');
    await page.click('[data-lang="en"]');
    assert.equal(await connText(page), 'Live');
    assert.equal(await page.textContent('#events-title'), 'Events');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.match(await page.textContent('#event-list li .event-meta'), /^\d+% confidence/);
    await page.reload();
    await page.waitForSelector('#conn[data-state="open"]');
    assert.equal(await connText(page), 'Live', 'the choice survives a reload');
    await page.click('[data-lang="tr"]');
    assert.equal(await connText(page), 'Canlı Bağlantı');
    await ctx.close();
  });
});

describe('daemon with an access token', { skip }, () => {
  const TOKEN = 'browser-test-token-7f3a';
  const env = useDaemonAndBrowser('token', { token: TOKEN });

  test('asks for the token, rejects a wrong one, keeps the right one', async () => {
    const { daemon, browser } = env;
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const page = await ctx.newPage();
    // The 401 answers to the page's own probes are expected here.
    watchConsole(page, /401|Unauthorized/);
    await page.goto(daemon.url);
    const dialog = await page.waitForSelector('#token-dialog[open]');
    assert.equal(await dialog.isVisible(), true);
    assert.match(await page.textContent('#token-dialog h2'), /needs an access token/);
    assert.equal(await page.isVisible('#token-wrong'), false);
    assert.match(await page.$eval('#conn', (e) => e.className), /conn-red/);
    await screenshot(page, 'desktop-token-prompt');

    await page.fill('#token-input', 'wrong-token');
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#token-dialog[open] #token-wrong:not([hidden])');
    assert.match(await page.textContent('#token-wrong'), /not accepted/);

    await page.fill('#token-input', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
    assert.equal(await page.isVisible('#token-dialog'), false);
    // Snapshots need the token too (an <img> cannot send a header): they load.
    // A hang guard, not a timing: on a loaded machine the first person event takes a while.
    await page.waitForSelector('#event-list li .thumb img', { timeout: 90000 });
    await waitFor(() => someSnapshotLoaded(page), { message: 'a snapshot loaded with the token' });

    await page.reload();
    await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
    assert.equal(await page.isVisible('#token-dialog'), false, 'the token is remembered');
    assert.equal(await page.isVisible('#token-change'), true);
    await ctx.close();
  });
});
