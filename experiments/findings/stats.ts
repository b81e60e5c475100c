/**
 * Paired statistics for settled findings: a treatment and a baseline run with the same seeds (same init,
 * data order and, where there is one, pretraining per pair), the per-seed differences (or log ratios), their
 * mean with a 95% Student-t interval, and a verdict that never says more than that interval.
 *
 *   const ci = pairedInterval([170, 168, 171], [175, 174, 173], 'difference');   // treatment, baseline
 *   verdict(ci, 'lower');   // 'supported' when the whole interval is below 0, 'not supported' when above, else 'inconclusive'
 */

/** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (the usual table). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/**
 * The 0.975 quantile of Student's t with `df` degrees of freedom: the table for df <= 30, past that the
 * Cornish-Fisher expansion around the normal quantile (error < 1e-4 for df > 30).
 */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new Error(`tQuantile975: degrees of freedom must be a positive integer, got ${df}`);
  if (df <= 30) return T975[df - 1];
  const z = 1.959963984540054;
  const g1 = (z ** 3 + z) / 4;
  const g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96;
  const g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384;
  return z + g1 / df + g2 / df ** 2 + g3 / df ** 3;
}

/** 'difference': treatment - baseline (no difference = 0); 'ratio': treatment / baseline (no difference = 1). */
export type EffectKind = 'difference' | 'ratio';

export interface PairedInterval {
  kind: EffectKind;
  /** Mean paired difference, or the geometric mean of the paired ratios. */
  effect: number;
  /** The effect under no difference: 0 for a difference, 1 for a ratio. */
  null: number;
  /** 95% t-interval of the effect; null with fewer than 2 pairs (no spread to estimate). */
  ci95: [number, number] | null;
  /** Number of pairs. */
  n: number;
  /** Per-seed differences (or ratios), in seed order. */
  perSeed: number[];
}

/**
 * Mean paired effect with a 95% t-interval over seeds. Ratios are averaged on the log scale (the interval
 * of the mean log ratio, exponentiated), so 2x and 0.5x cancel.
 */
export function pairedInterval(treatment: readonly number[], baseline: readonly number[], kind: EffectKind): PairedInterval {
  if (treatment.length !== baseline.length) {
    throw new Error(`pairedInterval: ${treatment.length} treatment values but ${baseline.length} baseline values; pairs must share seeds`);
  }
  if (treatment.length === 0) throw new Error('pairedInterval: no pairs; run at least one seed of each');
  const all = [...treatment, ...baseline];
  if (all.some((x) => !Number.isFinite(x))) throw new Error(`pairedInterval: non-finite value in ${JSON.stringify(all)}`);
  if (kind === 'ratio' && all.some((x) => x <= 0)) throw new Error(`pairedInterval: a ratio needs positive values, got ${JSON.stringify(all)}`);
  const d = treatment.map((t, i) => (kind === 'ratio' ? Math.log(t / baseline[i]) : t - baseline[i]));
  const n = d.length;
  const mean = d.reduce((a, b) => a + b, 0) / n;
  const back = (x: number) => (kind === 'ratio' ? Math.exp(x) : x);
  let ci95: [number, number] | null = null;
  if (n >= 2) {
    const sd = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
    const half = (tQuantile975(n - 1) * sd) / Math.sqrt(n);
    ci95 = [back(mean - half), back(mean + half)];
  }
  return { kind, effect: back(mean), null: kind === 'ratio' ? 1 : 0, ci95, n, perSeed: d.map(back) };
}

export type Verdict = 'supported' | 'not supported' | 'inconclusive';

/**
 * The rule every finding uses: "supported" only when the 95% interval lies wholly on the claimed side of
 * no-difference, "not supported" when it lies wholly on the other side, otherwise (or with no interval)
 * "inconclusive". `better` says which side the claim predicts for treatment vs baseline. A claim with a
 * stated margin ("at most 4% worse": ratio 1.04) passes that margin as `threshold` instead of no-difference.
 */
export function verdict(ci: Pick<PairedInterval, 'ci95' | 'null'>, better: 'lower' | 'higher', threshold = ci.null): Verdict {
  if (!ci.ci95) return 'inconclusive';
  const [lo, hi] = ci.ci95;
  const below = hi < threshold;
  const above = lo > threshold;
  if (!below && !above) return 'inconclusive';
  return (better === 'lower') === below ? 'supported' : 'not supported';
}

/**
 * How far a statistic lies from a reference value (e.g. the held-out text's distinct-2): overshooting the
 * reference is as much a cost as falling short of it, so closeness is what a "gain" must improve.
 */
export function distanceTo(reference: number, value: number): number {
  return Math.abs(value - reference);
}

/** "−3.1 [−5.0, −1.2]" or "0.93x [0.90, 0.96]"; one pair: the value and "(no interval: 1 seed)". */
export function formatInterval(ci: PairedInterval, digits = 2): string {
  const f = (x: number) => (ci.kind === 'ratio' ? `${x.toFixed(digits)}x` : `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`);
  if (!ci.ci95) return `${f(ci.effect)} (no interval: ${ci.n} seed)`;
  return `${f(ci.effect)} [${f(ci.ci95[0])}, ${f(ci.ci95[1])}]`;
}
