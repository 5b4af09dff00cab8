// Browser test of the operator console: a real ota-server seeded by
// console-seed, driven through headless Chromium (playwright-core).
//
//   node tests/console/console.test.mjs --seed build/tests/console/console-seed \
//        --out build/console-screenshots [--chromium /usr/bin/chromium]
//
// Exits 0 when every check held; 1 with the first failure otherwise. Writes a
// screenshot of every page into --out. Waits only on conditions, each with a
// bounded timeout; nothing sleeps.
import {spawn} from 'node:child_process';
import {mkdirSync} from 'node:fs';
import {createInterface} from 'node:readline';
import {parseArgs} from 'node:util';

const {values: args} = parseArgs({options: {
  seed: {type: 'string'}, out: {type: 'string'}, chromium: {type: 'string', default: '/usr/bin/chromium'},
}});
if (!args.seed || !args.out) {
  console.error('usage: console.test.mjs --seed PATH --out DIR [--chromium PATH]');
  process.exit(2);
}

let chromium;
try {
  ({chromium} = await import('playwright-core'));
} catch {
  console.error('console test: playwright-core is missing; run scripts/setup ' +
    '(npm ci --prefix tests/console)');
  process.exit(1);
}

const TIMEOUT_MS = 15000;
const checks = [];
function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  checks.push(what);
}

// Starts console-seed and reads its JSON line.
async function startSeed() {
  const child = spawn(args.seed, [], {stdio: ['pipe', 'pipe', 'inherit']});
  const lines = createInterface({input: child.stdout});
  const first = await Promise.race([
    new Promise((resolve) => lines.once('line', resolve)),
    new Promise((_, reject) => child.once('exit', (code) =>
      reject(new Error(`console-seed exited with ${code} before it was ready`)))),
    new Promise((_, reject) => setTimeout(() =>
      reject(new Error('console-seed was not ready in time')), 60000).unref()),
  ]);
  return {child, seed: JSON.parse(first)};
}

async function api(seed, path, token = seed.token) {
  const res = await fetch(seed.url + path, {headers: {Authorization: `Bearer ${token}`}});
  return {status: res.status, body: await res.json()};
}

async function shot(page, name) {
  await page.screenshot({path: `${args.out}/${name}.png`, fullPage: true});
}

async function signIn(page, token) {
  await page.locator('#token').fill(token);
  await page.locator('#sign-in button[type=submit]').click();
}

