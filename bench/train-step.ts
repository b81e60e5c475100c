/**
 * Training-step throughput on the reference workload: a tiny GPT (vocab 256, context 64, d_model 64,
 * 4 heads, 2 pre-LayerNorm blocks, MLP 4x with tanh-GELU, learned positions, untied head), batch 16
 * (1,024 tokens per step), Adam lr 1e-3 (tsgrad: AdamW with weight decay 0), random tokens.
 *
 *   npx tsx bench/train-step.ts [--quick] [--steps n] [--webgpu] [--no-tfjs] [--no-torch] [--out file] [--help]
 *
 * Engines, stepped interleaved (round 1: A, B, C, D; round 2: A, B, C, D; ...) so that
 * a noisy neighbour or thermal drift hits every engine alike:
 * - tsgrad on its default device, and on each other device that works (webasm, cpu; webgpu only when
 *   probeWebGpu finds a real, non-emulated adapter, or with --webgpu);
 * - TensorFlow.js 4.22 with tfjs-backend-wasm (SIMD, its stock Node setting of 1 thread) and
 *   tfjs-backend-cpu, the same model written in bench/tfjs-gpt.ts, in this process;
 * - PyTorch (bench/torch_gpt.py) in a child Python process, when a Python with torch is found
 *   (bench/torch-gpt.ts); its CPU time is the child's own.
 * Slow engines (tfjs-cpu, tsgrad's other devices) take fewer steps, spread evenly over the rounds.
 *
 * A step is timed from host token ids to the loss value on the host: make the input tensors, forward,
 * backward, optimizer step, read the loss, and (tsgrad) wait for every updated parameter, so that work
 * left in flight by asynchronous kernels never lands in another engine's step. Reported: the median over the measured steps (after warm-up)
 * and tokens/s = 1,024 / median seconds. The ratio tsgrad / tfjs-wasm (in tokens/s) is taken round by
 * round, over the rounds where both ran a measured step, and its median reported.
 *
 * Data: two fixed batches of random tokens (seeded), used in turn by every engine, so the models can
 * memorise them and the loss must fall; mean loss of the first two steps vs the last two is checked, and a
 * `FAIL` line is printed (exit code 1 from the CLI) for any engine whose loss does not fall.
 *
 * Writes bench/results/train-step.json; `trainStepMarkdown(result)` gives a section for BENCHMARKS.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { destroyDevices, getDevice, probeWebGpu, setDevice, Tensor, type Device } from '../core/index.js';
import * as nn from '../nn/index.js';
import { GEMM_WORKER_MIN_MACS } from '../core/devices/webasm/wasm/gemm.js';
import { CliError, parseCli } from '../experiments/report/cli.js';
import { fmt, markdownTable } from '../experiments/report/markdown.js';

/** Where the CLI writes its result. */
export const TRAIN_STEP_RESULTS = fileURLToPath(new URL('./results/train-step.json', import.meta.url));

export const WORKLOAD = {
  vocabSize: 256,
  contextLength: 64,
  dModel: 64,
  nHeads: 4,
  nLayers: 2,
  batchSize: 16,
  lr: 1e-3,
} as const;
const TOKENS_PER_STEP = WORKLOAD.batchSize * WORKLOAD.contextLength;
/** Batches cycled through (fixed random tokens); also the window of the loss-falls check. */
const POOL = 2;

export interface TrainStepOpts {
  /** Fewer steps (see below); meant to finish in well under 3 minutes on 2 cores. */
  quick?: boolean;
  /** Measured steps for tsgrad's default device and tfjs-wasm (default 30, quick 20). */
  steps?: number;
  /** Unmeasured steps first (default 5, quick 3; slow engines 2 / 1). */
  warmup?: number;
  /** Measured steps for the slow engines: tfjs-cpu and tsgrad's non-default devices (default 10, quick 5). */
  slowSteps?: number;
  /** tsgrad devices to run (default: the default device, then webasm and cpu, then webgpu if it qualifies). */
  devices?: string[];
  /** Include webgpu even on an emulated (fallback) adapter; it is still skipped if probing fails. */
  webgpu?: boolean;
  /** Run the TensorFlow.js engines (default true). */
  tfjs?: boolean;
  /** Run tfjs-backend-cpu (default true; ~3.5 s a step here). */
  tfjsCpu?: boolean;
  /** Run PyTorch in a child Python process when one with torch is found (default true; skipped with the reason otherwise). */
  torch?: boolean;
  /** Write the result as JSON here. */
  resultsFile?: string;
  /** Print progress and the summary (default true). */
  log?: boolean;
  /** Seeds the data and the initial weights (default 0). */
  seed?: number;
}

