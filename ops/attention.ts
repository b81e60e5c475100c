/**
 * Fused causal multi-head attention: the scores, the causal softmax and the weighted sum in one forward
 * kernel, and the whole backward in one more (plus a row dot), reading the heads straight out of the
 * projections' [B, T, H * D] layout, so no head split/merge copies and no [T, T] score matrix are stored.
 *
 *   s_ij = scale q_i . k_j            (per batch b and head h; q_i = q[b, i, h*D : (h+1)*D])
 *   p_ij = exp(s_ij - lse_i)          for keys j <= i + offset (query i sits at position i + offset), else 0
 *   y_i  = sum_j p_ij v_j              lse_i = log sum_j exp(s_ij): kept from the forward pass
 *
 * Backward (FlashAttention's rule; g = dL/dy):
 *   dp_ij = g_i . v_j,   delta_i = g_i . y_i (= sum_j p_ij dp_ij),   ds_ij = p_ij (dp_ij - delta_i)
 *   dq_i = scale sum_j ds_ij k_j,   dk_j = scale sum_i ds_ij q_i,   dv_j = sum_i p_ij g_i
 *
 * The same computation written with ops is `causalAttention` in nn/attention.ts (split heads, matmul,
 * causalSoftmax, matmul, merge heads); it is also this op's composed backward rule (grad of grad).
 * The kernels below run one thread per output value and recompute what they need (a score row costs
 * O(Tk D)); webasm overrides both with WebAssembly SIMD that walks each head once
 * (core/devices/webasm/attention-override.ts).
 */
