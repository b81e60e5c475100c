/**
 * VQ-Logits ops: moving between K code slots and V tokens through a fixed map M (token i -> code M[i]).
 *
 *   gatherByMap(x [..., K], M)        -> [..., V]   y[r, i] = x[r, M[i]]                 (codes -> tokens)
 *   scatterAddByMap(g [..., V], M, K) -> [..., K]   y[r, j] = sum over {i : M[i] = j} of g[r, i]
 *   clusterLogsumexp(b [V], M, K)     -> [K]        y[j] = log sum over {i : M[i] = j} of exp(b[i])
 *   lookupIds(table, ids)             -> int32      y = table[ids]       (no gradient: ids -> codes)
 *
 * gatherByMap and scatterAddByMap are each other's adjoint (the backward of one is the other). gpu.js
 * cannot scatter, so both scatter-shaped kernels read groups made on the host: a counting sort of M
 * (offsets[j]..offsets[j+1] index into perm, the tokens of code j), computed once per map and cached.
 *
 * `vqCrossEntropy` is the exact fast loss of a codebook head (see papers.md section 2): with
 * B_j = log sum_{i in code j} exp(b_i) (log n_j when there is no bias),
 *   -log p(y) = logsumexp_j (L_c[j] + B_j) - L_c[M(y)] - b_y
 * which costs O(K) per position and O(V) per step, and equals cross-entropy over the V logits
 * L_c[M(i)] + b_i (`vqNaiveCrossEntropy`, O(V) per position) in value and gradients.
 */
