import { describe, expect, it } from 'vitest';
import { referenceDistanceInterval } from '../experiments/pdl/reference-distance.js';
import { matchTemperature, meanSamplingEntropy, samplingEntropy, topLogits } from '../experiments/pdl/temperature.js';

/** Seeded uniform numbers (32-bit LCG) for synthetic logits. */
function uniforms(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
}

/** Entropy by the definition, -sum p log p, for checking the shifted formula. */
function entropyByDefinition(logits: number[], t: number): number {
  const e = logits.map((z) => Math.exp(z / t));
  const z = e.reduce((a, b) => a + b, 0);
  return -e.reduce((a, x) => a + (x / z) * Math.log(x / z), 0);
}

describe('top-k logits', () => {
  it('keeps the k largest of every row, descending', () => {
    expect(topLogits(new Float32Array([1, 3, 2, 0, 5, -1, 4, 4]), 4, 2)).toEqual([[3, 2], [5, 4]]);
    expect(topLogits([1, 2], 2, 5)).toEqual([[2, 1]]);
  });
  it('refuses values that are not whole rows, and a bad k', () => {
    expect(() => topLogits([1, 2, 3], 2, 1)).toThrow(/not whole rows of V = 2/);
    expect(() => topLogits([1, 2], 2, 0)).toThrow(/k must be a positive integer, got 0/);
  });
});

describe('sampling entropy', () => {
  it('is ln n for equal logits and matches -sum p log p', () => {
    expect(samplingEntropy([0, 0, 0, 0], 0.7)).toBeCloseTo(Math.log(4), 12);
    const rnd = uniforms(3);
    const z = Array.from({ length: 40 }, () => 6 * rnd());
    for (const t of [0.3, 0.8, 1, 2.5]) expect(samplingEntropy(z, t)).toBeCloseTo(entropyByDefinition(z, t), 10);
  });
  it('is stable for large logits and rises with temperature', () => {
    expect(samplingEntropy([1000, 0], 1)).toBeCloseTo(0, 12);
    const z = [4, 2, 1, 0.5, -3];
    const h = [0.2, 0.5, 0.8, 1.2, 3].map((t) => samplingEntropy(z, t));
    for (let i = 1; i < h.length; i++) expect(h[i]).toBeGreaterThan(h[i - 1]);
  });
  it('refuses a temperature that is not positive, and no positions', () => {
    expect(() => samplingEntropy([1, 2], 0)).toThrow(/temperature must be > 0, got 0/);
    expect(() => meanSamplingEntropy([], 1)).toThrow(/no positions/);
  });
});

describe('temperature matching', () => {
  it('recovers the temperature of a model that is the other one with its logits scaled', () => {
    // a "flatter" model whose logits are the sharp model's divided by 1.6: at T 0.8 it has the sharp
    // model's entropy at T 0.8 * 1.6 = 1.28, so matching the sharp model to it must find 1.28
    const rnd = uniforms(11);
    const sharp = Array.from({ length: 30 }, () => Array.from({ length: 40 }, () => 8 * rnd()));
    const flat = sharp.map((row) => row.map((z) => z / 1.6));
    const target = meanSamplingEntropy(flat, 0.8);
    const m = matchTemperature((t) => meanSamplingEntropy(sharp, t), target);
    expect(m.clamped).toBeNull();
    expect(m.temperature).toBeCloseTo(1.28, 6);
    expect(m.entropy).toBeCloseTo(target, 8);
  });
  it('gives 0.8 back when both models are the same', () => {
    const rows = [[3, 1, 0], [2, 2, -1]];
    expect(matchTemperature((t) => meanSamplingEntropy(rows, t), meanSamplingEntropy(rows, 0.8)).temperature).toBeCloseTo(0.8, 6);
  });
  it('clamps to a bound (and says so) when the target is out of reach', () => {
    const rows = [[3, 1, 0]];
    const high = matchTemperature((t) => meanSamplingEntropy(rows, t), Math.log(3) + 0.1, { lo: 0.1, hi: 10 });
    expect(high).toMatchObject({ temperature: 10, clamped: 'high' });
    const low = matchTemperature((t) => meanSamplingEntropy(rows, t), -1, { lo: 0.1, hi: 10 });
    expect(low).toMatchObject({ temperature: 0.1, clamped: 'low' });
  });
  it('refuses a falling entropy curve and bad bounds', () => {
    expect(() => matchTemperature((t) => -t, -1)).toThrow(/falls with temperature/);
    expect(() => matchTemperature((t) => t, 1, { lo: 2, hi: 1 })).toThrow(/need 0 < lo < hi/);
    expect(() => matchTemperature((t) => t, NaN)).toThrow(/target entropy must be finite/);
  });
});

describe('distance to the reference as the effect', () => {
  it('counts overshooting the reference as a cost, not a gain', () => {
    // the case: PDL at 93.5% overshoots the reference 86.2% by 7.3 points; a CE at 82% falls short by 4.2
    const ci = referenceDistanceInterval([0.935, 0.93, 0.94], [0.82, 0.825, 0.815], 0.862, 100);
    expect(ci.effect).toBeCloseTo(7.3 - 4.2, 6);
    expect(ci.ci95![0]).toBeGreaterThan(0); // the whole interval says PDL lies farther: a cost
    // the raw difference would have called the same numbers a gain of 11.5 points
    expect(0.935 * 100 - 0.82 * 100).toBeCloseTo(11.5, 6);
  });
  it('is negative when the treatment lands closer from either side', () => {
    expect(referenceDistanceInterval([0.87], [0.8], 0.86).effect).toBeCloseTo(0.01 - 0.06, 12);
    expect(referenceDistanceInterval([0.85], [0.95], 0.86).effect).toBeCloseTo(0.01 - 0.09, 12);
  });
  it('is zero for mirror images around the reference', () => {
    const ci = referenceDistanceInterval([0.9, 0.92], [0.82, 0.8], 0.86, 100);
    expect(ci.effect).toBeCloseTo(0, 10);
    expect(ci.perSeed[0]).toBeCloseTo(0, 10);
  });
  it('refuses a reference that is not a number', () => {
    expect(() => referenceDistanceInterval([0.9], [0.8], NaN)).toThrow(/reference value must be finite, got NaN/);
  });
});