async function run(page, seed) {
  const base = `${seed.url}/console/`;
  await page.goto(base);
  await page.locator('#sign-in').waitFor();
  await shot(page, '01-sign-in');

  // A wrong token is refused and not kept.
  await signIn(page, `ota_${'0'.repeat(64)}`);
  await page.locator('#sign-in-error', {hasText: 'refused'}).waitFor();
  check(await page.locator('#nav').isHidden(), 'a wrong token does not sign in');
  check(await page.evaluate(() => sessionStorage.length) === 0,
    'a refused token is not kept in sessionStorage');
  await shot(page, '02-sign-in-refused');

  // Sign in; the fleet page shows the failing device and why.
  await signIn(page, seed.token);
  await page.locator('#nav').waitFor();
  const failing = page.locator('tr', {hasText: seed.failing_device_id}).first();
  await failing.waitFor();
  check((await failing.textContent()).includes('sha256 of model.gguf does not match'),
    'the fleet page says why the failing device fails');
  check(await page.evaluate(() => Object.keys(localStorage).length) === 0,
    'nothing is kept in localStorage');
  await shot(page, '03-fleet');

  // Rollouts: the list, the rollout, and pausing it through its dialog.
  await page.locator('#nav a[data-page=rollouts]').click();
  await page.locator(`a[href="#/rollouts/${seed.rollout_id}"]`).click();
  await page.locator('#rollout-state', {hasText: 'active'}).waitFor();
  await shot(page, '04-rollout');
  await page.locator('#rollout-actions button[data-action=pause]').click();
  await page.locator('#confirm[open]').waitFor();
  await page.locator('#confirm-reason').fill('paused from the console test');
  await shot(page, '05-pause-dialog');
  await page.locator('#confirm-ok').click();
  await page.locator('#rollout-state', {hasText: 'paused'}).waitFor();
  const status = await api(seed, `/v1/rollouts/${seed.rollout_id}`);
  check(status.body.state === 'paused', 'the API reports the rollout paused');
  const last = status.body.audit[status.body.audit.length - 1];
  check(last.action === 'pause' && last.actor === 'operator:console-test' &&
    last.reason === 'paused from the console test', 'the pause is audited with its reason');
  check(await page.locator('#rollout-actions button[data-action=resume]').isVisible(),
    'a paused rollout offers resume');
  await shot(page, '06-rollout-paused');

  // The device: versions, chain, timeline with the shadow verdict.
  await page.goto(`${base}#/devices/${seed.device_id}`);
  await page.locator('#timeline td', {hasText: 'shadow-result'}).waitFor();
  await page.locator('details.shadow summary').first().click();
  await page.locator('details.shadow[open] td', {hasText: '0.02'}).first().waitFor();
  check((await page.locator('#chain-status').textContent()).length > 0, 'chain status shown');
  check(await page.locator('td', {hasText: '1.0.0'}).count() > 0,
    'the previous version is shown');
  await shot(page, '07-device');

  // Shadow results and drills.
  await page.goto(`${base}#/shadow?model=chat`);
  await page.locator('td', {hasText: 'mean_kl'}).first().waitFor();
  await shot(page, '08-shadow');
  await page.goto(`${base}#/drills`);
  await page.locator('a[href="#/drills/canary"]').click();
  await page.waitForFunction(() => {
    const img = document.getElementById('timeline-img');
    return img && img.src.startsWith('blob:') && img.complete && img.naturalWidth > 0;
  }, null, {timeout: TIMEOUT_MS});
  await shot(page, '09-drill');

  // A viewer (a real viewer token, made through POST /v1/tokens) sees no
  // actions, and the server refuses the action anyway.
  await page.locator('#sign-out').click();
  await page.locator('#sign-in').waitFor();
  await signIn(page, seed.viewer_token);
  await page.locator('#who-role', {hasText: 'viewer'}).waitFor();
  await page.goto(`${base}#/rollouts/${seed.rollout_id}`);
  await page.locator('text=cannot change rollouts').waitFor();
  check(await page.locator('#rollout-actions').count() === 0, 'a viewer gets no action buttons');
  const refused = await fetch(`${seed.url}/v1/rollouts/${seed.rollout_id}/resume`, {
    method: 'POST', headers: {Authorization: `Bearer ${seed.viewer_token}`,
      'Content-Type': 'application/json'}, body: '{}'});
  check(refused.status === 403 && (await refused.json()).code === 'insufficient-role',
    'the server refuses a viewer\'s rollout action (403 insufficient-role)');
  await shot(page, '10-rollout-viewer');

  // Signing out forgets the token.
  await page.locator('#sign-out').click();
  await page.locator('#sign-in').waitFor();
  check(await page.evaluate(() => sessionStorage.length) === 0, 'signing out clears the token');
}

const {child, seed} = await startSeed();
mkdirSync(args.out, {recursive: true});
const browser = await chromium.launch({
  executablePath: args.chromium, headless: true,
  // Root in containers has no user namespaces for the sandbox.
  args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
});
let failed = null;
const requested = [];
const problems = [];
try {
  const context = await browser.newContext({viewport: {width: 1280, height: 900}});
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  page.on('request', (r) => requested.push(r.url()));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // Failed loads are checked by their responses below; any other console
  // error (a Content-Security-Policy violation, a script error) is a defect.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(`console error: ${m.text()}`);
    }
  });
  // Expected refusals: the wrong token (403).
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    const expected = r.status() === 403;
    if (r.status() >= 400 && !expected) problems.push(`${r.status()} for ${path}`);
  });
  await run(page, seed);
  check(requested.length > 0 &&
    requested.every((u) => !u.includes(seed.token) && !u.includes(seed.viewer_token)),
    `the token is in none of the ${requested.length} URLs the page requested`);
  check(requested.every((u) => u.startsWith(seed.url) || u.startsWith('blob:')),
    'every request goes to the server itself');
  check(problems.length === 0, `no script errors or policy violations (${problems.join('; ')})`);
} catch (e) {
  failed = e;
} finally {
  await browser.close();
  child.stdin.end();
}
if (failed) {
  console.error(`console test FAILED: ${failed.message}`);
  console.error(`screenshots so far: ${args.out}`);
  process.exit(1);
}
for (const c of checks) console.log(`ok - ${c}`);
console.log(`console test passed: ${checks.length} checks; screenshots in ${args.out}`);
