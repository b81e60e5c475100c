/**
 * Token frequencies and the power-law weights of the Power-Law Decay Loss (see ./pdl.ts):
 *
 *   w(t) = 1 / (freq(t) + eps)^alpha
 *
 * `freq` is counted over the finetuning set's target tokens, as raw counts or as probabilities; keep the
 * choice explicit, because eps means something different for each. The official code's trap: counts with
 * eps = 1e-7 give a token that never occurs weight 1e7 (alpha = 1), ten million times an ordinary token's.
 * Here that weight stays finite, is reported (`unseen`, `unseenWeight`, `warnings`), and `maxWeight` clips it.
 */

export type FrequencyKind = 'counts' | 'probabilities';

/** Frequencies of every vocabulary id. */
export interface TokenFrequencies {
  kind: FrequencyKind;
  /** One value per vocabulary id: a count, or count / total. */
  values: Float64Array;
  /** Number of tokens counted. */
  total: number;
}

/** One token stream, several streams (each counted on its own), or a corpus whose `train` split is counted. */
export type TokenSource = ArrayLike<number> | readonly ArrayLike<number>[] | { train: ArrayLike<number>; vocab?: { size: number } };

export interface TokenFrequencyOpts {
  /** Length of the result (default: the corpus's `vocab.size`; required for plain id arrays). */
  vocabSize?: number;
  /** 'counts' (default) or 'probabilities' (counts / total). */
  kind?: FrequencyKind;
  /**
   * Count only tokens that are ever a next-token target (default true): the first token of each stream is
   * never predicted, so it is skipped.
   */
  targetOnly?: boolean;
  /** Ids equal to this are not counted (padding). */
  ignoreIndex?: number;
}

function isStream(x: unknown): x is ArrayLike<number> {
  return ArrayBuffer.isView(x) || (Array.isArray(x) && (x.length === 0 || typeof x[0] === 'number'));
}

/**
 * Count each id's occurrences as a target.
 * @example
 * const f = tokenFrequencies(sotu.train, { vocabSize: vocab.size, kind: 'probabilities' });
 * f.values[vocab.idOf('the')]; // ~0.06
 */
export function tokenFrequencies(source: TokenSource, opts: TokenFrequencyOpts = {}): TokenFrequencies {
  let streams: readonly ArrayLike<number>[];
  let vocabSize = opts.vocabSize;
  if (isStream(source)) streams = [source];
  else if (Array.isArray(source)) streams = source as readonly ArrayLike<number>[];
  else {
    const corpus = source as { train: ArrayLike<number>; vocab?: { size: number } };
    if (!isStream(corpus.train)) throw new Error('tokenFrequencies: a corpus needs a `train` array of token ids');
    streams = [corpus.train];
    vocabSize ??= corpus.vocab?.size;
  }
  if (vocabSize === undefined) throw new Error('tokenFrequencies: pass { vocabSize } (the model vocabulary size) with plain id arrays');
  if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new Error(`tokenFrequencies: vocabSize must be a positive integer, got ${vocabSize}`);
  const kind = opts.kind ?? 'counts';
  if (kind !== 'counts' && kind !== 'probabilities') throw new Error(`tokenFrequencies: kind must be 'counts' or 'probabilities', got ${String(kind)}`);
  const skip = opts.targetOnly === false ? 0 : 1;
  const values = new Float64Array(vocabSize);
  let total = 0;
  streams.forEach((s, k) => {
    for (let i = skip; i < s.length; i++) {
      const id = s[i];
      if (id === opts.ignoreIndex) continue;
      if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) {
        throw new Error(`tokenFrequencies: id ${id} at position ${i} of stream ${k} is out of range for vocabSize ${vocabSize}`);
      }
      values[id]++;
      total++;
    }
  });
  if (kind === 'probabilities' && total > 0) for (let i = 0; i < vocabSize; i++) values[i] /= total;
  return { kind, values, total };
}

export interface PowerLawOpts {
  /** Decay exponent, >= 0 (0 = plain cross-entropy; the paper suggests 0.25..1.5). */
  alpha: number;
  /** Added to every frequency, > 0 (paper: 1e-6..1e-9 with probabilities; use >= 1 with counts). */
  eps: number;
  /** Clip every weight to at most this (optional; tames tokens that never occur). */
  maxWeight?: number;
  /** Names ids in warnings (e.g. `(id) => vocab.wordOf(id)`). */
  names?: (id: number) => string;
  /** Receives each warning (default console.warn; false = silent). Warnings are also kept in the result. */
  onWarning?: ((message: string) => void) | false;
}