import { record } from '../core/autograd.js';
import type { Data } from '../core/device.js';
import type { KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { shapeStr } from '../core/shape.js';
import { Tensor, runKernel, withData } from '../core/tensor.js';
import { checkIndexDtype } from './common.js';
import { gather, indexSelect } from './indexing.js';
import { logsumexp } from './reduce.js';
import { crossEntropy, type CrossEntropyOpts } from './softmax.js';

// ---- grouping a map by code (host, cached per map storage) --------------------------------------------------

interface Groups {
  /** offsets[j]..offsets[j+1] index into perm: the tokens of code j. */
  offsets: Data;
  perm: Data;
  /** Tokens per code. */
  sizes: number[];
}
const groupCache = new WeakMap<object, Map<number, Groups>>();

/** Check a map against K (integers in [0, K)) and group its tokens by code; throws naming `op`. */
function groupsOf(op: string, map: Tensor, K: number): Groups | Promise<Groups> {
  checkIndexDtype(op, map);
  if (map.ndim !== 1) throw new Error(`${op}: the map must be 1-D [V] (one code per token), got shape ${shapeStr(map.shape)}`);
  if (!Number.isInteger(K) || K < 1) throw new Error(`${op}: the number of codes K must be a positive integer, got ${K}`);
  return withData(map, (ids) => {
    let byK = groupCache.get(ids);
    const hit = byK?.get(K);
    if (hit) return hit;
    const sizes = new Array<number>(K).fill(0);
    for (let i = 0; i < ids.length; i++) {
      const c = ids[i];
      if (!(c >= 0 && c < K) || c !== Math.floor(c)) {
        throw new Error(`${op}: token ${i} maps to code ${c}, out of range for K = ${K} codes (valid: 0..${K - 1})`);
      }
      sizes[c]++;
    }
    const offsets = new Array<number>(K + 1).fill(0);
    for (let j = 0; j < K; j++) offsets[j + 1] = offsets[j] + sizes[j];
    const fill = offsets.slice(0, K);
    const perm = new Array<number>(ids.length);
    for (let i = 0; i < ids.length; i++) perm[fill[ids[i]]++] = i;
    const dev = map.device;
    const g: Groups = { offsets: dev.fromValues(offsets), perm: dev.fromValues(perm.length ? perm : [0]), sizes };
    if (!byK) groupCache.set(ids, (byK = new Map()));
    byK.set(K, g);
    return g;
  });
}

/** Tokens per code (n_j) of a map; throws on codes outside [0, K). Values must be on the host (CPU devices). */
export async function codeSizes(map: Tensor, K: number): Promise<number[]> {
  return (await groupsOf('codeSizes', map, K)).sizes;
}

function thenRun<T>(g: T | Promise<T>, run: (g: T) => Data | Promise<Data>): Data | Promise<Data> {
  return g instanceof Promise ? g.then(run) : run(g);
}

// ---- gatherByMap / scatterAddByMap --------------------------------------------------------------------------

function gatherByMap_(this: KernelThis, x: Float32Array, map: Float32Array, V: number, K: number): number {
  const r = Math.floor(this.thread.x / V);
  const i = this.thread.x - r * V;
  return x[r * K + map[i]];
}
const gatherByMapKernel = kernel(gatherByMap_);

/**
 * Token logits from code logits: y[..., i] = x[..., map[i]] (x [..., K], map int32 [V] -> [..., V]).
 * @example
 * const Lv = gatherByMap(Lc, map); // [N, K] -> [N, V]
 */
export function gatherByMap(x: Tensor, map: Tensor): Tensor {
  if (x.ndim < 1) throw new Error(`gatherByMap: x must have a last dim of K codes, got shape ${shapeStr(x.shape)}`);
  const K = x.shape[x.ndim - 1];
  const V = map.numel;
  const groups = groupsOf('gatherByMap', map, K); // validates the map (cached)
  const data = thenRun(groups, () => runKernel(x.device, gatherByMapKernel, (x.numel / K) * V, [x, map, V, K]));
  const y = new Tensor(data, [...x.shape.slice(0, -1), V], x.device);
  return record(y, 'gatherByMap', [x], (g) => [scatterAddByMap(g, map, K)]);
}

function scatterAddByMap_(this: KernelThis, src: Float32Array, offsets: Float32Array, perm: Float32Array, V: number, K: number): number {
  const r = Math.floor(this.thread.x / K);
  const j = this.thread.x - r * K;
  const start = offsets[j];
  const end = offsets[j + 1];
  const base = r * V;
  let s = 0;
  // counted from 0: WGSL only increments integer loop variables
  for (let p = 0; p < end - start; p++) s += src[base + perm[start + p]];
  return s;
}
const scatterAddByMapKernel = kernel(scatterAddByMap_);

/**
 * Sum token values into their codes: y[..., j] = sum of src[..., i] over tokens i with map[i] = j
 * (src [..., V] -> [..., K]); the adjoint of gatherByMap, i.e. the codebook's gradient path.
 */
export function scatterAddByMap(src: Tensor, map: Tensor, K: number): Tensor {
  const V = map.numel;
  if (src.ndim < 1 || src.shape[src.ndim - 1] !== V) {
    throw new Error(`scatterAddByMap: src ${shapeStr(src.shape)} must end in V = ${V} (the map's length)`);
  }
  const groups = groupsOf('scatterAddByMap', map, K);
  const data = thenRun(groups, (g) => runKernel(src.device, scatterAddByMapKernel, (src.numel / V) * K, [src, g.offsets, g.perm, V, K]));
  const y = new Tensor(data, [...src.shape.slice(0, -1), K], src.device);
  return record(y, 'scatterAddByMap', [src], (g) => [gatherByMap(g, map)]);
}

// ---- clusterLogsumexp ---------------------------------------------------------------------------------------

/** What an empty code gets: exp(-1e30) is 0, and unlike -Infinity it keeps later sums free of NaN. */
export const EMPTY_CODE_LOG_MASS = -1e30;

function clusterLogsumexp_(this: KernelThis, b: Float32Array, offsets: Float32Array, perm: Float32Array): number {
  const start = offsets[this.thread.x];
  const end = offsets[this.thread.x + 1];
  let m = -1e30;
  for (let p = 0; p < end - start; p++) m = Math.max(m, b[perm[start + p]]);
  let s = 0;
  for (let q = 0; q < end - start; q++) s += Math.exp(b[perm[start + q]] - m);
  let out = -1e30;
  if (end > start) out = m + Math.log(s);
  return out;
}
const clusterLogsumexpKernel = kernel(clusterLogsumexp_);

/**
 * Per-code log-sum-exp of per-token values: y[j] = log sum_{i: map[i] = j} exp(b[i]) (b [V] -> [K]), each
 * code's own max subtracted first. An empty code gets EMPTY_CODE_LOG_MASS. Backward: db_i = g[M(i)] *
 * exp(b_i - y[M(i)]), the softmax of b inside its code.
 */
export function clusterLogsumexp(b: Tensor, map: Tensor, K: number): Tensor {
  if (b.ndim !== 1 || b.numel !== map.numel) {
    throw new Error(`clusterLogsumexp: b ${shapeStr(b.shape)} must be 1-D with one value per token of the map ${shapeStr(map.shape)}`);
  }
  const groups = groupsOf('clusterLogsumexp', map, K);
  const data = thenRun(groups, (g) => runKernel(b.device, clusterLogsumexpKernel, K, [b, g.offsets, g.perm]));
  const y = new Tensor(data, [K], b.device);
  return record(y, 'clusterLogsumexp', [b], (g, out) => [gatherByMap(g, map).mul(b.sub(gatherByMap(out, map)).exp())]);
}

/** log n_j for every code (the faithful head's B): a constant tensor on the map's device. */
export function logCodeSizes(map: Tensor, K: number): Tensor {
  const groups = groupsOf('logCodeSizes', map, K);
  const make = (g: Groups) => map.device.fromValues(g.sizes.map((n) => (n > 0 ? Math.log(n) : EMPTY_CODE_LOG_MASS)));
  return new Tensor(groups instanceof Promise ? groups.then(make) : make(groups), [K], map.device);
}

// ---- lookupIds (no gradient) --------------------------------------------------------------------------------

function lookupIds_(this: KernelThis, table: Float32Array, ids: Float32Array, ignore: number): number {
  const v = ids[this.thread.x];
  let out = 0;
  if (v !== ignore) out = table[v];
  return out;
}
const lookupIdsKernel = kernel(lookupIds_);

/**
 * table[ids] as int32 (e.g. each target's code M(y)); ids equal to `ignore` give 0. No gradient.
 * @example lookupIds(map, targets) // int32, the shape of targets
 */
export function lookupIds(table: Tensor, ids: Tensor, ignore = -(2 ** 31)): Tensor {
  checkIndexDtype('lookupIds', table);
  checkIndexDtype('lookupIds', ids);
  if (table.ndim !== 1) throw new Error(`lookupIds: table must be 1-D, got ${shapeStr(table.shape)}`);
  const check = withData(ids, (d) => {
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (v !== ignore && !(v >= 0 && v < table.numel && v === Math.floor(v))) {
        throw new Error(`lookupIds: id ${v} at position ${i} is out of range for a table of ${table.numel} entries (valid: 0..${table.numel - 1})`);
      }
    }
  });
  const run = () => runKernel(ids.device, lookupIdsKernel, ids.numel, [table, ids, ignore]);
  return new Tensor(check instanceof Promise ? check.then(run) : run(), ids.shape, ids.device, 'int32');
}

