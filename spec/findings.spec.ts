import { describe, expect, it } from 'vitest';
import { summarize } from '../experiments/findings/finding.js';
import { distanceTo, formatInterval, pairedInterval, tQuantile975, verdict } from '../experiments/findings/stats.js';

/** A seeded standard normal (Box-Muller over a 32-bit LCG), so the coverage test is reproducible. */
function normals(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

describe('Student-t quantiles', () => {
  it('match the table and the large-df limit', () => {
    expect(tQuantile975(1)).toBeCloseTo(12.706, 3);
    expect(tQuantile975(4)).toBeCloseTo(2.776, 3);
    expect(tQuantile975(40)).toBeCloseTo(2.021, 3);
    expect(tQuantile975(120)).toBeCloseTo(1.980, 3);
    expect(tQuantile975(100000)).toBeCloseTo(1.96, 3);
  });
  it('refuses a degree of freedom that is not a positive integer', () => {
    expect(() => tQuantile975(0)).toThrow(/positive integer, got 0/);
    expect(() => tQuantile975(2.5)).toThrow(/positive integer/);
  });
});

describe('paired interval', () => {
  it('is the mean paired difference with a t-interval', () => {
    const ci = pairedInterval([11, 12, 13], [10, 10, 10], 'difference'); // differences 1, 2, 3: sd 1
    expect(ci.effect).toBeCloseTo(2, 12);
    const half = 4.303 / Math.sqrt(3);
    expect(ci.ci95![0]).toBeCloseTo(2 - half, 6);
    expect(ci.ci95![1]).toBeCloseTo(2 + half, 6);
    expect(ci.null).toBe(0);
    expect(ci.perSeed).toEqual([1, 2, 3]);
  });
  it('averages ratios on the log scale (2x and 0.5x cancel)', () => {
    const ci = pairedInterval([2, 1], [1, 2], 'ratio');
    expect(ci.effect).toBeCloseTo(1, 12);
    expect(ci.null).toBe(1);
    expect(ci.ci95![0]).toBeLessThan(1);
    expect(ci.ci95![1]).toBeGreaterThan(1);
    expect(ci.ci95![0] * ci.ci95![1]).toBeCloseTo(1, 9); // symmetric on the log scale
  });
  it('has no interval with one pair, and refuses unpaired or bad input', () => {
    expect(pairedInterval([3], [1], 'difference').ci95).toBeNull();
    expect(() => pairedInterval([1, 2], [1], 'difference')).toThrow(/pairs must share seeds/);
    expect(() => pairedInterval([], [], 'difference')).toThrow(/no pairs/);
    expect(() => pairedInterval([1, NaN], [1, 1], 'difference')).toThrow(/non-finite/);
    expect(() => pairedInterval([1, -1], [1, 1], 'ratio')).toThrow(/positive/);
  });
  it('covers the true mean difference about 95% of the time (5 seeds, 4,000 synthetic studies)', () => {
    const z = normals(7);
    let covered = 0;
    const trials = 4000;
    for (let t = 0; t < trials; t++) {
      const base = Array.from({ length: 5 }, () => 100 + 5 * z());
      const treat = base.map((b) => b - 1.5 + 2 * z()); // true effect -1.5
      const ci = pairedInterval(treat, base, 'difference').ci95!;
      if (ci[0] <= -1.5 && -1.5 <= ci[1]) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.93);
    expect(covered / trials).toBeLessThan(0.97);
  });
});

describe('verdict rule', () => {
  it('says supported only when the interval excludes no-difference on the claimed side', () => {
    expect(verdict({ ci95: [-3, -1], null: 0 }, 'lower')).toBe('supported');
    expect(verdict({ ci95: [1, 3], null: 0 }, 'lower')).toBe('not supported');
    expect(verdict({ ci95: [-3, 1], null: 0 }, 'lower')).toBe('inconclusive');
    expect(verdict({ ci95: [1.1, 1.4], null: 1 }, 'higher')).toBe('supported');
    expect(verdict({ ci95: [0.7, 0.9], null: 1 }, 'higher')).toBe('not supported');
    expect(verdict({ ci95: null, null: 0 }, 'lower')).toBe('inconclusive');
  });
  it('does not call three seeds that agree in sign a win when the interval crosses zero', () => {
    const ci = pairedInterval([99.9, 95, 99.8], [100, 100, 100], 'difference'); // all lower, very uneven
    expect(ci.ci95![1]).toBeGreaterThan(0);
    expect(verdict(ci, 'lower')).toBe('inconclusive');
  });
  it('counts overshooting a reference statistic as a cost', () => {
    const reference = 0.862; // held-out distinct-2
    expect(distanceTo(reference, 0.935)).toBeGreaterThan(distanceTo(reference, 0.85));
    // a treatment that overshoots further than the baseline falls short is worse, not better
    const ci = pairedInterval([0.935, 0.94, 0.93].map((x) => distanceTo(reference, x)), [0.84, 0.845, 0.85].map((x) => distanceTo(reference, x)), 'difference');
    expect(verdict(ci, 'lower')).toBe('not supported');
  });
  it('summaries take their verdict from the interval and format it', () => {
    const interval = pairedInterval([170, 168, 171, 169, 170], [175, 174, 173, 176, 175], 'difference');
    const s = summarize('demo', { claim: 'B beats A', metric: 'test perplexity (B - A)', unit: 'perplexity', better: 'lower', interval }, { seeds: [0, 1, 2, 3, 4], steps: 10, command: 'x', wallSeconds: 1, machine: 'test' });
    expect(s.verdict).toBe('supported');
    expect(s.effect).toBeCloseTo(-5, 12);
    expect(s.null).toBe(0);
    expect(formatInterval(interval)).toMatch(/^-5\.00 \[-\d\.\d\d, -\d\.\d\d\]$/);
    const one = summarize('demo', { claim: 'c', metric: 'm', unit: 'u', better: 'lower', interval: pairedInterval([1], [2], 'difference') }, { seeds: [0], steps: 1, command: 'x', wallSeconds: 1 });
    expect(one.verdict).toBe('inconclusive');
    expect(one.ci95).toBeNull();
  });
});

describe('verdict against a stated margin', () => {
  it('takes a claim such as "at most 4% worse" against its margin, not against no difference', () => {
    expect(verdict({ ci95: [1.01, 1.03], null: 1 }, 'lower', 1.04)).toBe('supported');
    expect(verdict({ ci95: [1.05, 1.3], null: 1 }, 'lower', 1.04)).toBe('not supported');
    expect(verdict({ ci95: [1.02, 1.06], null: 1 }, 'lower', 1.04)).toBe('inconclusive');
  });
});
