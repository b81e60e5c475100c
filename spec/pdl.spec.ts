/**
 * The Power-Law Decay Loss (nn/losses/) and the PDL study's helpers (experiments/pdl/): token frequencies,
 * power-law weights and their errors, the weighted loss (alpha = 0 is cross-entropy bit for bit, the
 * weighted mean's normalisation, gradients on the float64 reference device), the unseen-token trap, the
 * LossFn adapter, and the text metrics on hand-made examples.
 */
import { describe, expect, it } from 'vitest';
import { crossEntropy, Generator, gradcheck, randn, setDevice, tensor, type Tensor } from '../core/index.js';
import * as nn from '../nn/index.js';
import {
  powerLawDecayLoss, powerLawDecayLossFn, powerLawWeights, tokenFrequencies, type DominanceWarning, type PdlBatchStats,
} from '../nn/losses/index.js';
import { bucketsFromCounts, type HeldOutScore } from '../experiments/pdl/evaluate.js';
import type { CellResult } from '../experiments/pdl/finetune.js';
import { crossEntropyParts, metrics, verdicts } from '../experiments/pdl/summary.js';
import { distinctN, meanSentenceLength, rareRecall, rareShare, repetitionRate } from '../experiments/pdl/text-metrics.js';

setDevice('reference', 'PDL tests');

const ids = (v: number[], shape: number[]): Tensor => tensor(v, shape, { dtype: 'int32' });
const silent = { onWarning: false as const };

/** sum_k w[y_k] ce_k / sum_k w[y_k] in float64 over plain arrays. */
function manualPdl(logits: number[], targets: number[], w: number[], V: number, ignore?: number): number {
  let num = 0;
  let den = 0;
  targets.forEach((y, k) => {
    if (y === ignore) return;
    const row = logits.slice(k * V, (k + 1) * V);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
    num += w[y] * (lse - row[y]);
    den += w[y];
  });
  return num / den;
}

describe('tokenFrequencies', () => {
  it('counts target tokens only (the first token of each stream is never predicted)', () => {
    const f = tokenFrequencies(Int32Array.from([2, 0, 1, 1, 3]), { vocabSize: 5 });
    expect(f.kind).toBe('counts');
    expect(Array.from(f.values)).toEqual([1, 2, 0, 1, 0]);
    expect(f.total).toBe(4);
    expect(Array.from(tokenFrequencies([2, 0, 1], { vocabSize: 3, targetOnly: false }).values)).toEqual([1, 1, 1]);
  });

  it('gives probabilities, handles several streams, corpora and ignoreIndex', () => {
    const p = tokenFrequencies([[9, 1, 1], [9, 2, -1]], { vocabSize: 10, kind: 'probabilities', ignoreIndex: -1 });
    expect(p.total).toBe(3);
    expect(p.values[1]).toBeCloseTo(2 / 3, 15);
    expect(p.values[2]).toBeCloseTo(1 / 3, 15);
    expect(p.values[9]).toBe(0);
    const c = tokenFrequencies({ train: Int32Array.from([0, 1, 2]), vocab: { size: 4 } });
    expect(Array.from(c.values)).toEqual([0, 1, 1, 0]);
  });

  it('says what is wrong with its input', () => {
    expect(() => tokenFrequencies([1, 2])).toThrow(/pass \{ vocabSize \}/);
    expect(() => tokenFrequencies([1, 7], { vocabSize: 5 })).toThrow(/id 7 at position 1 of stream 0 is out of range for vocabSize 5/);
  });
});

