/**
 * Comparisons (1 where true, 0 where false; no gradient) and `where`, which routes the gradient to the
 * branch each element came from.
 */
import { record } from '../core/autograd.js';
import type { KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { broadcastShapes, numel } from '../core/shape.js';
import { Tensor, type TensorLike } from '../core/tensor.js';
import { binaryOp } from './binary.js';
import { asTensor } from './common.js';
import { broadcastRaw } from './shape.js';

function gt_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return a[Math.floor(this.thread.x / aDiv) % aMod] > b[Math.floor(this.thread.x / bDiv) % bMod] ? 1 : 0;
}
export const gt = binaryOp(gt_, null);
function ge_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return a[Math.floor(this.thread.x / aDiv) % aMod] >= b[Math.floor(this.thread.x / bDiv) % bMod] ? 1 : 0;
}
export const ge = binaryOp(ge_, null);
function lt_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return a[Math.floor(this.thread.x / aDiv) % aMod] < b[Math.floor(this.thread.x / bDiv) % bMod] ? 1 : 0;
}
export const lt = binaryOp(lt_, null);
function le_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return a[Math.floor(this.thread.x / aDiv) % aMod] <= b[Math.floor(this.thread.x / bDiv) % bMod] ? 1 : 0;
}
export const le = binaryOp(le_, null);
function eq_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return a[Math.floor(this.thread.x / aDiv) % aMod] === b[Math.floor(this.thread.x / bDiv) % bMod] ? 1 : 0;
}
export const eq = binaryOp(eq_, null);
function ne_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return a[Math.floor(this.thread.x / aDiv) % aMod] === b[Math.floor(this.thread.x / bDiv) % bMod] ? 0 : 1;
}
export const ne = binaryOp(ne_, null);

function where_(this: KernelThis, c: Float32Array, a: Float32Array, b: Float32Array): number {
  if (c[this.thread.x] === 0) return b[this.thread.x];
  return a[this.thread.x];
}
const whereKernel = kernel(where_);

/** Elementwise `cond ? a : b` (cond nonzero = true), with broadcasting of all three. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const x = asTensor('where', a, cond);
  const y = asTensor('where', b, cond);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, x.shape), y.shape);
  const data = cond.run(whereKernel, numel(shape), [broadcastRaw(cond, shape), broadcastRaw(x, shape), broadcastRaw(y, shape)]);
  const out = new Tensor(data, shape, cond.device);
  return record(out, 'where', [x, y], (g) => {
    const zero = g.scalar(0);
    return [where(cond, g, zero), where(cond, zero, g)];
  });
}