import { fusedBackward, record } from '../core/autograd.js';
import type { KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { shapeStr } from '../core/shape.js';
import { runKernel, Tensor } from '../core/tensor.js';
import { splitOutput } from './common.js';
import { matmul } from './matmul.js';
import { causalSoftmax } from './softmax.js';

/**
 * Output [y (B Tq H Dv values, laid out [B, Tq, H, Dv]) | lse (B Tq H values, [B, Tq, H])]. A thread of
 * y sweeps its query's visible keys three times (max, sum, weighted sum); a thread of lse twice.
 */
function attnForward(
  this: KernelThis, q: Float32Array, k: Float32Array, v: Float32Array,
  B: number, Tq: number, Tk: number, H: number, D: number, Dv: number, offset: number, scale: number,
): number {
  // (gpu.js gives every variable of a kernel one scope: each name below is declared once)
  const t = this.thread.x;
  const ny = B * Tq * H * Dv;
  let row = t - ny; // (b Tq + i) H + h
  let e = 0;
  if (t < ny) {
    row = Math.floor(t / Dv);
    e = t - row * Dv;
  }
  const bi = Math.floor(row / H);
  const h = row - bi * H;
  const b = Math.floor(bi / Tq);
  const i = bi - b * Tq;
  const seen = Math.min(i + offset + 1, Tk);
  const qb = bi * H * D + h * D;
  const kb = b * Tk * H * D + h * D;
  let m = 0;
  for (let j = 0; j < seen; j++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += q[qb + d] * k[kb + j * H * D + d];
    s *= scale;
    if (j === 0 || s > m) m = s;
  }
  let l = 0;
  let acc = 0;
  for (let j2 = 0; j2 < seen; j2++) {
    let s2 = 0;
    for (let d2 = 0; d2 < D; d2++) s2 += q[qb + d2] * k[kb + j2 * H * D + d2];
    const p = Math.exp(s2 * scale - m);
    l += p;
    if (t < ny) acc += p * v[b * Tk * H * Dv + j2 * H * Dv + h * Dv + e];
  }
  if (t < ny) return acc / l;
  return m + Math.log(l);
}

/** delta[b, i, h] = g_i . y_i over the Dv values of a head: rows of Dv in [B, Tq, H, Dv]. */
function attnDelta(this: KernelThis, g: Float32Array, y: Float32Array, Dv: number): number {
  const start = this.thread.x * Dv;
  let s = 0;
  for (let e = 0; e < Dv; e++) s += g[start + e] * y[start + e];
  return s;
}

/**
 * Output [dq ([B, Tq, H, D]) | dk ([B, Tk, H, D]) | dv ([B, Tk, H, Dv])], one thread per value. A thread of
 * dq sweeps its query's visible keys; a thread of dk or dv sweeps the queries that see its key.
 */
function attnBackward(
  this: KernelThis, q: Float32Array, k: Float32Array, v: Float32Array, g: Float32Array, lse: Float32Array, delta: Float32Array,
  B: number, Tq: number, Tk: number, H: number, D: number, Dv: number, offset: number, scale: number,
): number {
  const t = this.thread.x;
  const nq = B * Tq * H * D;
  const nk = B * Tk * H * D;
  let acc = 0;
  if (t < nq) {
    // dq[b, i, h, d] = scale sum_j p_ij (dp_ij - delta_i) k_jd
    const qrow = Math.floor(t / D);
    const qd = t - qrow * D;
    const bi = Math.floor(qrow / H);
    const qh = qrow - bi * H;
    const qbat = Math.floor(bi / Tq);
    const seen = Math.min(bi - qbat * Tq + offset + 1, Tk);
    for (let j = 0; j < seen; j++) {
      const krow = (qbat * Tk + j) * H + qh;
      let s = 0;
      for (let c = 0; c < D; c++) s += q[qrow * D + c] * k[krow * D + c];
      let dp = 0;
      for (let c2 = 0; c2 < Dv; c2++) dp += g[qrow * Dv + c2] * v[krow * Dv + c2];
      acc += Math.exp(s * scale - lse[qrow]) * (dp - delta[qrow]) * k[krow * D + qd];
    }
    return acc * scale;
  }
  // dk[b, j, h, d] = scale sum_i ds_ij q_id, dv[b, j, h, e] = sum_i p_ij g_ie, over queries i >= j - offset
  let u = t - nq;
  let width = D;
  if (t >= nq + nk) {
    u = t - nq - nk;
    width = Dv;
  }
  const row = Math.floor(u / width);
  const x = u - row * width;
  const bj = Math.floor(row / H);
  const h = row - bj * H;
  const b = Math.floor(bj / Tk);
  const first = Math.max(bj - b * Tk - offset, 0);
  for (let i = 0; i < Tq; i++) {
    if (i >= first) {
      const qrow2 = (b * Tq + i) * H + h;
      let s2 = 0;
      for (let c3 = 0; c3 < D; c3++) s2 += q[qrow2 * D + c3] * k[row * D + c3];
      const p = Math.exp(s2 * scale - lse[qrow2]);
      if (t < nq + nk) {
        let dp2 = 0;
        for (let c4 = 0; c4 < Dv; c4++) dp2 += g[qrow2 * Dv + c4] * v[row * Dv + c4];
        acc += p * (dp2 - delta[qrow2]) * q[qrow2 * D + x];
      } else {
        acc += p * g[qrow2 * Dv + x];
      }
    }
  }
  if (t < nq + nk) return acc * scale;
  return acc;
}

const K = {
  forward: kernel(attnForward),
  delta: kernel(attnDelta),
  backward: kernel(attnBackward),
};

export interface FusedAttentionOpts {
  /** Number of heads H: q and k hold H heads of D = q.shape[2] / H values, v H heads of v.shape[2] / H. */
  heads: number;
  /** Position of query 0 minus that of key 0 (default Tk - Tq: the queries are the last Tq positions). */
  offset?: number;
  /** Multiplies q . k (default 1 / sqrt(D)). */
  scale?: number;
}

/**
 * Causal multi-head attention of q [B, Tq, H D], k [B, Tk, H D], v [B, Tk, H Dv] (heads side by side in
 * the last dim, as q/k/v projections make them) -> [B, Tq, H Dv]: for each head, softmax over the keys
 * each query may see (key j <= i + offset) of scale q_i . k_j, times v. Equals
 * `mergeHeads(causalAttention(splitHeads(q, H), splitHeads(k, H), splitHeads(v, H), { offset, scale }))`.
 * @example
 * const y = fusedAttention(q, k, v, { heads: 4 }); // q, k, v [B, T, 64] -> [B, T, 64], 4 heads of 16
 */
export function fusedAttention(q: Tensor, k: Tensor, v: Tensor, opts: FusedAttentionOpts): Tensor {
  const what = `q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}`;
  if (![q, k, v].every((t) => t instanceof Tensor && t.ndim === 3)) throw new Error(`fusedAttention: q, k and v must be [B, T, H * D] tensors, got ${what}`);
  if (k.device !== q.device || v.device !== q.device) throw new Error(`fusedAttention: q, k and v are on ${q.device.name}, ${k.device.name}, ${v.device.name}; move them to one device with .to()`);
  const H = opts.heads;
  const [B, Tq, HD] = q.shape;
  const [, Tk, HDv] = v.shape;
  if (!Number.isInteger(H) || H < 1 || HD % H !== 0 || HDv % H !== 0) throw new Error(`fusedAttention: heads must be a whole number >= 1 dividing the last dims of q and v, got heads ${H} for ${what}`);
  if (k.shape[0] !== B || v.shape[0] !== B || k.shape[2] !== HD || k.shape[1] !== Tk) throw new Error(`fusedAttention: need q [B, Tq, H D], k [B, Tk, H D] and v [B, Tk, H Dv], got ${what}`);
  const D = HD / H;
  const Dv = HDv / H;
  const offset = opts.offset ?? Tk - Tq;
  if (!Number.isInteger(offset) || offset < 0 || offset + Tq > Tk) {
    throw new Error(`fusedAttention: queries at positions ${offset}..${offset + Tq - 1} need keys up to there, got ${Tk} keys (${what}); offset must be a whole number in 0..Tk - Tq`);
  }
  if (D === 0 || Tq === 0) throw new Error(`fusedAttention: empty heads or queries (${what})`);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new Error(`fusedAttention: scale must be a finite number, got ${scale}`);
  const dev = q.device;
  const dims = [B, Tq, Tk, H, D, Dv, offset, scale];
  const out = runKernel(dev, K.forward, B * Tq * H * (Dv + 1), [q, k, v, ...dims]);
  const [y, lse] = splitOutput(out, [[B, Tq, HDv], [B, Tq, H]], dev);
  return record(y, 'fusedAttention', [q, k, v], (g) =>
    fusedBackward(
      () => {
        const delta = new Tensor(runKernel(dev, K.delta, B * Tq * H, [g, y, Dv]), [B, Tq, H], dev);
        const grads = runKernel(dev, K.backward, B * Tq * H * D + B * Tk * H * (D + Dv), [q, k, v, g, lse, delta, ...dims]);
        return splitOutput(grads, [[B, Tq, HD], [B, Tk, HD], [B, Tk, HDv]], dev);
      },
      () => composedBackward(g, q, k, v, H, offset, scale),
    ),
    [lse],
  );
}

/** [B, T, H * D] -> [B, H, T, D] (the heads as a batch dim; nn/attention.ts re-exports it). */
export function splitHeads(x: Tensor, nHeads: number): Tensor {
  const [B, T, D] = x.shape;
  if (x.ndim !== 3 || D % nHeads !== 0) throw new Error(`splitHeads: need [B, T, d] with d divisible by ${nHeads} heads, got ${shapeStr(x.shape)}`);
  return x.reshape([B, T, nHeads, D / nHeads]).permute([0, 2, 1, 3]);
}

/** [B, H, T, D] -> [B, T, H * D]. */
export function mergeHeads(x: Tensor): Tensor {
  const [B, H, T, dk] = x.shape;
  return x.permute([0, 2, 1, 3]).reshape([B, T, H * dk]);
}

/** The backward rule with ops (differentiable again), recomputing p from q and k. */
function composedBackward(g: Tensor, q: Tensor, k: Tensor, v: Tensor, H: number, offset: number, scale: number): Tensor[] {
  const [qh, kh, vh, gh] = [splitHeads(q, H), splitHeads(k, H), splitHeads(v, H), splitHeads(g, H)];
  const p = causalSoftmax(matmul(qh, kh, { transB: true }).mul(scale), offset); // [B, H, Tq, Tk]
  const dp = matmul(gh, vh, { transB: true });
  const ds = p.mul(dp.sub(dp.mul(p).sum(-1, true))).mul(scale);
  return [mergeHeads(matmul(ds, kh)), mergeHeads(matmul(ds, qh, { transA: true })), mergeHeads(matmul(p, gh, { transA: true }))];
}