describe('powerLawWeights', () => {
  it('is 1 / (freq + eps)^alpha, and all ones at alpha = 0', () => {
    const w = powerLawWeights([4, 1, 0.25], { alpha: 0.5, eps: 1e-9 });
    expect(w.weights[0]).toBeCloseTo(0.5, 6);
    expect(w.weights[1]).toBeCloseTo(1, 6);
    expect(w.weights[2]).toBeCloseTo(2, 6);
    expect(w.kind).toBe('given');
    expect(Array.from(powerLawWeights([5, 0, 3], { alpha: 0, eps: 1e-7, ...silent }).weights)).toEqual([1, 1, 1]);
  });

  it('rejects a negative alpha, eps <= 0, a bad maxWeight and bad frequencies', () => {
    expect(() => powerLawWeights([1], { alpha: -0.5, eps: 1 })).toThrow(/alpha must be a finite number >= 0.*got -0.5/);
    expect(() => powerLawWeights([1], { alpha: NaN, eps: 1 })).toThrow(/alpha must be/);
    expect(() => powerLawWeights([1], { alpha: 1, eps: 0 })).toThrow(/eps must be > 0.*got 0/);
    expect(() => powerLawWeights([1], { alpha: 1, eps: -1e-7 })).toThrow(/eps must be > 0/);
    expect(() => powerLawWeights([1], { alpha: 1, eps: 1, maxWeight: 0 })).toThrow(/maxWeight must be > 0/);
    expect(() => powerLawWeights([1, -2], { alpha: 1, eps: 1 })).toThrow(/frequency of id 1 is -2/);
    expect(() => powerLawWeights([], { alpha: 1, eps: 1 })).toThrow(/empty vocabulary/);
  });

  it('the trap: counts with eps 1e-7 give an unseen token weight 1e7 — finite, reported, clipped by maxWeight', () => {
    const counts = tokenFrequencies([0, 0, 2, 2, 2, 0, 3], { vocabSize: 4 }); // id 1 never occurs
    const said: string[] = [];
    const names = (id: number) => ['the', 'zebra', 'of', 'and'][id];
    const w = powerLawWeights(counts, { alpha: 1, eps: 1e-7, names, onWarning: (m) => said.push(m) });
    expect(Number.isFinite(w.weights[1])).toBe(true);
    expect(w.weights[1] / 1e7).toBeCloseTo(1, 9);
    expect(w.unseen).toEqual([1]);
    expect(w.unseenWeight / 1e7).toBeCloseTo(1, 9);
    expect(w.clipped).toEqual([]);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/1 of 4 tokens never occur in the counts \(ids 1 \("zebra"\)\); each gets weight \(0 \+ 1\.00e-7\)\^-1 = 1\.00e\+7/);
    expect(said[0]).toMatch(/set maxWeight/);
    expect(w.warnings).toEqual(said);

    const clipped = powerLawWeights(counts, { alpha: 1, eps: 1e-7, maxWeight: 10, names, onWarning: false });
    expect(clipped.weights[1]).toBe(10);
    expect(clipped.clipped).toEqual([1]);
    expect(clipped.weights[2]).toBeCloseTo(1 / 3, 6); // untouched
    expect(clipped.warnings[0]).toMatch(/clipped to maxWeight = 10/);
    // eps of one count: the unseen token weighs like a count-0 token, about twice a count-1 token: no warning
    expect(powerLawWeights(counts, { alpha: 1, eps: 1, onWarning: false }).warnings).toEqual([]);
  });
});

