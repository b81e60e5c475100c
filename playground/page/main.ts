/**
 * The playground page: choose a device, train a tiny character-level transformer on a Brown-corpus slice
 * step by step (loss curve, tokens/s, samples), and check one op's gradient against finite differences.
 * URL parameters: device (webgpu | webgl2 | webasm | cpu), steps (stop after; default 5000), op (the gradient
 * panel's op), sampleEvery (steps between samples; default 25).
 * The page's state is also on `window.tsgradPlayground`, which the browser test (playground/e2e.ts) reads.
 */
import { getDevice, setDevice } from '../../core/index.js';
import { CharText } from './char-text.js';
import { chooseDevice, PAGE_DEVICES, surveyDevices, type DeviceReport } from './choose-device.js';
import { LossChart } from './loss-chart.js';
import { CHECKABLE_OPS, checkOp } from './op-check.js';
import { opCheckHtml } from './op-check-view.js';
import { PAGE_MODEL, Trainer } from './trainer.js';

export interface PlaygroundState {
  status: 'loading' | 'training' | 'paused' | 'done' | 'error';
  device: string;
  why: string;
  devices: DeviceReport[];
  losses: number[];
  tokensPerSecond: number;
  samples: string[];
  gradcheck: { op: string; device: string; ok: boolean; deviceAgrees: boolean; message: string } | null;
  switches: { step: number; device: string; why: string }[];
  error: string | null;
}

declare global {
  interface Window {
    tsgradPlayground: PlaygroundState;
  }
}

const params = new URLSearchParams(location.search);
const maxSteps = Number(params.get('steps') ?? 5000);
const sampleEvery = Number(params.get('sampleEvery') ?? 25);
const state: PlaygroundState = { status: 'loading', device: '', why: '', devices: [], losses: [], tokensPerSecond: 0, samples: [], gradcheck: null, switches: [], error: null };
window.tsgradPlayground = state;

const element = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const chart = new LossChart(element<HTMLCanvasElement>('chart'));
/** Work to run between two training steps (a device switch, a gradient check). */
const queue: (() => Promise<void>)[] = [];
let paused = false;

function setStatus(s: PlaygroundState['status']): void {
  state.status = s;
  document.body.dataset.status = s;
}

function showError(e: unknown): void {
  const message = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e);
  state.error = message;
  setStatus('error');
  element('error-box').hidden = false;
  element('error').textContent = message;
  console.error(`tsgrad playground: ${message}`);
}

function showDevice(): void {
  element('device-name').textContent = state.device;
  element('why').textContent = state.why;
  element<HTMLSelectElement>('device').value = state.device;
}

function fillDeviceSwitch(reports: DeviceReport[]): void {
  const select = element<HTMLSelectElement>('device');
  select.innerHTML = '';
  for (const name of PAGE_DEVICES) {
    const r = reports.find((x) => x.name === name)!;
    const option = new Option(r.available ? `${name}${r.emulated ? ' (emulated)' : ''}` : `${name} (unavailable)`, name);
    option.disabled = !r.available;
    option.title = r.detail;
    select.add(option);
  }
  element('devices').textContent = reports.map((r) => `${r.name}: ${r.available ? '' : 'unavailable, '}${r.detail}`).join(' · ');
}

async function runCheck(): Promise<void> {
  const op = element<HTMLSelectElement>('op').value;
  const seed = Number(element<HTMLInputElement>('seed').value) || 0;
  element('gradcheck').textContent = `checking ${op} …`;
  const c = await checkOp(op, seed, getDevice().name);
  element('gradcheck').innerHTML = opCheckHtml(c);
  state.gradcheck = { op, device: c.device, ok: c.gradcheck.ok, deviceAgrees: c.deviceAgrees, message: c.gradcheck.message };
}

async function main(): Promise<void> {
  const response = await fetch('brown-slice.txt');
  if (!response.ok) throw new Error(`could not load brown-slice.txt: HTTP ${response.status}`);
  const text = new CharText(await response.text());

  state.devices = await surveyDevices();
  fillDeviceSwitch(state.devices);
  const choice = chooseDevice(state.devices, params.get('device'));
  setDevice(choice.name, choice.why);
  state.device = choice.name;
  state.why = choice.why;
  showDevice();

  const trainer = new Trainer(text, PAGE_MODEL);
  const c = PAGE_MODEL;
  element('model').textContent = `${trainer.parameterCount.toLocaleString()} parameters · ${c.nLayers} layers, d ${c.dModel}, ${c.nHeads} heads, context ${c.contextLength}, batch ${c.batch} · ${text.vocabSize} characters, ${(text.text.length / 1000).toFixed(0)} k of text`;

  const opSelect = element<HTMLSelectElement>('op');
  for (const name of CHECKABLE_OPS) opSelect.add(new Option(name, name));
  opSelect.value = params.get('op') ?? 'layerNorm';
  element('check').addEventListener('click', () => queue.push(runCheck));
  opSelect.addEventListener('change', () => queue.push(runCheck));
  queue.push(runCheck);

  element<HTMLSelectElement>('device').addEventListener('change', (event) => {
    const name = (event.target as HTMLSelectElement).value;
    queue.push(async () => {
      if (name === state.device) return;
      const why = `switched from ${state.device} at step ${trainer.stepCount}`;
      trainer.moveTo(name, why);
      state.switches.push({ step: trainer.stepCount, device: name, why });
      state.device = name;
      state.why = why;
      chart.markSwitch(trainer.stepCount, name);
      showDevice();
      await runCheck();
    });
  });
  const pause = element<HTMLButtonElement>('pause');
  pause.disabled = false;
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'resume' : 'pause';
    if (!paused && state.status === 'paused') void loop(trainer);
  });

  chart.draw();
  await loop(trainer);
}

async function loop(trainer: Trainer): Promise<void> {
  setStatus('training');
  const samples = element('samples');
  let tokensPerSecond = 0;
  while (trainer.stepCount < maxSteps) {
    while (queue.length > 0) await queue.shift()!();
    if (paused) {
      setStatus('paused');
      return;
    }
    const r = await trainer.step();
    tokensPerSecond = r.step === 1 ? r.tokensPerSecond : 0.9 * tokensPerSecond + 0.1 * r.tokensPerSecond;
    state.losses.push(r.loss);
    state.tokensPerSecond = tokensPerSecond;
    chart.add(r.step, r.loss);
    element('step').textContent = String(r.step);
    element('loss').textContent = r.loss.toFixed(3);
    element('tps').textContent = tokensPerSecond.toFixed(0);
    if (r.step % sampleEvery === 0) {
      const [first, second] = await trainer.sample(64);
      state.samples.push(first.continuation, second.continuation);
      samples.textContent = `step ${r.step}:\n  …${first.prompt}⟨${first.continuation}⟩\n  …${second.prompt}⟨${second.continuation}⟩\n` + samples.textContent;
    }
    chart.draw();
    await new Promise((resolve) => setTimeout(resolve, 0)); // let the page repaint and take clicks
  }
  while (queue.length > 0) await queue.shift()!();
  setStatus('done');
}

main().catch(showError);
window.addEventListener('unhandledrejection', (event) => showError(event.reason));
