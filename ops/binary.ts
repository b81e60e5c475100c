/**
 * Binary elementwise ops with numpy broadcasting. Operands are first broadcast to the output shape (a
 * strided copy, only when shapes differ); the kernel then reads a[i] and b[i]. Backward rules return
 * gradients in the output shape — the autograd engine sums them back to each input's shape.
 */
import { noGrad, record } from '../core/autograd.js';
import type { KernelFn, KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { broadcastShapes, numel } from '../core/shape.js';
import { Tensor, type TensorLike } from '../core/tensor.js';
import { asTensor, checkRank } from './common.js';
import { broadcastRaw } from './shape.js';

type Backward = (g: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor | null, Tensor | null];

/** Build a broadcasting binary op from a kernel over a[i], b[i] and its backward rule. */
export function binaryOp(fn: KernelFn, backward: Backward | null) {
  const name = fn.name.replace(/_$/, '');
  const spec = kernel(fn, { name });
  return (x: TensorLike, o: TensorLike): Tensor => {
    if (!(x instanceof Tensor)) throw new Error(`${name}: the first operand must be a Tensor`);
    const a = x;
    const b = asTensor(name, o, a);
    const shape = broadcastShapes(name, a.shape, b.shape);
    checkRank(name, shape);
    const y = new Tensor(a.run(spec, numel(shape), [broadcastRaw(a, shape), broadcastRaw(b, shape)]), shape, a.device);
    if (!backward) return y;
    return record(y, name, [a, b], (g) => backward(g, a, b, y));
  };
}

function add_(this: KernelThis, a: Float32Array, b: Float32Array): number { return a[this.thread.x] + b[this.thread.x]; }
export const add = binaryOp(add_, (g) => [g, g]);

function sub_(this: KernelThis, a: Float32Array, b: Float32Array): number { return a[this.thread.x] - b[this.thread.x]; }
export const sub = binaryOp(sub_, (g) => [g, g.neg()]);

function mul_(this: KernelThis, a: Float32Array, b: Float32Array): number { return a[this.thread.x] * b[this.thread.x]; }
export const mul = binaryOp(mul_, (g, a, b) => [g.mul(b), g.mul(a)]);

function div_(this: KernelThis, a: Float32Array, b: Float32Array): number { return a[this.thread.x] / b[this.thread.x]; }
export const div = binaryOp(div_, (g, a, b) => [g.div(b), g.mul(a).div(b.square()).neg()]);

// Ties send the whole gradient to `a` (max) / `a` (min); property tests keep operands apart.
function maximum_(this: KernelThis, a: Float32Array, b: Float32Array): number { return Math.max(a[this.thread.x], b[this.thread.x]); }
export const maximum = binaryOp(maximum_, (g, a, b) => {
  const m = noGrad(() => a.ge(b));
  return [g.mul(m), g.mul(m.neg().add(1))];
});

function minimum_(this: KernelThis, a: Float32Array, b: Float32Array): number { return Math.min(a[this.thread.x], b[this.thread.x]); }
export const minimum = binaryOp(minimum_, (g, a, b) => {
  const m = noGrad(() => a.le(b));
  return [g.mul(m), g.mul(m.neg().add(1))];
});

// atan2(y, x): the angle of the point (x, y); d/dy = x / r^2, d/dx = -y / r^2
function atan2_(this: KernelThis, a: Float32Array, b: Float32Array): number { return Math.atan2(a[this.thread.x], b[this.thread.x]); }
export const atan2 = binaryOp(atan2_, (g, a, b) => {
  const r2 = a.square().add(b.square());
  return [g.mul(b).div(r2), g.mul(a).div(r2).neg()];
});

// a^b for tensor b (a > 0 where b is not an integer); d/da = b a^(b-1), d/db = a^b log a
function pow_(this: KernelThis, a: Float32Array, b: Float32Array): number { return Math.pow(a[this.thread.x], b[this.thread.x]); }
export const powTensor = binaryOp(pow_, (g, a, b, y) => [g.mul(b).mul(a.pow(b.sub(1))), g.mul(y).mul(a.log())]);