describe('powerLawDecayLoss', () => {
  const V = 5;
  const g = new Generator(3);
  const logitVals = Array.from({ length: 2 * 3 * V }, () => g.normal());
  const targetVals = [0, 4, 2, 2, 1, 3];
  const logits = () => tensor(logitVals, [2, 3, V]);
  const targets = () => ids(targetVals, [2, 3]);
  const w = [0.5, 2, 1, 4, 0.25];

  it('alpha = 0 equals cross-entropy exactly (mean, sum, ignoreIndex; reference and webasm)', async () => {
    for (const dev of ['reference', 'webasm']) {
      setDevice(dev, 'PDL alpha 0');
      const ones = powerLawWeights([3, 0, 1, 9, 2], { alpha: 0, eps: 1e-7, ...silent });
      const x = logits();
      const withIgnore = ids([0, -100, 2, 2, -100, 3], [2, 3]);
      expect(await powerLawDecayLoss(x, targets(), ones).item()).toBe(await crossEntropy(x, targets()).item());
      expect(await powerLawDecayLoss(x, targets(), ones, { reduction: 'sum' }).item()).toBe(await crossEntropy(x, targets(), { reduction: 'sum' }).item());
      expect(await powerLawDecayLoss(x, withIgnore, ones, { ignoreIndex: -100 }).item()).toBe(await crossEntropy(x, withIgnore, { ignoreIndex: -100 }).item());
    }
    setDevice('reference', 'PDL tests');
  });

  it('is sum w CE / sum w over kept positions (float64 reference)', async () => {
    expect(await powerLawDecayLoss(logits(), targets(), w, silent).item()).toBeCloseTo(manualPdl(logitVals, targetVals, w, V), 12);
    const t2 = [0, -1, 2, 2, -1, 3];
    const got = await powerLawDecayLoss(logits(), ids(t2, [2, 3]), w, { ignoreIndex: -1, ...silent }).item();
    expect(got).toBeCloseTo(manualPdl(logitVals, t2, w, V, -1), 12);
  });

  it('normalises: scaling every weight changes nothing, uniform weights give the plain mean, sum scales', async () => {
    const a = await powerLawDecayLoss(logits(), targets(), w, silent).item();
    expect(await powerLawDecayLoss(logits(), targets(), w.map((v) => v * 1000), silent).item()).toBeCloseTo(a, 12);
    const ce = await crossEntropy(logits(), targets()).item();
    expect(await powerLawDecayLoss(logits(), targets(), new Array<number>(V).fill(7)).item()).toBeCloseTo(ce, 12);
    const s = await powerLawDecayLoss(logits(), targets(), w, { reduction: 'sum', ...silent }).item();
    const sumW = targetVals.reduce((acc, y) => acc + w[y], 0);
    expect(s).toBeCloseTo(a * sumW, 10);
    const none = await powerLawDecayLoss(logits(), targets(), w, { reduction: 'none', ...silent }).toArray();
    expect(none.reduce((p, v) => p + v, 0)).toBeCloseTo(s, 10);
  });

  it('has the right gradients (gradcheck, float64 reference)', () => {
    const t2 = ids([0, -1, 2, 2, 4, 3], [2, 3]);
    const mask = tensor([1, 1, 0.5, 1, 0, 2], [2, 3]);
    const cases: [string, (x: Tensor) => Tensor][] = [
      ['weightedMean', (x) => powerLawDecayLoss(x, targets(), w, silent)],
      ['sum', (x) => powerLawDecayLoss(x, targets(), w, { reduction: 'sum', ...silent })],
      ['ignoreIndex + position weights', (x) => powerLawDecayLoss(x, t2, w, { ignoreIndex: -1, positionWeights: mask, ...silent })],
      ['huge weight (unseen token, eps 1e-7)', (x) => powerLawDecayLoss(x, targets(), [1, 1e7, 1, 1, 1], silent)],
    ];
    for (const [name, f] of cases) {
      const r = gradcheck(f, [randn([2, 3, V])]);
      if (!r.ok) throw new Error(`${name}: ${r.message}`);
    }
  });

  it('the trap in a batch: the unseen token swamps the loss, a warning names it, maxWeight tames it', async () => {
    const counts = tokenFrequencies([0, 0, 2, 2, 2, 0, 3, 4, 4], { vocabSize: V });
    const names = (id: number) => ['the', 'zebra', 'of', 'and', 'a'][id];
    const weights = powerLawWeights(counts, { alpha: 1, eps: 1e-7, onWarning: false });
    const warnings: DominanceWarning[] = [];
    const stats: PdlBatchStats[] = [];
    const loss = await powerLawDecayLoss(logits(), targets(), weights, { names, onWarning: (x) => warnings.push(x), onBatch: (s) => stats.push(s) }).item();
    expect(Number.isFinite(loss)).toBe(true);
    // position 4 (target 1, 'zebra') holds ~all the weight: the loss is its cross-entropy alone
    const ceAt = (await crossEntropy(logits(), targets(), { reduction: 'none' }).toArray())[4];
    expect(loss).toBeCloseTo(ceAt, 5);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].tokens.map((t) => [t.id, t.name])).toEqual([[1, 'zebra']]);
    expect(warnings[0].tokens[0].share).toBeGreaterThan(0.999);
    expect(warnings[0].message).toMatch(/token 1 \("zebra"\) holds 100\.0% of the weight with 1 of 6 positions/);
    expect(stats[0].maxShareToken).toBe(1);
    expect(stats[0].essFraction).toBeLessThan(0.17);

    const tamed = powerLawWeights(counts, { alpha: 1, eps: 1e-7, maxWeight: 1, onWarning: false });
    const quiet: DominanceWarning[] = [];
    await powerLawDecayLoss(logits(), targets(), tamed, { onWarning: (x) => quiet.push(x) }).item();
    expect(quiet).toEqual([]);
    // a token that IS most of the batch does not count as dominating through its weight
    const same: DominanceWarning[] = [];
    powerLawDecayLoss(logits(), ids([1, 1, 1, 1, 1, 0], [2, 3]), weights, { onWarning: (x) => same.push(x) });
    expect(same).toEqual([]);
  });

  it('says what is wrong: weights of the wrong length, targets out of range, bad reduction', () => {
    expect(() => powerLawDecayLoss(logits(), targets(), [1, 2, 3])).toThrow(/3 weights for 5 classes \(logits \[2,3,5\]\)/);
    expect(() => powerLawDecayLoss(logits(), ids([0, 1, 2, 3, 4, 5], [2, 3]), w)).toThrow(/target 5 at position 5 is out of range for 5 weights/);
    expect(() => powerLawDecayLoss(logits(), targets(), w, { reduction: 'mean' as 'sum' })).toThrow(/reduction must be 'weightedMean', 'sum' or 'none'/);
    expect(() => powerLawDecayLoss(logits(), ids([0, 1], [2]), w)).toThrow(/crossEntropy: logits \[2,3,5\] need targets of shape \[2,3\]/);
  });

  it('plugs into TransformerLM through the loss seam (mask weights multiply, reductions map)', async () => {
    const cfg = { vocabSize: V, contextLength: 4, dModel: 8, nHeads: 2, nLayers: 1, seed: 1 };
    const ce = new nn.TransformerLM(cfg);
    const pdl = new nn.TransformerLM({ ...cfg, loss: powerLawDecayLossFn(w, silent) });
    pdl.loadStateDict(ce.stateDict());
    const x = ids([1, 2, 3, 4, 0, 1], [2, 3]);
    const y = ids(targetVals, [2, 3]);
    const logitsOut = await ce.forward(x).toArray();
    expect(await pdl.loss(x, y).item()).toBeCloseTo(manualPdl(logitsOut, targetVals, w, V), 12);
    const mask = tensor([1, 1, 1, 1, 0, 0], [2, 3]);
    const summed = await pdl.loss(x, y, { weights: mask, reduction: 'sum' }).item();
    const perPos = await crossEntropy(ce.forward(x), y, { reduction: 'none' }).toArray();
    expect(summed).toBeCloseTo([0, 1, 2, 3].reduce((s, k) => s + w[targetVals[k]] * perPos[k], 0), 12);
    const uniform = new nn.TransformerLM({ ...cfg, loss: powerLawDecayLossFn(new Array<number>(V).fill(1)) });
    uniform.loadStateDict(ce.stateDict());
    expect(await uniform.loss(x, y).item()).toBe(await ce.loss(x, y).item());
  });
});

