// What the operator must see on the dashboard besides cameras and events: the detector
// running on the CPU because the NPU model could not be used (status `ai.fallback`), and a
// refused configuration reload (`config.reload_error`) until the next good one, in English
// and Turkish; and a detector that is off (its error message) with snapshots that cannot be
// saved. One replay camera.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {
  missingPrerequisite, modelPath, screenshot, useDaemonAndBrowser, watchConsole, writeConfig,
  CONNECTION_NOISE, DESKTOP,
} from '../lib/harness.mjs';

const skip = missingPrerequisite() ?? false;

// The dashboard's words for each fallback reason (src/dashboard/i18n.js).
const REASON = {
  npu_unavailable: { en: 'the NPU is not available', tr: 'NPU kullanılamıyor' },
  model_load_failed: { en: 'the NPU model could not be loaded', tr: 'NPU modeli yüklenemedi' },
};

describe('status notes: NPU fallback and a refused reload', { skip }, () => {
  const env = useDaemonAndBrowser('status-notes', { cameras: [{ id: 'street', name: 'Street' }] }, (daemon) => {
    // backend "auto" with an .rknn model: a gozcu built without the rknn feature cannot use
    // it (npu_unavailable), one built with it finds no NPU runtime or rejects this file
    // (model_load_failed); either way it runs detector.cpu_model on the CPU and says why.
    const rknn = path.join(daemon.dir, 'yolox_nano-rk3588.rknn');
    fs.writeFileSync(rknn, 'not an RKNN model');
    daemon.options.detector = `backend = "auto"
model = ${JSON.stringify(rknn)}
cpu_model = ${JSON.stringify(modelPath())}`;
  });

  test('shows why the NPU is not used and a failed reload until a good one', async () => {
    const { daemon, browser } = env;
    const health = await daemon.api('/api/health');
    assert.equal(health.ai.enabled, true, JSON.stringify(health.ai));
    assert.equal(health.ai.backend, 'cpu');
    const reason = health.ai.fallback?.reason;
    assert.ok(REASON[reason], `fallback reason: ${JSON.stringify(health.ai)}`);

    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const page = await ctx.newPage();
    const problems = watchConsole(page, CONNECTION_NOISE);
    await page.goto(daemon.url);
    await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
    const fallback = await page.waitForSelector('#ai-details dd.ai-fallback');
    assert.equal(await fallback.textContent(), `not used, detecting on the CPU: ${REASON[reason].en}`);
    assert.equal(await page.textContent('#ai-details .ai-fallback-message'), health.ai.fallback.message);
    assert.equal(await page.textContent('#ai-state'), 'On');
    assert.equal(await page.$('#sys-details .reload-error'), null);

    // An invalid config and SIGHUP: the daemon keeps running, the page says so.
    fs.writeFileSync(daemon.config, '[server]\nlisten = ["not an address"]\n');
    daemon.proc.kill('SIGHUP');
    const note = await page.waitForSelector('#sys-details dd.reload-error', { timeout: 15000 });
    assert.match(await note.textContent(),
      /^reload at .+ failed, still running the previous configuration: .*server\.listen/s);
    await screenshot(page, 'desktop-status-notes');

    await page.click('[data-lang="tr"]');
    assert.match(await page.textContent('#sys-details dd.reload-error'),
      /yeniden yüklemesi başarısız, önceki yapılandırmayla çalışmaya devam ediyor: .*server\.listen/s);
    assert.equal(await page.textContent('#ai-details dd.ai-fallback'),
      `kullanılmıyor, algılama CPU üzerinde: ${REASON[reason].tr}`);

    // The next good reload clears the note.
    writeConfig(daemon.dir, { port: daemon.port, ...daemon.options });
    daemon.proc.kill('SIGHUP');
    await page.waitForSelector('#sys-details dd.reload-error', { state: 'detached', timeout: 15000 });
    assert.equal((await daemon.api('/api/health')).config.reload_error, null);
    assert.deepEqual(problems, []);
    await ctx.close();
  });
});

describe('status notes: a detector that is off and snapshots that cannot be saved', { skip }, () => {
  const env = useDaemonAndBrowser('status-off', { cameras: [{ id: 'street', name: 'Street' }] }, (daemon) => {
    daemon.options.detector = `backend = "cpu"
model = ${JSON.stringify(path.join(daemon.dir, 'missing.onnx'))}`;
    // A file where the snapshot folder should be: the store cannot write any JPEG.
    fs.mkdirSync(path.join(daemon.dir, 'data'), { recursive: true });
    fs.writeFileSync(path.join(daemon.dir, 'data', 'snapshots'), 'in the way');
  });

  test("shows the detector's own error and the snapshot problem, in both languages", async () => {
    const { daemon, browser } = env;
    const health = await daemon.api('/api/health');
    assert.equal(health.ai.enabled, false, JSON.stringify(health.ai));
    assert.match(health.ai.error ?? '', /missing\.onnx/, JSON.stringify(health.ai));
    assert.equal(health.storage.snapshots, 'error', JSON.stringify(health.storage));
    assert.ok(health.storage.snapshot_error, JSON.stringify(health.storage));

    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const page = await ctx.newPage();
    const problems = watchConsole(page, CONNECTION_NOISE);
    await page.goto(daemon.url);
    await page.waitForSelector('#conn[data-state="open"]', { timeout: 15000 });
    assert.equal(await page.textContent('#ai-state'), 'Off');
    assert.equal(await page.textContent('#ai-details .ai-error'), health.ai.error);
    const snap = await page.waitForSelector('#sys-details dd.storage-snapshots');
    assert.equal(await snap.textContent(), `not saved: ${health.storage.snapshot_error}`);
    await screenshot(page, 'desktop-status-off');

    await page.click('[data-lang="tr"]');
    assert.equal(await page.textContent('#sys-details dd.storage-snapshots'),
      `kaydedilemiyor: ${health.storage.snapshot_error}`);
    assert.equal(await page.textContent('#ai-details .ai-error'), health.ai.error);
    assert.deepEqual(problems, []);
    await ctx.close();
  });
});
