/**
 * Complex numbers stored as two real tensors (re, im), for complex-valued attention (nn/complex-attention.ts):
 * the polar form z = |z| e^{i phi}. Each op is a broadcasting binary op (ops/binary.ts) over (re, im); its
 * backward rule sits beside it, written with Tensor ops, so gradients are themselves differentiable.
 *
 *     complexAbs(re, im)     = sqrt(re^2 + im^2 + 1e-9)      (the 1e-9 keeps d|z| = z / |z| finite at z = 0)
 *     complexAngle(re, im)   = atan2(im, re)                 in (-pi, pi]; jumps by 2 pi across re < 0, im = 0
 *     complexInvAbs2(re, im) = 1 / (re^2 + im^2), 0 at z = 0  (the angle's gradient needs it)
 *
 * The angle is undefined at z = 0. Forward gives atan2(0, 0) = 0, and its gradient there is defined as 0
 * (ops.atan2's rule divides 0 by 0 and gives NaN), so a zero query or key vector never poisons a step.
 * Near z = 0 the angle's gradient grows as 1 / |z|, which is the true derivative.
 */
import type { KernelThis } from '../core/kernel.js';
import type { Tensor } from '../core/tensor.js';
import { binaryOp } from './binary.js';

/** Added under the square root of |z|, as the ComplexFormer code does. */
export const COMPLEX_ABS_EPS = 1e-9;

// |z| = sqrt(re^2 + im^2 + 1e-9); d/dre = re / |z|, d/dim = im / |z|
function complexAbs_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  const re = a[Math.floor(this.thread.x / aDiv) % aMod];
  const im = b[Math.floor(this.thread.x / bDiv) % bMod];
  return Math.sqrt(re * re + im * im + 1e-9);
}
export const complexAbs = binaryOp(complexAbs_, (g, re, im, y) => {
  const w = g.div(y);
  return [w.mul(re), w.mul(im)];
});

// 1 / (re^2 + im^2), and 0 at the origin; d/dre = -2 re / |z|^4, d/dim = -2 im / |z|^4
function complexInvAbs2_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  const re = a[Math.floor(this.thread.x / aDiv) % aMod];
  const im = b[Math.floor(this.thread.x / bDiv) % bMod];
  const s = re * re + im * im;
  if (s > 0) return 1 / s;
  return 0;
}
export const complexInvAbs2 = binaryOp(complexInvAbs2_, (g, re, im, y) => {
  const w = g.mul(y.square()).mul(-2);
  return [w.mul(re), w.mul(im)];
});

// phi = atan2(im, re); d/dre = -im / |z|^2, d/dim = re / |z|^2 (both 0 at the origin)
function complexAngle_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return Math.atan2(b[Math.floor(this.thread.x / bDiv) % bMod], a[Math.floor(this.thread.x / aDiv) % aMod]);
}
export const complexAngle = binaryOp(complexAngle_, (g, re, im) => {
  const w = g.mul(complexInvAbs2(re, im));
  return [w.mul(im).neg(), w.mul(re)];
});
