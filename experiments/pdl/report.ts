/**
 * runs/pdl/report.md and runs/pdl/metrics.json of the PDL study: tables (held-out perplexity per bucket,
 * text metrics, weight concentration), charts, side-by-side samples, and the verdict of each PDL variant
 * against cross-entropy with the seed spread as the yardstick.
 */
import { join } from 'node:path';
import type { Vocab } from '../data/index.js';
import { fmt, ReportWriter } from '../report/markdown.js';
import { writeJsonAtomic } from '../report/metrics.js';
import { barChart, lineChart } from '../report/svg.js';
import { BUCKET_LABELS, BUCKETS, type Bucket } from './evaluate.js';
import type { CellResult } from './finetune.js';
import type { Prompt, TextMetrics } from './samples.js';
import { crossEntropyParts, describe, mean, metrics, ppl, spread, verdicts, type VariantRun } from './summary.js';

export interface Study {
  /** The run's folder name under runs/ (default 'pdl'). */
  runName?: string;
  preset: string;
  command: string;
  device: string;
  minutes: number;
  quick: boolean;
  setup: [string, string][];
  runs: VariantRun[];
  /** The pretrained model, not finetuned (one cell per seed: only the samples differ). */
  pretrained: CellResult[];
  reference: TextMetrics;
  prompts: Prompt[];
  vocab: Vocab;
  steps: { pretrain: number; finetune: number };
  seeds: number[];
  heldOutBuckets: Record<Bucket, number>;
  fullRun: string;
  extra: Record<string, unknown>;
}

const pm = (xs: number[], digits = 4): string => {
  const m = mean(xs);
  return xs.length > 1 && Number.isFinite(m) ? `${fmt(m, digits)} ±${fmt(spread(xs) / 2, 2)}` : fmt(m, digits);
};
const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : 'n/a');
const pmPct = (xs: number[]): string => (xs.length > 1 ? `${pct(mean(xs))} ±${(spread(xs) * 50).toFixed(1)}` : pct(mean(xs)));

function scoreRow(label: string, cells: CellResult[]): string[] {
  return [label, pm(cells.map(ppl('all'))), pm(cells.map(ppl('words'))), ...BUCKETS.map((b) => pm(cells.map(ppl(b)))), pmPct(cells.map((c) => c.score.buckets.rare.topK))];
}

function textRow(label: string, t: TextMetrics[]): string[] {
  const col = (f: (x: TextMetrics) => number, asPct = true) => (asPct ? pmPct(t.map(f)) : pm(t.map(f), 3));
  return [label, col((x) => x.distinct1), col((x) => x.distinct2), col((x) => x.rareShare), col((x) => x.rareRecall), col((x) => x.repetition), col((x) => x.meanSentenceLength, false)];
}

