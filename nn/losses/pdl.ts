/**
 * Power-Law Decay Loss (PDL): cross-entropy in which each target token is weighted by a power-law decay of
 * its frequency (weights from ./frequencies.ts):
 *
 *   L = sum_k w(y_k) CE_k / sum_k w(y_k)      over the kept (non-ignored) positions k   ('weightedMean')
 *
 * as the official code reduces it; 'sum' gives sum_k w(y_k) CE_k. The weights are constants: they are
 * gathered per position on the host (a table lookup over B*T ids) and handed to the fused cross-entropy
 * (ops/softmax.ts), so the gradient is w_k (softmax - onehot) / sum w, with no kernel of its own.
 *
 * Safety: when every weight is 1 (alpha = 0) the call IS crossEntropy (same kernels, same bits). Each batch
 * is also checked on the host: when one token carries more than `dominance` (default half) of the batch's
 * weight while holding fewer of its positions, a warning names that token (the unseen-token trap).
 */
import { Tensor } from '../../core/tensor.js';
import { shapeStr } from '../../core/shape.js';
import { crossEntropy } from '../../ops/index.js';
import type { LossFn } from '../loss.js';
import { nameIds, type PowerLawWeights } from './frequencies.js';

export interface PdlLossOpts {
  /** Targets equal to this are skipped. */
  ignoreIndex?: number;
  /** 'weightedMean' (default): sum w CE / sum w over kept positions; 'sum': sum w CE; 'none': w CE per position. */
  reduction?: 'weightedMean' | 'sum' | 'none';
  /** Extra per-position multipliers, same shape as targets (e.g. a padding mask). */
  positionWeights?: Tensor;
  /** Warn when one token holds more than this share of a batch's weight (default 0.5; 1 = never). */
  dominance?: number;
  /** Names ids in warnings (e.g. `(id) => vocab.wordOf(id)`). */
  names?: (id: number) => string;
  /** Receives dominance warnings (default: console.warn, once per token per process; false = silent). */
  onWarning?: ((w: DominanceWarning) => void) | false;
  /** Receives each batch's weight statistics. */
  onBatch?: (s: PdlBatchStats) => void;
}

/** A batch in which few positions carry most of the loss weight. */
export interface DominanceWarning {
  message: string;
  /** The dominating tokens, largest share first. */
  tokens: { id: number; name?: string; weight: number; share: number; positions: number }[];
  /** Kept positions in the batch. */
  positions: number;
}

/** How the weight of one batch is spread over its kept positions. */
export interface PdlBatchStats {
  positions: number;
  totalWeight: number;
  /** The largest share of the total weight held by one token id, and that id. */
  maxShare: number;
  maxShareToken: number;
  /** Effective sample size (sum w)^2 / sum w^2 divided by positions: 1 = uniform, 1/positions = one position. */
  essFraction: number;
}

const warnedTokens = new Set<number>();

function defaultWarn(w: DominanceWarning): void {
  const fresh = w.tokens.filter((t) => !warnedTokens.has(t.id));
  if (fresh.length === 0) return;
  fresh.forEach((t) => warnedTokens.add(t.id));
  console.warn(`${w.message} (each token is reported once per process)`);
}

function weightTable(weights: PowerLawWeights | ArrayLike<number>): ArrayLike<number> {
  return 'weights' in weights && ArrayBuffer.isView(weights.weights) ? weights.weights : (weights as ArrayLike<number>);
}

/** Run `fn` on the values of tensors now when they are ready, else when they arrive. */
function whenReady<T>(ts: Tensor[], fn: (ds: ArrayLike<number>[]) => T): T | Promise<T> {
  if (ts.every((t) => !(t._data instanceof Promise))) return fn(ts.map((t) => t._data as ArrayLike<number>));
  return Promise.all(ts.map((t) => t._data)).then(fn);
}

/**
 * Per-position weights w[y_k] * positionWeight_k (0 at ignored positions), with the batch's statistics and
 * the dominance check.
 */
