/**
 * Run sizes of the PDL study (experiments/pdl.ts). `quick` is a smoke test that finishes in under 5
 * minutes on 2 CPU cores: capped vocabulary, a barely pretrained model, a few finetuning steps, few
 * prompts; its differences between losses are mostly noise and its report says so. `full` is the study
 * (a few hours on 2 CPU cores; the pretrained model is kept and reused by later runs).
 */
import type { ModelSize, Schedule } from '../train/config.js';

export interface PdlPreset extends ModelSize {
  dropout: number;
  pretrain: Schedule & { validTokens: number };
  finetune: Schedule;
  /** Most recent SOTU addresses before the validation years used for finetuning (frequencies are counted on them). */
  sotuTrainAddresses: number;
  /** Held-out (SOTU test split) tokens scored; undefined = all. */
  heldOutTokens: number | undefined;
  seeds: number;
  prompts: number;
  promptTokens: number;
  newTokens: number;
}

export const PDL_PRESETS: Record<'quick' | 'full', PdlPreset> = {
  quick: {
    maxVocab: 2000, dModel: 64, nHeads: 4, nLayers: 2, context: 32, batchSize: 8, dropout: 0,
    pretrain: { steps: 120, lr: 3e-3, warmup: 12, validTokens: 2048 },
    finetune: { steps: 20, lr: 2e-3, warmup: 2 },
    sotuTrainAddresses: 20, heldOutTokens: 2048, seeds: 2, prompts: 6, promptTokens: 8, newTokens: 24,
  },
  full: {
    maxVocab: 4000, dModel: 64, nHeads: 4, nLayers: 2, context: 64, batchSize: 16, dropout: 0.1,
    pretrain: { steps: 1200, lr: 3e-3, warmup: 60, validTokens: 32768 },
    finetune: { steps: 100, lr: 1e-3, warmup: 10 },
    sotuTrainAddresses: 20, heldOutTokens: undefined, seeds: 3, prompts: 40, promptTokens: 16, newTokens: 48,
  },
};

/** Rough training cost per token (multiply-adds of the matmuls), to scale a measured speed to another preset. */
export function costPerToken(p: Pick<PdlPreset, 'dModel' | 'nLayers' | 'context'>, vocabSize: number): number {
  const d = p.dModel;
  return 12 * p.nLayers * d * d + d * vocabSize + p.nLayers * p.context * d;
}

/** Training tokens of a whole study with preset p. */
export function studyTokens(p: PdlPreset, variants: number): { pretrain: number; finetune: number } {
  const perStep = p.batchSize * p.context;
  return { pretrain: p.pretrain.steps * perStep, finetune: variants * p.seeds * p.finetune.steps * perStep };
}