export function writeReport(s: Study): string {
  const ce = s.runs.find((r) => r.variant.alpha === 0 && r.variant.kind === null) ?? s.runs[0];
  const pdl = s.runs.filter((r) => r !== ce);
  const r = new ReportWriter(s.runName ?? 'pdl', { title: `Power-Law Decay Loss: finetuning Brown -> State of the Union (${s.preset} preset)` });
  r.paragraph(`Command: \`${s.command}\` on device **${s.device}**; ${s.minutes.toFixed(1)} min in all. Seeds ${s.seeds.join(', ')}; ` +
    `${s.steps.finetune} finetuning steps per run, every variant with the same seeds, batches and starting weights.`);
  if (s.quick) {
    r.paragraph('**Quick preset: a smoke test, not evidence.** The vocabulary is capped, the model is barely pretrained, it is finetuned for a ' +
      'few steps, a short prefix of the held-out split is scored and only a few prompts are sampled. Differences between the losses here ' +
      'are mostly noise; the verdicts below compare them with the seed spread and will usually say so. Run the full preset (end of this report) for the study.');
  }

  r.heading('Bottom line').paragraph('Change of the held-out cross-entropy against cross-entropy finetuning, split into what the ' +
    'frequency buckets gained and lost (nats per held-out token; the table in "What PDL buys" has the parts):');
  r.list(pdl.map((v) => {
    const parts = crossEntropyParts(ce.cells, v.cells);
    const side = (sign: 1 | -1) => {
      const bs = BUCKETS.filter((b) => sign * parts[b] > 0);
      const total = bs.reduce((acc, b) => acc + parts[b], 0);
      return bs.length ? `${total >= 0 ? '+' : ''}${total.toFixed(3)} on ${bs.map((b) => BUCKET_LABELS[b]).join(', ')}` : 'none';
    };
    return `${v.variant.label}: net ${parts.net >= 0 ? '+' : ''}${parts.net.toFixed(3)} nats/token (perplexity x${Math.exp(parts.net).toFixed(2)}); ` +
      `gains ${side(-1)}; costs ${side(1)}.`;
  }));
  const unkShare = s.heldOutBuckets.unk / BUCKETS.reduce((acc, b) => acc + s.heldOutBuckets[b], 0);
  r.paragraph(`<unk> is ${(unkShare * 100).toFixed(1)}% of the scored held-out tokens with this vocabulary and, being frequent, gets one of the ` +
    'smallest PDL weights, so part of the cost sits there; the "words (no <unk>)" column below leaves it out. The rare-word gains are large in ' +
    'perplexity but rare words are few, so they move the overall cross-entropy little.');

  r.heading('Setup').table(['', ''], s.setup);

  r.heading('Held-out perplexity (cross-entropy), overall and by frequency bucket');
  r.paragraph(`Mean ± half the range over seeds. Buckets rank words by their count in the finetuning targets (the counts PDL weighs by); ` +
    `held-out tokens per bucket: ${BUCKETS.map((b) => `${BUCKET_LABELS[b]} ${s.heldOutBuckets[b].toLocaleString()}`).join(', ')}. ` +
    `"top-10" is the share of rare-word positions whose target is among the model's 10 most likely tokens.`);
  r.table(['model', 'all', 'words (no <unk>)', ...BUCKETS.map((b) => BUCKET_LABELS[b]), 'rare top-10'], [
    scoreRow('pretrained only (no finetuning)', s.pretrained.slice(0, 1)),
    ...s.runs.map((v) => scoreRow(v.variant.label, v.cells)),
  ]);
  const alphas = s.runs.map((v) => v.variant.alpha);
  r.image('perplexity-by-bucket.svg', lineChart({
    title: 'Held-out perplexity by frequency bucket vs alpha (alpha 0 = cross-entropy)', xLabel: 'alpha', yLabel: 'perplexity (log scale)', logY: true,
    series: (['all', 'top100', 'mid', 'rare', 'unk'] as const).map((b) => ({
      name: b === 'all' ? 'all tokens' : BUCKET_LABELS[b],
      points: s.runs.map((v, i) => [alphas[i], mean(v.cells.map(ppl(b)))] as [number, number]),
      band: s.runs.map((v, i) => [alphas[i], Math.min(...v.cells.map(ppl(b))), Math.max(...v.cells.map(ppl(b)))] as [number, number, number]),
    })),
  }), 'perplexity by bucket per alpha');
  // log perplexity ratios (= change of the mean cross-entropy in nats): a halving and a doubling look alike
  r.image('cross-entropy-change.svg', barChart({
    title: 'Held-out cross-entropy change vs CE training (nats/token; negative = better)', yLabel: 'nats per token',
    categories: ['all', 'words (no <unk>)', ...BUCKETS.map((b) => BUCKET_LABELS[b])],
    series: pdl.map((v) => ({
      name: v.variant.label,
      values: (['all', 'words', ...BUCKETS] as const).map((b) => Math.log(mean(v.cells.map(ppl(b))) / mean(ce.cells.map(ppl(b))))),
    })),
  }), 'cross-entropy change vs CE per bucket');

  r.heading('Sampled continuations of held-out prompts');
  r.paragraph(`${s.prompts.length} prompts, ${s.extra.sampling as string}. Distinct-n and the repetition rate (share of 3-grams repeating an earlier ` +
    '3-gram of the same continuation) are pooled over all continuations; "rare" is the rare bucket above; rare recall = share of the rare word ' +
    'types in the reference continuations that the model also produced anywhere. The reference row is the held-out text itself: a model ' +
    'above it on distinct-n or rare share is not more diverse but less coherent (read the samples), so the verdicts below reward being closer to it.');
  r.table(['model', 'distinct-1', 'distinct-2', 'rare share', 'rare recall', 'repetition', 'mean sentence length'], [
    textRow('reference (held-out text)', [s.reference]),
    textRow('pretrained only', s.pretrained.map((c) => c.text)),
    ...s.runs.map((v) => textRow(v.variant.label, v.cells.map((c) => c.text))),
  ]);

  r.heading('How concentrated the PDL weights were during finetuning');
  r.paragraph('ESS = effective sample size (sum w)^2 / sum w^2 as a share of the batch positions (100% = plain cross-entropy). ' +
    '"Dominated" counts batches in which one token id held more than half of the weight with fewer than half of the positions (the loss warns and names it). ' +
    `The unseen-token trap cannot fire here: the frequencies are counted on exactly the finetuning targets, so the ${s.runs[1]?.variant.unseen ?? 0} ` +
    'vocabulary ids that never occur there (weight eps^-alpha) are never a training target. It fires when weights come from another set than the ' +
    'targets (spec/pdl.spec.ts shows it, the warning that names the token, and maxWeight).');
  r.table(['variant', 'mean ESS', 'largest one-token share', 'dominated batches', 'tokens named'], pdl.map((v) => {
    const ws = v.cells.map((c) => c.weightStats).filter((w) => w !== null);
    const named = [...new Set(ws.flatMap((w) => w.warnedTokens))];
    return [v.variant.label, pct(mean(ws.map((w) => w.meanEss))), pct(Math.max(...ws.map((w) => w.maxShare))),
      `${ws.reduce((a, w) => a + w.dominatedBatches, 0)} of ${ws.reduce((a, w) => a + w.batches, 0)}`, named.slice(0, 8).join(', ') + (named.length > 8 ? ', ...' : '') || '-'];
  }));

  r.heading('What PDL buys and what it costs (vs cross-entropy, same seeds)');
  r.paragraph('Where the change of the overall held-out cross-entropy comes from, in nats per held-out token: each bucket\'s share of the ' +
    'tokens times the change of its mean cross-entropy (negative = PDL better). The parts add up to the net change.');
  r.table(['variant', ...BUCKETS.map((b) => BUCKET_LABELS[b]), 'net (all tokens)'], pdl.map((v) => {
    const parts = crossEntropyParts(ce.cells, v.cells);
    return [v.variant.label, ...[...BUCKETS, 'net' as const].map((b) => `${parts[b] >= 0 ? '+' : ''}${parts[b].toFixed(3)}`)];
  }));
  const ms = metrics(s.reference);
  const lines: string[] = [];
  for (const v of pdl) {
    const vs = verdicts(ce.cells, v.cells, ms);
    const part = (k: 'gain' | 'cost') => vs.filter((x) => x.kind === k).map(describe).join('; ') || 'nothing beyond the seed spread';
    lines.push(`**${v.variant.label}** — buys: ${part('gain')}. Costs: ${part('cost')}. Within seed noise: ${vs.filter((x) => x.kind === 'noise').map((x) => x.metric.label).join(', ') || 'none'}.`);
  }
  r.list(lines);
  r.paragraph(`A difference counts only when it exceeds the larger seed-to-seed range of the two sides (${s.seeds.length} seeds each); ` +
    'with so few seeds this is a weak filter, so read small "gains" and "costs" as hints. Perplexities compare relatively, shares absolutely; ' +
    'text statistics count as gains when they move closer to the held-out text\'s own value.');

  r.heading('Samples side by side (seed ' + s.seeds[0] + ')');
  const show = s.prompts.slice(0, 3);
  const dec = (ids: number[]) => s.vocab.decode(ids).join(' ');
  r.table(['', ...show.map((_, i) => `prompt ${i + 1}`)], [
    ['prompt', ...show.map((p) => dec(p.prompt))],
    ['reference', ...show.map((p) => dec(p.reference))],
    ...s.runs.map((v) => [v.variant.label, ...show.map((_, i) => dec(v.cells[0].samples[i]))]),
  ]);

  r.heading('Per seed');
  r.table(['variant', 'seed', 'final train loss', 'perplexity', 'rare', 'distinct-2', 'rare share', 'train s'], s.runs.flatMap((v) => v.cells.map((c) => [
    v.variant.label, String(c.seed), fmt(c.finalLoss, 4), fmt(c.score.perplexity, 4), fmt(c.score.buckets.rare.perplexity, 4), pct(c.text.distinct2), pct(c.text.rareShare), fmt(c.trainSeconds, 3),
  ])));
  r.paragraph('The final train loss of a PDL run is its weighted objective, not comparable with cross-entropy.');

  r.heading('The full run').paragraph(s.fullRun);
  return r.write();
}

