/**
 * The shared training loop: seeded random windows, AdamW with warmup + cosine and gradient clipping, a
 * progress bar (step, loss, tokens/s, ETA), periodic validation perplexity, JSONL metrics, atomic
 * checkpoints every N steps that `--resume` continues bit for bit, and Ctrl-C that saves and exits cleanly.
 *
 * The run directory is locked while training (see run-dir.ts); resuming refuses a changed config unless
 * `allowConfigChange`, and cuts metrics.jsonl back to the checkpoint's step, so the log holds exactly one
 * row per step however often the run was killed.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../core/fsutil.js';
import { Generator, globalGenerator, Tensor, type Device } from '../../core/index.js';
import { lrAt, type AdamW, type TransformerLM } from '../../nn/index.js';
import { randomWindows } from '../data/index.js';
import { JsonlWriter, toJson } from '../report/metrics.js';
import { Progress } from '../report/progress.js';
import { loadCheckpoint, packState, saveCheckpoint, stripPrefix, unpackState, withPrefix } from './checkpoint.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { checkFreeSpace, lockRunDir, removeStaleTemps } from './run-dir.js';
import { trainStep } from './step.js';

export interface TrainConfig {
  steps: number;
  batchSize: number;
  context: number;
  lr: number;
  minLr: number;
  warmup: number;
  clip: number;
  /** Validate every this many steps (0 = only at the end). */
  evalEvery: number;
  /** Tokens of the validation split scored at each periodic evaluation (the final one scores them all). */
  evalTokens: number;
  /** Checkpoint every this many steps (0 = only at the end and on Ctrl-C). */
  ckptEvery: number;
  seed: number;
}

export interface TrainSetup {
  /** runs/<name>/ holds metrics.jsonl, checkpoint.safetensors, report.md, metrics.json. */
  runDir: string;
  model: TransformerLM;
  optimizer: AdamW;
  train: Int32Array;
  valid: Int32Array;
  config: TrainConfig;
  device: Device;
  resume?: boolean;
  /** With `resume`: continue even when this config differs from the checkpoint's (else that is an error). */
  allowConfigChange?: boolean;
  /** Extra JSON kept in the checkpoint (e.g. model config, vocab) so a run can be inspected later. */
  meta?: Record<string, unknown>;
  quiet?: boolean;
  /** Stop (and checkpoint) after this step, as Ctrl-C would; used to test resuming. */
  stopAt?: number;
}

export interface HistoryPoint {
  step: number;
  loss: number;
  lr: number;
  tokPerSec: number;
  valPerplexity?: number;
}

export interface TrainResult {
  history: HistoryPoint[];
  steps: number;
  interrupted: boolean;
  tokensPerSecond: number;
  seconds: number;
  finalValid?: EvalResult;
}

/** Config keys whose change makes a resumed run a different run (checkpoint spacing is not one). */
const RESUME_KEYS = ['steps', 'batchSize', 'context', 'lr', 'minLr', 'warmup', 'clip', 'evalEvery', 'evalTokens', 'seed'] as const;

/** "steps 150 -> 200, lr 0.003 -> 0.001" for the keys that differ, or '' when none does. */
export function configChanges(saved: Partial<TrainConfig>, now: TrainConfig): string {
  return RESUME_KEYS.filter((k) => saved[k] !== undefined && saved[k] !== now[k]).map((k) => `${k} ${saved[k]} -> ${now[k]}`).join(', ');
}

/** Throw for a config the loop cannot run (negative or fractional counts, a non-positive lr). */
export function checkTrainConfig(c: TrainConfig): void {
  const counts = { steps: 1, batchSize: 1, context: 1, warmup: 0, evalEvery: 0, evalTokens: 0, ckptEvery: 0, seed: 0 } as const;
  for (const [k, min] of Object.entries(counts) as [keyof typeof counts, number][]) {
    if (!Number.isInteger(c[k]) || c[k] < min) throw new Error(`train: config.${k} must be a whole number >= ${min}, got ${c[k]}`);
  }
  if (!(c.lr > 0) || !(c.minLr >= 0) || !(c.clip >= 0)) throw new Error(`train: lr must be > 0 and minLr, clip >= 0; got lr ${c.lr}, minLr ${c.minLr}, clip ${c.clip}`);
}

/** Bytes of one checkpoint: the parameters and AdamW's two moments in float32, plus header slack. */
function checkpointBytes(model: TransformerLM): number {
  return model.parameters().reduce((n, p) => n + p.numel, 0) * 4 * 3 + 2 ** 20;
}

/** Train (or continue a run) and return its history. */
export async function train(s: TrainSetup): Promise<TrainResult> {
  checkTrainConfig(s.config);
  const release = lockRunDir(s.runDir);
  try {
    return await trainLocked(s);
  } finally {
    release();
  }
}