// ---- the losses ---------------------------------------------------------------------------------------------

export interface VQLossOpts extends CrossEntropyOpts {
  /** Per-token bias b [V] (the improved head); absent for the faithful head. */
  bias?: Tensor | null;
}

/** Shared argument checks; returns [N, K] code logits and [N] targets. */
function flatten2(op: string, codeLogits: Tensor, targets: Tensor, map: Tensor, bias: Tensor | null | undefined): { x: Tensor; t: Tensor; N: number; K: number } {
  checkIndexDtype(op, targets);
  const lead = codeLogits.shape.slice(0, -1);
  if (codeLogits.ndim < 1 || targets.ndim !== lead.length || targets.shape.some((s, i) => s !== lead[i])) {
    throw new Error(`${op}: code logits ${shapeStr(codeLogits.shape)} need targets of shape ${shapeStr(lead)}, got ${shapeStr(targets.shape)}`);
  }
  if (bias && (bias.ndim !== 1 || bias.numel !== map.numel)) {
    throw new Error(`${op}: bias ${shapeStr(bias.shape)} must be [V] = [${map.numel}] (one value per token of the map)`);
  }
  const K = codeLogits.shape[codeLogits.ndim - 1];
  const N = targets.numel;
  return { x: codeLogits.reshape([N, K]), t: targets.reshape([N]), N, K };
}