export function writeMetrics(s: Study): string {
  const file = join('runs', s.runName ?? 'pdl', 'metrics.json');
  const byBucket = (cells: CellResult[]) => Object.fromEntries(BUCKETS.map((b) => [b, mean(cells.map(ppl(b)))]));
  const agg = (cells: CellResult[]) => ({
    perplexity: mean(cells.map(ppl('all'))),
    perplexityByBucket: byBucket(cells),
    perplexityWords: mean(cells.map(ppl('words'))),
    distinct1: mean(cells.map((c) => c.text.distinct1)),
    distinct2: mean(cells.map((c) => c.text.distinct2)),
    rareShare: mean(cells.map((c) => c.text.rareShare)),
    rareRecall: mean(cells.map((c) => c.text.rareRecall)),
    repetition: mean(cells.map((c) => c.text.repetition)),
    meanSentenceLength: mean(cells.map((c) => c.text.meanSentenceLength)),
    rareTop10: mean(cells.map((c) => c.score.buckets.rare.topK)),
  });
  const perSeed = (cells: CellResult[]) => cells.map((c) => ({
    seed: c.seed, perplexity: c.score.perplexity, perplexityWords: c.score.words.perplexity, perplexityByBucket: Object.fromEntries(BUCKETS.map((b) => [b, c.score.buckets[b].perplexity])),
    ...c.text, rareTop10: c.score.buckets.rare.topK, finalLoss: c.finalLoss, trainSeconds: c.trainSeconds, weightStats: c.weightStats,
  }));
  writeJsonAtomic(file, {
    variants: s.runs.map((v) => ({ name: v.variant.name, label: v.variant.label, alpha: v.variant.alpha, eps: v.variant.eps, kind: v.variant.kind,
      maxWeight: v.variant.maxWeight, unseenTokens: v.variant.unseen, unseenWeight: v.variant.unseenWeight, ...agg(v.cells), perSeed: perSeed(v.cells) })),
    pretrainedOnly: { ...agg(s.pretrained), perSeed: perSeed(s.pretrained) },
    reference: s.reference,
    steps: s.steps.finetune,
    pretrainSteps: s.steps.pretrain,
    seeds: s.seeds,
    device: s.device,
    preset: s.preset,
    minutes: s.minutes,
    heldOutTokensPerBucket: s.heldOutBuckets,
    ...s.extra,
  });
  return file;
}
