// Browser end-to-end test of user administration (issue 12): Alpha's administrator invites a
// nurse and copies the one-time link; the nurse opens it in a browser that is signed in to
// nothing, chooses a password, signs in (no Users link for staff) and changes the password; the
// administrator disables the nurse, whose open tab is sent back to sign in at its next request;
// enabled again, the nurse sets a new password from a reset link. axe-core checks each page.
// Against the real `sova api` (serving frontend/dist), which spec/e2e/users_spec.lua starts.
//
// Env: E2E_BASE_PORT, E2E_PASSWORD (required), E2E_SHOTS_DIR, E2E_CHROMIUM. Prints one JSON line
// of results last; exits 1 on a failure.
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
const SHOTS = resolve(process.env.E2E_SHOTS_DIR || join(here, '..', '..', '.test-runs', 'screenshots'));
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
if (!PORT || !PASSWORD) {
  console.error('users.mjs: set E2E_BASE_PORT and E2E_PASSWORD (run it through busted --run=e2e)');
  process.exit(2);
}
const ALPHA = `http://democlinicalpha.localhost:${PORT}`;
const NURSE = { email: 'e2e.nurse@example.com', name: 'Nadia Nurse' };
const PW1 = 'first long nurse password';
const PW2 = 'second long nurse password';
const PW3 = 'third long nurse password';
const T = { nav: 60_000, el: 30_000 };
mkdirSync(SHOTS, { recursive: true });

const result = { ok: false, steps: [], a11y: {}, failures: [] };

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

async function signIn(page, email, password) {
  await page.goto(ALPHA + '/login', { timeout: T.nav });
  await page.fill('#login-email', email);
  await page.fill('#login-password', password);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

async function oneTimeLink(page) {
  const box = page.getByLabel('One-time link');
  await box.waitFor();
  return box.inputValue();
}

let browser;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: T.nav,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const viewport = { width: 1280, height: 900 };
  const admin = await (await browser.newContext({ viewport })).newPage();
  const nurse = await (await browser.newContext({ viewport })).newPage();
  admin.setDefaultTimeout(T.el);
  nurse.setDefaultTimeout(T.el);
  let link;

  await step('the administrator invites a nurse', async () => {
    await signIn(admin, 'adambehun22@gmail.com', PASSWORD);
    await admin.getByRole('link', { name: 'Users' }).click();
    await admin.getByRole('heading', { name: 'Users' }).waitFor();
    await admin.getByLabel('Email').fill(NURSE.email);
    await admin.getByLabel('Name (optional)').fill(NURSE.name);
    await admin.getByRole('button', { name: 'Create invitation link' }).click();
    link = await oneTimeLink(admin);
    if (!link.startsWith(ALPHA + '/invite/')) throw new Error(`the link is ${link}`);
    await admin.getByRole('button', { name: `Revoke invitation of ${NURSE.email}` }).waitFor();
    await a11y(admin, 'users');
    await admin.screenshot({ path: join(SHOTS, 'users-invited.png'), fullPage: true });
  });

  await step('the nurse accepts it without signing in, then signs in', async () => {
    await nurse.goto(link, { timeout: T.nav });
    await nurse.getByText(`You are invited to Demo Clinic Alpha as ${NURSE.email}`).waitFor();
    await nurse.getByLabel('New password', { exact: true }).fill(PW1);
    await nurse.getByLabel('New password again').fill(PW1);
    await a11y(nurse, 'invitation');
    await nurse.screenshot({ path: join(SHOTS, 'users-invitation.png'), fullPage: true });
    await nurse.getByRole('button', { name: 'Create my account' }).click();
    await nurse.getByText(/Your account is ready/).waitFor();
    await signIn(nurse, NURSE.email, PW1);
    if ((await nurse.getByRole('link', { name: 'Users' }).count()) !== 0) throw new Error('staff see the Users link');
    // the same link again: not valid
    await nurse.goto(link, { timeout: T.nav });
    await nurse.getByText('This invitation link is not valid.').waitFor();
  });

  await step('the nurse changes their password', async () => {
    await nurse.goto(ALPHA + '/account', { timeout: T.nav });
    await nurse.getByLabel('Current password').fill(PW1);
    await nurse.getByLabel('New password', { exact: true }).fill(PW2);
    await nurse.getByLabel('New password again').fill(PW2);
    await nurse.getByRole('button', { name: 'Change password' }).click();
    await nurse.getByText(/Your password is changed/).waitFor();
    await a11y(nurse, 'account');
  });

  await step('disabled, the nurse is signed out at the next request', async () => {
    await admin.reload();
    await admin.getByRole('button', { name: `Disable ${NURSE.name}` }).click();
    await admin.getByRole('button', { name: `Enable ${NURSE.name}` }).waitFor();
    await admin.screenshot({ path: join(SHOTS, 'users-disabled.png'), fullPage: true });
    await nurse.goto(ALPHA + '/', { timeout: T.nav });
    await nurse.waitForURL((u) => u.pathname.startsWith('/login'));
  });

  await step('enabled again, the nurse sets a new password from a reset link', async () => {
    await admin.getByRole('button', { name: `Enable ${NURSE.name}` }).click();
    await admin.getByRole('button', { name: `Disable ${NURSE.name}` }).waitFor();
    await admin.getByRole('button', { name: `Reset link for ${NURSE.name}` }).click();
    const reset = await oneTimeLink(admin);
    await nurse.goto(reset, { timeout: T.nav });
    await nurse.getByText(`Choose a new password for ${NURSE.email}`).waitFor();
    await nurse.getByLabel('New password', { exact: true }).fill(PW3);
    await nurse.getByLabel('New password again').fill(PW3);
    await nurse.getByRole('button', { name: 'Set my password' }).click();
    await nurse.getByText(/Your password is set/).waitFor();
    await signIn(nurse, NURSE.email, PW3);
  });
  result.ok = true;
} catch (e) {
  result.failures.push(String(e?.message ?? e).split('\n')[0]);
} finally {
  if (browser) await browser.close().catch(() => {});
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
