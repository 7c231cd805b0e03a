// Browser end-to-end test (issue 4): three browser contexts at the same time against the real
// `sova api` (serving frontend/dist), `sova bot` and database.
//   - Alpha prior_auth and Alpha patient_questions on democlinicalpha.localhost
//   - Beta patient_questions on democlinicbeta.localhost
// Each tab logs in, picks its workflow, adds a patient through the form, starts a test call, plays
// the other party to the end, then checks the session's outcome fields and flow path. Then the
// isolation checks. Screenshots of each main page go to E2E_SHOTS_DIR. On each main page (MAIN_PAGES)
// axe-core checks accessibility; a serious or critical violation fails the tab.
//
// Env: E2E_BASE_PORT (sova api port, required), E2E_PASSWORD (demo password, required),
//      E2E_SHOTS_DIR (default ../.test-runs/screenshots), E2E_CHROMIUM (default /usr/bin/chromium).
// Chromium runs with a fresh temporary profile per launch (playwright's default) and default contexts.
// Prints one JSON line of results as the last line of stdout (also written to E2E_SHOTS_DIR/results.json);
// exits 1 on any failure.
// Usually run by spec/e2e/ui_spec.lua (busted --run=e2e), which starts the servers.
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
  console.error('three_tabs.mjs: set E2E_BASE_PORT (the sova api port) and E2E_PASSWORD (the demo password).\n' +
    'Normally run through `busted --run=e2e` (spec/e2e/ui_spec.lua), which starts sova api, sova bot and the database.');
  process.exit(2);
}
const ALPHA = `http://democlinicalpha.localhost:${PORT}`;
const BETA = `http://democlinicbeta.localhost:${PORT}`;
const ALPHA_EMAIL = 'adambehun22@gmail.com';
const BETA_EMAIL = 'adam@datasova.com';

// generous timeouts: 2 slow cores, three tabs, a bot and an API under load
const T = { nav: 60_000, el: 30_000, turn: 45_000, end: 60_000 };

// letters only: the flows match names word by word (%a+)
const tag = Date.now().toString(36).replace(/[0-9]/g, (d) => 'abcdefghij'[Number(d)]);

mkdirSync(SHOTS, { recursive: true });

class StepError extends Error {
  constructor(tab, step, cause) {
    super(`[${tab}] step "${step}" failed: ${cause?.message?.split('\n')[0] ?? cause}`);
    this.tab = tab;
    this.step = step;
  }
}

function makeTab(name, page) {
  const t = {
    name,
    page,
    steps: [],
    async step(step, fn) {
      try {
        const r = await fn();
        t.steps.push(step);
        return r;
      } catch (e) {
        await page.screenshot({ path: join(SHOTS, `${name}-FAILED.png`), fullPage: true }).catch(() => {});
        throw e instanceof StepError ? e : new StepError(name, step, e);
      }
    },
    async shot(what) {
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(SHOTS, `${name}-${what}.png`), fullPage: true });
    },
  };
  return t;
}

// The pages each tab checks with axe-core, in the order it reaches them.
const MAIN_PAGES = ['login', 'workflow picker', 'patient list', 'patient form', 'patient detail', 'live call',
  'session', 'dashboard'];
const BLOCKING_IMPACTS = ['serious', 'critical'];

// Runs axe-core on the page as it is now (injected through the debugging protocol, which the page's
// CSP does not govern) and records its violations under `name`.
async function checkA11y(page, into, name) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
  });
  into[name] = { checked: true, violations,
    blocking: violations.filter((v) => BLOCKING_IMPACTS.includes(v.impact)).length };
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function login(page, base, email) {
  await page.goto(base + '/login', { timeout: T.nav });
  await page.waitForSelector('#login-email', { timeout: T.el });
  await page.fill('#login-email', email);
  await page.fill('#login-password', PASSWORD);
  await page.click('button[type=submit]');
}

// Plays the other party: sends each line, waits for the agent's reply (or the end of the call).
async function playParty(page, lines) {
  for (const line of lines) {
    if (await page.$('.call-ended')) break;
    await page.waitForFunction(() => {
      const i = document.querySelector('#say-input');
      return (i && !i.disabled) || document.querySelector('.call-ended');
    }, null, { timeout: T.turn });
    if (await page.$('.call-ended')) break;
    const agentBefore = await page.locator('.line-agent').count();
    await page.fill('#say-input', line);
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => document.querySelectorAll('.line-agent').length > n ||
      !!document.querySelector('.call-ended'), agentBefore, { timeout: T.turn });
    await page.waitForTimeout(400); // a reply can come in more than one line
  }
  await page.waitForSelector('.call-ended', { timeout: T.end });
}

