/**
 * The shared training loop: seeded random windows, AdamW with warmup + cosine and gradient clipping, a
 * progress bar (step, loss, tokens/s, ETA), periodic validation perplexity, JSONL metrics, atomic
 * checkpoints every N steps that `--resume` continues bit for bit, and Ctrl-C that saves and exits cleanly.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Generator, globalGenerator, Tensor, type Device } from '../../core/index.js';
import { clipGradNorm, lrAt, type AdamW, type TransformerLM } from '../../nn/index.js';
import { randomWindows } from '../data/index.js';
import { JsonlWriter } from '../report/metrics.js';
import { Progress } from '../report/progress.js';
import { loadCheckpoint, packState, saveCheckpoint, stripPrefix, unpackState, withPrefix } from './checkpoint.js';
import { evaluate, type EvalResult } from './evaluate.js';

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

/** Train (or continue a run) and return its history. */
export async function train(s: TrainSetup): Promise<TrainResult> {
  const c = s.config;
  mkdirSync(s.runDir, { recursive: true });
  const ckptPath = join(s.runDir, 'checkpoint.safetensors');
  const metricsPath = join(s.runDir, 'metrics.jsonl');
  const dataGen = new Generator(c.seed);
  let history: HistoryPoint[] = [];
  let start = 0;
  let trainSeconds = 0;
  if (s.resume) {
    if (!existsSync(ckptPath)) throw new Error(`--resume: no checkpoint at ${ckptPath}; start without --resume`);
    const ck = loadCheckpoint(ckptPath, s.device);
    s.model.loadStateDict(stripPrefix('model', ck.tensors));
    s.optimizer.loadStateDict(unpackState(ck.meta.optimizer, ck.tensors) as ReturnType<AdamW['stateDict']>);
    dataGen.setState(ck.meta.dataRng as number[]);
    globalGenerator.setState(ck.meta.globalRng as number[]);
    s.model.dropoutGenerator.setState(ck.meta.dropoutRng as number[]);
    history = ck.meta.history as HistoryPoint[];
    start = ck.meta.step as number;
    trainSeconds = (ck.meta.trainSeconds as number) ?? 0;
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
  const params = s.model.parameters();
  s.model.train();
  let step = start;
  try {
    while (step < c.steps && !interrupted && step !== s.stopAt) {
      const t0 = performance.now();
      const lr = lrAt(step, { lr: c.lr, warmup: c.warmup, total: c.steps, minLr: c.minLr });
      s.optimizer.lr = lr;
      const b = randomWindows(s.train, c.batchSize, c.context, dataGen);
      const shape = [c.batchSize, c.context];
      const loss = s.model.loss(Tensor.fromValues(b.x, shape, s.device, 'int32'), Tensor.fromValues(b.y, shape, s.device, 'int32'));
      loss.backward();
      if (c.clip > 0) clipGradNorm(params, c.clip);
      s.optimizer.step();
      s.optimizer.zeroGrad();
      const lossValue = await loss.item();
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
