/**
 * softmax, causalSoftmax and logSoftmax, and cross-entropy from logits. Each runs as row kernels: the row
 * max (reduceRows), then one pass that calls exp once per element (on webasm every exp is a call out to JS,
 * the cost that matters), then cheap passes. Backward rules, with y the output and g its gradient (sums
 * over the softmax dim), each as one or two fused kernels beside the same rule written with ops (which
 * runs when a graph of the gradient is needed: grad of grad; see `fusedBackward`):
 *   softmax:       dx = y * (g - sum(g * y))
 *   logSoftmax:    dx = g - exp(y) * sum(g)
 *   cross-entropy: dx = (softmax(x) - onehot(t)) * g          per row, for nll = logsumexp(x) - x[t]
 */
import { fusedBackward, record } from '../core/autograd.js';
import type { KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { normDim, shapeStr } from '../core/shape.js';
import { Tensor, runKernel } from '../core/tensor.js';
import { after, checkIndexDtype, checkIndexRange } from './common.js';
import { oneHot } from './indexing.js';
import { reduceRows } from './reduce.js';

// ---- row kernels: x is [rows, R] row-major, per-row values are [rows] -------------------------------------

function expShiftRows(this: KernelThis, x: Float32Array, m: Float32Array, R: number): number {
  return Math.exp(x[this.thread.x] - m[Math.floor(this.thread.x / R)]);
}
// causal: row r is query i = r % Tq, which sees keys j <= i + offset; the others give exactly 0
function expShiftCausal(this: KernelThis, x: Float32Array, m: Float32Array, R: number, Tq: number, offset: number): number {
  const row = Math.floor(this.thread.x / R);
  const j = this.thread.x - row * R;
  if (j > row - Math.floor(row / Tq) * Tq + offset) return 0;
  return Math.exp(x[this.thread.x] - m[row]);
}
function maxRowsCausal(this: KernelThis, x: Float32Array, R: number, Tq: number, offset: number): number {
  const start = this.thread.x * R;
  const seen = Math.min(this.thread.x - Math.floor(this.thread.x / Tq) * Tq + offset + 1, R);
  let m = x[start];
  for (let j = 1; j < seen; j++) m = Math.max(m, x[start + j]);
  return m;
}
function divRows(this: KernelThis, e: Float32Array, s: Float32Array, R: number): number {
  return e[this.thread.x] / s[Math.floor(this.thread.x / R)];
}
function sumExpRows(this: KernelThis, x: Float32Array, m: Float32Array, R: number): number {
  const start = this.thread.x * R;
  const mx = m[this.thread.x];
  let s = 0;
  for (let j = 0; j < R; j++) s += Math.exp(x[start + j] - mx);
  return s;
}
function logSumRows(this: KernelThis, m: Float32Array, s: Float32Array): number {
  return m[this.thread.x] + Math.log(s[this.thread.x]);
}
function subRows(this: KernelThis, x: Float32Array, v: Float32Array, R: number): number {
  return x[this.thread.x] - v[Math.floor(this.thread.x / R)];
}
function dotRows(this: KernelThis, a: Float32Array, b: Float32Array, R: number): number {
  const start = this.thread.x * R;
  let s = 0;
  for (let j = 0; j < R; j++) s += a[start + j] * b[start + j];
  return s;
}
function softmaxBackward_(this: KernelThis, g: Float32Array, y: Float32Array, d: Float32Array, R: number): number {
  return y[this.thread.x] * (g[this.thread.x] - d[Math.floor(this.thread.x / R)]);
}
function logSoftmaxBackward_(this: KernelThis, g: Float32Array, y: Float32Array, sg: Float32Array, R: number): number {
  return g[this.thread.x] - Math.exp(y[this.thread.x]) * sg[Math.floor(this.thread.x / R)];
}
function nllRows(this: KernelThis, x: Float32Array, lse: Float32Array, t: Float32Array, C: number): number {
  return lse[this.thread.x] - x[this.thread.x * C + t[this.thread.x]];
}
// e = exp(x - max) and s = its row sums, both kept from the forward pass: softmax(x) = e / s
function nllBackward_(this: KernelThis, e: Float32Array, s: Float32Array, t: Float32Array, g: Float32Array, C: number): number {
  const row = Math.floor(this.thread.x / C);
  let hot = 0;
  if (this.thread.x - row * C === t[row]) hot = 1;
  return (e[this.thread.x] / s[row] - hot) * g[row];
}
const K = {
  expShift: kernel(expShiftRows),
  expShiftCausal: kernel(expShiftCausal),
  maxCausal: kernel(maxRowsCausal),
  div: kernel(divRows),
  sumExp: kernel(sumExpRows),
  logSum: kernel(logSumRows),
  sub: kernel(subRows),
  dot: kernel(dotRows),
  softmaxBwd: kernel(softmaxBackward_),
  logSoftmaxBwd: kernel(logSoftmaxBackward_),
  nll: kernel(nllRows),
  nllBwd: kernel(nllBackward_),
};

/** Run `lastDim` over the last dim, moving `dim` there and back when needed. */
function alongDim(op: string, x: Tensor, dim: number, lastDim: (x: Tensor) => Tensor): Tensor {
  const d = normDim(op, dim, x.ndim);
  if (d === x.ndim - 1) return lastDim(x);
  return lastDim(x.transpose(d, -1)).transpose(d, -1);
}

/** Rows of the last dim: [rows] values from a kernel run over rows. */
function perRow(x: Tensor, rows: number, spec: ReturnType<typeof kernel>, args: (Tensor | number)[]): Tensor {
  return new Tensor(runKernel(x.device, spec, rows, args), [rows], x.device);
}

function lastDimSize(op: string, x: Tensor): number {
  const R = x.shape[x.ndim - 1];
  if (R === 0) throw new Error(`${op}: the softmax dim is empty (shape ${shapeStr(x.shape)})`);
  return R;
}

/** dx = y * (g - sum(g * y)) over the last dim. */
function softmaxGrad(g: Tensor, y: Tensor): Tensor {
  return fusedBackward(
    () => {
      const R = y.shape[y.ndim - 1];
      const d = perRow(y, y.numel / R, K.dot, [g, y, R]);
      return new Tensor(runKernel(y.device, K.softmaxBwd, y.numel, [g, y, d, R]), y.shape, y.device);
    },
    () => y.mul(g.sub(g.mul(y).sum(-1, true))),
  );
}

/** exp(x) / sum(exp(x)) along dim. */
export function softmax(x: Tensor, dim = -1): Tensor {
  if (x.ndim === 0) throw new Error('softmax: needs at least 1 dim');
  return alongDim('softmax', x, dim, (v) => {
    const R = lastDimSize('softmax', v);
    const rows = v.numel / R;
    const e = new Tensor(runKernel(v.device, K.expShift, v.numel, [v, reduceRows(v, rows, R, 'max'), R]), v.shape, v.device);
    const y = new Tensor(runKernel(v.device, K.div, v.numel, [e, reduceRows(e, rows, R, 'sum'), R]), v.shape, v.device);
    return record(y, 'softmax', [v], (g) => [softmaxGrad(g, y)]);
  });
}

/**
 * Softmax over the last dim of scores [..., Tq, Tk] in which query i sees only keys j <= i + offset (a
 * decoder's causal mask; offset = Tk - Tq when the queries are the last Tq positions). Masked entries are
 * exactly 0. Same as `x.maskedFill(mask, -Infinity).softmax(-1)`, in fewer passes.
 * @example
 * const p = causalSoftmax(q.matmul(k, { transB: true }), 0); // [B, H, T, T]
 */
export function causalSoftmax(x: Tensor, offset?: number): Tensor {
  if (x.ndim < 2) throw new Error(`causalSoftmax: needs scores [..., Tq, Tk], got ${shapeStr(x.shape)}`);
  const [Tq, Tk] = x.shape.slice(-2);
  const off = offset ?? Tk - Tq;
  if (!Number.isInteger(off) || off < 0) {
    throw new Error(`causalSoftmax: offset must be an integer >= 0 (query 0 must see key 0), got ${off} for scores ${shapeStr(x.shape)}`);
  }
  const R = lastDimSize('causalSoftmax', x);
  const rows = x.numel / R;
  const m = perRow(x, rows, K.maxCausal, [x, R, Tq, off]);
  const e = new Tensor(runKernel(x.device, K.expShiftCausal, x.numel, [x, m, R, Tq, off]), x.shape, x.device);
  const y = new Tensor(runKernel(x.device, K.div, x.numel, [e, reduceRows(e, rows, R, 'sum'), R]), x.shape, x.device);
  return record(y, 'causalSoftmax', [x], (g) => [softmaxGrad(g, y)]);
}

/** logsumexp of each row of the last dim: [rows]. */
function rowLogSumExp(v: Tensor, rows: number, R: number): Tensor {
  const m = reduceRows(v, rows, R, 'max');
  return perRow(v, rows, K.logSum, [m, perRow(v, rows, K.sumExp, [v, m, R])]);
}

/** x - logsumexp(x) along dim. */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  if (x.ndim === 0) throw new Error('logSoftmax: needs at least 1 dim');
  return alongDim('logSoftmax', x, dim, (v) => {
    const R = lastDimSize('logSoftmax', v);
    const rows = v.numel / R;
    const y = new Tensor(runKernel(v.device, K.sub, v.numel, [v, rowLogSumExp(v, rows, R), R]), v.shape, v.device);
    return record(y, 'logSoftmax', [v], (g) => [
      fusedBackward(
        () => new Tensor(runKernel(v.device, K.logSoftmaxBwd, v.numel, [g, y, reduceRows(g, rows, R, 'sum'), R]), v.shape, v.device),
        () => g.sub(y.exp().mul(g.sum(-1, true))),
      ),
    ]);
  });
}