export interface EngineResult {
  /** e.g. "tsgrad/webasm", "tfjs-wasm". */
  engine: string;
  library: 'tsgrad' | 'tfjs' | 'pytorch';
  /** tsgrad device or tfjs backend. */
  device: string;
  /** Details: why this device, what the backend runs on. */
  detail: string;
  parameters: number;
  warmup: number;
  /** Measured steps. */
  steps: number;
  medianMs: number;
  /** Median process CPU time (user + system) per measured step: less sensitive to a busy machine than wall time. */
  medianCpuMs: number;
  minMs: number;
  maxMs: number;
  tokensPerSec: number;
  /** Every step's milliseconds (warm-up included, first). */
  stepMs: number[];
  /** Every step's loss (warm-up included). */
  losses: number[];
  lossFirst: number;
  lossLast: number;
  lossFalls: boolean;
  /** Set when the engine failed part-way; the numbers cover the steps before. */
  error?: string;
}

export interface TrainStepResult {
  /** tsgrad's default device. */
  device: string;
  /** Measured steps on it. */
  steps: number;
  tsgradTokensPerSec: number | null;
  tfjsWasmTokensPerSec: number | null;
  tfjsCpuTokensPerSec: number | null;
  pytorchTokensPerSec: number | null;
  /** Median over interleaved rounds of (tsgrad default tokens/s) / (tfjs-wasm tokens/s). */
  ratioVsTfjsWasm: number | null;
  /** Same against tfjs-cpu (over the rounds where both ran). */
  ratioVsTfjsCpu: number | null;
  /** Same against PyTorch (wall time; the child's own CPU time for the CPU-time ratio). */
  ratioVsPytorch: number | null;
  ratioVsPytorchCpuTime: number | null;
  /** PyTorch with 2 intra-op threads: its tokens/s and the ratios against it (wall, CPU time). */
  pytorch2TokensPerSec: number | null;
  ratioVsPytorch2: number | null;
  ratioVsPytorch2CpuTime: number | null;
  /** The same ratio from CPU time per step instead of wall time. */
  ratioVsTfjsWasmCpuTime: number | null;
  /** Rounds the ratio vs tfjs-wasm was taken over. */
  ratioRounds: number;
  /** tokens/s per tsgrad device. */
  tsgradByDevice: Record<string, number>;
  engines: EngineResult[];
  skipped: { engine: string; reason: string }[];
  lossesFall: boolean;
  quick: boolean;
  workload: typeof WORKLOAD & { tokensPerStep: number; data: string };
  /** `cpuShare`: process CPU time / wall time over the run (about 1 on an idle machine; lower when others compete). */
  machine: { cpu: string; cores: number; node: string; loadBefore: number; loadAfter: number; cpuShare: number };
  date: string;
  seconds: number;
}

interface Engine {
  name: string;
  library: 'tsgrad' | 'tfjs' | 'pytorch';
  device: string;
  detail: string;
  parameters: number;
  warmup: number;
  steps: number;
  /** Rounds this engine takes part in (spread evenly over all rounds). */
  rounds: Set<number>;
  /** One step on batch `index` (x, y); the loss, or the loss and the CPU ms of a child process that did the work. */
  step(x: Int32Array, y: Int32Array, index: number): Promise<number | { loss: number; cpuMs: number }>;
  close?: () => void;
  ms: number[];
  cpuMs: number[];
  losses: number[];
  /** Measured [wall ms, cpu ms] by round. */
  byRound: Map<number, [number, number]>;
  error?: string;
}

const KIND: Record<string, string> = {
  webasm: 'gpu.js WebAssembly SIMD kernels',
  cpu: 'gpu.js kernels transpiled to JavaScript',
  webgpu: 'gpu.js WGSL kernels',
  reference: 'float64 kernels called as plain JavaScript',
  headlessgl: 'gpu.js WebGL kernels through the native gl module',
};

