/** Every op, as a function. Tensor methods call these; the op table (table.ts) lists them for the tests. */
import type { Tensor, TensorLike } from '../core/tensor.js';
import { powTensor } from './binary.js';
import { powScalar } from './elementwise.js';

export { abs, cos, exp, gelu, log, neg, powScalar, reciprocal, relu, rsqrt, sigmoid, sign, silu, sin, softplus, sqrt, square, tanh, unaryOp } from './elementwise.js';
export { add, atan2, binaryOp, div, maximum, minimum, mul, powTensor, sub } from './binary.js';
export { eq, ge, gt, le, lt, ne, where } from './compare.js';
export { logsumexp, max, mean, min, reduceRows, sum, variance } from './reduce.js';
export { linear, matmul, type MatmulOpts } from './matmul.js';
export { fusedAttention, type FusedAttentionOpts } from './attention.js';
export { cat, expand, flatten, narrow, pad, permute, reshape, split, squeeze, stridedView, transpose, unsqueeze } from './shape.js';
export { embedding, gather, indexAdd, indexSelect, oneHot, scatterAdd } from './indexing.js';
export { layerNorm, rmsNorm } from './norm.js';
export { causalSoftmax, crossEntropy, logSoftmax, softmax, type CrossEntropyOpts } from './softmax.js';
export { causalMask, dropout, maskedFill } from './mask.js';
export { complexAbs, complexAngle, complexInvAbs2 } from './complex.js';
export { EMPTY_CODE_LOG_MASS, clusterLogsumexp, codeSizes, gatherByMap, logCodeSizes, lookupIds, scatterAddByMap, vqCrossEntropy, vqNaiveCrossEntropy, vqTokenLogits, type VQLossOpts } from './vq.js';

/** x ** p: a number exponent (powScalar) or an elementwise tensor exponent (powTensor). */
export function pow(x: Tensor, p: TensorLike): Tensor {
  return typeof p === 'number' ? powScalar(x, p) : powTensor(x, p);
}

// Tensor's methods call these ops through a registry, so core/tensor.ts never imports ops/ (see registerOps).
import { registerOps } from '../core/tensor.js';
import * as opsNamespace from './index.js';
registerOps(opsNamespace);
