/**
 * Interpolated modified Kneser-Ney n-gram language model (Chen & Goodman 1998, section 3.5 / 4.1.6).
 *
 *   p_k(w | h) = max(c_k(h w) - D_k(c_k(h w)), 0) / c_k(h .) + gamma_k(h) p_{k-1}(w | h')
 *   gamma_k(h) = (D_k1 N1(h .) + D_k2 N2(h .) + D_k3+ N3+(h .)) / c_k(h .)
 *   p_0(w)     = 1 / V                                   (uniform over the vocabulary)
 *
 * - c_n is the raw count at the highest order n; for lower orders c_k(h w) is the continuation count
 *   N1+(. h w), the number of distinct words seen before h w. The k-gram at the very start of the train
 *   stream has no left word; it gets one continuation from a virtual start symbol (as KenLM does for
 *   <s>), so every seen k-gram has a positive count.
 * - Three discounts per order from that order's count-of-counts n_1..n_4:
 *   Y = n1 / (n1 + 2 n2), D_j = j - (j + 1) Y n_{j+1} / n_j (j = 1, 2, 3; D_3 is used for counts >= 3).
 *   A discount that is undefined (a zero count-of-count) falls back to 0.5 j; every discount is clamped
 *   to [0, j], which keeps each level a proper distribution.
 * - A history never seen as a context at order k contributes nothing: p_k = p_{k-1}.
 * - The train stream is one continuous sequence (no sentence marks); the evaluation stream is scored as
 *   one continuous sequence too, its first n-1 tokens with the shorter histories available.
 *
 * Storage is a reversed-context trie: context node ids are assigned on a key (parent node, previous word),
 * so lengthening a history by one word is one lookup. Keys are the exact integers node * V + word.
 */

/** Per-order discounts [D1, D2, D3+]; index 0 is the unigram level. */
export type Discounts = [number, number, number][];

/** Options of `KneserNey.train`. */
export interface KneserNeyOptions {
  /** Override the estimated discounts (one [D1, D2, D3+] per order, unigram first). */
  discounts?: readonly (readonly [number, number, number])[];
}

/** Result of scoring a stream. */
export interface PerplexityResult {
  perplexity: number;
  /** Mean negative natural-log probability per scored token. */
  nll: number;
  /** Tokens scored. */
  tokens: number;
}

/** Estimates [D1, D2, D3+] from count-of-counts n[1..4] (see the module comment). */
export function estimateDiscounts(n1: number, n2: number, n3: number, n4: number): [number, number, number] {
  const y = n1 / (n1 + 2 * n2);
  const nk = [n1, n2, n3, n4];
  const out: [number, number, number] = [0, 0, 0];
  for (let j = 1; j <= 3; j++) {
    const d = j - (j + 1) * y * (nk[j] / nk[j - 1]);
    out[j - 1] = Number.isFinite(d) ? Math.min(Math.max(d, 0), j) : 0.5 * j;
  }
  return out;
}

/** A trained interpolated modified Kneser-Ney model. */
export class KneserNey {
  /** Discounts actually used, unigram level first. */
  readonly discounts: Discounts;
  /** Number of distinct n-grams stored per order (unigram first). */
  readonly ngrams: number[];

  private constructor(
    readonly order: number,
    readonly vocabSize: number,
    private readonly ctxChild: Map<number, number>,
    private readonly entries: Map<number, number>,
    private readonly denom: Float64Array,
    private readonly gamma: Float64Array,
    discounts: Discounts,
    ngrams: number[],
  ) {
    this.discounts = discounts;
    this.ngrams = ngrams;
  }

