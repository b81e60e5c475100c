/**
 * The loss seam: a function from the head's output and int32 targets [B, T] to a scalar tensor.
 * The default is cross-entropy over logits [B, T, V]; other losses (e.g. frequency-weighted ones) plug in
 * with the same signature.
 */
import type { Tensor } from '../core/tensor.js';
import { crossEntropy, type CrossEntropyOpts } from '../ops/index.js';

export type LossOpts = CrossEntropyOpts;

export type LossFn = (headOutput: Tensor, targets: Tensor, opts: LossOpts) => Tensor;

/**
 * Mean cross-entropy of logits [..., V] against targets [...].
 * @example
 * const loss = crossEntropyLoss(logits, targets, { ignoreIndex: -100 });
 */
export const crossEntropyLoss: LossFn = (logits, targets, opts) => crossEntropy(logits, targets, opts);