function positionWeights(w: ArrayLike<number>, y: ArrayLike<number>, pw: ArrayLike<number> | undefined, opts: PdlLossOpts): Float64Array {
  const V = w.length;
  const out = new Float64Array(y.length);
  const perToken = new Map<number, { weight: number; positions: number }>();
  let total = 0;
  let sq = 0;
  let kept = 0;
  for (let k = 0; k < y.length; k++) {
    const id = y[k];
    if (id === opts.ignoreIndex) continue;
    if (!(Number.isInteger(id) && id >= 0 && id < V)) {
      throw new Error(`powerLawDecayLoss: target ${id} at position ${k} is out of range for ${V} weights (valid ids: 0..${V - 1}); set ignoreIndex for padding`);
    }
    const v = w[id] * (pw ? pw[k] : 1);
    out[k] = v;
    if (v === 0) continue;
    kept++;
    total += v;
    sq += v * v;
    const t = perToken.get(id) ?? { weight: 0, positions: 0 };
    t.weight += v;
    t.positions++;
    perToken.set(id, t);
  }
  let maxShare = 0;
  let maxShareToken = -1;
  for (const [id, t] of perToken) {
    if (t.weight > maxShare * total) [maxShare, maxShareToken] = [t.weight / total, id];
  }
  opts.onBatch?.({ positions: kept, totalWeight: total, maxShare, maxShareToken, essFraction: kept ? (total * total) / sq / kept : 0 });
  const dominance = opts.dominance ?? 0.5;
  const warn = opts.onWarning === undefined ? defaultWarn : opts.onWarning;
  if (warn && total > 0) {
    const tokens = [...perToken.entries()]
      .filter(([, t]) => t.weight > dominance * total && t.positions < dominance * kept)
      .sort((a, b) => b[1].weight - a[1].weight)
      .map(([id, t]) => ({ id, ...(opts.names ? { name: opts.names(id) } : {}), weight: w[id], share: t.weight / total, positions: t.positions }));
    if (tokens.length > 0) {
      const what = tokens.map((t) => `${nameIds([t.id], opts.names)} holds ${(t.share * 100).toFixed(1)}% of the weight with ${t.positions} of ${kept} positions (weight ${t.weight.toPrecision(3)})`);
      warn({
        message: `powerLawDecayLoss: token ${what.join('; ')}, so its gradient dominates the batch. If the weight comes from a zero or tiny frequency ` +
          '(the unseen-token trap), use probabilities, eps >= 1 with counts, or maxWeight.',
        tokens,
        positions: kept,
      });
    }
  }
  return out;
}

/**
 * Power-law-weighted cross-entropy of logits [..., V] against int32 targets [...], one weight per vocabulary
 * id (a PowerLawWeights or any array of length V).
 * @example
 * const w = powerLawWeights(tokenFrequencies(trainIds, { vocabSize: V, kind: 'probabilities' }), { alpha: 0.5, eps: 1e-6 });
 * const loss = powerLawDecayLoss(logits, targets, w);      // sum w CE / sum w
 * loss.backward();
 */
export function powerLawDecayLoss(logits: Tensor, targets: Tensor, weights: PowerLawWeights | ArrayLike<number>, opts: PdlLossOpts = {}): Tensor {
  const table = weightTable(weights);
  const V = logits.shape[logits.ndim - 1];
  if (table.length !== V) {
    throw new Error(`powerLawDecayLoss: ${table.length} weights for ${V} classes (logits ${shapeStr(logits.shape)}); compute one weight per vocabulary id with powerLawWeights`);
  }
  const reduction = opts.reduction ?? 'weightedMean';
  if (!['weightedMean', 'sum', 'none'].includes(reduction)) {
    throw new Error(`powerLawDecayLoss: reduction must be 'weightedMean', 'sum' or 'none', got ${String(reduction)}`);
  }
  const ceReduction = reduction === 'weightedMean' ? 'mean' : reduction;
  const pw = opts.positionWeights;
  const uniform = !pw && Array.prototype.every.call(table, (v: number) => v === 1);
  const inputs = pw ? [targets, pw] : [targets];
  if (uniform) {
    // alpha = 0 (all weights 1) is plain cross-entropy: the very same call, so the result is bit-identical.
    // No token can dominate uniform weights, so the host pass only runs for onBatch.
    if (opts.onBatch) {
      const done = whenReady(inputs, ([y]) => positionWeights(table, y, undefined, opts));
      if (done instanceof Promise) done.catch((e: unknown) => console.error(e));
    }
    return crossEntropy(logits, targets, { ignoreIndex: opts.ignoreIndex, reduction: ceReduction });
  }
  const computed = whenReady(inputs, ([y, p]) => positionWeights(table, y, p, opts));
  const dev = targets.device;
  const data = computed instanceof Promise ? computed.then((d) => dev.fromValues(d)) : dev.fromValues(computed);
  const w = new Tensor(data, targets.shape, dev);
  return crossEntropy(logits, targets, { weights: w, ignoreIndex: opts.ignoreIndex, reduction: ceReduction });
}

/**
 * PDL for TransformerLM's loss seam. The seam's per-position `weights` (a padding mask) multiply the
 * frequency weights, and its reduction maps 'mean' -> 'weightedMean'. Note the result is the training
 * objective, not a likelihood: score perplexity with plain cross-entropy.
 * @example
 * const lm = new TransformerLM({ ...config, loss: powerLawDecayLossFn(w, { names: (id) => vocab.wordOf(id) }) });
 */
export function powerLawDecayLossFn(weights: PowerLawWeights | ArrayLike<number>, opts: Omit<PdlLossOpts, 'reduction' | 'positionWeights'> = {}): LossFn {
  return (out, targets, lossOpts) =>
    powerLawDecayLoss(out, targets, weights, {
      ...opts,
      ignoreIndex: lossOpts.ignoreIndex ?? opts.ignoreIndex,
      positionWeights: lossOpts.weights,
      reduction: lossOpts.reduction === 'sum' ? 'sum' : lossOpts.reduction === 'none' ? 'none' : 'weightedMean',
    });
}
