/**
 * Where a tiny-GPT training step spends its time: the per-kernel profile (core/profile.ts) of the
 * bench/train-step.ts workload on the default device, plus the split into forward, backward, optimizer
 * and loss readback, each as wall time and as time inside kernels (the rest is host work: building the
 * graph, allocating, host-side index grouping, garbage collection).
 *
 *   npx tsx bench/profile.ts [--steps n] [--warmup n] [--top n]
 *
 * Kernel times are real work on synchronous devices (webasm, cpu); on webgpu they are dispatch times only.
 * WebAssembly worker threads (big matmuls on webasm) are turned off while profiling, since a threaded kernel
 * returns a promise and only its dispatch could be timed; `--threads` keeps them (rows marked `*`).
 */
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { destroyDevices, getDevice, setThreads, Tensor } from '../core/index.js';
import { poolStats, resetPoolStats } from '../core/pool.js';
import { formatProfile, profileElapsed, startProfile, stopProfile, type ProfileRow, type ProfileTotals } from '../core/profile.js';
import * as nn from '../nn/index.js';
import { CliError, parseCli } from '../experiments/report/cli.js';
import { markdownTable } from '../experiments/report/markdown.js';
import { WORKLOAD } from './train-step.js';
import { mainModelConfig, PRESETS } from '../experiments/train/presets.js';

/**
 * The Brown protocol's vocabulary (train words seen at least 4 times, plus <unk>): the main job's head.
 * A literal, not `loadBrown().vocab.size`: loading the corpus in the profiled process made the profiled
 * step 10-20% slower (320-328 against 368-393 ms, a bigger heap to collect), and the before/after
 * profiles in BENCHMARKS.md were measured without it. spec/data.spec.ts checks it against the corpus.
 */
export const BROWN_VOCAB = 13_189;

export interface PhaseTime {
  phase: 'forward' | 'backward' | 'optimizer' | 'readback';
  /** Wall-clock ms per step. */
  wallMs: number;
  /** Of which inside kernels, per step. */
  kernelMs: number;
  /** Kernel calls per step. */
  calls: number;
}

export interface ProfileResult {
  device: string;
  /** Profiled steps (the rows are totals over them; the phases are per step). */
  steps: number;
  rows: ProfileRow[];
  phases: PhaseTime[];
  /** Per step. */
  wallMs: number;
  kernelMs: number;
  kernelCalls: number;
  /** Megabytes of kernel outputs allocated per step. */
  allocatedMB: number;
  /** Of those, per step: new arrays (the rest came recycled from the buffer pool, core/pool.ts). */
  freshOutputs: number;
  freshMB: number;
  markdown: string;
}

export interface ProfileOpts {
  /** Profiled steps (default 1); the table then shows per-step numbers. */
  steps?: number;
  /** Unprofiled steps first, to compile kernels and warm the JIT (default 3). */
  warmup?: number;
  /** Rows shown in the table (default 15). */
  top?: number;
  log?: boolean;
  seed?: number;
  /**
   * Keep gpu.js's WebAssembly worker threads (default false: the profile turns them off, because a
   * threaded gpu.js kernel returns a promise and only its dispatch could be timed). The gemm's own worker
   * thread (wasm/gemm.ts) stays on either way: its calls are synchronous and timed in full.
   */
  threads?: boolean;
  /** 'tiny' (default): bench/train-step.ts's tiny GPT; 'backbone': the main job's `--preset cpu` step. */
  workload?: 'tiny' | 'backbone';
}

/** The model and batch of a profiled step. */
interface Workload {
  title: string;
  vocabSize: number;
  batchSize: number;
  contextLength: number;
  model: ConstructorParameters<typeof nn.TransformerLM>[0];
  lr: number;
  /** Clip the global gradient norm (the main job clips at 1). */
  clip: number;
}

