/**
 * Run sizes of the VQ-Logits experiment. `quick` fits in 5 minutes on 2 CPU cores: a capped vocabulary, a
 * narrow model, few steps, short evaluations and a subset of the variants. `full` is the whole grid on the
 * full Brown vocabulary (d 64 and batch 8 x 64 keep it to about half a day on 2 cores; the head benchmark runs at
 * d 128); `npx tsx experiments/vq/bench.ts` estimates its wall time from measured steps.
 */
import type { VQMappingKind } from '../../nn/heads/index.js';
import type { ExperimentConfig } from '../train/config.js';
import { codeCounts, planVariants, type Variant } from './variants.js';

export interface VQRunConfig extends ExperimentConfig {
  dropout: number;
  /** Tokens of valid / test scored at the end (undefined = the whole split). */
  evalTokens: number | undefined;
  /** K = V / divisor. */
  divisors: number[];
  mappings: VQMappingKind[];
  /** Timed steps per head (median). */
  timingReps: number;
}

export const QUICK_RUN: VQRunConfig = {
  maxVocab: 2000, dModel: 32, nHeads: 4, nLayers: 2, context: 32, batchSize: 8, steps: 80, lr: 3e-3, warmup: 8, dropout: 0,
  evalTokens: 4096, divisors: [64, 16, 4], mappings: ['random', 'frequency', 'kmeans'], timingReps: 20,
};

export const FULL_RUN: VQRunConfig = {
  maxVocab: undefined, dModel: 64, nHeads: 4, nLayers: 2, context: 64, batchSize: 8, steps: 2000, lr: 2e-3, warmup: 100, dropout: 0.1,
  evalTokens: undefined, divisors: [64, 16, 4], mappings: ['random', 'frequency', 'kmeans'], timingReps: 20,
};

/** The full run trains every variant. */
export function fullRunPlan(V: number, c: VQRunConfig = FULL_RUN): Variant[] {
  return planVariants(V, codeCounts(V, c.divisors), c.mappings);
}

/**
 * The quick run's subset: the frequency mapping at every K (faithful and +bias), and random and k-means at
 * the middle K (V/16), faithful and +bias — 10 VQ heads next to the full head.
 */
export function quickRunPlan(V: number, c: VQRunConfig = QUICK_RUN): Variant[] {
  const ks = codeCounts(V, c.divisors);
  const mid = ks[Math.floor(ks.length / 2)];
  return planVariants(V, ks, c.mappings, (v) => v.mapping === 'frequency' || v.K === mid);
}
