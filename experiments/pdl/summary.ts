/**
 * Seed aggregation and the honest comparison of each PDL variant with cross-entropy: a difference counts
 * only when it is larger than the seed-to-seed spread of either side; everything else is called noise.
 */
import { BUCKETS, type Bucket } from './evaluate.js';
import type { CellResult, Variant } from './finetune.js';
import type { TextMetrics } from './samples.js';

export interface VariantRun {
  variant: Omit<Variant, 'weights'> & { eps: number | null; kind: string | null; maxWeight: number | null; unseen: number; unseenWeight: number | null };
  cells: CellResult[];
}

/** A metric read from one cell, with its direction. */
export interface Metric {
  label: string;
  get: (c: CellResult) => number;
  /** 'closer': closer to `ref` (the held-out text's own value) is better. */
  better: 'lower' | 'higher' | 'closer';
  ref?: number;
  /** 'perplexity' compares ratios; 'share' and 'number' compare differences. */
  unit: 'perplexity' | 'share' | 'number';
}

export const ppl = (b: Bucket | 'all' | 'words') => (c: CellResult): number =>
  b === 'all' ? c.score.perplexity : b === 'words' ? c.score.words.perplexity : c.score.buckets[b].perplexity;

/**
 * The compared metrics. Text statistics count as better when CLOSER to the held-out reference text: a model
 * that emits word salad beats any real text on distinct-n, so "higher" would reward incoherence.
 */
export function metrics(reference: TextMetrics): Metric[] {
  const t = (label: string, key: keyof TextMetrics, unit: Metric['unit'] = 'share'): Metric =>
    ({ label, get: (c) => c.text[key], better: 'closer', ref: reference[key], unit });
  return [
    { label: 'perplexity (all)', get: ppl('all'), better: 'lower', unit: 'perplexity' },
    { label: 'perplexity (words, no <unk>)', get: ppl('words'), better: 'lower', unit: 'perplexity' },
    { label: 'perplexity, top-100 words', get: ppl('top100'), better: 'lower', unit: 'perplexity' },
    { label: 'perplexity, ranks 100-999', get: ppl('mid'), better: 'lower', unit: 'perplexity' },
    { label: 'perplexity, rare words', get: ppl('rare'), better: 'lower', unit: 'perplexity' },
    { label: 'perplexity, <unk>', get: ppl('unk'), better: 'lower', unit: 'perplexity' },
    { label: 'rare-word top-10 accuracy', get: (c) => c.score.buckets.rare.topK, better: 'higher', unit: 'share' },
    t('distinct-1', 'distinct1'),
    t('distinct-2', 'distinct2'),
    t('rare-word share of samples', 'rareShare'),
    { label: 'recall of the references\' rare words', get: (c) => c.text.rareRecall, better: 'higher', unit: 'share' },
    t('repetition rate', 'repetition'),
    t('mean sentence length', 'meanSentenceLength', 'number'),
  ];
}

export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

export function spread(xs: number[]): number {
  return xs.length ? Math.max(...xs) - Math.min(...xs) : NaN;
}

export interface Verdict {
  metric: Metric;
  base: number;
  value: number;
  /** Relative change for perplexities, absolute otherwise. */
  change: number;
  /** The larger seed spread of the two sides, in the same unit as `change`. */
  noise: number;
  kind: 'gain' | 'cost' | 'noise';
}

/** Compare one variant's seed means with cross-entropy's, metric by metric. */
export function verdicts(ce: CellResult[], v: CellResult[], ms: Metric[]): Verdict[] {
  return ms.flatMap((m) => {
    const a = ce.map(m.get);
    const b = v.map(m.get);
    const base = mean(a);
    const value = mean(b);
    if (!Number.isFinite(base) || !Number.isFinite(value)) return [];
    const rel = m.unit === 'perplexity';
    const change = rel ? value / base - 1 : value - base;
    const noise = rel ? Math.max(spread(a) / base, spread(b) / value) : Math.max(spread(a), spread(b));
    let improved: boolean;
    let size: number;
    if (m.better === 'closer') {
      const [da, db] = [Math.abs(base - (m.ref ?? 0)), Math.abs(value - (m.ref ?? 0))];
      improved = db < da;
      size = Math.abs(db - da);
    } else {
      improved = m.better === 'lower' ? change < 0 : change > 0;
      size = Math.abs(change);
    }
    return [{ metric: m, base, value, change, noise, kind: size === 0 || size <= noise ? 'noise' : improved ? 'gain' : 'cost' }];
  });
}

function show(x: number, unit: Metric['unit']): string {
  return unit === 'share' ? `${(x * 100).toFixed(1)}%` : unit === 'number' ? x.toFixed(1) : x.toPrecision(4);
}

/** "perplexity, rare words -56.2% (seed spread 21.6%)" or "distinct-2 49.3% -> 72.8% (reference 86.2%; seed spread 6.5%)". */
export function describe(v: Verdict): string {
  const m = v.metric;
  if (m.unit === 'perplexity') {
    return `${m.label} ${v.change >= 0 ? '+' : ''}${(v.change * 100).toFixed(1)}% (seed spread ${(v.noise * 100).toFixed(1)}%)`;
  }
  const ref = m.ref !== undefined ? `reference ${show(m.ref, m.unit)}; ` : '';
  return `${m.label} ${show(v.base, m.unit)} -> ${show(v.value, m.unit)} (${ref}seed spread ${show(v.noise, m.unit)})`;
}

/**
 * Where a variant's change of the overall held-out cross-entropy comes from: per bucket, (share of the
 * held-out tokens) x (change of that bucket's mean cross-entropy), in nats per token; the parts add up to
 * the overall change (seed means of log perplexities).
 */
export function crossEntropyParts(ce: CellResult[], v: CellResult[]): Record<Bucket | 'net', number> {
  const total = ce[0].score.tokens;
  const lnPpl = (cells: CellResult[], b: Bucket) => mean(cells.map((c) => Math.log(c.score.buckets[b].perplexity)));
  const parts = Object.fromEntries(BUCKETS.map((b) => {
    const n = ce[0].score.buckets[b].tokens;
    return [b, n ? (n / total) * (lnPpl(v, b) - lnPpl(ce, b)) : 0];
  })) as Record<Bucket, number>;
  return { ...parts, net: BUCKETS.reduce((s, b) => s + parts[b], 0) };
}
