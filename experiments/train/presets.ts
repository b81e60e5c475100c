/**
 * Run sizes. `quick` finishes in a few minutes on 2 CPU cores (capped vocabulary, small model, test
 * perplexity on a prefix of the test split); `cpu` is the 1-hour CPU run (full vocabulary); `gpu` is for a real GPU.
 */
import type { ExperimentConfig } from './config.js';

export interface Preset extends ExperimentConfig {
  evalEvery: number;
  evalTokens: number;
  /** Test tokens scored at the end (undefined = the whole test split). */
  testTokens: number | undefined;
  /** Validation tokens scored at the end (undefined = the whole split). */
  finalValidTokens: number | undefined;
  dropout: number;
  /** Share the token embedding with the output head (fewer parameters; helps a small corpus). */
  tieEmbeddings: boolean;
}

export const PRESETS: Record<'quick' | 'cpu' | 'gpu', Preset> = {
  quick: {
    maxVocab: 2000, dModel: 64, nHeads: 4, nLayers: 2, context: 32, batchSize: 8, steps: 400, lr: 3e-3, warmup: 20,
    evalEvery: 100, evalTokens: 4096, testTokens: 16384, finalValidTokens: 16384, dropout: 0, tieEmbeddings: false,
  },
  // sized from measured step times to train within one hour on 2 idle cores: d 128, 3 layers, tied, ~0.39 s/step
  // (`npx tsx experiments/main.ts --preset cpu --steps 250`: the head's matmuls on two threads, SIMD softmax)
  cpu: {
    maxVocab: undefined, dModel: 128, nHeads: 4, nLayers: 3, context: 64, batchSize: 8, steps: 8400, lr: 2e-3, warmup: 200,
    evalEvery: 500, evalTokens: 8192, testTokens: undefined, finalValidTokens: undefined, dropout: 0.1, tieEmbeddings: true,
  },
  gpu: {
    maxVocab: undefined, dModel: 256, nHeads: 8, nLayers: 4, context: 128, batchSize: 32, steps: 10000, lr: 1e-3, warmup: 500,
    evalEvery: 500, evalTokens: 65536, testTokens: undefined, finalValidTokens: undefined, dropout: 0.1, tieEmbeddings: false,
  },
};

/** The main job's model for a preset (experiments/main.ts; bench/profile.ts profiles the same step). */
export function mainModelConfig(p: Preset, vocabSize: number, seed: number) {
  return {
    vocabSize, contextLength: p.context, dModel: p.dModel, nHeads: p.nHeads, nLayers: p.nLayers,
    mlp: 'gelu' as const, norm: 'layernorm' as const, positions: 'rope' as const, dropout: p.dropout, tieEmbeddings: p.tieEmbeddings, seed,
  };
}
