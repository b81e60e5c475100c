/**
 * softmax and logSoftmax (one row-statistics pass, then one apply kernel), and cross-entropy from logits.
 *
 * Backward rules, with y the output and g its gradient (sums over the softmax dim):
 *   softmax:     dx = y * (g - sum(g * y))
 *   logSoftmax:  dx = g - exp(y) * sum(g)
 */
import { record } from '../core/autograd.js';
import type { KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { normDim, shapeStr } from '../core/shape.js';
import { Tensor, runKernel } from '../core/tensor.js';
import { checkIndexDtype } from './common.js';
import { gather } from './indexing.js';
import { reduceRows } from './reduce.js';

// sum_j exp(x[row, j] - m[row]) over a row of length R
function sumExpRows(this: KernelThis, x: Float32Array, m: Float32Array, R: number): number {
  const start = this.thread.x * R;
  const mx = m[this.thread.x];
  let s = 0;
  for (let j = 0; j < R; j++) s += Math.exp(x[start + j] - mx);
  return s;
}
function softmaxApply(this: KernelThis, x: Float32Array, m: Float32Array, s: Float32Array, R: number): number {
  const row = Math.floor(this.thread.x / R);
  return Math.exp(x[this.thread.x] - m[row]) / s[row];
}
function logSoftmaxApply(this: KernelThis, x: Float32Array, m: Float32Array, s: Float32Array, R: number): number {
  const row = Math.floor(this.thread.x / R);
  return x[this.thread.x] - m[row] - Math.log(s[row]);
}
const sumExpK = kernel(sumExpRows);
const softmaxK = kernel(softmaxApply);
const logSoftmaxK = kernel(logSoftmaxApply);

/** Run `lastDim` over the last dim, moving `dim` there and back when needed. */
function alongDim(op: string, x: Tensor, dim: number, lastDim: (x: Tensor) => Tensor): Tensor {
  const d = normDim(op, dim, x.ndim);
  if (d === x.ndim - 1) return lastDim(x);
  return lastDim(x.transpose(d, -1)).transpose(d, -1);
}

function rowStats(x: Tensor) {
  const R = x.shape[x.ndim - 1];
  if (R === 0) throw new Error(`softmax: the softmax dim is empty (shape ${shapeStr(x.shape)})`);
  const rows = x.numel / R;
  const m = reduceRows(x, rows, R, 'max');
  const s = new Tensor(runKernel(x.device, sumExpK, rows, [x, m, R]), [rows], x.device);
  return { R, m, s };
}

/** exp(x) / sum(exp(x)) along dim. */
export function softmax(x: Tensor, dim = -1): Tensor {
  if (x.ndim === 0) throw new Error('softmax: needs at least 1 dim');
  return alongDim('softmax', x, dim, (v) => {
    const { R, m, s } = rowStats(v);
    const y = new Tensor(runKernel(v.device, softmaxK, v.numel, [v, m, s, R]), v.shape, v.device);
    return record(y, 'softmax', [v], (g) => [y.mul(g.sub(g.mul(y).sum(-1, true)))]);
  });
}

/** x - logsumexp(x) along dim. */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  if (x.ndim === 0) throw new Error('logSoftmax: needs at least 1 dim');
  return alongDim('logSoftmax', x, dim, (v) => {
    const { R, m, s } = rowStats(v);
    const y = new Tensor(runKernel(v.device, logSoftmaxK, v.numel, [v, m, s, R]), v.shape, v.device);
    return record(y, 'logSoftmax', [v], (g) => [g.sub(y.exp().mul(g.sum(-1, true)))]);
  });
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
const safeTargetK = kernel(safeTarget_);
const keepMaskK = kernel(keepMask_);

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
    keep = new Tensor(runKernel(t.device, keepMaskK, N, [t, ig]), [N], t.device);
    t = new Tensor(runKernel(t.device, safeTargetK, N, [t, ig]), [N, 1], t.device, 'int32');
  }
  let nll = gather(x.logSoftmax(-1), 1, t).reshape([N]).neg();
  let w: Tensor | null = opts.weights ? opts.weights.reshape([N]) : null;
  if (keep) w = w ? w.mul(keep) : keep;
  if (w) nll = nll.mul(w);
  const reduction = opts.reduction ?? 'mean';
  if (reduction === 'none') return nll.reshape(targets.shape);
  if (reduction === 'sum') return nll.sum();
  if (reduction !== 'mean') throw new Error(`crossEntropy: reduction must be 'mean', 'sum' or 'none', got ${String(reduction)}`);
  return w ? nll.sum().div(w.sum()) : nll.mean();
}
