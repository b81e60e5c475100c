/**
 * The ComplexFormer experiment's outputs: runs/<name>/report.md (tables, SVG curves with the spread over
 * seeds) and metrics.json, from the per-run results of experiments/complexformer.ts.
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { CorpusStats } from '../data/index.js';
import { fmt, ReportWriter } from '../report/markdown.js';
import { writeJsonAtomic } from '../report/metrics.js';
import { lineChart, type LineSeries } from '../report/svg.js';
import type { Settings } from './settings.js';
import { pm, spread, type Spread } from './stats.js';
import { VARIANTS } from './variants.js';

export interface RunResult {
  variant: string;
  seed: number;
  params: number;
  validPerplexity: number;
  validTokens: number;
  testPerplexity: number;
  testTokens: number;
  /** Test perplexity with windows of 2T, and over window positions >= T only. */
  test2x: number;
  test2xBeyondT: number;
  /** Mean NLL at each window position 0..2T-1 of the 2T evaluation. */
  test2xByPosition: number[];
  tokensPerSecond: number;
  trainSeconds: number;
  history: { step: number; loss: number; valPerplexity?: number }[];
}

export interface ReportInput {
  name: string;
  mode: 'quick' | 'full' | 'settle';
  settings: Settings;
  fullSettings: Settings;
  device: string;
  vocabSize: number;
  corpusStats: CorpusStats;
  results: RunResult[];
  kneserNey: { order: number; valid: number; test: number }[];
  interrupted: boolean;
  wallSeconds: number;
  /** Tokens scored when a whole split is evaluated (its length minus the first token). */
  splitTokens: { valid: number; test: number };
  /** Measured seconds per step of the full settings (quick runs), for the full run's time estimate. */
  fullStepSeconds?: Record<string, number>;
  command: string;
}

type Metric = 'validPerplexity' | 'testPerplexity' | 'test2x' | 'test2xBeyondT' | 'tokensPerSecond';
const withSeeds = (s: Spread, perSeed: number[]) => ({ ...s, perSeed });

/** CMHA minus RoPE, seed by seed (same seed = same data order and the same non-phase initial weights). */
function paired(results: RunResult[], a: string, b: string, m: Metric) {
  const diffs: number[] = [];
  for (const ra of results.filter((r) => r.variant === a)) {
    const rb = results.find((r) => r.variant === b && r.seed === ra.seed);
    if (rb) diffs.push(ra[m] - rb[m]);
  }
  return diffs;
}

/** Paired differences as text, and who wins on how many seeds. */
function describe(d: number[]): { text: string; wins: number; call: string } {
  const s = spread(d);
  const wins = d.filter((x) => x < 0).length;
  const seeds = `${d.length} seed${d.length > 1 ? 's' : ''}`;
  const text = `${s.mean >= 0 ? '+' : ''}${s.mean.toFixed(2)} ± ${s.std.toFixed(2)} perplexity (mean ± std over ${seeds}; min ${s.min.toFixed(2)}, max ${s.max.toFixed(2)})`;
  const call = wins === d.length ? 'CMHA is better on every seed' : wins === 0 ? 'CMHA is worse on every seed' : `mixed: CMHA is better on ${wins} of ${d.length} seeds`;
  return { text, wins, call };
}

/** The answer in one line, from test perplexity with windows of T. */
function answer(d: number[], ropeMean: number | undefined, quick: boolean): string {
  if (d.length === 0 || ropeMean === undefined) return 'No answer: the run has no finished RoPE/CMHA pair.';
  const { text, wins, call } = describe(d);
  const head = wins === d.length ? '**Yes**' : wins === 0 ? '**No, CMHA is worse**' : '**No clear difference**';
  const pct = ((100 * spread(d).mean) / ropeMean).toFixed(1);
  return `${quick ? '*Quick smoke run, not evidence:* ' : ''}${head} — ${call}: test perplexity CMHA − RoPE = ${text}, ${pct}% of RoPE's ${ropeMean.toFixed(2)}.`;
}

function verdict(d: number[], what: string): string {
  if (d.length === 0) return `no paired seeds for ${what}`;
  const { text, call } = describe(d);
  return `${what}: CMHA − RoPE = ${text} — ${call}`;
}

