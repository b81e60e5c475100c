/**
 * Binary elementwise ops with numpy broadcasting. Output element i reads each operand at
 * floor(i / div) % mod, which covers equal shapes, scalars, trailing blocks (bias [D] on [N, D]) and
 * leading blocks ([N, 1] on [N, D]) with no copy; any other pattern is first broadcast by a strided copy.
 * Backward rules return gradients in the output shape — the autograd engine sums them back to each
 * input's shape.
 */
import { noGrad, record } from '../core/autograd.js';
import type { KernelFn, KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { broadcastShapes, numel, type Shape } from '../core/shape.js';
import { Tensor, type TensorLike } from '../core/tensor.js';
import { asTensor, checkRank } from './common.js';
import { broadcastRaw } from './shape.js';

/**
 * How to read operand `x` (shape s) inside output shape `out`: [div, mod] when its non-1 dims form one
 * contiguous block of the output's dims, else null (the operand must be materialised).
 */
export function readPlan(s: Shape, out: Shape): [number, number] | null {
  const lead = out.length - s.length;
  // the dims the operand really spans (its size there is the output's, and more than 1)
  const real = out.map((d, i) => i >= lead && s[i - lead] === d && d !== 1);
  const first = real.indexOf(true);
  if (first < 0) return [1, 1];
  const last = real.lastIndexOf(true);
  // between them, a dim it broadcasts over breaks the block (size-1 output dims do not)
  for (let i = first; i <= last; i++) if (!real[i] && out[i] !== 1) return null;
  return [numel(out.slice(last + 1)), numel(out.slice(first, last + 1))];
}

type Backward = (g: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor | null, Tensor | null];

/**
 * Build a broadcasting binary op from a kernel (reading a and b as above) and its backward rule. `flat`,
 * optional, is the same kernel for two operands of the output's shape (a[x], b[x]): no index arithmetic,
 * about 2.5x faster on webasm (residual adds, gradient sums).
 */
export function binaryOp(fn: KernelFn, backward: Backward | null, flat?: KernelFn) {
  const name = fn.name.replace(/_$/, '');
  const spec = kernel(fn, { name });
  const flatSpec = flat ? kernel(flat) : null;
  return (x: TensorLike, o: TensorLike): Tensor => {
    if (!(x instanceof Tensor)) throw new Error(`${name}: the first operand must be a Tensor`);
    const a = x;
    const b = asTensor(name, o, a);
    const shape = broadcastShapes(name, a.shape, b.shape);
    checkRank(name, shape);
    const n = numel(shape);
    const operand = (t: Tensor): [Tensor, number, number] => {
      const p = readPlan(t.shape, shape);
      return p ? [t, p[0], p[1]] : [broadcastRaw(t, shape), 1, n];
    };
    const [ra, rb] = [operand(a), operand(b)];
    const full = (r: [Tensor, number, number]) => r[1] === 1 && r[2] === n;
    const data = flatSpec && full(ra) && full(rb) ? a.run(flatSpec, n, [ra[0], rb[0]]) : a.run(spec, n, [...ra, ...rb]);
    const y = new Tensor(data, shape, a.device);
    if (!backward) return y;
    return record(y, name, [a, b], (g) => backward(g, a, b, y));
  };
}

function add_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return a[Math.floor(this.thread.x / aDiv) % aMod] + b[Math.floor(this.thread.x / bDiv) % bMod];
}
function addFlat(this: KernelThis, a: Float32Array, b: Float32Array): number { return a[this.thread.x] + b[this.thread.x]; }
export const add = binaryOp(add_, (g) => [g, g], addFlat);

function sub_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return a[Math.floor(this.thread.x / aDiv) % aMod] - b[Math.floor(this.thread.x / bDiv) % bMod];
}
function subFlat(this: KernelThis, a: Float32Array, b: Float32Array): number { return a[this.thread.x] - b[this.thread.x]; }
export const sub = binaryOp(sub_, (g) => [g, g.neg()], subFlat);

function mul_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return a[Math.floor(this.thread.x / aDiv) % aMod] * b[Math.floor(this.thread.x / bDiv) % bMod];
}
function mulFlat(this: KernelThis, a: Float32Array, b: Float32Array): number { return a[this.thread.x] * b[this.thread.x]; }
export const mul = binaryOp(mul_, (g, a, b) => [g.mul(b), g.mul(a)], mulFlat);

function div_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return a[Math.floor(this.thread.x / aDiv) % aMod] / b[Math.floor(this.thread.x / bDiv) % bMod];
}
function divFlat(this: KernelThis, a: Float32Array, b: Float32Array): number { return a[this.thread.x] / b[this.thread.x]; }
export const div = binaryOp(div_, (g, a, b) => [g.div(b), g.mul(a).div(b.square()).neg()], divFlat);

// Ties send the whole gradient to `a` (max) / `a` (min); property tests keep operands apart.
function maximum_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return Math.max(a[Math.floor(this.thread.x / aDiv) % aMod], b[Math.floor(this.thread.x / bDiv) % bMod]);
}
export const maximum = binaryOp(maximum_, (g, a, b) => {
  const m = noGrad(() => a.ge(b));
  return [g.mul(m), g.mul(m.neg().add(1))];
});

function minimum_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return Math.min(a[Math.floor(this.thread.x / aDiv) % aMod], b[Math.floor(this.thread.x / bDiv) % bMod]);
}
export const minimum = binaryOp(minimum_, (g, a, b) => {
  const m = noGrad(() => a.le(b));
  return [g.mul(m), g.mul(m.neg().add(1))];
});

// atan2(y, x): the angle of the point (x, y); d/dy = x / r^2, d/dx = -y / r^2
function atan2_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return Math.atan2(a[Math.floor(this.thread.x / aDiv) % aMod], b[Math.floor(this.thread.x / bDiv) % bMod]);
}
export const atan2 = binaryOp(atan2_, (g, a, b) => {
  const r2 = a.square().add(b.square());
  return [g.mul(b).div(r2), g.mul(a).div(r2).neg()];
});

// a^b for tensor b (a > 0 where b is not an integer); d/da = b a^(b-1), d/db = a^b log a
function pow_(this: KernelThis, a: Float32Array, aDiv: number, aMod: number, b: Float32Array, bDiv: number, bMod: number): number {
  return Math.pow(a[Math.floor(this.thread.x / aDiv) % aMod], b[Math.floor(this.thread.x / bDiv) % bMod]);
}
export const powTensor = binaryOp(pow_, (g, a, b, y) => [g.mul(b).mul(a.pow(b.sub(1))), g.mul(y).mul(a.log())]);
