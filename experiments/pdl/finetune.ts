/**
 * One cell of the PDL study: start from the pretrained weights, finetune with one loss and one seed, then
 * score the held-out split (cross-entropy perplexity per bucket) and sample continuations of the prompts.
 *
 * Every variant with seed s sees the same batches in the same order (the data generator is seeded by s),
 * starts from the same weights and samples with the same generator, so the loss is the only difference.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { manualSeed, type Device, type Tensor } from '../../core/index.js';
import { crossEntropyLoss, TransformerLM, type LossFn, type TransformerConfig } from '../../nn/index.js';
import { powerLawDecayLossFn, type DominanceWarning, type PowerLawWeights } from '../../nn/losses/index.js';
import { InterruptedError } from '../cli/errors.js';
import type { Vocab } from '../data/index.js';
import { makeOptimizer } from '../train/lm.js';
import { train, type TrainConfig } from '../train/loop.js';
import { scoreHeldOut, type Bucket, type HeldOutScore } from './evaluate.js';
import { continuePrompts, textMetrics, type Prompt, type SampleSettings, type TextMetrics } from './samples.js';

export interface Variant {
  /** File-safe name, e.g. "ce" or "pdl-a0.5". */
  name: string;
  label: string;
  alpha: number;
  /** null for plain cross-entropy (no weights at all). */
  weights: PowerLawWeights | null;
}

/** How concentrated PDL's weights were over the training batches. */
export interface WeightStats {
  batches: number;
  /** Mean effective-sample-size fraction (1 = uniform weights). */
  meanEss: number;
  /** Largest share of one batch's weight held by a single token id, and how often one id held over half. */
  maxShare: number;
  dominatedBatches: number;
  /** Distinct token ids named by dominance warnings. */
  warnedTokens: string[];
}

export interface CellResult {
  seed: number;
  score: HeldOutScore;
  text: TextMetrics;
  /** Seconds spent scoring the held-out split (0 when reused) and sampling continuations. */
  assessSeconds: { score: number; sample: number };
  samples: number[][];
  trainSeconds: number;
  tokensPerSecond: number;
  finalLoss: number;
  weightStats: WeightStats | null;
}

export interface CellSetup {
  variant: Variant;
  seed: number;
  pretrained: Record<string, Tensor>;
  model: TransformerConfig;
  train: Omit<TrainConfig, 'seed'>;
  data: { train: Int32Array; valid: Int32Array; heldOut: Int32Array };
  heldOutTokens: number | undefined;
  bucketOf: readonly Bucket[];
  prompts: Prompt[];
  sampling: SampleSettings;
  vocab: Vocab;
  device: Device;
  runDir: string;
  keepCheckpoint?: boolean;
}

/** Finetune one variant with one seed, then assess it. */
export async function runCell(c: CellSetup): Promise<CellResult> {
  let weightStats: WeightStats | null = null;
  let loss: LossFn = crossEntropyLoss;
  if (c.variant.weights) {
    const ws: WeightStats = { batches: 0, meanEss: 0, maxShare: 0, dominatedBatches: 0, warnedTokens: [] };
    const warned = new Set<string>();
    loss = powerLawDecayLossFn(c.variant.weights, {
      names: (id) => c.vocab.wordOf(id),
      onBatch: (s) => {
        ws.meanEss += (s.essFraction - ws.meanEss) / ++ws.batches;
        ws.maxShare = Math.max(ws.maxShare, s.maxShare);
      },
      onWarning: (w: DominanceWarning) => {
        ws.dominatedBatches++;
        w.tokens.forEach((t) => warned.add(t.name ?? String(t.id)));
        ws.warnedTokens = [...warned];
      },
    });
    weightStats = ws;
  }
  manualSeed(c.seed);
  const model = new TransformerLM({ ...c.model, seed: c.seed, loss });
  model.loadStateDict(c.pretrained);
  const optimizer = makeOptimizer(model, c.train.lr);
  // evalEvery stays 0: the loop's validation goes through model.loss, which is PDL's weighted objective here
  const result = await train({
    runDir: c.runDir, model, optimizer, train: c.data.train, valid: c.data.valid, device: c.device,
    config: { ...c.train, seed: c.seed, evalEvery: 0 }, meta: { variant: c.variant.name, alpha: c.variant.alpha, seed: c.seed },
  });
  if (result.interrupted) throw new InterruptedError(`finetuning ${c.variant.name} seed ${c.seed} stopped at step ${result.steps}; no report written (finetuning cells are short: run the command again)`);
  if (!c.keepCheckpoint) rmSync(join(c.runDir, 'checkpoint.safetensors'), { force: true });
  const last = result.history[result.history.length - 1];
  const a = await assess(model, c);
  return { ...a, trainSeconds: result.seconds, tokensPerSecond: result.tokensPerSecond, finalLoss: last?.loss ?? NaN, weightStats };
}

/** Held-out scores and sampled continuations of a model (also used for the pretrained model as it is). */
export async function assess(
  model: TransformerLM,
  c: Omit<CellSetup, 'variant' | 'pretrained' | 'model' | 'runDir'>,
  known?: HeldOutScore,
): Promise<Pick<CellResult, 'seed' | 'score' | 'text' | 'samples' | 'assessSeconds'>> {
  const t0 = performance.now();
  const score = known ?? await scoreHeldOut(model, c.data.heldOut, c.bucketOf, {
    context: c.train.context, batch: c.train.batchSize, device: c.device, maxTokens: c.heldOutTokens,
  });
  const t1 = performance.now();
  const samples = await continuePrompts(model, c.prompts, c.sampling, 1000 + c.seed);
  const text = textMetrics(samples, c.prompts.map((p) => p.reference), c.bucketOf, c.vocab);
  return { seed: c.seed, score, text, samples, assessSeconds: { score: known ? 0 : (t1 - t0) / 1000, sample: (performance.now() - t1) / 1000 } };
}
