// Browser end-to-end test of a campaign (issue 12): Beta's staff member ticks patients in the
// list, starts a simulated campaign (no calling window, two calls at once, one attempt each)
// and watches its page: the progress bar moves while the calls run (the page polls) and ends
// full; the report downloads as CSV with a row per patient. axe-core checks the form and the
// campaign page. Against the real `sova api` (serving frontend/dist), `sova bot`, `sova
// campaigns` and the phone simulator, which spec/e2e/campaign_spec.lua starts.
//
// Env: E2E_BASE_PORT, E2E_PASSWORD (required), E2E_PATIENTS (how many patients the spec added),
//      E2E_SHOTS_DIR, E2E_CHROMIUM. Prints one JSON line of results last; exits 1 on a failure.
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'package.json'));
const { chromium } = require('playwright-core');
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const PORT = process.env.E2E_BASE_PORT;
const PASSWORD = process.env.E2E_PASSWORD;
const PATIENTS = Number(process.env.E2E_PATIENTS || '0');
const SHOTS = resolve(process.env.E2E_SHOTS_DIR || join(here, '..', '..', '.test-runs', 'screenshots'));
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
if (!PORT || !PASSWORD || !PATIENTS) {
  console.error('campaign.mjs: set E2E_BASE_PORT, E2E_PASSWORD and E2E_PATIENTS (run it through busted --run=e2e)');
  process.exit(2);
}
const BETA = `http://democlinicbeta.localhost:${PORT}`;
const T = { nav: 60_000, el: 30_000, run: 180_000 };
mkdirSync(SHOTS, { recursive: true });

const result = { ok: false, steps: [], progress: [], a11y: {}, failures: [] };

async function a11y(page, name) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  const v = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((x) => ({ id: x.id, impact: x.impact }));
  });
  result.a11y[name] = v;
  const blocking = v.filter((x) => x.impact === 'serious' || x.impact === 'critical');
  if (blocking.length) throw new Error(`${name}: accessibility violations ${JSON.stringify(blocking)}`);
}

async function step(name, fn) {
  await fn();
  result.steps.push(name);
}

let browser;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: T.nav,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T.el);

  await step('login', async () => {
    await page.goto(BETA + '/login', { timeout: T.nav });
    await page.fill('#login-email', 'adam@datasova.com');
    await page.fill('#login-password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL((u) => !u.pathname.startsWith('/login'));
  });

  await step('tick every patient in the list', async () => {
    await page.goto(BETA + '/w/patient_questions/patients', { timeout: T.nav });
    const boxes = page.getByRole('checkbox', { name: /^Select / });
    await boxes.first().waitFor();
    const n = await boxes.count();
    if (n !== PATIENTS) throw new Error(`the list shows ${n} patients, not ${PATIENTS}`);
    for (let i = 0; i < n; i++) await boxes.nth(i).check();
    await page.getByRole('button', { name: `Call the selected (${n})` }).click();
    await page.getByRole('heading', { name: 'New campaign' }).waitFor();
  });

  await step('start a simulated campaign', async () => {
    await page.fill('#c-name', 'Browser campaign');
    await page.getByLabel('Calls at once').fill('2');
    await page.getByLabel('Calls started per second').fill('2');
    await page.getByLabel('Only call within these days and hours').uncheck();
    // one attempt each: the campaign ends with the first round (a retry is an hour off)
    for (const r of ['No answer', 'Busy', 'Voicemail', 'Failed', 'Incomplete']) {
      await page.getByLabel(`${r}: attempts in all`).fill('1');
    }
    await a11y(page, 'new campaign');
    await page.screenshot({ path: join(SHOTS, 'campaign-form.png'), fullPage: true });
    await page.getByRole('button', { name: 'Start campaign' }).click();
    await page.getByRole('progressbar').waitFor();
  });

  await step('watch the progress bar fill', async () => {
    const bar = page.getByRole('progressbar');
    const deadline = Date.now() + T.run;
    let last = -1;
    let shotMid = false;
    while (Date.now() < deadline) {
      const now = Number(await bar.getAttribute('aria-valuenow'));
      if (now !== last) {
        result.progress.push(now);
        last = now;
      }
      if (!shotMid && now > 0 && now < PATIENTS) {
        shotMid = true;
        await page.screenshot({ path: join(SHOTS, 'campaign-running.png'), fullPage: true });
      }
      if (now === PATIENTS && (await page.getByText('Finished', { exact: true }).count()) > 0) break;
      await page.waitForTimeout(250);
    }
    if (last !== PATIENTS) throw new Error(`the bar stopped at ${last} of ${PATIENTS}`);
    if (!result.progress.some((v) => v > 0 && v < PATIENTS)) {
      throw new Error(`the bar never showed a campaign under way: ${JSON.stringify(result.progress)}`);
    }
    await a11y(page, 'campaign');
    await page.screenshot({ path: join(SHOTS, 'campaign-finished.png'), fullPage: true });
  });

  await step('download the report', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download report (CSV)' }).click(),
    ]);
    const path = await download.path();
    const rows = readFileSync(path, 'utf8').split(/\r\n/).filter(Boolean);
    if (rows.length !== PATIENTS + 1) throw new Error(`the report has ${rows.length} rows`);
    if (!rows[0].startsWith('patient_id,')) throw new Error('the report has no header row');
    result.report_rows = rows.length - 1;
  });
  result.ok = true;
} catch (e) {
  result.failures.push(String(e?.message ?? e).split('\n')[0]);
} finally {
  if (browser) await browser.close().catch(() => {});
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