  /**
   * Counts n-grams of `ids` (one continuous stream of ids in [0, vocabSize)) and builds the model.
   *
   * @param order n, the highest n-gram order (>= 1)
   */
  static train(ids: ArrayLike<number>, order: number, vocabSize: number, opts: KneserNeyOptions = {}): KneserNey {
    if (!Number.isInteger(order) || order < 1) throw new Error(`KneserNey.train: order must be an integer >= 1, got ${order}`);
    if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new Error(`KneserNey.train: bad vocabSize ${vocabSize}`);
    if (ids.length === 0) throw new Error('KneserNey.train: empty training stream');
    const V = vocabSize;
    const ctxChild = new Map<number, number>();
    const ctxDepth: number[] = [0];
    const entries = new Map<number, number>();
    const keys = new Array<number>(order);
    const olds = new Array<number>(order);
    for (let i = 0; i < ids.length; i++) {
      const w = ids[i];
      if (!(w >= 0 && w < V && Number.isInteger(w))) throw new Error(`KneserNey.train: id ${w} at ${i} outside [0, ${V})`);
      const top = Math.min(i, order - 1);
      let ctx = 0;
      for (let d = 0; d <= top; d++) {
        if (d > 0) {
          const ck = ctx * V + ids[i - d];
          let next = ctxChild.get(ck);
          if (next === undefined) {
            next = ctxDepth.length;
            ctxChild.set(ck, next);
            ctxDepth.push(d);
          }
          ctx = next;
        }
        keys[d] = ctx * V + w;
        olds[d] = entries.get(keys[d]) ?? 0;
      }
      for (let d = 0; d <= top; d++) {
        let inc: number;
        if (d === order - 1) inc = 1; // raw count at the highest order
        else if (d < top) inc = olds[d + 1] === 0 ? 1 : 0; // a new left extension
        else inc = 1; // k-gram at the stream start: continuation from the virtual start symbol
        if (inc > 0 || olds[d] === 0) entries.set(keys[d], olds[d] + inc);
      }
    }
    const nCtx = ctxDepth.length;
    const denom = new Float64Array(nCtx);
    const n1 = new Float64Array(nCtx);
    const n2 = new Float64Array(nCtx);
    const n3 = new Float64Array(nCtx);
    const coc = Array.from({ length: order }, () => [0, 0, 0, 0, 0]);
    const ngrams = new Array<number>(order).fill(0);
    for (const [key, c] of entries) {
      const ctx = Math.floor(key / V);
      const depth = ctxDepth[ctx];
      denom[ctx] += c;
      if (c === 1) n1[ctx]++;
      else if (c === 2) n2[ctx]++;
      else n3[ctx]++;
      if (c <= 4) coc[depth][c]++;
      ngrams[depth]++;
    }
    const discounts: Discounts = coc.map((n, k) => {
      const given = opts.discounts?.[k];
      if (given !== undefined) return [given[0], given[1], given[2]];
      return estimateDiscounts(n[1], n[2], n[3], n[4]);
    });
    for (const [k, d] of discounts.entries()) {
      d.forEach((v, j) => {
        if (!(v >= 0 && v <= j + 1)) throw new Error(`KneserNey.train: discount D${j + 1} of order ${k + 1} is ${v}, outside [0, ${j + 1}]`);
      });
    }
    const gamma = new Float64Array(nCtx);
    for (let c = 0; c < nCtx; c++) {
      const [d1, d2, d3] = discounts[ctxDepth[c]];
      gamma[c] = denom[c] > 0 ? (d1 * n1[c] + d2 * n2[c] + d3 * n3[c]) / denom[c] : 1;
    }
    return new KneserNey(order, V, ctxChild, entries, denom, gamma, discounts, ngrams);
  }

  /**
   * p(w | history): the last order-1 ids of `history` are used (fewer when it is shorter).
   *
   * @param history preceding ids, oldest first
   */
  prob(history: ArrayLike<number>, w: number): number {
    return this.probAt(history, history.length, w);
  }

  /** p(ids[t] | ids[.. t-1]) with at most order-1 ids of history. */
  private probAt(seq: ArrayLike<number>, t: number, w: number): number {
    const V = this.vocabSize;
    if (!(w >= 0 && w < V && Number.isInteger(w))) throw new Error(`KneserNey.prob: id ${w} outside [0, ${V})`);
    const top = Math.min(t, this.order - 1);
    let p = 1 / V;
    let ctx = 0;
    for (let d = 0; d <= top; d++) {
      if (d > 0) {
        const next = this.ctxChild.get(ctx * V + seq[t - d]);
        if (next === undefined) break;
        ctx = next;
      }
      const c = this.entries.get(ctx * V + w) ?? 0;
      const disc = this.discounts[d];
      const lead = c === 0 ? 0 : (c - (c === 1 ? disc[0] : c === 2 ? disc[1] : disc[2])) / this.denom[ctx];
      p = lead + this.gamma[ctx] * p;
    }
    return p;
  }

  /**
   * Scores `evalIds` as one continuous stream (the first order-1 tokens with shorter histories).
   *
   * @param opts.skipFirst do not score the first token (matches `sequentialWindows`, which cannot)
   */
  perplexity(evalIds: ArrayLike<number>, opts: { skipFirst?: boolean } = {}): PerplexityResult {
    let sum = 0;
    const from = opts.skipFirst ? 1 : 0;
    for (let t = from; t < evalIds.length; t++) sum -= Math.log(this.probAt(evalIds, t, evalIds[t]));
    const tokens = evalIds.length - from;
    const nll = tokens > 0 ? sum / tokens : NaN;
    return { perplexity: Math.exp(nll), nll, tokens };
  }
}

/**
 * Trains an interpolated modified Kneser-Ney model of the given order on `train` and returns its
 * perplexity on `evalIds` (scored as one continuous stream) — the baseline every LM result is shown beside.
 *
 * @param opts.skipFirst leave the first eval token unscored, exactly the targets of `sequentialWindows`
 *   (the default scores it with the unigram level; the difference is negligible on long splits)
 */
export function kneserNeyPerplexity(
  train: ArrayLike<number>,
  evalIds: ArrayLike<number>,
  order: number,
  vocabSize: number,
  opts: { skipFirst?: boolean } = {},
): number {
  return KneserNey.train(train, order, vocabSize).perplexity(evalIds, opts).perplexity;
}
