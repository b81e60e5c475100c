/**
 * `npm run test:browser`: the playground in a real browser. Builds and serves the page, drives headless Chromium
 * (Debian's `chromium` package, through playwright-core with its executablePath; nothing is downloaded), and
 * checks that: the page picks a device and says why (asking for WebGPU where there is none falls back without a
 * crash); the loss falls over the first steps; the gradient panel's gradcheck passes for several ops and the
 * device agrees with float64; a switch to another device carries training on; samples appear; no console error,
 * page error or failed request happens. Saves a screenshot (PLAYGROUND_SCREENSHOT, default
 * runs/playground/playground.png). A missing Chromium is a failure, never a skip.
 * CHROMIUM_PATH picks the browser; PLAYGROUND_TEST_STEPS the number of steps (default 60);
 * PLAYGROUND_TEST_TIMEOUT_S the longest wait for one stage (default 150).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import type { PlaygroundState } from './page/main.js';
import { servePlayground } from './serve.js';

const STEPS = Number(process.env.PLAYGROUND_TEST_STEPS ?? 60);
const SWITCH_AT = Math.floor((STEPS * 2) / 3);
const SCREENSHOT = process.env.PLAYGROUND_SCREENSHOT ?? 'runs/playground/playground.png';
const TIMEOUT_MS = Number(process.env.PLAYGROUND_TEST_TIMEOUT_S ?? 150) * 1000;

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser'];

const results: { name: string; ok: boolean; detail: string }[] = [];
function check(name: string, ok: boolean, detail: string): void {
  results.push({ name, ok, detail });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
}

const readState = (page: Page) => page.evaluate(() => window.tsgradPlayground as PlaygroundState);

async function waitFor(page: Page, what: string, done: (s: PlaygroundState) => boolean): Promise<PlaygroundState> {
  const started = Date.now();
  for (;;) {
    const s = await readState(page);
    if (s.status === 'error') throw new Error(`the page failed while waiting for ${what}: ${s.error}`);
    if (done(s)) return s;
    if (Date.now() - started > TIMEOUT_MS) throw new Error(`timed out after ${TIMEOUT_MS / 1000} s waiting for ${what} (status ${s.status}, step ${s.losses.length})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function run(page: Page, url: string): Promise<void> {
  await page.goto(`${url}?device=webgpu&steps=${STEPS}&sampleEvery=20`, { waitUntil: 'domcontentloaded', timeout: TIMEOUT_MS });
  let s = await waitFor(page, 'the first check and 5 steps', (x) => x.losses.length >= 5 && x.gradcheck !== null);
  check('device chosen and explained', s.device !== '' && s.why.length > 20, `${s.device}: ${s.why}`);
  const webgpu = s.devices.find((d) => d.name === 'webgpu')!;
  check(
    'a missing device is a fallback, not a crash',
    webgpu.available ? s.device === 'webgpu' : /webgpu was asked for but is unavailable/.test(s.why),
    webgpu.available ? 'webgpu is available here' : `webgpu: ${webgpu.detail}`,
  );
  check(`gradcheck panel (${s.gradcheck!.op} on ${s.gradcheck!.device})`, s.gradcheck!.ok && s.gradcheck!.deviceAgrees, s.gradcheck!.message);

  for (const op of ['matmul', 'gelu', 'crossEntropy']) {
    await page.selectOption('#op', op);
    s = await waitFor(page, `the ${op} check`, (x) => x.gradcheck?.op === op);
    const verdict = await page.textContent('#gradcheck-verdict');
    check(`gradcheck panel (${op} on ${s.gradcheck!.device})`, s.gradcheck!.ok && s.gradcheck!.deviceAgrees && /gradcheck passed/.test(verdict ?? ''), s.gradcheck!.message);
  }

  s = await waitFor(page, `step ${SWITCH_AT}`, (x) => x.losses.length >= SWITCH_AT);
  const other = s.devices.find((d) => d.available && d.name !== s.device && d.name === 'cpu') ?? s.devices.find((d) => d.available && d.name !== s.device && !d.emulated);
  if (!other) throw new Error(`no second device to switch to: ${JSON.stringify(s.devices)}`);
  await page.selectOption('#device', other.name);
  s = await waitFor(page, `the end of training (${STEPS} steps)`, (x) => x.status === 'done');

  const first = mean(s.losses.slice(0, 5));
  const last = mean(s.losses.slice(-5));
  check('loss falls', s.losses.length === STEPS && last < first - 0.5, `${STEPS} steps: mean of the first 5 losses ${first.toFixed(3)}, of the last 5 ${last.toFixed(3)}`);
  const switched = s.switches.at(-1);
  check(
    'device switch carries training on',
    s.device === other.name && switched !== undefined && s.gradcheck?.device === other.name && s.gradcheck.ok && s.losses.slice(switched.step).every((l) => Number.isFinite(l) && l < first),
    `switched to ${other.name} at step ${switched?.step}; losses after it ${s.losses.slice(switched?.step ?? 0).slice(0, 3).map((l) => l.toFixed(3)).join(', ')} …`,
  );
  check('samples appear', s.samples.length >= 2 && s.samples.every((x) => x.length === 64), `${s.samples.length} samples, last ${JSON.stringify(s.samples.at(-1))}`);
  check('tokens/s shown', s.tokensPerSecond > 0 && /\d/.test((await page.textContent('#tps')) ?? ''), `${s.tokensPerSecond.toFixed(0)} tokens/s (${s.device}, running mean)`);

  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  check('screenshot', existsSync(SCREENSHOT), SCREENSHOT);
}

async function main(): Promise<number> {
  const executablePath = CANDIDATES.find((p) => p && existsSync(p));
  if (!executablePath) {
    console.error(`test:browser: no Chromium found (looked at ${CANDIDATES.filter(Boolean).join(', ')}). Install Debian's package: apt-get install -y chromium, or set CHROMIUM_PATH.`);
    return 1;
  }
  const server = await servePlayground({ port: 0 });
  console.log(`serving ${server.url}; browser ${executablePath}`);
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  const problems: string[] = [];
  const started = Date.now();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
    page.on('crash', () => problems.push('the page crashed'));
    await run(page, server.url);
  } catch (e) {
    check('the run', false, (e as Error).message);
  } finally {
    await browser.close();
    await server.close();
  }
  check('no console errors, page errors or failed requests', problems.length === 0, problems.length ? problems.join('\n') : 'none');
  const failed = results.filter((r) => !r.ok).length;
  console.log(`test:browser took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`${results.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exit(await main());
