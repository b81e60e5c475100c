/**
 * Masking: maskedFill (with broadcasting of the mask), the causal mask of a decoder, and seeded dropout.
 */
import { record } from '../core/autograd.js';
import type { KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { Generator, globalGenerator } from '../core/rng.js';
import { broadcastShapes, shapeStr, sameShape } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { asTensor } from './common.js';
import { broadcastRaw } from './shape.js';

function maskedFill_(this: KernelThis, x: Float32Array, m: Float32Array, v: number): number {
  if (m[this.thread.x] === 0) return x[this.thread.x];
  return v;
}
const maskedFillKernel = kernel(maskedFill_);

/** Where mask is nonzero, put `value` (e.g. -Infinity before a softmax); elsewhere keep x. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  const m = asTensor('maskedFill', mask, x);
  const shape = broadcastShapes('maskedFill', x.shape, m.shape);
  if (!sameShape(shape, x.shape)) {
    throw new Error(`maskedFill: mask ${shapeStr(m.shape)} must broadcast to x ${shapeStr(x.shape)} without growing it`);
  }
  const mb = broadcastRaw(m, shape);
  const y = new Tensor(x.run(maskedFillKernel, x.numel, [x, mb, value]), x.shape, x.device);
  return record(y, 'maskedFill', [x], (g) => [maskedFill(g, mb, 0)]);
}

/** [T, T] mask with 1 above the diagonal: position i must not see j > i. */
export function causalMask(T: number, like: Tensor): Tensor {
  if (!Number.isInteger(T) || T <= 0) throw new Error(`causalMask: T must be a positive integer, got ${T}`);
  const v = new Array<number>(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) v[i * T + j] = j > i ? 1 : 0;
  return Tensor.fromValues(v, [T, T], like.device);
}

/**
 * Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout), from a seeded
 * generator. Identity when not training or p = 0.
 */
export function dropout(x: Tensor, p: number, training = true, gen: Generator = globalGenerator): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const keep = new Array<number>(x.numel);
  const scale = 1 / (1 - p);
  for (let i = 0; i < keep.length; i++) keep[i] = gen.random() < p ? 0 : scale;
  const mask = Tensor.fromValues(keep, x.shape, x.device);
  return x.mul(mask);
}