/** mulberry32: a small seeded PRNG, so every engine sees the same tokens. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeBatches(seed: number): { x: Int32Array; y: Int32Array }[] {
  const r = rng(seed + 12345);
  const tok = () => Math.floor(r() * WORKLOAD.vocabSize);
  return Array.from({ length: POOL }, () => ({
    x: Int32Array.from({ length: TOKENS_PER_STEP }, tok),
    y: Int32Array.from({ length: TOKENS_PER_STEP }, tok),
  }));
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** Rounds (0-based, out of `total`) in which an engine with `n` steps runs: spread evenly, first round included. */
function spread(n: number, total: number): Set<number> {
  const out = new Set<number>();
  for (let i = 0; i < n; i++) out.add(Math.floor((i * total) / n));
  return out;
}

/** Build tsgrad's model and optimizer on `dev` (the nn layers allocate on the current default device). */
function tsgradEngine(dev: Device, seed: number): Pick<Engine, 'step' | 'parameters'> {
  const prevQuiet = process.env.TSGRAD_QUIET;
  process.env.TSGRAD_QUIET = '1';
  const prev = getDevice();
  let lm: nn.TransformerLM;
  try {
    setDevice(dev.name);
    lm = new nn.TransformerLM({
      vocabSize: WORKLOAD.vocabSize, contextLength: WORKLOAD.contextLength, dModel: WORKLOAD.dModel, nHeads: WORKLOAD.nHeads,
      nLayers: WORKLOAD.nLayers, mlp: 'gelu', norm: 'layernorm', positions: 'learned', seed,
    });
  } finally {
    setDevice(prev.name);
    if (prevQuiet === undefined) delete process.env.TSGRAD_QUIET;
    else process.env.TSGRAD_QUIET = prevQuiet;
  }
  const opt = new nn.AdamW(lm.namedParameters(), { lr: WORKLOAD.lr, weightDecay: 0 });
  const shape = [WORKLOAD.batchSize, WORKLOAD.contextLength];
  return {
    parameters: lm.numParameters(),
    async step(x, y) {
      const loss = lm.loss(Tensor.fromValues(x, shape, dev, 'int32'), Tensor.fromValues(y, shape, dev, 'int32'));
      loss.backward({ freeGraph: true }); // as the experiments' trainStep: the graph's memory is reused
      opt.step();
      opt.zeroGrad();
      const v = await loss.item();
      // a step ends when the parameters are updated: kernels that return promises (webgpu, threaded
      // matmuls on webasm) must not spill into the next engine's timing
      await Promise.all(lm.parameters().map((p) => p._data));
      return v;
    },
  };
}

/** Whether any matmul of the workload is big enough for the gemm worker thread (wasm/gemm.ts). */
function gemmThreadsNote(): string {
  const n = WORKLOAD.batchSize * WORKLOAD.contextLength;
  const largest = Math.max(n * WORKLOAD.dModel * 4 * WORKLOAD.dModel, n * WORKLOAD.dModel * WORKLOAD.vocabSize);
  const M = (x: number) => x.toLocaleString('en-US');
  return largest >= GEMM_WORKER_MIN_MACS
    ? `matmuls of >= ${M(GEMM_WORKER_MIN_MACS)} multiply-adds on two threads`
    : `one thread (matmuls go to a second thread from ${M(GEMM_WORKER_MIN_MACS)} multiply-adds; the largest here has ${M(largest)}, ` +
      '`setGemmWorker(true, { minMacs })` moves the threshold)';
}