/** Per-token weights plus what happened to the extreme ones. */
export interface PowerLawWeights {
  /** One weight per vocabulary id, after clipping. */
  weights: Float64Array;
  alpha: number;
  eps: number;
  maxWeight: number | undefined;
  /** What the frequencies were ('given' when a plain array was passed). */
  kind: FrequencyKind | 'given';
  /** Ids whose frequency is 0. */
  unseen: number[];
  /** The weight of an unseen id before clipping: eps^-alpha. */
  unseenWeight: number;
  /** The largest weight of an id that does occur (before clipping). */
  maxSeenWeight: number;
  /** Ids whose weight was clipped to maxWeight. */
  clipped: number[];
  warnings: string[];
}

/** "3 ('zebra'), 17 ('quux'), ... (12 in all)" */
export function nameIds(ids: readonly number[], names?: (id: number) => string, max = 5): string {
  const shown = ids.slice(0, max).map((id) => (names ? `${id} (${JSON.stringify(names(id))})` : String(id)));
  return shown.join(', ') + (ids.length > max ? `, ... (${ids.length} in all)` : '');
}

function sci(x: number): string {
  return Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : String(Number(x.toPrecision(4)));
}

/**
 * w = 1 / (freq + eps)^alpha for every id, optionally clipped to `maxWeight`.
 * @example
 * const f = tokenFrequencies(ids, { vocabSize: V, kind: 'probabilities' });
 * const w = powerLawWeights(f, { alpha: 0.5, eps: 1e-6 });
 * w.weights[id]; // 1 / sqrt(p(id) + 1e-6)
 */
export function powerLawWeights(freqs: TokenFrequencies | ArrayLike<number>, opts: PowerLawOpts): PowerLawWeights {
  const { alpha, eps, maxWeight } = opts;
  if (!(Number.isFinite(alpha) && alpha >= 0)) {
    throw new Error(`powerLawWeights: alpha must be a finite number >= 0 (0 = plain cross-entropy; the paper uses 0.25..1.5), got ${alpha}`);
  }
  if (!(Number.isFinite(eps) && eps > 0)) {
    throw new Error(`powerLawWeights: eps must be > 0 (it keeps 1/(freq + eps)^alpha finite for unseen tokens), got ${eps}`);
  }
  if (maxWeight !== undefined && !(maxWeight > 0)) throw new Error(`powerLawWeights: maxWeight must be > 0 when given, got ${maxWeight}`);
  const given = isStream(freqs);
  const values = given ? freqs : freqs.values;
  const kind = given ? 'given' : freqs.kind;
  const V = values.length;
  if (V === 0) throw new Error('powerLawWeights: no frequencies given (empty vocabulary)');
  const weights = new Float64Array(V);
  const unseen: number[] = [];
  const clipped: number[] = [];
  let maxSeenWeight = 0;
  for (let i = 0; i < V; i++) {
    const f = values[i];
    if (!(f >= 0 && Number.isFinite(f))) throw new Error(`powerLawWeights: frequency of id ${i} is ${f}; frequencies must be finite and >= 0`);
    let w = alpha === 0 ? 1 : Math.pow(f + eps, -alpha);
    if (f === 0) unseen.push(i);
    else maxSeenWeight = Math.max(maxSeenWeight, w);
    if (maxWeight !== undefined && w > maxWeight) {
      w = maxWeight;
      clipped.push(i);
    }
    weights[i] = w;
  }
  const unseenWeight = alpha === 0 ? 1 : Math.pow(eps, -alpha);
  const warnings: string[] = [];
  if (unseen.length > 0 && maxSeenWeight > 0 && unseenWeight > 100 * maxSeenWeight) {
    const clip = maxWeight !== undefined && unseenWeight > maxWeight ? `; clipped to maxWeight = ${sci(maxWeight)}` : '; set maxWeight to clip it';
    warnings.push(
      `powerLawWeights: ${unseen.length} of ${V} tokens never occur in the ${kind} (ids ${nameIds(unseen, opts.names)}); each gets weight ` +
        `(0 + ${sci(eps)})^-${alpha} = ${sci(unseenWeight)}, ${sci(unseenWeight / maxSeenWeight)}x the largest weight of a token that does occur, ` +
        `so one such target would outweigh the rest of its batch${clip}. Use probabilities, eps >= 1 with counts, or maxWeight.`,
    );
  }
  const say = opts.onWarning === undefined ? (m: string) => console.warn(m) : opts.onWarning;
  if (say) warnings.forEach((m) => say(m));
  return { weights, alpha, eps, maxWeight, kind, unseen, unseenWeight, maxSeenWeight, clipped, warnings };
}