/**
 * Negative log-likelihood of each row's target class: nll[r] = logsumexp(x[r]) - x[r, t[r]] for logits
 * [N, C] and int32 targets [N] (all in range). No [N, C] log-probabilities are materialised.
 */
function nllFromLogits(x: Tensor, t: Tensor, check: void | Promise<void>): Tensor {
  const [N, C] = x.shape;
  const m = reduceRows(x, N, C, 'max');
  const e = new Tensor(runKernel(x.device, K.expShift, N * C, [x, m, C]), x.shape, x.device); // the one exp pass
  const s = reduceRows(e, N, C, 'sum');
  const lse = perRow(x, N, K.logSum, [m, s]);
  const y = new Tensor(after(check, () => runKernel(x.device, K.nll, N, [x, lse, t, C])), [N], x.device);
  return record(y, 'nllFromLogits', [x], (g) => [
    fusedBackward(
      () => new Tensor(runKernel(x.device, K.nllBwd, N * C, [e, s, t, g, C]), x.shape, x.device),
      () => x.softmax(-1).sub(oneHot(t, C)).mul(g.reshape([N, 1])),
    ),
  ], [e, s]);
}

export interface CrossEntropyOpts {
  /** Targets equal to this are skipped (PyTorch's ignore_index). */
  ignoreIndex?: number;
  /** One weight per target position (same shape as targets). */
  weights?: Tensor;
  /** 'mean' (weighted: sum w*ce / sum w over kept positions), 'sum', or 'none' (per position). */
  reduction?: 'mean' | 'sum' | 'none';
}

