/**
 * The one config type of the experiments: every preset (main job, ComplexFormer, VQ-Logits, PDL) is an
 * `ExperimentConfig` (sizes + schedule) plus the fields only its experiment has, and every script turns it
 * into the training loop's `TrainConfig` through `trainConfig`, with `withSteps` as the one warm-up rule.
 */
import type { TrainConfig } from './loop.js';

/** Model and batch sizes shared by every experiment. */
export interface ModelSize {
  /** Vocabulary cap (Brown train words by frequency, <unk> included); undefined = count >= 4. */
  maxVocab: number | undefined;
  dModel: number;
  nHeads: number;
  nLayers: number;
  /** Training window in tokens. */
  context: number;
  batchSize: number;
}

/** One training phase: steps, peak learning rate and linear warm-up (then cosine to lr / 10). */
export interface Schedule {
  steps: number;
  lr: number;
  warmup: number;
}

/** A preset: sizes and schedule. Experiments extend it (`interface Settings extends ExperimentConfig`). */
export interface ExperimentConfig extends ModelSize, Schedule {}

/**
 * The schedule with `steps` replacing the preset's; the warm-up shrinks to a tenth of a shorter run (the
 * report shows the warm-up used). Returns `s` itself (same keys, same order) when `steps` is undefined.
 *
 * @example
 * withSteps({ steps: 1000, lr: 2e-3, warmup: 75 }, 200); // { steps: 200, lr: 2e-3, warmup: 20 }
 */
export function withSteps<S extends Schedule>(s: S, steps: number | undefined): S {
  if (steps === undefined) return s;
  return { ...s, steps, warmup: Math.min(s.warmup, Math.floor(steps / 10)) };
}

/** What a run adds to its preset's schedule to make a TrainConfig. */
export interface TrainOptions {
  seed: number;
  /** Validate every this many steps; 0 = only at the end (default 0). */
  evalEvery?: number;
  evalTokens?: number;
  /** Checkpoint every this many steps; 0 = only at the end and on Ctrl-C (default 0). */
  ckptEvery?: number;
}

/**
 * The training loop's config from a schedule and batch shape: AdamW from `lr` down a cosine to `lr / 10`,
 * gradient clipping at 1.
 *
 * @example
 * trainConfig({ steps: 400, lr: 3e-3, warmup: 20, batchSize: 8, context: 32 }, { seed: 0, ckptEvery: 100 });
 */
export function trainConfig(s: Schedule & { batchSize: number; context: number }, o: TrainOptions): TrainConfig {
  return {
    steps: s.steps, batchSize: s.batchSize, context: s.context, lr: s.lr, minLr: s.lr / 10, warmup: s.warmup, clip: 1,
    evalEvery: o.evalEvery ?? 0, evalTokens: o.evalTokens ?? 0, ckptEvery: o.ckptEvery ?? 0, seed: o.seed,
  };
}

/**
 * Whether two JSON-like settings hold the same values, whatever their key order (settings saved by an
 * older version of a script, whose objects were built in another order, still match).
 *
 * @example
 * sameSettings({ lr: 1, steps: 2 }, { steps: 2, lr: 1 }); // true
 */
export function sameSettings(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_key, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)))
      : x,
  );
}