function workloadOf(name: 'tiny' | 'backbone', seed: number): Workload {
  if (name === 'tiny') {
    return {
      title: `tiny-GPT training step (workload of bench/train-step.ts, batch ${WORKLOAD.batchSize} x ${WORKLOAD.contextLength} tokens)`,
      vocabSize: WORKLOAD.vocabSize, batchSize: WORKLOAD.batchSize, contextLength: WORKLOAD.contextLength, lr: WORKLOAD.lr, clip: 0,
      model: {
        vocabSize: WORKLOAD.vocabSize, contextLength: WORKLOAD.contextLength, dModel: WORKLOAD.dModel, nHeads: WORKLOAD.nHeads,
        nLayers: WORKLOAD.nLayers, mlp: 'gelu', norm: 'layernorm', positions: 'learned', seed,
      },
    };
  }
  const p = PRESETS.cpu;
  const V = BROWN_VOCAB;
  return {
    title: `main-job training step (\`--preset cpu\`: vocabulary ${V.toLocaleString('en-US')}, d ${p.dModel}, ${p.nLayers} layers, RoPE, tied head, dropout ${p.dropout}; batch ${p.batchSize} x ${p.context} tokens)`,
    vocabSize: V, batchSize: p.batchSize, contextLength: p.context, lr: p.lr, clip: 1,
    model: mainModelConfig(p, V, seed),
  };
}

