/**
 * Layer norm and RMS norm over the last dim, as row kernels (nn/norm.ts wraps them in modules).
 *
 *   LayerNorm:  y = (x - mean(x)) * rstd * w + b,   rstd = 1 / sqrt(mean((x - mean(x))^2) + eps)
 *   RMSNorm:    y = x * rstd * w,                   rstd = 1 / sqrt(mean(x^2) + eps)
 *
 * Both are one kernel with `c` = 1 (centre: LayerNorm) or 0 (RMSNorm). With xhat = (x - c mean(x)) rstd and
 * dxhat = g w, the backward is
 *   dx = rstd (dxhat - c mean(dxhat) - xhat mean(dxhat xhat)),   dw = sum over rows of g xhat,   db = sum of g.
 * As kernels: two row means, one apply, one column sum (w); the same rule written with ops runs when a
 * graph of the gradient is needed (`fusedBackward`). Composed from primitive ops the forward alone took 9
 * kernels and its backward about 20.
 */
import { fusedBackward, record } from '../core/autograd.js';
import type { KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { shapeStr } from '../core/shape.js';
import { runKernel, Tensor } from '../core/tensor.js';
import { reduceRows } from './reduce.js';

// per row r of x [rows, R]: 1 / sqrt(mean((x - c s/R)^2) + eps), s = the row sum
function normRstd(this: KernelThis, x: Float32Array, s: Float32Array, R: number, c: number, eps: number): number {
  const start = this.thread.x * R;
  const mu = (c * s[this.thread.x]) / R;
  let v = 0;
  for (let j = 0; j < R; j++) {
    const d = x[start + j] - mu;
    v += d * d;
  }
  return 1 / Math.sqrt(v / R + eps);
}
function normApply(
  this: KernelThis, x: Float32Array, s: Float32Array, rstd: Float32Array, w: Float32Array, b: Float32Array, R: number, c: number,
): number {
  const row = Math.floor(this.thread.x / R);
  const j = this.thread.x - row * R;
  return (x[this.thread.x] - (c * s[row]) / R) * rstd[row] * w[j] + b[j];
}
// per row: [mean(dxhat), mean(dxhat * xhat)] as two kernels
function normMeanDxhat(this: KernelThis, g: Float32Array, w: Float32Array, R: number): number {
  const start = this.thread.x * R;
  let a = 0;
  for (let j = 0; j < R; j++) a += g[start + j] * w[j];
  return a / R;
}
function normMeanDxhatXhat(
  this: KernelThis, g: Float32Array, x: Float32Array, s: Float32Array, rstd: Float32Array, w: Float32Array, R: number, c: number,
): number {
  const start = this.thread.x * R;
  const mu = (c * s[this.thread.x]) / R;
  let a = 0;
  for (let j = 0; j < R; j++) a += g[start + j] * w[j] * (x[start + j] - mu);
  return (a * rstd[this.thread.x]) / R;
}
function normBackward_(
  this: KernelThis, g: Float32Array, x: Float32Array, s: Float32Array, rstd: Float32Array, w: Float32Array,
  a: Float32Array, b: Float32Array, R: number, c: number,
): number {
  const row = Math.floor(this.thread.x / R);
  const j = this.thread.x - row * R;
  const r = rstd[row];
  const xhat = (x[this.thread.x] - (c * s[row]) / R) * r;
  return r * (g[this.thread.x] * w[j] - c * a[row] - xhat * b[row]);
}
// column j: sum over rows of g * xhat
function normWeightGrad(
  this: KernelThis, g: Float32Array, x: Float32Array, s: Float32Array, rstd: Float32Array, rows: number, R: number, c: number,
): number {
  const j = this.thread.x;
  let acc = 0;
  for (let r = 0; r < rows; r++) acc += g[r * R + j] * (x[r * R + j] - (c * s[r]) / R) * rstd[r];
  return acc;
}
const K = {
  rstd: kernel(normRstd),
  apply: kernel(normApply),
  meanDxhat: kernel(normMeanDxhat),
  meanDxhatXhat: kernel(normMeanDxhatXhat),
  backward: kernel(normBackward_),
  weightGrad: kernel(normWeightGrad),
};

function checkParam(op: string, x: Tensor, p: Tensor | null, what: string): void {
  const R = x.shape[x.ndim - 1];
  if (p && (p.ndim !== 1 || p.shape[0] !== R)) throw new Error(`${op}: ${what} must have shape [${R}] for input ${shapeStr(x.shape)}, got ${shapeStr(p.shape)}`);
  if (p && p.device !== x.device) throw new Error(`${op}: ${what} is on ${p.device.name}, input on ${x.device.name}; move one with .to()`);
}

function normRows(op: 'layerNorm' | 'rmsNorm', x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  if (!(x instanceof Tensor) || x.ndim === 0) throw new Error(`${op}: needs a tensor with at least 1 dim`);
  if (!(eps >= 0)) throw new Error(`${op}: eps must be >= 0, got ${eps}`);
  checkParam(op, x, weight, 'weight');
  checkParam(op, x, bias, 'bias');
  const R = x.shape[x.ndim - 1];
  if (R === 0) throw new Error(`${op}: the normalised dim is empty (shape ${shapeStr(x.shape)})`);
  const rows = x.numel / R;
  const c = op === 'layerNorm' ? 1 : 0;
  const w = weight ?? x.full([R], 1);
  const b = bias ?? x.full([R], 0);
  const s = c ? reduceRows(x, rows, R, 'sum') : x.full([rows], 0);
  const rstd = new Tensor(runKernel(x.device, K.rstd, rows, [x, s, R, c, eps]), [rows], x.device);
  const y = new Tensor(runKernel(x.device, K.apply, x.numel, [x, s, rstd, w, b, R, c]), x.shape, x.device);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(y, op, inputs, (g) =>
    fusedBackward(
      () => {
        const a = c ? new Tensor(runKernel(x.device, K.meanDxhat, rows, [g, w, R]), [rows], x.device) : s;
        const bb = new Tensor(runKernel(x.device, K.meanDxhatXhat, rows, [g, x, s, rstd, w, R, c]), [rows], x.device);
        const dx = new Tensor(runKernel(x.device, K.backward, x.numel, [g, x, s, rstd, w, a, bb, R, c]), x.shape, x.device);
        const dw = weight ? new Tensor(runKernel(x.device, K.weightGrad, R, [g, x, s, rstd, rows, R, c]), [R], x.device) : null;
        return [dx, ...(weight ? [dw] : []), ...(bias ? [g] : [])];
      },
      () => {
        // the same rule with ops, on a graph that reaches x (mean and rstd recomputed from it)
        const xc = c ? x.sub(x.mean(-1, true)) : x;
        const r = xc.square().mean(-1, true).add(eps).rsqrt();
        const xhat = xc.mul(r);
        const dxhat = weight ? g.mul(weight) : g;
        let inner = dxhat.sub(xhat.mul(dxhat.mul(xhat).mean(-1, true)));
        if (c) inner = inner.sub(dxhat.mean(-1, true));
        return [r.mul(inner), ...(weight ? [g.mul(xhat)] : []), ...(bias ? [g] : [])];
      },
    ),
  );
}

/**
 * Layer norm over the last dim (biased variance); `weight` and `bias` of shape [d], or null.
 * @example
 * const y = layerNorm(x, w, b); // x [B, T, d], w and b [d]
 */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  return normRows('layerNorm', x, weight, bias, eps);
}

/**
 * RMS norm over the last dim: x / sqrt(mean(x^2) + eps) * weight.
 * @example
 * const y = rmsNorm(x, w); // x [B, T, d], w [d]
 */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-5): Tensor {
  return normRows('rmsNorm', x, weight, null, eps);
}
