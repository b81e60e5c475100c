import { describe, it, expect, beforeAll } from 'vitest';
import { Generator } from '../core/rng.js';
import { loadBrown, type BrownCorpus } from '../experiments/data/index.js';
import { estimateDiscounts, KneserNey, kneserNeyPerplexity } from '../experiments/ngram/kneser-ney.js';

/** Sum of p(w | history) over the whole vocabulary. */
function total(m: KneserNey, history: number[]): number {
  let s = 0;
  for (let w = 0; w < m.vocabSize; w++) s += m.prob(history, w);
  return s;
}

/** A direct, slow transcription of the formulas (string keys, sets of left words), for cross-checking. */
function naiveModel(ids: number[], n: number, V: number): (h: number[], w: number) => number {
  const counts: Map<string, Set<number> | number>[] = [];
  for (let k = 1; k <= n; k++) {
    const m = new Map<string, Set<number> | number>();
    for (let i = k - 1; i < ids.length; i++) {
      const key = ids.slice(i - k + 1, i + 1).join(' ');
      if (k === n) m.set(key, ((m.get(key) as number | undefined) ?? 0) + 1);
      else {
        const left = i - k >= 0 ? ids[i - k] : -1;
        const set = (m.get(key) as Set<number> | undefined) ?? new Set<number>();
        set.add(left);
        m.set(key, set);
      }
    }
    counts.push(m);
  }
  const c = (k: number, key: string): number => {
    const v = counts[k - 1].get(key);
    return v === undefined ? 0 : typeof v === 'number' ? v : v.size;
  };
  const discounts = counts.map((m, idx) => {
    const coc = [0, 0, 0, 0, 0];
    for (const key of m.keys()) {
      const x = c(idx + 1, key);
      if (x <= 4) coc[x]++;
    }
    return estimateDiscounts(coc[1], coc[2], coc[3], coc[4]);
  });
  return (h, w) => {
    let p = 1 / V;
    for (let k = 1; k <= Math.min(n, h.length + 1); k++) {
      const ctx = h.slice(h.length - (k - 1));
      const [d1, d2, d3] = discounts[k - 1];
      let denom = 0;
      let nn = [0, 0, 0];
      for (let u = 0; u < V; u++) {
        const x = c(k, [...ctx, u].join(' '));
        denom += x;
        if (x === 1) nn[0]++;
        else if (x === 2) nn[1]++;
        else if (x >= 3) nn[2]++;
      }
      if (denom === 0) continue;
      const x = c(k, [...ctx, w].join(' '));
      const d = x === 0 ? 0 : x === 1 ? d1 : x === 2 ? d2 : d3;
      p = (x - d) / denom + ((d1 * nn[0] + d2 * nn[1] + d3 * nn[2]) / denom) * p;
      nn = [0, 0, 0];
    }
    return p;
  };
}

describe('Kneser-Ney on small synthetic data', () => {
  it('estimates discounts with the Chen-Goodman formula', () => {
    const [d1, d2, d3] = estimateDiscounts(10, 5, 3, 2);
    expect(d1).toBeCloseTo(0.5, 12);
    expect(d2).toBeCloseTo(1.1, 12);
    expect(d3).toBeCloseTo(3 - (4 * 0.5 * 2) / 3, 12);
  });

  it('matches a hand computation (a b a b c, bigram, D = 0.5)', () => {
    const D: [number, number, number] = [0.5, 0.5, 0.5];
    const m = KneserNey.train([0, 1, 0, 1, 2], 2, 3, { discounts: [D, D] });
    // Continuation counts: a = 2 (start, b a), b = 1, c = 1; gamma(root) = 1.5 / 4.
    expect(m.prob([], 0)).toBeCloseTo(0.5, 14);
    expect(m.prob([], 1)).toBeCloseTo(0.25, 14);
    expect(m.prob([], 2)).toBeCloseTo(0.25, 14);
    // Bigrams: c(a b) = 2 -> gamma(a) = 0.25; c(b a) = c(b c) = 1 -> gamma(b) = 0.5.
    expect(m.prob([0], 1)).toBeCloseTo(1.5 / 2 + 0.25 * 0.25, 14);
    expect(m.prob([0], 0)).toBeCloseTo(0.25 * 0.5, 14);
    expect(m.prob([1], 0)).toBeCloseTo(0.25 + 0.5 * 0.5, 14);
    expect(m.prob([1], 2)).toBeCloseTo(0.25 + 0.5 * 0.25, 14);
    expect(m.prob([2], 2)).toBeCloseTo(0.25, 14); // unseen context: unigram
    expect(m.prob([1, 1, 1, 0], 1)).toBeCloseTo(m.prob([0], 1), 14); // only the last order-1 ids count
  });

  it('agrees with a direct transcription of the formulas and sums to 1', () => {
    const g = new Generator(3);
    const V = 7;
    // Skewed random stream so that every count-of-count is populated.
    const ids = Array.from({ length: 400 }, () => Math.min(V - 1, Math.floor(-Math.log(1 - g.random()) * 2)));
    for (const n of [1, 2, 3, 4]) {
      const m = KneserNey.train(ids, n, V);
      const naive = naiveModel(ids, n, V);
      const histories: number[][] = [[], [ids[5]], [ids[10], ids[11]], [0, 6, 6], [ids[7], ids[8], ids[9]]];
      for (const h of histories) {
        for (let w = 0; w < V; w++) expect(m.prob(h, w)).toBeCloseTo(naive(h, w), 12);
        expect(Math.abs(total(m, h) - 1)).toBeLessThan(1e-9);
      }
    }
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => KneserNey.train([0, 1, 5], 2, 3)).toThrow(/id 5 at 2 outside \[0, 3\)/);
    const m = KneserNey.train([0, 1, 2], 2, 3);
    expect(() => m.prob([0], 3)).toThrow(/outside/);
  });
});

describe('Kneser-Ney on Brown', () => {
  let c: BrownCorpus;
  let tri: KneserNey;
  beforeAll(() => {
    c = loadBrown();
    tri = KneserNey.train(c.train, 3, c.vocab.size);
  }, 60_000);

  it('is normalised for several trigram histories', () => {
    const histories = [
      [],
      [c.vocab.idOf('of'), c.vocab.idOf('the')],
      [c.vocab.idOf('.'), c.vocab.idOf('the')],
      Array.from(c.valid.slice(100, 102)),
      [0, 0],
      [c.vocab.idOf('zebra'), c.vocab.idOf('sang')],
    ];
    for (const h of histories) expect(Math.abs(total(tri, h) - 1)).toBeLessThan(1e-9);
  });

  it('beats a unigram on validation with n = 3 and n = 5', () => {
    const V = c.vocab.size;
    let nll = 0;
    for (let t = 0; t < c.valid.length; t++) nll -= Math.log((c.counts[c.valid[t]] + 1) / (c.train.length + V));
    const unigram = Math.exp(nll / c.valid.length);
    const p3 = tri.perplexity(c.valid).perplexity;
    const p5 = kneserNeyPerplexity(c.train, c.valid, 5, V);
    for (const p of [p3, p5]) {
      expect(Number.isFinite(p)).toBe(true);
      expect(p).toBeLessThan(unigram);
    }
    expect(p5).toBeLessThan(p3 + 5);
    expect(tri.perplexity(c.valid, { skipFirst: true }).tokens).toBe(c.valid.length - 1);
  }, 60_000);
});
