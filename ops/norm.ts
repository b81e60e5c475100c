/**
 * Layer norm and RMS norm over the last dim, as row kernels (nn/norm.ts wraps them in modules).
 *
 *   LayerNorm:  y = (x - mean(x)) * rstd * w + b,   rstd = 1 / sqrt(mean((x - mean(x))^2) + eps)
 *   RMSNorm:    y = x * rstd * w,                   rstd = 1 / sqrt(mean(x^2) + eps)
 *
 * Both are one kernel with `c` = 1 (centre: LayerNorm) or 0 (RMSNorm). With xhat = (x - c mean(x)) rstd and
 * dxhat = g w, the backward is
 *   dx = rstd (dxhat - c mean(dxhat) - xhat mean(dxhat xhat)),   dw = sum over rows of g xhat,   db = sum of g.
 * One kernel each way: the forward writes y and each row's mean and rstd (kept for the backward), the
 * backward dx, dw and db; the same rule written with ops runs when a graph of the gradient is needed
 * (`fusedBackward`). Composed from primitive ops the forward alone took 9 kernels and its backward about
 * 20; webasm and cpu run both kernels as one JavaScript pass per row (core/devices/webasm/norm-override.ts).
 */
import { fusedBackward, record } from '../core/autograd.js';
import type { KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { shapeStr } from '../core/shape.js';
import { runKernel, Tensor } from '../core/tensor.js';
import type { Data } from '../core/device.js';
import { releaseArray } from '../core/pool.js';
import { splitOutput } from './common.js';

// x is [rows, R] row-major (n = rows R values); c = 1 (LayerNorm: centred) or 0 (RMSNorm).
// Forward, one kernel: [y (n) | mean (rows) | rstd (rows)]. A thread of y computes its row's mean and rstd
// itself (O(R)), as do the threads of the statistics.
function normForward(
  this: KernelThis, x: Float32Array, w: Float32Array, b: Float32Array, rows: number, R: number, c: number, eps: number,
): number {
  const t = this.thread.x;
  const n = rows * R;
  let row = t - n - rows; // the thread's row: rstd part by default
  if (t < n) row = Math.floor(t / R);
  else if (t < n + rows) row = t - n;
  const start = row * R;
  let s = 0;
  for (let j = 0; j < R; j++) s += x[start + j];
  const mu = (c * s) / R;
  if (t >= n && t < n + rows) return mu;
  let v = 0;
  for (let k = 0; k < R; k++) {
    const d = x[start + k] - mu;
    v += d * d;
  }
  const r = 1 / Math.sqrt(v / R + eps);
  if (t >= n) return r;
  const jj = t - start;
  return (x[t] - mu) * r * w[jj] + b[jj];
}

// Backward, one kernel: [dx (n) | dw (R) | db (R)] from g, x and the forward's [mean | rstd] (stats):
//   dx = rstd (g w - c mean(g w) - xhat mean(g w xhat)) per row,  dw = sum over rows of g xhat,  db = sum of g.
// A thread of dx computes its row's two means (O(R)); a thread of dw or db sums its column (O(rows)).
function normBackward(
  this: KernelThis, g: Float32Array, x: Float32Array, stats: Float32Array, w: Float32Array, rows: number, R: number, c: number,
): number {
  const t = this.thread.x;
  const n = rows * R;
  if (t < n) {
    const row = Math.floor(t / R);
    const start = row * R;
    const mu = stats[row];
    const r = stats[rows + row];
    let a = 0;
    let bb = 0;
    for (let j = 0; j < R; j++) {
      const gw = g[start + j] * w[j];
      a += gw;
      bb += gw * (x[start + j] - mu) * r;
    }
    const jt = t - start;
    return r * (g[t] * w[jt] - (c * a) / R - (x[t] - mu) * r * (bb / R));
  }
  let col = t - n - R; // db's column by default
  if (t < n + R) col = t - n;
  let acc = 0;
  for (let k = 0; k < rows; k++) {
    if (t < n + R) acc += g[k * R + col] * (x[k * R + col] - stats[k]) * stats[rows + k];
    else acc += g[k * R + col];
  }
  return acc;
}
const K = {
  forward: kernel(normForward),
  backward: kernel(normBackward),
};

/** Values from..from+n of a 1-D tensor as a tensor of its own (a host copy, no graph). */
function copyRange(t: Tensor, from: number, n: number): Tensor {
  const cut = (d: Data) => t.device.fromValues(d.subarray(from, from + n));
  const d = t._data;
  return new Tensor(d instanceof Promise ? d.then(cut) : cut(d), [n], t.device);
}

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
  const dev = x.device;
  const w = weight ?? x.full([R], 1);
  const b = bias ?? x.full([R], 0);
  const out = runKernel(dev, K.forward, x.numel + 2 * rows, [x, w, b, rows, R, c, eps]);
  const [y, stats] = splitOutput(out, [x.shape, [2 * rows]], dev);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(y, op, inputs, (g) =>
    fusedBackward(
      () => {
        const grads = runKernel(dev, K.backward, x.numel + 2 * R, [g, x, stats, w, rows, R, c]);
        const [dx, dwdb] = splitOutput(grads, [x.shape, [2 * R]], dev);
        // dw and db become the parameters' .grad: copied out, so that the kernel's output (dx mostly) can go
        // back to the buffer pool without them (core/pool.ts)
        const dw = copyRange(dwdb, 0, R);
        const db = copyRange(dwdb, R, R);
        releaseArray(dwdb._data);
        return [dx, ...(weight ? [dw] : []), ...(bias ? [db] : [])];
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
    [stats],
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