async function outcomeOf(page) {
  return page.$$eval('.outcome .fields-row', (rows) => Object.fromEntries(rows.map((r) =>
    [r.getAttribute('data-key'), r.querySelector('dd')?.textContent?.trim() ?? ''])));
}

// One tab's whole flow: login, workflow, new patient, test call, session, list, dashboard.
async function runTab(browser, cfg) {
  const ctx = await browser.newContext({ viewport: cfg.viewport ?? { width: 1280, height: 860 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T.el);
  page.setDefaultNavigationTimeout(T.nav);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const tab = makeTab(cfg.name, page);
  const res = { tab: cfg.name, ok: false, patient_name: cfg.patient.patient_name, a11y: {} };
  const a11y = (name) => checkA11y(page, res.a11y, name);
  try {
    await tab.step('login page', async () => {
      await page.goto(cfg.base + '/login');
      await page.waitForSelector('#login-email');
      await tab.shot('01-login');
      await a11y('login');
    });
    await tab.step('log in', async () => {
      await login(page, cfg.base, cfg.email);
      await page.waitForSelector('#picker-title, #list-title');
    });
    await tab.step('pick workflow', async () => {
      await page.goto(cfg.base + '/');
      await page.waitForSelector('#picker-title');
      await a11y('workflow picker');
      await page.click(`a.wf-card[href="/w/${cfg.workflow}/patients"]`);
      await page.waitForSelector('#list-title');
      await page.waitForFunction(() => !document.querySelector('[aria-busy=true]') &&
        (document.querySelector('.patient-table') || document.querySelector('.empty')));
      await tab.shot('02-list');
      await a11y('patient list');
    });
    await tab.step('open the new patient form', async () => {
      await page.click('.page-head .btn-primary');
      await page.waitForSelector('#new-title');
      await page.waitForSelector('#f-patient_name');
      await tab.shot('03-form');
      await a11y('patient form');
    });
    await tab.step('add a patient through the form', async () => {
      for (const [k, v] of Object.entries(cfg.patient)) {
        const el = await page.waitForSelector(`#f-${k}`);
        const tagName = await el.evaluate((e) => e.tagName);
        if (tagName === 'SELECT') await page.selectOption(`#f-${k}`, v);
        else await page.fill(`#f-${k}`, v);
      }
      await page.click('button[type=submit]');
      await page.waitForSelector('#patient-title');
      res.patient_path = new URL(page.url()).pathname;
      check(/^\/patients\/[^/]+$/.test(res.patient_path), `unexpected patient URL ${page.url()}`);
      await page.waitForSelector(`text=${cfg.patient.patient_name}`);
      await tab.shot('04-patient');
      await a11y('patient detail');
    });
    await tab.step('start a test call', async () => {
      await page.click('text=Start test call');
      await page.waitForSelector('#live-title', { timeout: T.nav });
      await page.waitForSelector('.line-agent', { timeout: T.turn });
      await tab.shot('05-live-start');
      await a11y('live call');
    });
    await tab.step('play the other party to the end of the call', async () => {
      await playParty(page, cfg.lines);
      await tab.shot('06-live-ended');
    });
    await tab.step('session view: outcome and flow path', async () => {
      await page.click('.call-ended a');
      await page.waitForSelector('#session-title');
      // the session is written when the call ends; the page polls while it runs
      await page.waitForSelector('.outcome .fields-row', { timeout: T.end });
      await page.waitForFunction((p) => document.querySelector('.flow-path')?.textContent?.trim() === p,
        cfg.flowPath, { timeout: T.end }).catch(async () => {
        throw new Error(`flow path is "${await page.textContent('.flow-path').catch(() => '?')}", want "${cfg.flowPath}"`);
      });
      const outcome = await outcomeOf(page);
      res.outcome = outcome;
      res.flow_path = (await page.textContent('.flow-path')).trim();
      for (const [k, want] of Object.entries(cfg.outcome)) {
        const got = outcome[k];
        const ok = want instanceof RegExp ? want.test(got ?? '') : got === want;
        check(ok, `outcome ${k} is ${JSON.stringify(got)}, want ${want} (outcome: ${JSON.stringify(outcome)})`);
      }
      for (const k of Object.keys(outcome)) {
        check(cfg.allowedOutcome.includes(k), `outcome field ${k} is not a field of ${cfg.workflow}`);
      }
      await tab.shot('07-session');
      await a11y('session');
    });
    await tab.step('list shows the patient', async () => {
      await page.goto(`${cfg.base}/w/${cfg.workflow}/patients?q=${encodeURIComponent(cfg.patient.patient_name)}`);
      await page.waitForSelector('.patient-table');
      await page.waitForSelector(`.patient-table >> text=${cfg.patient.patient_name}`);
      await tab.shot('08-list-with-patient');
    });
    await tab.step('dashboard', async () => {
      await page.goto(`${cfg.base}/w/${cfg.workflow}/dashboard`);
      await page.waitForSelector('.stat');
      await tab.shot('09-dashboard');
      await a11y('dashboard');
    });
    const blocking = Object.entries(res.a11y).flatMap(([p, r]) => r.violations
      .filter((v) => BLOCKING_IMPACTS.includes(v.impact))
      .map((v) => `${p}: ${v.impact} ${v.id} (${v.help}) at ${v.targets.join(', ')}`));
    check(blocking.length === 0, `accessibility: ${blocking.join(' | ')}`);
    check(errors.length === 0, `page errors: ${errors.join(' | ')}`);
    res.ok = true;
  } catch (e) {
    res.error = e instanceof StepError ? e.message : `[${cfg.name}] ${e.message}`;
    if (errors.length) res.page_errors = errors;
  }
  res.steps = tab.steps;
  return { res, ctx, page };
}

const alphaPriorAuth = {
  name: 'alpha-prior_auth', base: ALPHA, email: ALPHA_EMAIL, workflow: 'prior_auth',
  flowPath: 'clients/demo_clinic_alpha/prior_auth',
  patient: {
    patient_name: `Jordan Prior${tag}`, date_of_birth: '1980-02-03', insurance_member_id: 'M-99812',
    insurance_company_name: 'Acme Health', insurance_phone: '+1 (516) 555-1234', facility_name: 'Main St Clinic',
    provider_name: 'Dr. Rivera', provider_npi: '1234567890', cpt_code: '70553', appointment_time: '2026-12-01T10:30',
  },
  // spec/fixtures/cli/prior_auth_approved.txt
  lines: [
    "Sure, what's the member ID and date of birth?", "And the provider's NPI?", 'What facility is this at?',
    'When is the appointment?', "Can I have the patient's name?", 'Authorization is required for that code.',
    'It was approved.', 'Sure, the reference number is AUTH 123456.', "Yes, that's correct.",
  ],
  outcome: { prior_auth_status: 'Approved', reference_number: /AUTH.?123456/ },
  allowedOutcome: ['prior_auth_status', 'reference_number'],
};
const alphaQuestions = {
  name: 'alpha-patient_questions', base: ALPHA, email: ALPHA_EMAIL, workflow: 'patient_questions',
  flowPath: 'clients/demo_clinic_alpha/patient_questions',
  viewport: { width: 820, height: 1100 },
  patient: {
    patient_name: `Maria Alpha${tag}`, date_of_birth: '1972-11-02', phone_number: '+15165550142',
    appointment_time: '2026-12-03T09:15', provider_name: 'Dr. Alan Park',
  },
  // spec/flows/alpha_patient_questions_spec.lua: "no medication changes and no concerns"
  lines: ['Speaking.', `Maria Alpha${tag}, 1972-11-02.`, 'Yes.', 'No, nothing has changed.', "No, that's all."],
  outcome: { checkin_status: 'Confirmed', medication_changes: 'No changes reported' },
  allowedOutcome: ['checkin_status', 'medication_changes', 'needs_follow_up', 'call_notes'],
};
const betaQuestions = {
  name: 'beta-patient_questions', base: BETA, email: BETA_EMAIL, workflow: 'patient_questions',
  flowPath: 'clients/demo_clinic_beta/patient_questions',
  viewport: { width: 1024, height: 1366 },
  patient: {
    patient_name: `Wei Beta${tag}`, date_of_birth: '1990-06-21', phone_number: '+15165550199',
    appointment_time: '2026-12-04T16:00', preferred_language: 'Mandarin',
  },
  // spec/flows/beta_patient_questions_spec.lua: dob, then name, then language, pain, medications, appointment
  lines: ['Yes, speaking.', 'June 21st, 1990.', `Wei Beta${tag}.`, "Yes, that's right.", "I'd say about a three.",
    'No, nothing new.', "Yes, I'll be there."],
  outcome: { preferred_language: 'Mandarin', pain_level: '3', medication_changes: 'No changes reported',
    checkin_status: 'Confirmed' },
  allowedOutcome: ['preferred_language', 'checkin_status', 'pain_level', 'medication_changes', 'needs_follow_up',
    'call_notes'],
};

const results = { ok: false, tag, shots_dir: SHOTS, main_pages: MAIN_PAGES, tabs: {}, isolation: {}, failures: [] };
let browser;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: T.nav,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });

  const runs = await Promise.all([alphaPriorAuth, alphaQuestions, betaQuestions].map((c) => runTab(browser, c)));
  const [pa, aq, bq] = runs;
  for (const { res } of runs) {
    results.tabs[res.tab] = res;
    if (!res.ok) results.failures.push(res.error);
  }

  // isolation
  const iso = async (name, fn) => {
    try {
      results.isolation[name] = { ok: true, ...(await fn()) };
    } catch (e) {
      results.isolation[name] = { ok: false, error: e.message };
      results.failures.push(`[isolation] ${name}: ${e.message.split('\n')[0]}`);
    }
  };
  await iso('beta_opens_alpha_patient', async () => {
    const path = pa.res.patient_path ?? aq.res.patient_path;
    check(path, 'no Alpha patient was created (see the Alpha tabs)');
    check(bq.res.steps.includes('log in'), 'the Beta tab is not logged in (see the Beta tab)');
    await bq.page.goto(BETA + path);
    await bq.page.waitForSelector('#nf-title, #patient-title');
    check(await bq.page.$('#nf-title'), `Beta sees Alpha's patient ${path}`);
    const text = (await bq.page.textContent('#nf-title')).trim();
    check(/not found/i.test(text), `Beta sees "${text}", want "Not found"`);
    const page = await bq.page.textContent('.page');
    for (const n of [alphaPriorAuth.patient.patient_name, alphaQuestions.patient.patient_name]) {
      check(!page.includes(n), `Beta's not-found page names Alpha's patient ${n}`);
    }
    await bq.page.screenshot({ path: join(SHOTS, 'isolation-beta-opens-alpha-patient.png'), fullPage: true });
    return { path, shown: text };
  });
  await iso('alpha_list_hides_beta_patient', async () => {
    const name = betaQuestions.patient.patient_name;
    check(aq.res.steps.includes('log in'), 'the Alpha tab is not logged in (see the Alpha tab)');
    const checked = [];
    for (const wf of ['patient_questions', 'prior_auth']) {
      for (const q of [name, `Beta${tag}`, '']) {
        await aq.page.goto(`${ALPHA}/w/${wf}/patients${q ? `?q=${encodeURIComponent(q)}` : ''}`);
        await aq.page.waitForSelector('#list-title');
        await aq.page.waitForFunction(() => !document.querySelector('[aria-busy=true]') &&
          (document.querySelector('.patient-table') || document.querySelector('.empty')), null, { timeout: T.el });
        // the rows only: the empty state echoes the query ("No patients match “…”")
        const rows = await aq.page.$$eval('.patient-table tbody tr', (trs) => trs.map((tr) => tr.textContent));
        check(!rows.some((r) => r.includes(name)),
          `Alpha's ${wf} list (q=${JSON.stringify(q)}) shows Beta's patient ${name}`);
        if (q) {
          check(rows.length === 0 && await aq.page.$('.empty'),
            `Alpha's ${wf} search ${JSON.stringify(q)} finds ${rows.length} patient(s), want none`);
        }
        checked.push(`${wf}?q=${q}`);
        if (q === name && wf === 'patient_questions') {
          await aq.page.screenshot({ path: join(SHOTS, 'isolation-alpha-search-beta-patient.png'), fullPage: true });
        }
      }
    }
    if (bq.res.patient_path) {
      await aq.page.goto(ALPHA + bq.res.patient_path);
      await aq.page.waitForSelector('#nf-title, #patient-title');
      check(await aq.page.$('#nf-title'), `Alpha sees Beta's patient ${bq.res.patient_path}`);
      checked.push(bq.res.patient_path);
    }
    return { checked };
  });
  await iso('alpha_user_refused_on_beta_host', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    try {
      await login(page, BETA, ALPHA_EMAIL);
      await page.waitForSelector('.alert-error, #picker-title, #list-title', { timeout: T.el });
      await page.screenshot({ path: join(SHOTS, 'isolation-alpha-user-on-beta-host.png'), fullPage: true });
      check(await page.$('.alert-error'), 'the Alpha user was let in on Beta\'s host');
      check(await page.$('#login-email'), 'the login form is gone after the refusal');
      const me = await page.evaluate(async () => (await fetch('/api/me')).status);
      check(me === 401, `/api/me on Beta's host answers ${me} after the refused login, want 401`);
      return { message: (await page.textContent('.alert-error')).trim() };
    } finally {
      await ctx.close();
    }
  });

  results.ok = results.failures.length === 0 &&
    Object.values(results.tabs).every((t) => t.ok) &&
    Object.values(results.isolation).every((c) => c.ok);
} catch (e) {
  results.failures.push(`[setup] ${e.message.split('\n')[0]}`);
  results.ok = false;
} finally {
  await browser?.close().catch(() => {});
}

for (const f of results.failures) console.error('E2E FAILURE:', f);
console.log(JSON.stringify(results));
writeFileSync(join(SHOTS, 'results.json'), JSON.stringify(results, null, 2));
process.exit(results.ok ? 0 : 1);