/** Profile tiny-GPT training steps on the default device; prints and returns the table and the phase split. */
export async function runProfile(opts: ProfileOpts = {}): Promise<ProfileResult> {
  const steps = Math.max(1, opts.steps ?? 1);
  const warmup = opts.warmup ?? 3;
  const top = opts.top ?? 15;
  const dev = getDevice();
  const w = workloadOf(opts.workload ?? 'tiny', opts.seed ?? 0);
  const lm = new nn.TransformerLM(w.model);
  const opt = new nn.AdamW(lm.namedParameters(), { lr: w.lr, weightDecay: 0 });
  const params = lm.parameters();
  const shape = [w.batchSize, w.contextLength];
  const n = w.batchSize * w.contextLength;
  let s = (opts.seed ?? 0) + 1;
  const tok = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % w.vocabSize;
  };
  const x = Int32Array.from({ length: n }, tok);
  const y = Int32Array.from({ length: n }, tok);

  const phases = new Map<PhaseTime['phase'], { wall: number; kernel: number; calls: number }>();
  const add = (p: PhaseTime['phase'], a: ProfileTotals, b: ProfileTotals) => {
    const q = phases.get(p) ?? { wall: 0, kernel: 0, calls: 0 };
    q.wall += b.wallMs - a.wallMs;
    q.kernel += b.kernelMs - a.kernelMs;
    q.calls += b.calls - a.calls;
    phases.set(p, q);
  };
  const step = async (profiled: boolean) => {
    const mark = profiled ? profileElapsed : () => ({ wallMs: 0, kernelMs: 0, calls: 0 });
    const t0 = mark();
    const loss = lm.loss(Tensor.fromValues(x, shape, dev, 'int32'), Tensor.fromValues(y, shape, dev, 'int32'));
    const t1 = mark();
    loss.backward({ freeGraph: true });
    if (w.clip > 0) nn.clipGradNorm(params, w.clip);
    const t2 = mark();
    opt.step();
    opt.zeroGrad();
    const t3 = mark();
    const v = await loss.item();
    await Promise.all(params.map((p) => p._data)); // every update done (async kernels included)
    const t4 = mark();
    if (profiled) {
      add('forward', t0, t1);
      add('backward', t1, t2);
      add('optimizer', t2, t3);
      add('readback', t3, t4);
    }
    return v;
  };

  const threads = opts.threads ?? false;
  const prevThreads = setThreads(threads);
  let rows: ProfileRow[];
  let total: ProfileTotals;
  try {
    for (let i = 0; i < warmup; i++) await step(false);
    resetPoolStats();
    startProfile();
    try {
      for (let i = 0; i < steps; i++) await step(true);
      total = profileElapsed();
    } finally {
      rows = stopProfile();
    }
  } finally {
    setThreads(prevThreads);
  }
  const phaseRows: PhaseTime[] = (['forward', 'backward', 'optimizer', 'readback'] as const).map((p) => {
    const q = phases.get(p) ?? { wall: 0, kernel: 0, calls: 0 };
    return { phase: p, wallMs: q.wall / steps, kernelMs: q.kernel / steps, calls: q.calls / steps };
  });
  const wallMs = total.wallMs / steps;
  const kernelMs = total.kernelMs / steps;
  const kernelCalls = total.calls / steps;
  // every kernel call returns a new output array (there is no buffer pool yet)
  const allocatedMB = (rows.reduce((a, r) => a + r.elements, 0) * 4) / steps / 2 ** 20;
  const pool = { ...poolStats };
  const freshOutputs = pool.fresh / steps;
  const freshMB = (pool.freshFloats * 4) / steps / 2 ** 20;

  const ms = (v: number) => v.toFixed(v >= 100 ? 0 : 1);
  const phaseTable = markdownTable(
    ['phase', 'wall ms', 'kernel ms', 'host ms', 'kernel calls', 'share of step'],
    [
      ...phaseRows.map((p) => [p.phase, ms(p.wallMs), ms(p.kernelMs), ms(p.wallMs - p.kernelMs), p.calls.toFixed(0), `${((100 * p.wallMs) / wallMs).toFixed(1)}%`]),
      ['**step**', ms(wallMs), ms(kernelMs), ms(wallMs - kernelMs), kernelCalls.toFixed(0), '100%'],
    ],
    ['left', 'right', 'right', 'right', 'right', 'right'],
  );
  const note =
    (dev.async ? ' Device is asynchronous: kernel times are dispatch only.' : '') +
    (dev.name === 'webasm' ? (threads ? ' WebAssembly worker threads on: threaded kernels (`*`) show dispatch time only.' : ' WebAssembly worker threads off (every kernel timed in full; `--threads` to keep them).') : '');
  const markdown = [
    `## Profile: one ${w.title.replace(/ \(.*/, '')} on ${dev.name}`,
    '',
    `${w.title[0].toUpperCase()}${w.title.slice(1)}, after ${warmup} warm-up steps; ` +
      `${steps === 1 ? 'one profiled step' : `per-step averages over ${steps} profiled steps`}.${note}`,
    '',
    phaseTable,
    '',
    `Allocations per step: ${kernelCalls.toFixed(0)} kernel outputs, ${allocatedMB.toFixed(1)} MB; ` +
      (pool.fresh + pool.reused === 0
        ? `none from the buffer pool (${dev.name} makes its outputs in gpu.js, or the pool is off).`
        : `${(pool.reused / steps).toFixed(0)} of them (${((pool.reusedFloats * 4) / steps / 2 ** 20).toFixed(1)} MB) recycled from the buffer pool, ` +
          `${freshOutputs.toFixed(0)} new arrays (${freshMB.toFixed(1)} MB), the others made outside the pool. ` +
          `The step calls \`backward({ freeGraph: true })\`: the backward pass gives its gradients back once used, and the graph's intermediates after it (core/pool.ts). ` +
          `What is new each step is mostly the leaves' gradients, which backward hands to the caller as \`.grad\` (with clipGradNorm, its scaled copy of them too; while warming up, a kernel's first call at a size: gpu.js's own array).`),
    '',
    formatProfile(rows, { top, per: steps }),
  ].join('\n');
  if (opts.log ?? true) console.log(markdown);
  return { device: dev.name, steps, rows, phases: phaseRows, wallMs, kernelMs, kernelCalls, allocatedMB, freshOutputs, freshMB, markdown };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let args;
  try {
    args = parseCli({
      name: 'tsx bench/profile.ts',
      description: 'Per-kernel profile of one tiny-GPT training step on the default device (TSGRAD_DEVICE to choose).',
      options: {
        steps: { type: 'number', default: 1, description: 'profiled steps (the table shows per-step numbers)' },
        warmup: { type: 'number', default: 3, description: 'unprofiled warm-up steps' },
        top: { type: 'number', default: 15, description: 'kernels shown' },
        threads: { type: 'boolean', description: "keep gpu.js's WebAssembly worker threads (their kernels then show dispatch time only)" },
        workload: { type: 'string', default: 'tiny', choices: ['tiny', 'backbone'] as const, description: "'tiny' (the tiny GPT of bench/train-step.ts) or 'backbone' (the main job's --preset cpu step)" },
      },
    });
  } catch (e) {
    if (e instanceof CliError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  console.log(`${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${loadavg()[0].toFixed(2)}\n`);
  await runProfile({ steps: args.steps, warmup: args.warmup, top: args.top, threads: args.threads, workload: args.workload as 'tiny' | 'backbone' });
  await destroyDevices();
}
