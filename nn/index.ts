/**
 * tsgrad/nn: modules, layers, attention, the transformer LM, heads, losses, optimizers, schedules and
 * checkpoints (inside this repo: '../nn/index.js').
 * @example
 * import * as nn from 'tsgrad/nn';
 * const lm = new nn.TransformerLM({ vocabSize: 1000, contextLength: 32, dModel: 64, nHeads: 4, nLayers: 2 });
 * const opt = new nn.optim.AdamW(lm.namedParameters(), { lr: 1e-3 });
 */
import { AdamW, SGD } from './optim.js';

export { Module, ModuleList, type LoadResult } from './module.js';
export * as init from './init.js';
export { Linear, type LinearOpts } from './linear.js';
export { Embedding, checkIds } from './embedding.js';
export { LayerNorm, RMSNorm, layerNorm, rmsNorm } from './norm.js';
export { Dropout } from './dropout.js';
export { MLP, SwiGLU, type MlpOpts } from './mlp.js';
export { applyRope, ropeFrequencies, type RopeOpts } from './rope.js';
export {
  CausalSelfAttention, KVCache, causalAttention, causalMaskAt, mergeHeads, splitHeads,
  type AttentionConfig, type AttentionFactory, type AttentionForwardOpts, type AttentionModule, type CausalAttentionOpts, type CausalSelfAttentionOpts,
} from './attention.js';
export { TiedHead, fullHead, type HeadConfig, type HeadFactory, type HeadModule } from './head.js';
export * from './heads/index.js';
export { crossEntropyLoss, type LossFn, type LossOpts } from './loss.js';
export { argmax, sampleToken, type SampleOpts } from './sampling.js';
export { Block, TransformerLM, defaultAttention, type GenerateOpts, type ResolvedTransformerConfig, type TransformerConfig } from './transformer.js';
export { AdamW, Optimizer, SGD, clipGradNorm, type AdamWOpts, type NamedParams, type OptimizerState, type ParamGroup, type ParamsInput, type SgdOpts } from './optim.js';
export { lrAt, type ScheduleOpts } from './schedule.js';
export {
  CHECKPOINT_FORMAT, loadCheckpoint, loadModule, packState, saveCheckpoint, saveModule, stripPrefix, unpackState, withPrefix, type CheckpointData,
} from './checkpoint.js';

/** PyTorch-style namespace: `new nn.optim.AdamW(...)`. */
export const optim = { SGD, AdamW };
export { ComplexAttention, complexAttention, complexRotate, complexScores, type ComplexAttentionOptions, type ComplexAttentionOpts, type ComplexRotateOpts } from './complex-attention.js';
export * from './losses/index.js';