function safeIds_(this: KernelThis, t: Float32Array, ignore: number): number {
  const v = t[this.thread.x];
  return v === ignore ? 0 : v;
}
const safeIdsKernel = kernel(safeIds_);

/**
 * Exact cross-entropy over V tokens from K code logits in O(K) per position (see the module comment).
 * Options as crossEntropy (ignoreIndex, weights, reduction) plus `bias`.
 * @example
 * const loss = vqCrossEntropy(Lc, targets, map, { bias: b }); // == vqNaiveCrossEntropy(Lc, targets, map, { bias: b })
 */
export function vqCrossEntropy(codeLogits: Tensor, targets: Tensor, map: Tensor, opts: VQLossOpts = {}): Tensor {
  const { x, t: t0, N, K } = flatten2('vqCrossEntropy', codeLogits, targets, map, opts.bias);
  if (opts.weights && (opts.weights.shape.length !== targets.shape.length || opts.weights.shape.some((s, i) => s !== targets.shape[i]))) {
    throw new Error(`vqCrossEntropy: weights ${shapeStr(opts.weights.shape)} must match targets ${shapeStr(targets.shape)}`);
  }
  let t = t0;
  let keep: Tensor | null = null;
  if (opts.ignoreIndex !== undefined) {
    keep = t.ne(opts.ignoreIndex);
    t = new Tensor(runKernel(t.device, safeIdsKernel, N, [t, opts.ignoreIndex]), [N], t.device, 'int32');
  }
  const bias = opts.bias ?? null;
  const logMass = bias ? clusterLogsumexp(bias, map, K) : logCodeSizes(map, K); // B [K]
  const lse = logsumexp(x.add(logMass), -1); // [N]
  const codes = lookupIds(map, t).reshape([N, 1]);
  let target = gather(x, 1, codes).reshape([N]); // L_c[M(y)]
  if (bias) target = target.add(indexSelect(bias, 0, t)); // + b_y
  let nll = lse.sub(target);
  let w: Tensor | null = opts.weights ? opts.weights.reshape([N]) : null;
  if (keep) w = w ? w.mul(keep) : keep;
  if (w) nll = nll.mul(w);
  const reduction = opts.reduction ?? 'mean';
  if (reduction === 'none') return nll.reshape(targets.shape);
  if (reduction === 'sum') return nll.sum();
  if (reduction !== 'mean') throw new Error(`vqCrossEntropy: reduction must be 'mean', 'sum' or 'none', got ${String(reduction)}`);
  return w ? nll.sum().div(w.sum()) : nll.mean();
}

/** The V logits of a codebook head: L_v[..., i] = L_c[..., M(i)] (+ b_i). */
export function vqTokenLogits(codeLogits: Tensor, map: Tensor, bias?: Tensor | null): Tensor {
  const Lv = gatherByMap(codeLogits, map);
  return bias ? Lv.add(bias) : Lv;
}

/** The paper's path: expand to V logits, then ordinary cross-entropy (O(V) per position). */
export function vqNaiveCrossEntropy(codeLogits: Tensor, targets: Tensor, map: Tensor, opts: VQLossOpts = {}): Tensor {
  flatten2('vqNaiveCrossEntropy', codeLogits, targets, map, opts.bias);
  const { bias, ...ce } = opts;
  return crossEntropy(vqTokenLogits(codeLogits, map, bias), targets, ce);
}
