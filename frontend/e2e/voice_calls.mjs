// Browser end-to-end voice calls (issue 9): for each call, Chromium plays a WAV file as the
// microphone (the other party, synthesized offline with pauses for the agent's answers) into a
// voice test call started from the patient's page, against the real `sova api`, `sova bot`
// (pocketsphinx and flite) and database. The call must reach its outcome by voice, and the
// session page must show the outcome and a recording that loads.
//
// Env: E2E_BASE_PORT, E2E_PASSWORD (required), E2E_CALLS (JSON list of {name, base, email,
// patient_path, wav}), E2E_SHOTS_DIR, E2E_CHROMIUM. Prints one JSON line of results last; exits 1
// on any failure. Run by spec/e2e/voice_spec.lua (busted --run=e2e), which makes the WAV files and
// starts the servers.
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'package.json'));
const { chromium } = require('playwright-core');

const PASSWORD = process.env.E2E_PASSWORD;
const CALLS = JSON.parse(process.env.E2E_CALLS || '[]');
const SHOTS = resolve(process.env.E2E_SHOTS_DIR || join(here, '..', '..', '.test-runs', 'screenshots'));
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
if (!process.env.E2E_BASE_PORT || !PASSWORD || CALLS.length === 0) {
  console.error('voice_calls.mjs: set E2E_BASE_PORT, E2E_PASSWORD and E2E_CALLS (run through spec/e2e/voice_spec.lua).');
  process.exit(2);
}
// a spoken call takes minutes: the other party's lines wait for the agent's answers
const T = { nav: 60_000, el: 30_000, call: 300_000 };
mkdirSync(SHOTS, { recursive: true });

async function outcomeOf(page) {
  return page.$$eval('.outcome .fields-row', (rows) => Object.fromEntries(rows.map((r) =>
    [r.getAttribute('data-key'), r.querySelector('dd')?.textContent?.trim() ?? ''])));
}

async function runCall(cfg) {
  const res = { name: cfg.name, ok: false };
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${cfg.wav}`,
      '--autoplay-policy=no-user-gesture-required',
      '--host-resolver-rules=MAP *.localhost 127.0.0.1',
    ],
  });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, permissions: ['microphone'] });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T.el);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  let step = 'log in';
  try {
    await page.goto(cfg.base + '/login', { timeout: T.nav });
    await page.fill('#login-email', cfg.email);
    await page.fill('#login-password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('#picker-title, #list-title');
    step = 'start a voice call';
    await page.goto(cfg.base + cfg.patient_path);
    await page.waitForSelector('#patient-title');
    await page.click('text=Start voice call');
    await page.waitForSelector('#live-title', { timeout: T.nav });
    step = 'hear the agent';
    await page.waitForSelector('.line-agent', { timeout: T.el });
    await page.screenshot({ path: join(SHOTS, `voice-${cfg.name}-1-live.png`), fullPage: true });
    step = 'talk the call to its end';
    await page.waitForSelector('.call-ended', { timeout: T.call });
    res.agent_lines = await page.locator('.line-agent').count();
    res.party_lines = await page.$$eval('.line-party .line-text', (els) => els.map((e) => e.textContent?.trim()));
    res.interrupted = await page.locator('.line-agent .line-mark').count();
    await page.screenshot({ path: join(SHOTS, `voice-${cfg.name}-2-ended.png`), fullPage: true });
    step = 'session: outcome and recording';
    await page.click('.call-ended a');
    await page.waitForSelector('#session-title');
    await page.waitForSelector('.outcome', { timeout: T.nav });
    res.outcome = await outcomeOf(page);
    // the recording is stored by the bot's writer after the call: the page shows it once it is there
    let seconds = 0;
    for (let i = 0; i < 30 && !(seconds > 0); i++) {
      await page.reload();
      await page.waitForSelector('#session-title');
      const audio = await page.$('audio');
      if (audio) {
        seconds = await audio.evaluate((a) => new Promise((done) => {
          if (a.readyState >= 1) return done(a.duration);
          a.addEventListener('loadedmetadata', () => done(a.duration), { once: true });
          a.addEventListener('error', () => done(-1), { once: true });
          a.load();
          setTimeout(() => done(0), 10_000);
        }));
      }
      if (!(seconds > 0)) await page.waitForTimeout(2000);
    }
    res.recording_seconds = seconds;
    await page.screenshot({ path: join(SHOTS, `voice-${cfg.name}-3-session.png`), fullPage: true });
    res.page_errors = errors;
    res.ok = seconds > 0;
    if (!res.ok) res.error = 'the recording did not load on the session page';
  } catch (e) {
    res.error = `step "${step}": ${e?.message?.split('\n')[0] ?? e}`;
    await page.screenshot({ path: join(SHOTS, `voice-${cfg.name}-FAILED.png`), fullPage: true }).catch(() => {});
    res.party_lines = await page.$$eval('.line-party .line-text', (els) => els.map((e) => e.textContent?.trim())).catch(() => []);
  } finally {
    await browser.close();
  }
  return res;
}

const results = { calls: {}, failures: [] };
for (const cfg of CALLS) {
  const r = await runCall(cfg);
  results.calls[cfg.name] = r;
  if (!r.ok) results.failures.push(`${cfg.name}: ${r.error}`);
}
results.ok = results.failures.length === 0;
console.log(JSON.stringify(results));
process.exit(results.ok ? 0 : 1);