/** Which tsgrad devices to run, and why the others are left out. */
async function pickDevices(opts: TrainStepOpts, log: (s: string) => void): Promise<{ devices: Device[]; why: Map<string, string>; skipped: { engine: string; reason: string }[] }> {
  const skipped: { engine: string; reason: string }[] = [];
  const why = new Map<string, string>();
  const def = getDevice();
  const envDev = process.env.TSGRAD_DEVICE;
  why.set(def.name, envDev ? `default device (TSGRAD_DEVICE=${envDev})` : 'default device');
  const names = opts.devices ?? [def.name, 'webasm', 'cpu', 'webgpu'];
  const devices: Device[] = [];
  for (const name of [...new Set(names)]) {
    if (devices.some((d) => d.name === name)) continue;
    if (name === 'webgpu' && def.name !== 'webgpu') {
      const p = await probeWebGpu();
      if (!p.ok) {
        skipped.push({ engine: 'tsgrad/webgpu', reason: p.reason });
        continue;
      }
      if (p.adapter?.fallback && !opts.webgpu) {
        skipped.push({ engine: 'tsgrad/webgpu', reason: `${p.reason} is a CPU emulation (pass --webgpu to run it anyway)` });
        continue;
      }
      why.set('webgpu', p.reason);
    }
    if (name === 'reference' || name === 'headlessgl') {
      if (!opts.devices) continue;
    }
    try {
      const prevQuiet = process.env.TSGRAD_QUIET;
      process.env.TSGRAD_QUIET = '1';
      try {
        devices.push(setDevice(name));
      } finally {
        setDevice(def.name);
        if (prevQuiet === undefined) delete process.env.TSGRAD_QUIET;
        else process.env.TSGRAD_QUIET = prevQuiet;
      }
      if (!why.has(name)) why.set(name, 'another device that works');
    } catch (e) {
      skipped.push({ engine: `tsgrad/${name}`, reason: (e as Error).message.split('\n')[0] });
    }
  }
  for (const s of skipped) log(`skipped ${s.engine}: ${s.reason}`);
  return { devices, why, skipped };
}