async function trainLocked(s: TrainSetup): Promise<TrainResult> {
  const c = s.config;
  removeStaleTemps(s.runDir);
  checkFreeSpace(s.runDir, checkpointBytes(s.model) + 16 * 2 ** 20);
  const ckptPath = join(s.runDir, 'checkpoint.safetensors');
  const metricsPath = join(s.runDir, 'metrics.jsonl');
  const dataGen = new Generator(c.seed);
  let history: HistoryPoint[] = [];
  let start = 0;
  let trainSeconds = 0;
  if (s.resume) {
    if (!existsSync(ckptPath)) throw new Error(`--resume: no checkpoint at ${ckptPath}; start without --resume`);
    const ck = loadCheckpoint(ckptPath, s.device);
    const changed = configChanges((ck.meta.config ?? {}) as Partial<TrainConfig>, c);
    if (changed && !s.allowConfigChange) {
      throw new Error(`--resume: ${ckptPath} was trained with other settings (${changed}); run with the same flags, or add --allow-config-change to continue with the new ones`);
    }
    if (changed && !s.quiet) console.log(`resuming with changed settings: ${changed}`);
    s.model.loadStateDict(stripPrefix('model', ck.tensors));
    s.optimizer.loadStateDict(unpackState(ck.meta.optimizer, ck.tensors) as ReturnType<AdamW['stateDict']>);
    dataGen.setState(ck.meta.dataRng as number[]);
    globalGenerator.setState(ck.meta.globalRng as number[]);
    s.model.dropoutGenerator.setState(ck.meta.dropoutRng as number[]);
    history = ck.meta.history as HistoryPoint[];
    start = ck.meta.step as number;
    trainSeconds = (ck.meta.trainSeconds as number) ?? 0;
    cutMetrics(metricsPath, history, s.quiet);
    if (!s.quiet) console.log(`resumed from ${ckptPath} at step ${start}`);
  } else if (existsSync(metricsPath)) {
    rmSync(metricsPath);
  }

  const save = async (step: number) => {
    const tensors: Record<string, Tensor> = withPrefix('model', s.model.stateDict());
    const optimizer = packState('optim', s.optimizer.stateDict(), tensors);
    await saveCheckpoint(ckptPath, {
      tensors,
      meta: {
        step, optimizer, history, trainSeconds, config: c, ...s.meta,
        dataRng: dataGen.getState(), globalRng: globalGenerator.getState(), dropoutRng: s.model.dropoutGenerator.getState(),
      },
    });
  };

  let interrupted = false;
  let firstSigint = 0;
  const onSigint = () => {
    // tsx relays the terminal's SIGINT to this process, so one Ctrl-C can arrive twice within milliseconds
    if (interrupted && Date.now() - firstSigint < 1000) return;
    if (interrupted) process.exit(130); // a second Ctrl-C quits at once
    interrupted = true;
    firstSigint = Date.now();
    process.stderr.write('\nCtrl-C: finishing this step, saving a checkpoint, then exiting (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', onSigint);
  const metrics = new JsonlWriter(metricsPath);
  const progress = new Progress({ total: c.steps, label: 'train', stream: s.quiet ? { write: () => 0 } : process.stdout });
  const tokensPerStep = c.batchSize * c.context;
  s.model.train();
  let step = start;
  try {
    while (step < c.steps && !interrupted && step !== s.stopAt) {
      const t0 = performance.now();
      const lr = lrAt(step, { lr: c.lr, warmup: c.warmup, total: c.steps, minLr: c.minLr });
      s.optimizer.lr = lr;
      const b = randomWindows(s.train, c.batchSize, c.context, dataGen);
      const lossValue = await trainStep(s.model, s.optimizer, b, { device: s.device, batchSize: c.batchSize, context: c.context, clip: c.clip });
      // on CPU devices the await above resolves at once; give signals (Ctrl-C) a turn of the event loop
      await new Promise((resolve) => setImmediate(resolve));
      if (!Number.isFinite(lossValue)) throw new Error(`train: loss became ${lossValue} at step ${step}; lower --lr or check the data`);
      step++;
      const dt = (performance.now() - t0) / 1000;
      trainSeconds += dt;
      const point: HistoryPoint = { step, loss: lossValue, lr, tokPerSec: tokensPerStep / dt };
      if (c.evalEvery > 0 && step % c.evalEvery === 0 && step < c.steps) {
        const v = await evaluate(s.model, s.valid, { context: c.context, batch: c.batchSize, maxTokens: c.evalTokens, device: s.device });
        point.valPerplexity = v.perplexity;
        progress.log(`step ${step}: validation perplexity ${v.perplexity.toFixed(2)} (first ${v.tokens} tokens)`);
      }
      history.push(point);
      metrics.write({ ...point });
      progress.update(step, { loss: lossValue, tokPerSec: point.tokPerSec, lr: lr.toExponential(2) });
      if (c.ckptEvery > 0 && step % c.ckptEvery === 0) await save(step);
    }
    await save(step);
  } finally {
    progress.done();
    metrics.close();
    process.off('SIGINT', onSigint);
  }
  if (interrupted) {
    console.log(`interrupted at step ${step}; checkpoint saved to ${ckptPath}; continue with --resume`);
    process.exitCode = 130;
  }
  const done = history.slice(start > 0 ? 0 : 1); // the first step includes kernel compilation
  const tps = done.length ? (done.length * tokensPerStep) / done.reduce((p, h) => p + tokensPerStep / h.tokPerSec, 0) : 0;
  return { history, steps: step, interrupted, tokensPerSecond: tps, seconds: trainSeconds };
}

/**
 * Make metrics.jsonl hold exactly the checkpoint's history: rows written after the checkpoint by a run that
 * was then killed would otherwise appear twice once the resumed run writes those steps again.
 */
function cutMetrics(metricsPath: string, history: HistoryPoint[], quiet?: boolean): void {
  const rowsBefore = existsSync(metricsPath) ? readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l.trim() !== '').length : 0;
  writeFileAtomic(metricsPath, history.map((h) => `${toJson(h)}\n`).join(''));
  if (rowsBefore > history.length && !quiet) console.log(`metrics.jsonl: dropped ${rowsBefore - history.length} rows logged after the checkpoint (step ${history.length})`);
}