function safeTarget_(this: KernelThis, t: Float32Array, ignore: number): number {
  const v = t[this.thread.x];
  return v === ignore ? 0 : v;
}
function keepMask_(this: KernelThis, t: Float32Array, ignore: number): number {
  return t[this.thread.x] === ignore ? 0 : 1;
}
const safeTargetKernel = kernel(safeTarget_);
const keepMaskKernel = kernel(keepMask_);

/**
 * Cross-entropy between logits [..., C] and int32 class targets [...].
 * @example
 * const loss = crossEntropy(logits, targets, { ignoreIndex: -100 }); // mean over kept positions
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOpts = {}): Tensor {
  checkIndexDtype('crossEntropy', targets);
  const C = logits.shape[logits.ndim - 1];
  const lead = logits.shape.slice(0, -1);
  if (logits.ndim < 1 || targets.ndim !== lead.length || targets.shape.some((s, i) => s !== lead[i])) {
    throw new Error(`crossEntropy: logits ${shapeStr(logits.shape)} need targets of shape ${shapeStr(lead)}, got ${shapeStr(targets.shape)}`);
  }
  if (opts.weights && (opts.weights.shape.length !== targets.shape.length || opts.weights.shape.some((s, i) => s !== targets.shape[i]))) {
    throw new Error(`crossEntropy: weights ${shapeStr(opts.weights.shape)} must match targets ${shapeStr(targets.shape)}`);
  }
  const N = targets.numel;
  const x = logits.reshape([N, C]);
  let t = targets.reshape([N, 1]);
  let keep: Tensor | null = null;
  if (opts.ignoreIndex !== undefined) {
    const ig = opts.ignoreIndex;
    keep = new Tensor(runKernel(t.device, keepMaskKernel, N, [t, ig]), [N], t.device);
    t = new Tensor(runKernel(t.device, safeTargetKernel, N, [t, ig]), [N, 1], t.device, 'int32');
  }
  const inRange = checkIndexRange('crossEntropy', t, C, `classes (logits ${shapeStr(logits.shape)})`);
  let nll = nllFromLogits(x, t.reshape([N]), inRange);
  let w: Tensor | null = opts.weights ? opts.weights.reshape([N]) : null;
  if (keep) w = w ? w.mul(keep) : keep;
  if (w) nll = nll.mul(w);
  const reduction = opts.reduction ?? 'mean';
  if (reduction === 'none') return nll.reshape(targets.shape);
  if (reduction === 'sum') return nll.sum();
  if (reduction !== 'mean') throw new Error(`crossEntropy: reduction must be 'mean', 'sum' or 'none', got ${String(reduction)}`);
  return w ? nll.sum().div(w.sum()) : nll.mean();
}