describe('text metrics', () => {
  it('distinct-n pools n-grams over sequences and never crosses them', () => {
    expect(distinctN([['a', 'b', 'a']], 1)).toBeCloseTo(2 / 3, 15);
    expect(distinctN([['a', 'b', 'a']], 2)).toBe(1);
    expect(distinctN([['a', 'b'], ['a', 'b']], 2)).toBe(0.5);
    expect(distinctN([['a'], ['b']], 2)).toBe(0); // no bigram in either
    expect(distinctN([[1, 2, 3, 1, 2, 3]], 2)).toBeCloseTo(3 / 5, 15);
    expect(() => distinctN([['a']], 0)).toThrow(/n must be a positive integer/);
  });

  it('repetition rate counts n-grams that repeat an earlier one of the same sequence', () => {
    expect(repetitionRate([['the', 'cat', 'the', 'cat', 'the', 'cat']], 2)).toBeCloseTo(3 / 5, 15);
    expect(repetitionRate([['a', 'b', 'a', 'b']], 3)).toBe(0);
    expect(repetitionRate([['a', 'b', 'a', 'b']], 2)).toBeCloseTo(1 / 3, 15);
    expect(repetitionRate([['x', 'y', 'z'], ['x', 'y', 'z']], 3)).toBe(0); // across sequences is not repetition
    expect(repetitionRate([['a', 'a', 'a', 'a', 'a']])).toBeCloseTo(2 / 3, 15);
    expect(repetitionRate([])).toBe(0);
  });

  it('rare share and rare recall', () => {
    const isRare = (w: string) => ['zebra', 'okapi', 'quagga'].includes(w);
    expect(rareShare([['the', 'zebra'], ['okapi', 'and', 'the', 'a']], isRare)).toBeCloseTo(2 / 6, 15);
    expect(rareShare([], isRare)).toBe(0);
    // reference rare types {zebra, okapi}; generated has zebra (twice) and quagga (not in the reference)
    expect(rareRecall([['zebra', 'the'], ['zebra', 'quagga']], [['a', 'zebra'], ['okapi', 'the']], isRare)).toBe(0.5);
    expect(rareRecall([['zebra']], [['the', 'a']], isRare)).toBeNaN();
    expect(rareRecall([], [['okapi']], isRare)).toBe(0);
  });

  it('mean sentence length: tokens per sentence, an unfinished tail counts as one', () => {
    expect(meanSentenceLength([['a', 'b', '.', 'c', '.']])).toBe(2.5);
    expect(meanSentenceLength([['a', 'b', '.', 'c']])).toBe(2);
    expect(meanSentenceLength([['a', 'b', 'c']])).toBe(3);
    expect(meanSentenceLength([['a', '?'], ['b', 'c', '!']])).toBe(2.5);
    expect(meanSentenceLength([])).toBe(0);
  });
});

