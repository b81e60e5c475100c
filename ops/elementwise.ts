/**
 * Unary elementwise ops. Each op is its forward kernel (one line over this.thread.x) and, right beside it,
 * its backward rule written with Tensor ops, so that gradients are themselves differentiable.
 *
 *     backward(g, x, y): the gradient w.r.t. x, given the output gradient g, the input x and the output y.
 */
import { fusedBackward, noGrad, record } from '../core/autograd.js';
import type { KernelFn, KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { runKernel, Tensor } from '../core/tensor.js';

type Backward = (g: Tensor, x: Tensor, y: Tensor) => Tensor;

/** Build a unary op from a kernel over x[this.thread.x] (plus scalar arguments) and its backward rule. */
export function unaryOp(fn: KernelFn, backward: Backward | null, opts: { functions?: ((...a: number[]) => number)[] } = {}) {
  const name = fn.name.replace(/_$/, '');
  const spec = kernel(fn, { ...opts, name });
  return (x: Tensor, ...scalars: number[]): Tensor => {
    if (!(x instanceof Tensor)) throw new Error(`${name}: expected a Tensor, got ${typeof x}`);
    const y = new Tensor(x.run(spec, x.numel, [x, ...scalars]), x.shape, x.device);
    if (!backward) return y;
    return record(y, name, [x], (g) => [backward(g, x, y)]);
  };
}

function neg_(this: KernelThis, x: Float32Array): number { return -x[this.thread.x]; }
export const neg = unaryOp(neg_, (g) => g.neg());

function exp_(this: KernelThis, x: Float32Array): number { return Math.exp(x[this.thread.x]); }
export const exp = unaryOp(exp_, (g, _x, y) => g.mul(y));

function log_(this: KernelThis, x: Float32Array): number { return Math.log(x[this.thread.x]); }
export const log = unaryOp(log_, (g, x) => g.div(x));

function sqrt_(this: KernelThis, x: Float32Array): number { return Math.sqrt(x[this.thread.x]); }
export const sqrt = unaryOp(sqrt_, (g, _x, y) => g.div(y.mul(2)));

function rsqrt_(this: KernelThis, x: Float32Array): number { return 1 / Math.sqrt(x[this.thread.x]); }
export const rsqrt = unaryOp(rsqrt_, (g, x, y) => g.mul(y).div(x).mul(-0.5));

function abs_(this: KernelThis, x: Float32Array): number { return Math.abs(x[this.thread.x]); }
export const abs = unaryOp(abs_, (g, x) => g.mul(sign(x)));

function sign_(this: KernelThis, x: Float32Array): number {
  const v = x[this.thread.x];
  if (v > 0) return 1;
  if (v < 0) return -1;
  return 0;
}
/** -1, 0 or 1; piecewise constant, so no gradient flows through it. */
export const sign = unaryOp(sign_, null);

function sin_(this: KernelThis, x: Float32Array): number { return Math.sin(x[this.thread.x]); }
export const sin = unaryOp(sin_, (g, x) => g.mul(cos(x)));

function cos_(this: KernelThis, x: Float32Array): number { return Math.cos(x[this.thread.x]); }
export const cos = unaryOp(cos_, (g, x) => g.mul(sin(x)).neg());

function tanh_(this: KernelThis, x: Float32Array): number { return Math.tanh(x[this.thread.x]); }
export const tanh = unaryOp(tanh_, (g, _x, y) => g.mul(y.square().neg().add(1)));

function sigmoid_(this: KernelThis, x: Float32Array): number { return 1 / (1 + Math.exp(-x[this.thread.x])); }
export const sigmoid = unaryOp(sigmoid_, (g, _x, y) => g.mul(y).mul(y.neg().add(1)));

function relu_(this: KernelThis, x: Float32Array): number { return Math.max(x[this.thread.x], 0); }
export const relu = unaryOp(relu_, (g, x) => g.mul(noGrad(() => x.gt(0))));

// GELU, tanh form: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
//   gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) u',   t = tanh(u), u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
function gelu_(this: KernelThis, x: Float32Array): number {
  const v = x[this.thread.x];
  return 0.5 * v * (1 + Math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
}
// The backward takes tanh(u) back from the output, t = 2 y / x - 1, instead of a second tanh (on webasm
// every tanh is a call out to JS); near x = 0, where that divides by ~0, it calls tanh again.
function geluBackward_(this: KernelThis, g: Float32Array, x: Float32Array, y: Float32Array): number {
  const v = x[this.thread.x];
  let t = (2 * y[this.thread.x]) / v - 1;
  if (Math.abs(v) < 0.01) t = Math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v));
  return g[this.thread.x] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * 0.7978845608028654 * (1 + 0.134145 * v * v));
}
const geluBackwardKernel = kernel(geluBackward_);
export const gelu = unaryOp(gelu_, (g, x, y) =>
  fusedBackward(
    () => new Tensor(runKernel(x.device, geluBackwardKernel, x.numel, [g, x, y]), x.shape, x.device),
    () => {
      const t = x.mul(x.square().mul(0.044715).add(1)).mul(0.7978845608028654).tanh();
      const du = x.square().mul(3 * 0.044715).add(1).mul(0.7978845608028654);
      return g.mul(t.add(1).mul(0.5).add(x.mul(0.5).mul(t.square().neg().add(1)).mul(du)));
    },
  ),
);

// SiLU: x sigmoid(x)
function silu_(this: KernelThis, x: Float32Array): number {
  const v = x[this.thread.x];
  return v / (1 + Math.exp(-v));
}
export const silu = unaryOp(silu_, (g, x) => {
  const s = x.sigmoid();
  return g.mul(s.mul(x.mul(s.neg().add(1)).add(1)));
});

// softplus(x) = log(1 + e^x), written as max(x, 0) + log(1 + e^-|x|): the naive form overflows in float32
// (e^89 is Infinity, so softplus(100) would be Infinity instead of 100); this one never exponentiates a
// positive number. Its derivative is sigmoid(x).
function softplus_(this: KernelThis, x: Float32Array): number {
  const v = x[this.thread.x];
  return Math.max(v, 0) + Math.log(1 + Math.exp(-Math.abs(v)));
}
/** log(1 + e^x), safe in float32 for any x. @example softplus(tensor([-100, 0, 100])) // [0, 0.693, 100] */
export const softplus = unaryOp(softplus_, (g, x) => g.mul(x.sigmoid()));

function square_(this: KernelThis, x: Float32Array): number {
  const v = x[this.thread.x];
  return v * v;
}
export const square = unaryOp(square_, (g, x) => g.mul(x).mul(2));

function reciprocal_(this: KernelThis, x: Float32Array): number { return 1 / x[this.thread.x]; }
export const reciprocal = unaryOp(reciprocal_, (g, _x, y) => g.mul(y.square()).neg());

// x^p for a number p
function powScalar_(this: KernelThis, x: Float32Array, p: number): number { return Math.pow(x[this.thread.x], p); }
const powScalarKernel = kernel(powScalar_);
/** x ** p with a number exponent. */
export function powScalar(x: Tensor, p: number): Tensor {
  if (typeof p !== 'number' || !Number.isFinite(p)) throw new Error(`pow: exponent must be a finite number, got ${p}`);
  const y = new Tensor(x.run(powScalarKernel, x.numel, [x, p]), x.shape, x.device);
  return record(y, 'pow', [x], (g) => [g.mul(powScalar(x, p - 1)).mul(p)]);
}