/**
 * Estimated seconds of the full run: training steps at the measured rate; evaluation (periodic, final valid,
 * test at T and at 2T) at a third of a training step per batch of the same number of tokens.
 */
function fullEstimate(f: Settings, perStep: Record<string, number>, validTokens: number, testTokens: number): number {
  const tok = f.batchSize * f.context;
  const evalBatches = (f.steps / f.evalEvery) * (f.evalTokens / tok) + (f.finalValidTokens ?? validTokens) / tok + (2 * (f.testTokens ?? testTokens)) / tok;
  let total = 0;
  for (const v of VARIANTS) {
    const sec = perStep[v.name] ?? perStep.cmha;
    total += (v.main ? f.seeds : f.ablationSeeds) * sec * (f.steps + evalBatches / 3);
  }
  return total;
}

export function writeComplexformerReport(inp: ReportInput): string {
  const s = inp.settings;
  const present = VARIANTS.filter((v) => inp.results.some((r) => r.variant === v.name));
  const runsOf = (name: string) => inp.results.filter((r) => r.variant === name);
  const summary = present.map((v) => {
    const rs = runsOf(v.name);
    const m = (k: Metric) => withSeeds(spread(rs.map((r) => r[k])), rs.map((r) => r[k]));
    return {
      name: v.name, label: v.label, params: rs[0].params, seeds: rs.map((r) => r.seed),
      valPerplexity: m('validPerplexity'), testPerplexity: m('testPerplexity'), testPerplexity2xContext: m('test2x'),
      testPerplexityBeyondTrainContext: m('test2xBeyondT'), tokensPerSecond: m('tokensPerSecond'),
    };
  });
  const ropeParams = summary.find((x) => x.name === 'rope')?.params;
  const cmhaParams = summary.find((x) => x.name === 'cmha')?.params;
  const diffs = {
    valid: paired(inp.results, 'cmha', 'rope', 'validPerplexity'),
    test: paired(inp.results, 'cmha', 'rope', 'testPerplexity'),
    test2x: paired(inp.results, 'cmha', 'rope', 'test2x'),
    beyond: paired(inp.results, 'cmha', 'rope', 'test2xBeyondT'),
  };
  const validTokens = inp.results[0]?.validTokens ?? 0;
  const testTokens = inp.results[0]?.testTokens ?? 0;
  const estimate = inp.fullStepSeconds ? fullEstimate(inp.fullSettings, inp.fullStepSeconds, inp.splitTokens.valid, inp.splitTokens.test) : undefined;
  const f = inp.fullSettings;

  const r = new ReportWriter(inp.name, { title: `ComplexFormer CMHA vs RoPE attention, Brown word LM (${inp.mode} run)` });
  r.paragraph(
    `Command: \`${inp.command}\` on device **${inp.device}**; ${(inp.wallSeconds / 60).toFixed(1)} min in all ` +
      `(machine load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores at the end: other jobs shared it).` +
      (inp.interrupted ? ' **Interrupted: only the finished runs are reported.**' : ''),
  );
  if (inp.mode === 'quick') {
    r.paragraph(
      `**This is the quick smoke run**: ${s.steps} steps of ${s.batchSize} x ${s.context} tokens, vocabulary capped at ${inp.vocabSize}, ` +
        `${s.seeds} seeds for the main pair and ${s.ablationSeeds} for the ablations, evaluation on the first ${validTokens.toLocaleString()} validation ` +
        `and ${testTokens.toLocaleString()} test tokens. After so few steps the models are barely past unigram statistics; the numbers show that ` +
        'the pipeline works, not which attention is better. The full run is described at the end.',
    );
  }
  r.heading('Does CMHA beat RoPE here?').paragraph(answer(diffs.test, summary.find((x) => x.name === 'rope')?.testPerplexity.mean, inp.mode === 'quick')).list([verdict(diffs.valid, 'validation perplexity'), verdict(diffs.test, 'test perplexity (windows of T)'), verdict(diffs.test2x, 'test perplexity (windows of 2T)'), verdict(diffs.beyond, 'test perplexity at positions >= T (never trained on)')]);
  r.paragraph('Negative differences favour CMHA. With this few seeds, a mean difference smaller than the seed-to-seed std is not evidence either way.');

  r.heading('What is compared, and what the paper\'s code did')
    .paragraph(
      'The ComplexFormer paper was withdrawn and its numbers are unavailable, so this comparison is ours. Its official code computes the CMHA ' +
        'score **without a causal mask** (every position sees the future, so its language-model losses are not comparable) and **without the ' +
        '1/sqrt(d_k) scale**. Here CMHA is causal (the same mask as the baseline, tested in spec/complex-attention.spec.ts), computed in the ' +
        'exact factorised form (rotate q and k, then one batched matmul), and the scale is an option measured both ways. ' +
        '"delta ~ N(0, 1/sqrt(d_k/2))" is read as a standard deviation of 1/sqrt(d_k/2). Every variant shares the data order, the seeds, the steps, ' +
        'and for a given seed the very same initial weights apart from delta and b (delta is drawn from its own generator).',
    )
    .paragraph(
      `Parameters: RoPE ${ropeParams?.toLocaleString() ?? '—'}, CMHA ${cmhaParams?.toLocaleString() ?? '—'}. CMHA adds H x d_k/2 deltas and ` +
        `H x d_k/2 phase biases per layer, d = ${s.dModel} per layer, ${s.nLayers * s.dModel} in all` +
        (ropeParams ? ` (${((100 * s.nLayers * s.dModel) / ropeParams).toFixed(3)}% of the model)` : '') +
        '; the difference is that small, so the models are not re-sized to equalise it.',
    );

  r.heading('Results (mean ± std over seeds)').table(
    ['variant', 'params', 'seeds', 'valid ppl', 'test ppl (T)', 'test ppl (2T windows)', 'test ppl, positions >= T', 'train tokens/s'],
    summary.map((x) => [x.label, x.params, x.seeds.length, pm(x.valPerplexity), pm(x.testPerplexity), pm(x.testPerplexity2xContext), pm(x.testPerplexityBeyondTrainContext), pm(x.tokensPerSecond, 0)]),
  );
  r.paragraph(
    `Scored tokens: ${validTokens.toLocaleString()} validation, ${testTokens.toLocaleString()} test (the same test tokens with windows of T = ${s.context} and 2T = ${2 * s.context}; ` +
      'non-overlapping windows, so the 2T column mixes short and long contexts, and the last column keeps only the positions T..2T-1, which no model saw in training). ' +
      'Tokens/s is training throughput on a shared 2-core machine: other jobs ran beside it, so treat differences under ~20% as noise.',
  );
  r.heading('Kneser-Ney baseline on the same tokens').table(
    ['model', 'valid ppl', 'test ppl'],
    inp.kneserNey.map((k) => [`Kneser-Ney ${k.order}-gram (interpolated, modified)`, fmt(k.valid, 4), fmt(k.test, 4)]),
  );
  r.heading('Per seed').table(
    ['variant', 'seed', 'valid ppl', 'test ppl (T)', 'test ppl (2T)', 'positions >= T', 'tokens/s', 'train s'],
    inp.results.map((x) => [x.variant, x.seed, fmt(x.validPerplexity, 4), fmt(x.testPerplexity, 4), fmt(x.test2x, 4), fmt(x.test2xBeyondT, 4), Math.round(x.tokensPerSecond), Math.round(x.trainSeconds)]),
  );

  // curves: one series per run, then mean over seeds with a min..max band
  const acrossSeeds = (name: string, series: (x: RunResult) => [number, number][]): LineSeries => {
    const per = runsOf(name).map(series);
    const xs = per[0].map(([x]) => x).filter((x) => per.every((p) => p.some(([px]) => px === x)));
    const at = (x: number) => spread(per.map((p) => p.find(([px]) => px === x)![1]));
    return {
      name: `${name} (${per.length} seed${per.length > 1 ? 's' : ''})`,
      points: xs.map((x) => [x, at(x).mean]),
      band: per.length > 1 ? xs.map((x) => [x, at(x).min, at(x).max]) : undefined,
    };
  };
  /** Mean of consecutive groups of k points (k >= 1), at the group's last x. */
  const groups = (pts: [number, number][], k: number): [number, number][] => {
    const out: [number, number][] = [];
    for (let i = 0; i + k <= pts.length; i += k) out.push([pts[i + k - 1][0], pts.slice(i, i + k).reduce((a, [, y]) => a + y, 0) / k]);
    return out;
  };
  if (present.length) {
    r.heading('Curves');
    r.image('val-perplexity.svg', lineChart({
      title: `Validation perplexity (first ${s.evalTokens} tokens)`, xLabel: 'step', yLabel: 'perplexity (line: mean, band: min..max over seeds)',
      series: present.map((v) => acrossSeeds(v.name, (x) => x.history.filter((h) => h.valPerplexity !== undefined).map((h) => [h.step, h.valPerplexity!]))),
    }));
    const k = Math.max(1, Math.floor(s.steps / 50));
    r.image('train-loss.svg', lineChart({
      title: `Training loss${k > 1 ? ` (means of ${k} steps)` : ''}`, xLabel: 'step', yLabel: 'cross-entropy, nats (mean, band: min..max)',
      series: present.map((v) => acrossSeeds(v.name, (x) => groups(x.history.map((h) => [h.step, h.loss]), k))),
    }));
    const bucket = Math.max(1, s.context / 8);
    r.image('position-perplexity.svg', lineChart({
      title: `Test perplexity by position in windows of 2T = ${2 * s.context}`, xLabel: `position in window (trained on positions < ${s.context}; buckets of ${bucket})`,
      yLabel: 'perplexity (mean, band: min..max)',
      series: present.map((v) => acrossSeeds(v.name, (x) => groups(x.test2xByPosition.map((nll, p) => [p, nll]), bucket).map(([p, nll]) => [p, Math.exp(nll)]))),
    }));
  }

  r.heading('Setup').table(
    ['setting', 'value'],
    [
      ['data', `Brown, fixed protocol (800k train / 200k valid / rest test), vocabulary ${inp.vocabSize}${s.maxVocab ? ` (capped at ${s.maxVocab}; the rest is <unk>)` : ''}; OOV valid ${(inp.corpusStats.valid.oovRate * 100).toFixed(1)}%, test ${(inp.corpusStats.test.oovRate * 100).toFixed(1)}%`],
      ['model', `${s.nLayers} pre-LayerNorm blocks, d ${s.dModel}, ${s.nHeads} heads (d_k ${s.dModel / s.nHeads}), GELU MLP 4x, untied head, no dropout, contextLength ${2 * s.context}`],
      ['training', `AdamW (0.9, 0.95), wd 0.1 on matrices only (delta and b are not decayed), lr ${s.lr}, warmup ${s.warmup}, cosine to ${fmt(s.lr / 10)}, clip 1, batch ${s.batchSize} x ${s.context}, ${s.steps} steps`],
      ['variants', VARIANTS.map((v) => `${v.name}: ${v.label}`).join('; ')],
    ],
  );

  r.heading('The full run');
  r.paragraph(
    `\`npx tsx experiments/complexformer.ts\`: vocabulary capped at ${f.maxVocab}, batch ${f.batchSize} x ${f.context} (evaluation also at ${2 * f.context}), ${f.steps} steps, ` +
      `${f.seeds} seeds for every variant, validation ${f.finalValidTokens ? `on ${f.finalValidTokens.toLocaleString()} tokens` : 'on the whole split'}, test on the whole split. ` +
      (estimate && inp.fullStepSeconds
        ? `Expected time on this machine: about **${(estimate / 3600).toFixed(1)} hours**, from step times measured in this run (${Object.entries(inp.fullStepSeconds).map(([k, v]) => `${k} ${v.toFixed(2)} s/step`).join(', ')}; ` +
          'evaluation counted as a third of a step per batch). Flags --seeds, --ablation-seeds and --steps shorten it.'
        : 'Its time is estimated by the quick run (`--quick`), which times a few steps of these settings.'),
  );

  writeJsonAtomic(join(r.dir, 'metrics.json'), {
    variants: summary, steps: s.steps, device: inp.device, mode: inp.mode, settings: s, vocabSize: inp.vocabSize,
    validTokens, testTokens, kneserNey: inp.kneserNey, cmhaMinusRope: diffs, wallSeconds: inp.wallSeconds, interrupted: inp.interrupted,
    fullRun: { settings: f, stepSeconds: inp.fullStepSeconds, estimatedSeconds: estimate },
    runs: inp.results,
  });
  return r.write();
}