export async function runTrainStepBench(opts: TrainStepOpts = {}): Promise<TrainStepResult> {
  const quick = opts.quick ?? false;
  const logOn = opts.log ?? true;
  const log = (s: string) => {
    if (logOn) console.log(s);
  };
  const seed = opts.seed ?? 0;
  const steps = opts.steps ?? (quick ? 20 : 30);
  const warmup = opts.warmup ?? (quick ? 3 : 5);
  const slowSteps = opts.slowSteps ?? (quick ? 5 : 10);
  const slowWarmup = Math.min(warmup, quick ? 1 : 2);
  const t0 = performance.now();
  const loadBefore = loadavg()[0];
  const cpu0 = process.cpuUsage();

  const { devices, why, skipped } = await pickDevices(opts, log);
  // the main tsgrad engine: the default device, or the first one asked for when --devices leaves it out
  const defName = devices.find((d) => d.name === getDevice().name)?.name ?? devices[0]?.name ?? getDevice().name;
  const engines: Engine[] = [];
  for (const dev of devices) {
    const main = dev.name === defName;
    try {
      const e = tsgradEngine(dev, seed);
      engines.push({
        name: `tsgrad/${dev.name}`, library: 'tsgrad', device: dev.name, detail:
          `${why.get(dev.name) ?? ''}; ${KIND[dev.name] ?? 'gpu.js'}` +
          (dev.name === 'webasm' ? ', exp/tanh as WebAssembly functions, matmul (with linear\'s bias) by the WebAssembly SIMD micro-kernel, fused attention, softmax exp and GELU as WebAssembly SIMD, ' +
            'AdamW in one pass, `backward({ freeGraph: true })` with the buffer pool; ' +
            gemmThreadsNote() : ''),
        ...e,
        warmup: main ? warmup : slowWarmup, steps: main ? steps : slowSteps, ms: [], cpuMs: [], losses: [], byRound: new Map(), rounds: new Set(),
      });
    } catch (err) {
      skipped.push({ engine: `tsgrad/${dev.name}`, reason: (err as Error).message.split('\n')[0] });
    }
  }
  if (opts.tfjs ?? true) {
    try {
      const tfjs = await import('./tfjs-gpt.js');
      const backends: ('wasm' | 'cpu')[] = opts.tfjsCpu ?? true ? ['wasm', 'cpu'] : ['wasm'];
      for (const be of backends) {
        try {
          const info = await tfjs.initTfjsBackend(be);
          const gpt = tfjs.createTfjsGpt({ ...WORKLOAD, seed }, be);
          const fast = be === 'wasm';
          engines.push({
            name: `tfjs-${be}`, library: 'tfjs', device: be, detail: `@tensorflow/tfjs-backend-${be}: ${info.detail}`,
            parameters: gpt.numParameters, warmup: fast ? warmup : slowWarmup, steps: fast ? steps : slowSteps,
            step: (x, y) => gpt.step(x, y), ms: [], cpuMs: [], losses: [], byRound: new Map(), rounds: new Set(),
          });
        } catch (err) {
          skipped.push({ engine: `tfjs-${be}`, reason: (err as Error).message.split('\n')[0] });
        }
      }
    } catch (err) {
      skipped.push({ engine: 'tfjs', reason: `TensorFlow.js not loadable: ${(err as Error).message.split('\n')[0]}` });
    }
  }
  const batches = makeBatches(seed);
  if (opts.torch ?? true) {
    const { findTorchPython, startTorchGpt } = await import('./torch-gpt.js');
    const found = findTorchPython();
    if ('reason' in found) skipped.push({ engine: 'pytorch', reason: found.reason });
    else {
      // one intra-op thread (the like-for-like row: tsgrad's tiny-GPT step runs on one thread), then two
      for (const threads of [1, 2]) {
        const name = threads === 1 ? 'pytorch' : `pytorch-${threads}t`;
        try {
          const t = await startTorchGpt(found.python, { seed, batch: WORKLOAD.batchSize, context: WORKLOAD.contextLength, threads, batches });
          engines.push({
            name, library: 'pytorch', device: 'cpu', detail: `${t.detail}; child process, CPU ms its own`, parameters: t.parameters,
            warmup, steps, step: (_x, _y, i) => t.step(i), close: () => t.close(), ms: [], cpuMs: [], losses: [], byRound: new Map(), rounds: new Set(),
          });
        } catch (err) {
          skipped.push({ engine: name, reason: (err as Error).message.split('\n')[0] });
        }
      }
    }
  }
  if (engines.length === 0) throw new Error('train-step bench: no engine could be set up');
  const params = new Set(engines.map((e) => e.parameters));
  if (params.size > 1) log(`WARNING: engines differ in parameter count: ${engines.map((e) => `${e.name} ${e.parameters}`).join(', ')}`);

  const totalRounds = Math.max(...engines.map((e) => e.warmup + e.steps));
  for (const e of engines) e.rounds = spread(e.warmup + e.steps, totalRounds);
  log(`${engines.length} engines, ${totalRounds} interleaved rounds, ${TOKENS_PER_STEP} tokens per step, ${engines[0].parameters} parameters`);
  for (const e of engines) log(`  ${e.name.padEnd(14)} ${e.warmup} warm-up + ${e.steps} measured steps; ${e.detail}`);

  const done = new Map<Engine, number>(engines.map((e) => [e, 0]));
  for (let r = 0; r < totalRounds; r++) {
    const parts: string[] = [];
    for (const e of engines) {
      if (e.error || !e.rounds.has(r)) continue;
      const k = done.get(e)!;
      const b = batches[k % POOL];
      try {
        const c0 = process.cpuUsage();
        const s0 = performance.now();
        const out = await e.step(b.x, b.y, k % POOL);
        const ms = performance.now() - s0;
        const c = process.cpuUsage(c0);
        const loss = typeof out === 'number' ? out : out.loss;
        const cpuMs = typeof out === 'number' ? (c.user + c.system) / 1000 : out.cpuMs;
        if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${k}`);
        e.ms.push(ms);
        e.cpuMs.push(cpuMs);
        e.losses.push(loss);
        if (k >= e.warmup) e.byRound.set(r, [ms, cpuMs]);
        parts.push(`${e.name} ${ms.toFixed(0)} ms${k < e.warmup ? ' (warm-up)' : ''} loss ${loss.toFixed(3)}`);
      } catch (err) {
        e.error = (err as Error).message.split('\n')[0];
        log(`FAIL: ${e.name} failed at step ${k}: ${e.error}`);
      }
      done.set(e, k + 1);
    }
    log(`round ${String(r + 1).padStart(2)}/${totalRounds}: ${parts.join(' | ')}`);
  }
  for (const e of engines) e.close?.();

  const results: EngineResult[] = engines.map((e) => {
    const measured = e.ms.slice(e.warmup);
    const med = median(measured);
    const w = Math.min(POOL, Math.floor(e.losses.length / 2));
    const lossFirst = w > 0 ? mean(e.losses.slice(0, w)) : NaN;
    const lossLast = w > 0 ? mean(e.losses.slice(-w)) : NaN;
    return {
      engine: e.name, library: e.library, device: e.device, detail: e.detail, parameters: e.parameters, warmup: e.warmup,
      steps: measured.length, medianMs: med, medianCpuMs: median(e.cpuMs.slice(e.warmup)), minMs: Math.min(...measured), maxMs: Math.max(...measured),
      tokensPerSec: measured.length ? TOKENS_PER_STEP / (med / 1000) : NaN,
      stepMs: e.ms.map((x) => Math.round(x * 10) / 10), losses: e.losses.map((x) => Math.round(x * 1e5) / 1e5),
      lossFirst, lossLast, lossFalls: w > 0 && lossLast < lossFirst - 1e-3, ...(e.error ? { error: e.error } : {}),
    };
  });
  for (const r of results) {
    if (!r.lossFalls) log(`FAIL: ${r.engine}: loss did not fall (mean of first ${POOL} steps ${r.lossFirst.toFixed(4)}, last ${POOL} ${r.lossLast.toFixed(4)})`);
  }
  if (results.every((r) => r.lossFalls)) log(`ok: the loss fell on every engine (${results.map((r) => `${r.engine} ${r.lossFirst.toFixed(3)} -> ${r.lossLast.toFixed(3)}`).join(', ')})`);

  const main = engines.find((e) => e.name === `tsgrad/${defName}`);
  const pairRatio = (other: Engine | undefined, which = 0): { ratio: number | null; rounds: number } => {
    if (!main || !other) return { ratio: null, rounds: 0 };
    const rs: number[] = [];
    for (const [r, ours] of main.byRound) {
      const theirs = other.byRound.get(r);
      if (theirs !== undefined) rs.push(theirs[which] / ours[which]); // tsgrad tokens/s over the other's = their ms over ours
    }
    return { ratio: rs.length ? median(rs) : null, rounds: rs.length };
  };
  const find = (name: string) => results.find((r) => r.engine === name && r.steps > 0);
  const wasm = pairRatio(engines.find((e) => e.name === 'tfjs-wasm'));
  const wasmCpuTime = pairRatio(engines.find((e) => e.name === 'tfjs-wasm'), 1);
  const cpu = pairRatio(engines.find((e) => e.name === 'tfjs-cpu'));
  const torch = pairRatio(engines.find((e) => e.name === 'pytorch'));
  const torchCpuTime = pairRatio(engines.find((e) => e.name === 'pytorch'), 1);
  const torch2 = pairRatio(engines.find((e) => e.name === 'pytorch-2t'));
  const torch2CpuTime = pairRatio(engines.find((e) => e.name === 'pytorch-2t'), 1);
  const used = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  const round = (x: number | undefined | null, d = 1) => (x === undefined || x === null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
  const result: TrainStepResult = {
    device: defName,
    steps: find(`tsgrad/${defName}`)?.steps ?? 0,
    tsgradTokensPerSec: round(find(`tsgrad/${defName}`)?.tokensPerSec),
    tfjsWasmTokensPerSec: round(find('tfjs-wasm')?.tokensPerSec),
    tfjsCpuTokensPerSec: round(find('tfjs-cpu')?.tokensPerSec),
    pytorchTokensPerSec: round(find('pytorch')?.tokensPerSec),
    ratioVsTfjsWasm: round(wasm.ratio, 3),
    ratioVsTfjsCpu: round(cpu.ratio, 3),
    ratioVsPytorch: round(torch.ratio, 3),
    ratioVsPytorchCpuTime: round(torchCpuTime.ratio, 3),
    pytorch2TokensPerSec: round(find('pytorch-2t')?.tokensPerSec),
    ratioVsPytorch2: round(torch2.ratio, 3),
    ratioVsPytorch2CpuTime: round(torch2CpuTime.ratio, 3),
    ratioVsTfjsWasmCpuTime: round(wasmCpuTime.ratio, 3),
    ratioRounds: wasm.rounds,
    tsgradByDevice: Object.fromEntries(results.filter((r) => r.library === 'tsgrad' && r.steps > 0).map((r) => [r.device, round(r.tokensPerSec) ?? 0])),
    engines: results,
    skipped,
    lossesFall: results.every((r) => r.lossFalls),
    quick,
    workload: { ...WORKLOAD, tokensPerStep: TOKENS_PER_STEP, data: `${POOL} fixed batches of uniform random tokens (seed ${seed}), used in turn` },
    machine: { cpu: cpus()[0]?.model ?? '?', cores: cpus().length, node: process.version, loadBefore: round(loadBefore, 2) ?? 0, loadAfter: round(loadavg()[0], 2) ?? 0,
      cpuShare: round((used.user + used.system) / 1e6 / seconds, 2) ?? 0 },
    date: new Date().toISOString(),
    seconds: round(seconds) ?? 0,
  };
  if (opts.resultsFile) {
    mkdirSync(dirname(opts.resultsFile), { recursive: true });
    writeFileSync(opts.resultsFile, `${JSON.stringify(result, null, 2)}\n`);
  }
  log(`\n${trainStepTable(result)}\n`);
  if (result.ratioVsTfjsWasm !== null) {
    log(`tsgrad/${defName} / tfjs-wasm (tokens/s, median of ${result.ratioRounds} interleaved rounds): ${result.ratioVsTfjsWasm}` +
      ` (from CPU time per step: ${result.ratioVsTfjsWasmCpuTime})` +
      (result.ratioVsPytorch !== null ? `; / pytorch: ${result.ratioVsPytorch} (CPU time: ${result.ratioVsPytorchCpuTime})` : '') +
      (result.ratioVsPytorch2 !== null ? `; / pytorch-2t: ${result.ratioVsPytorch2} (CPU time: ${result.ratioVsPytorch2CpuTime})` : '') + `; this process got ${result.machine.cpuShare} of a core, load average ${result.machine.loadBefore} -> ${result.machine.loadAfter}`);
  }
  return result;
}

/** One row per engine: steps, median ms, tokens/s, ratio to tfjs-wasm, loss first -> last. */
export function trainStepTable(r: TrainStepResult): string {
  const wasm = r.engines.find((e) => e.engine === 'tfjs-wasm' && e.steps > 0);
  const rows = r.engines.map((e) => [
    e.engine + (e.error ? ' (failed)' : ''),
    `${e.steps}${e.warmup ? ` (+${e.warmup})` : ''}`,
    e.steps ? fmt(e.medianMs, 3) : '-',
    e.steps ? `${fmt(e.minMs, 3)}-${fmt(e.maxMs, 3)}` : '-',
    e.steps ? fmt(e.medianCpuMs, 3) : '-',
    e.steps ? fmt(e.tokensPerSec, 3) : '-',
    wasm && e.steps ? `${(e.tokensPerSec / wasm.tokensPerSec).toFixed(2)}x` : '-',
    `${e.lossFirst.toFixed(3)} -> ${e.lossLast.toFixed(3)}${e.lossFalls ? '' : ' FAIL'}`,
  ]);
  return markdownTable(['engine', 'steps (+warm-up)', 'median ms/step', 'range ms', 'CPU ms/step', 'tokens/s', 'vs tfjs-wasm', 'loss first -> last'], rows,
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left']);
}

/** A markdown section for BENCHMARKS.md. */
export function trainStepMarkdown(r: TrainStepResult, opts: { heading?: string; command?: string } = {}): string {
  const w = r.workload;
  const lines = [
    `## ${opts.heading ?? 'Training step: tiny GPT'}`,
    '',
    `Tiny GPT (vocab ${w.vocabSize}, context ${w.contextLength}, d_model ${w.dModel}, ${w.nHeads} heads, ${w.nLayers} pre-LayerNorm blocks, ` +
      `MLP 4x tanh-GELU, learned positions, untied head; ${r.engines[0]?.parameters.toLocaleString('en-US') ?? '?'} parameters), batch ${w.batchSize} ` +
      `(${w.tokensPerStep.toLocaleString('en-US')} tokens per step), Adam lr ${w.lr}; ${w.data}. One step = host token ids to the loss on the host ` +
      '(input tensors, forward, backward, optimizer, loss readback). Engines run interleaved (PyTorch in a child process, stepped in the same rounds); median over the measured steps.',
    '',
    trainStepTable(r),
    '',
    r.ratioVsTfjsWasm !== null
      ? `**tsgrad (${r.device}) / tfjs-wasm: ${r.ratioVsTfjsWasm.toFixed(2)}x** in tokens/s (median of ${r.ratioRounds} per-round ratios)` +
        (r.ratioVsTfjsWasmCpuTime !== null ? ` (${r.ratioVsTfjsWasmCpuTime.toFixed(2)}x from CPU time per step)` : '') +
        (r.ratioVsTfjsCpu !== null ? `; vs tfjs-cpu ${r.ratioVsTfjsCpu.toFixed(2)}x` : '') +
        (r.ratioVsPytorch !== null ? `; **vs PyTorch 1 thread ${r.ratioVsPytorch.toFixed(2)}x** (${r.ratioVsPytorchCpuTime?.toFixed(2)}x from CPU time)` : '') +
        (r.ratioVsPytorch2 !== null ? `; vs PyTorch 2 threads ${r.ratioVsPytorch2.toFixed(2)}x (${r.ratioVsPytorch2CpuTime?.toFixed(2)}x from CPU time).` : '.')
      : 'No tfjs-wasm comparison in this run.',
    '',
    ...r.engines.map((e) => `- ${e.engine}: ${e.detail}${e.error ? ` — failed: ${e.error}` : ''}`),
    ...r.skipped.map((s) => `- skipped ${s.engine}: ${s.reason}`),
    `- ${r.machine.cores} cores (${r.machine.cpu}), Node ${r.machine.node}, load average ${r.machine.loadBefore} before / ${r.machine.loadAfter} after, ` +
      `this process got ${r.machine.cpuShare} of a core; ` +
      `${r.quick ? '--quick, ' : ''}${r.seconds} s in all, ${r.date.slice(0, 10)}.` + (opts.command ? ` Command: \`${opts.command}\`.` : ''),
  ];
  if (!r.lossesFall) lines.push('', '**FAIL**: the loss did not fall for ' + r.engines.filter((e) => !e.lossFalls).map((e) => e.engine).join(', ') + '.');
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.env.TSGRAD_QUIET ??= '1';
  const spec = {
    name: 'tsx bench/train-step.ts',
    description: 'Tiny-GPT training-step throughput: tsgrad on each working device vs TensorFlow.js (wasm, cpu), interleaved.',
    options: {
      quick: { type: 'boolean', description: 'fewer steps (20 measured for tsgrad and tfjs-wasm, 5 for slow engines)' },
      steps: { type: 'number', description: 'measured steps for tsgrad (default device) and tfjs-wasm (default 30, quick 20)' },
      warmup: { type: 'number', description: 'warm-up steps (default 5, quick 3)' },
      slowSteps: { type: 'number', description: 'measured steps for tfjs-cpu and tsgrad on other devices (default 10, quick 5)' },
      devices: { type: 'string', description: 'comma-separated tsgrad devices (default: default device, webasm, cpu, webgpu if real)' },
      webgpu: { type: 'boolean', description: 'run webgpu even on an emulated adapter (when probing succeeds)' },
      tfjs: { type: 'boolean', default: true, description: 'run the TensorFlow.js engines' },
      tfjsCpu: { type: 'boolean', default: true, description: 'run tfjs-backend-cpu (slow)' },
      torch: { type: 'boolean', default: true, description: 'run PyTorch in a child Python process when one with torch is found' },
      seed: { type: 'number', default: 0, description: 'seed for data and weights' },
      out: { type: 'string', default: 'bench/results/train-step.json', description: "where to write the JSON result ('' for nowhere)" },
    },
  } as const;
  let args;
  try {
    args = parseCli(spec);
  } catch (e) {
    if (e instanceof CliError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  const resultsFile = args.out === 'bench/results/train-step.json' ? TRAIN_STEP_RESULTS : args.out || undefined;
  console.log(`${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${loadavg()[0].toFixed(2)}`);
  const r = await runTrainStepBench({
    quick: args.quick, steps: args.steps, warmup: args.warmup, slowSteps: args.slowSteps,
    devices: args.devices?.split(',').map((s) => s.trim()).filter(Boolean), webgpu: args.webgpu, tfjs: args.tfjs, tfjsCpu: args.tfjsCpu,
    torch: args.torch, seed: args.seed, resultsFile,
  });
  console.log(resultsFile ? `written to ${resultsFile} (${r.seconds} s)` : `${r.seconds} s`);
  if (!r.lossesFall) process.exitCode = 1;
  await destroyDevices();
}