describe('frequency buckets', () => {
  it('rank ids by count: top-100, 100-999, the rest; <unk> apart; ties by id', () => {
    const counts = Array.from({ length: 1203 }, (_, i) => (i === 0 ? 1e9 : 2000 - i));
    counts[1202] = 5000; // the most frequent word
    const b = bucketsFromCounts(counts);
    expect(b[0]).toBe('unk');
    expect(b[1202]).toBe('top100');
    expect(b[99]).toBe('top100'); // rank 99: ids 1202, 1..99
    expect(b[100]).toBe('mid');
    expect(b[999]).toBe('mid');
    expect(b[1000]).toBe('rare');
    expect(bucketsFromCounts([0, 0, 0])).toEqual(['unk', 'top100', 'top100']);
  });
});

describe('the verdicts of the report', () => {
  // a cell from per-bucket mean cross-entropies (nats) and token counts, and a distinct-2 value
  function cell(ce: Record<'top100' | 'mid' | 'rare' | 'unk', number>, distinct2: number): CellResult {
    const n = { top100: 50, mid: 30, rare: 10, unk: 10 };
    const b = (k: keyof typeof n) => ({ tokens: n[k], perplexity: Math.exp(ce[k]), topK: 0 });
    const all = (Object.keys(n) as (keyof typeof n)[]).reduce((acc, k) => acc + n[k] * ce[k], 0) / 100;
    const score: HeldOutScore = { tokens: 100, perplexity: Math.exp(all), topK: 0, k: 10, buckets: { top100: b('top100'), mid: b('mid'), rare: b('rare'), unk: b('unk') }, words: b('top100') };
    const text = { distinct1: 0.5, distinct2, rareShare: 0.05, rareRecall: 0.2, repetition: 0, meanSentenceLength: 20 };
    return { seed: 0, score, text, samples: [], assessSeconds: { score: 0, sample: 0 }, trainSeconds: 0, tokensPerSecond: 0, finalLoss: 0, weightStats: null };
  }
  const ce = [cell({ top100: 3, mid: 6, rare: 9, unk: 2 }, 0.5), cell({ top100: 3.02, mid: 6.1, rare: 9.2, unk: 2 }, 0.52)];
  const pdl = [cell({ top100: 3.5, mid: 5, rare: 7, unk: 3 }, 0.99), cell({ top100: 3.52, mid: 5.1, rare: 7.1, unk: 3 }, 0.97)];

  it('splits the overall cross-entropy change into bucket parts that add up', () => {
    const parts = crossEntropyParts(ce, pdl);
    expect(parts.top100).toBeCloseTo(0.5 * 0.5, 12);
    expect(parts.mid).toBeCloseTo(0.3 * -1, 12);
    expect(parts.rare).toBeCloseTo(0.1 * -2.05, 12);
    expect(parts.unk).toBeCloseTo(0.1 * 1, 12);
    const net = Math.log(pdl[0].score.perplexity / ce[0].score.perplexity) / 2 + Math.log(pdl[1].score.perplexity / ce[1].score.perplexity) / 2;
    expect(parts.net).toBeCloseTo(net, 12);
  });

  it('calls a change noise within the seed spread, and rewards text statistics for approaching the reference', () => {
    const ref = { distinct1: 0.5, distinct2: 0.8, rareShare: 0.05, rareRecall: 1, repetition: 0, meanSentenceLength: 20 };
    const v = verdicts(ce, pdl, metrics(ref));
    const kind = (label: string) => v.find((x) => x.metric.label === label)?.kind;
    expect(kind('perplexity, rare words')).toBe('gain');
    expect(kind('perplexity, top-100 words')).toBe('cost');
    expect(kind('mean sentence length')).toBe('noise'); // identical
    // 0.51 -> 0.98 overshoots the reference 0.8 but ends closer to it (0.29 -> 0.18 off): a gain; overshooting to 1.2 (0.4 off) is a cost
    expect(kind('distinct-2')).toBe('gain');
    const far = verdicts(ce, [cell({ top100: 3, mid: 6, rare: 9, unk: 2 }, 1.2), cell({ top100: 3, mid: 6, rare: 9, unk: 2 }, 1.2)], metrics(ref));
    expect(far.find((x) => x.metric.label === 'distinct-2')?.kind).toBe('cost');
  });
});
