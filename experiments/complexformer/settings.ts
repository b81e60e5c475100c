/**
 * Run sizes of the ComplexFormer experiment. `quick` is a smoke run under 5 minutes on 2 CPU cores; `full`
 * is the comparison itself (hours on 2 CPU cores; the quick report estimates it from measured step times).
 */
import type { ExperimentConfig } from '../train/config.js';

/** `context` is the training window T; the 2x evaluation uses 2T. */
export interface Settings extends ExperimentConfig {
  evalEvery: number;
  evalTokens: number;
  /** Tokens scored at the end (undefined = the whole split). */
  finalValidTokens: number | undefined;
  testTokens: number | undefined;
  /** Seeds of the main pair (RoPE, CMHA) and of the ablations. */
  seeds: number;
  ablationSeeds: number;
}

export const SETTINGS: Record<'quick' | 'full' | 'settle', Settings> = {
  quick: {
    maxVocab: 1000, dModel: 64, nHeads: 4, nLayers: 2, context: 32, batchSize: 8, steps: 30, lr: 3e-3, warmup: 3,
    evalEvery: 5, evalTokens: 512, finalValidTokens: 2048, testTokens: 2048, seeds: 3, ablationSeeds: 1,
  },
  full: {
    maxVocab: 2000, dModel: 64, nHeads: 4, nLayers: 2, context: 64, batchSize: 8, steps: 1500, lr: 2e-3, warmup: 75,
    evalEvery: 100, evalTokens: 8192, finalValidTokens: undefined, testTokens: undefined, seeds: 3, ablationSeeds: 3,
  },
  // the settling run (findings/complexformer-perplexity): the main pair only, 5 seeds, sized from measured
  // step times (~0.12 s at V 2000 on 2 cores) to finish in under an hour; V 2000 because the full
  // vocabulary's ~0.5 s/step would need ~1.5 h of training for 10 runs
  settle: {
    maxVocab: 2000, dModel: 64, nHeads: 4, nLayers: 2, context: 64, batchSize: 8, steps: 1000, lr: 2e-3, warmup: 75,
    evalEvery: 250, evalTokens: 8192, finalValidTokens: undefined, testTokens: undefined, seeds: 5, ablationSeeds: 0,
  },
};
