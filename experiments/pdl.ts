/**
 * The Power-Law Decay Loss study (shared/papers.md section 1): pretrain a small LM on Brown with plain
 * cross-entropy (kept under runs/pdl/pretrain-<preset>/ and reused by later runs), finetune it on State of
 * the Union addresses with cross-entropy and with PDL for several alphas (frequencies counted on the
 * finetuning targets; same seeds, batches and steps), then score the held-out addresses: perplexity overall
 * and per frequency bucket, and text metrics of sampled continuations. Writes runs/pdl/report.md and
 * runs/pdl/metrics.json.
 *
 *   npx tsx experiments/pdl.ts --quick          # smoke test, under 5 minutes on 2 CPU cores
 *   npx tsx experiments/pdl.ts --preset full    # the study (hours on 2 CPU cores; see the report for the estimate)
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { destroyDevices, initDevice } from '../core/index.js';
import { TransformerLM } from '../nn/index.js';
import { powerLawWeights, tokenFrequencies, type FrequencyKind } from '../nn/losses/index.js';
import { claimRun, CliError, EXPERIMENT_OPTIONS, nameOption, parseExperimentArgs, presetOption, publishReport, resolveRun, SEEDS_OPTION } from './cli/index.js';
import { loadBrown, loadSotu } from './data/index.js';
import { fmt } from './report/markdown.js';
import { BUCKETS, bucketsFromCounts, type Bucket } from './pdl/evaluate.js';
import { assess, runCell, type CellResult, type Variant } from './pdl/finetune.js';
import { costPerToken, PDL_PRESETS, studyTokens } from './pdl/presets.js';
import { pretrain } from './pdl/pretrain.js';
import { writeMetrics, writeReport } from './pdl/report.js';
import { pickPrompts, textMetrics, type SampleSettings } from './pdl/samples.js';
import type { VariantRun } from './pdl/summary.js';
import { trainConfig, withSteps } from './train/config.js';

const PROG = 'tsx experiments/pdl.ts';
const args = parseExperimentArgs({
  name: PROG,
  description: 'Finetune a Brown-pretrained LM on State of the Union addresses with cross-entropy vs the Power-Law Decay Loss.',
  options: {
    ...EXPERIMENT_OPTIONS,
    quick: { type: 'boolean', description: 'the quick preset (under 5 minutes on 2 cores); same as --preset quick' },
    preset: presetOption(['quick', 'full'], 'quick'),
    name: nameOption('pdl', 'run name, one folder name: pretraining and finetuning runs go to runs/<name>/ (the report module writes runs/pdl/)'),
    resume: { type: 'boolean', description: 'continue an interrupted pretraining in runs/<name>/pretrain-<preset>/ (done anyway when its settings match)' },
    alphas: { type: 'string', default: '0.25,0.5,1', description: 'PDL exponents, comma-separated (cross-entropy always runs too)' },
    kind: { type: 'string', default: 'probabilities', choices: ['probabilities', 'counts'], description: 'frequencies PDL weighs by' },
    eps: { type: 'number', min: 0, default: 1e-6, description: 'added to each frequency (paper: 1e-6..1e-9 with probabilities; use >= 1 with counts)' },
    maxWeight: { type: 'number', description: 'clip PDL weights to at most this' },
    seeds: { ...SEEDS_OPTION, description: 'finetuning seeds 0..n-1 (overrides the preset; at least 2 for a spread)' },
    steps: { ...EXPERIMENT_OPTIONS.steps, description: 'finetuning steps (overrides the preset)' },
    pretrainSteps: { type: 'number', integer: true, min: 1, description: 'pretraining steps (overrides the preset)' },
    freshPretrain: { type: 'boolean', description: 'pretrain again even when runs/<name>/pretrain-<preset> holds a finished model' },
    pretrained: { type: 'string', description: 'load the pretrained model from this tsgrad checkpoint instead (same architecture and vocabulary)' },
    keepCheckpoints: { type: 'boolean', description: 'keep each finetuned model under runs/pdl/finetune/' },
  },
});

const run = resolveRun(PROG, args, () => 'pdl');
const preset = run.preset as 'quick' | 'full';
const p = structuredClone(PDL_PRESETS[preset]);
if (args.seeds !== undefined) p.seeds = args.seeds;
if (args.maxVocab !== undefined) p.maxVocab = args.maxVocab;
p.finetune = withSteps(p.finetune, args.steps);
p.pretrain = withSteps(p.pretrain, args.pretrainSteps);
const alphas = args.alphas.split(',').map((a) => Number(a.trim()));
if (alphas.some((a) => !(a > 0))) throw new CliError(`${PROG}: option --alphas expects positive numbers separated by commas, got '${args.alphas}' (cross-entropy, alpha 0, always runs)`);
if (args.maxWeight !== undefined && !(args.maxWeight > 0)) throw new CliError(`${PROG}: option --max-weight must be above 0, got '${args.maxWeight}'`);
if (args.pretrained !== undefined && !existsSync(args.pretrained)) throw new Error(`--pretrained: no checkpoint at ${args.pretrained}`);
claimRun(run);
const kind = args.kind as FrequencyKind;
const seeds = Array.from({ length: p.seeds }, (_, i) => i);
const command = `npx tsx experiments/pdl.ts ${process.argv.slice(2).join(' ')}`.trim();

const t0 = performance.now();
const dev = await initDevice({ device: args.device });
const brown = loadBrown({ maxVocab: p.maxVocab });
const vocab = brown.vocab;
const V = vocab.size;
const sotu = loadSotu({ vocab, splits: { train: p.sotuTrainAddresses } });
const years = (sp: { addresses: { year: number }[] }) => `${sp.addresses[0].year}-${sp.addresses[sp.addresses.length - 1].year}`;
console.log(`Brown vocabulary ${V}; SOTU finetuning ${years(sotu.splits.train)} (${sotu.train.length.toLocaleString()} tokens), held-out ${years(sotu.splits.test)} (${sotu.test.length.toLocaleString()} tokens)`);

const model = {
  vocabSize: V, contextLength: p.context, dModel: p.dModel, nHeads: p.nHeads, nLayers: p.nLayers,
  mlp: 'gelu' as const, norm: 'layernorm' as const, positions: 'rope' as const, dropout: p.dropout, seed: 0,
};
const shape = { batchSize: p.batchSize, context: p.context };
const pre = await pretrain({
  preset, maxVocab: p.maxVocab ?? null, vocabSize: V, model, validTokens: p.pretrain.validTokens,
  train: trainConfig({ ...p.pretrain, ...shape }, { seed: 0, ckptEvery: 200 }),
}, brown, dev, { dir: join(run.runDir, `pretrain-${preset}`), fresh: args.freshPretrain, from: args.pretrained });
console.log(`pretrained (${pre.how}): Brown validation perplexity ${pre.validPerplexity.toFixed(1)}`);

// frequencies on the finetuning targets; buckets always rank by counts (the same order either way)
const counts = tokenFrequencies(sotu.train, { vocabSize: V, kind: 'counts' });
const freqs = kind === 'counts' ? counts : tokenFrequencies(sotu.train, { vocabSize: V, kind });
const bucketOf: Bucket[] = bucketsFromCounts(counts.values);
const names = (id: number) => vocab.wordOf(id);
const variants: Variant[] = [
  { name: 'ce', label: 'CE (alpha 0)', alpha: 0, weights: null },
  ...alphas.map((alpha) => ({
    name: `pdl-a${alpha}`, label: `PDL alpha ${alpha}`, alpha,
    weights: powerLawWeights(freqs, { alpha, eps: args.eps, maxWeight: args.maxWeight, names }),
  })),
];

const sampling: SampleSettings = { promptTokens: p.promptTokens, newTokens: p.newTokens, temperature: 0.8, topK: 40 };
const prompts = pickPrompts(sotu.test, vocab, p.prompts, sampling);
const common = {
  model, train: trainConfig({ ...p.finetune, ...shape }, { seed: 0 }),
  data: { train: sotu.train, valid: sotu.valid, heldOut: sotu.test }, heldOutTokens: p.heldOutTokens, bucketOf, prompts, sampling, vocab, device: dev,
};

const base = new TransformerLM(model);
base.loadStateDict(pre.state);
const pretrainedCells: CellResult[] = [];
for (const seed of seeds) {
  const a = await assess(base, { ...common, seed }, pretrainedCells[0]?.score); // the score does not depend on the seed
  pretrainedCells.push({ ...a, trainSeconds: 0, tokensPerSecond: NaN, finalLoss: NaN, weightStats: null });
}
console.log(`pretrained only: held-out perplexity ${pretrainedCells[0].score.perplexity.toFixed(1)}`);

const cells = new Map<string, CellResult[]>(variants.map((v) => [v.name, []]));
for (const seed of seeds) {
  for (const variant of variants) {
    const c = await runCell({ ...common, variant, seed, pretrained: pre.state, runDir: join(run.runDir, 'finetune', `${variant.name}-s${seed}`), keepCheckpoint: args.keepCheckpoints });
    cells.get(variant.name)!.push(c);
    const b = c.score.buckets;
    console.log(`${variant.label} seed ${seed}: perplexity ${c.score.perplexity.toFixed(1)} (top-100 ${b.top100.perplexity.toFixed(1)}, mid ${b.mid.perplexity.toFixed(1)}, ` +
      `rare ${b.rare.perplexity.toFixed(1)}, <unk> ${b.unk.perplexity.toFixed(1)}); distinct-2 ${(c.text.distinct2 * 100).toFixed(1)}%, rare share ${(c.text.rareShare * 100).toFixed(1)}%; ${c.trainSeconds.toFixed(0)} s`);
  }
}
const minutes = (performance.now() - t0) / 60000;

// what the full preset would cost, from this run's measured speed scaled by the per-token cost
const ftCells = [...cells.values()].flat();
const tps = ftCells.reduce((a, c) => a + c.tokensPerSecond, 0) / ftCells.length;
const full = PDL_PRESETS.full;
const fullV = full.maxVocab ?? 15000;
const fullTokens = studyTokens(full, variants.length);
const scale = costPerToken(full, fullV) / costPerToken(p, V);
const fullHours = (fullTokens.pretrain + fullTokens.finetune) / (tps / scale) / 3600;
// scoring and sampling: this run's seconds per model, scaled by tokens scored / sampled and the per-token cost
const models = variants.length * full.seeds + 1;
const perModel = (f: (c: CellResult) => number) => ftCells.reduce((a, c) => a + f(c), 0) / ftCells.length;
const scoredNow = p.heldOutTokens ?? sotu.test.length;
const assessMinutes = (models * (perModel((c) => c.assessSeconds.score) * (sotu.test.length / scoredNow) +
  perModel((c) => c.assessSeconds.sample) * ((full.prompts * full.newTokens) / (p.prompts * p.newTokens))) * scale) / 60;
const fullRun = `\`npx tsx experiments/pdl.ts --preset full\`: vocabulary ${fullV}, d ${full.dModel}, ${full.nLayers} layers, context ${full.context}, batch ${full.batchSize}; ` +
  `pretraining ${full.pretrain.steps} steps (${(fullTokens.pretrain / 1e6).toFixed(2)}M tokens), then ${variants.length} variants x ${full.seeds} seeds x ${full.finetune.steps} ` +
  `finetuning steps (${(fullTokens.finetune / 1e6).toFixed(2)}M tokens), the whole held-out split (${sotu.test.length.toLocaleString()} tokens) scored, ${full.prompts} prompts x ${full.newTokens} sampled tokens. ` +
  `Expected time on this machine: about ${fmt(fullHours, 2)} h of training (this run's ${tps.toFixed(0)} finetuning tokens/s on ${dev.name}, scaled by the ${scale.toFixed(1)}x larger ` +
  `per-token cost), plus about ${fmt(assessMinutes, 2)} min for scoring and sampling ${models} models (this run's seconds per model, scaled the same way). The pretrained model is kept in runs/pdl/pretrain-full/ (checkpoints every 200 steps; ` +
  `rerunning resumes or reuses it), so later sweeps (\`--alphas\`, \`--eps\`, \`--kind counts\`, \`--max-weight\`) cost only the finetuning.`;

const runs: VariantRun[] = variants.map((v) => ({
  variant: {
    name: v.name, label: v.label, alpha: v.alpha, eps: v.weights ? args.eps : null, kind: v.weights ? kind : null, maxWeight: v.weights ? (args.maxWeight ?? null) : null,
    unseen: v.weights?.unseen.length ?? 0, unseenWeight: v.weights?.unseenWeight ?? null,
  },
  cells: cells.get(v.name)!,
}));
const heldOutBuckets = Object.fromEntries(BUCKETS.map((b) => [b, pretrainedCells[0].score.buckets[b].tokens])) as Record<Bucket, number>;
const w = (v: Variant) => {
  if (!v.weights) return 'all 1';
  const seen = Array.from(v.weights.weights).filter((_, i) => counts.values[i] > 0);
  return `${fmt(Math.min(...seen), 3)} .. ${fmt(Math.max(...seen), 3)} (ratio ${fmt(Math.max(...seen) / Math.min(...seen), 3)}); unseen ${v.weights.unseen.length} ids at ${fmt(v.weights.unseenWeight, 3)}` +
    `${v.weights.clipped.length ? `, ${v.weights.clipped.length} clipped` : ''}`;
};
const study = {
  runName: run.name,
  preset, command, device: dev.name, minutes, quick: preset === 'quick', runs, pretrained: pretrainedCells, prompts, vocab, seeds, heldOutBuckets, fullRun,
  // the reference against itself: rare recall is 100% by definition, so it is left out (NaN)
  reference: { ...textMetrics(prompts.map((q) => q.reference), prompts.map((q) => q.reference), bucketOf, vocab), rareRecall: NaN },
  steps: { pretrain: pre.steps, finetune: p.finetune.steps },
  setup: [
    ['pretraining', `Brown train split, cross-entropy, ${pre.steps} steps (${pre.how}${pre.how === 'trained' || pre.how === 'resumed' ? `, ${pre.seconds.toFixed(0)} s` : ` from ${pre.checkpoint}`}); ` +
      `Brown validation perplexity ${fmt(pre.validPerplexity, 4)} (first ${p.pretrain.validTokens.toLocaleString()} tokens)`],
    ['vocabulary', `${V} (Brown train words by frequency${p.maxVocab ? `, capped at ${p.maxVocab}` : ''}; the rest is <unk>: ${(sotu.splits.test.stats.oovRate * 100).toFixed(1)}% of the whole held-out split)`],
    ['model', `${p.nLayers} pre-LayerNorm blocks, d ${p.dModel}, ${p.nHeads} heads, RoPE, GELU MLP, context ${p.context}, dropout ${p.dropout}`],
    ['finetuning data', `State of the Union ${years(sotu.splits.train)} (${p.sotuTrainAddresses} addresses, ${sotu.train.length.toLocaleString()} tokens)`],
    ['finetuning', `${p.finetune.steps} steps, batch ${p.batchSize} x ${p.context}, AdamW lr ${p.finetune.lr} (warmup ${p.finetune.warmup}, cosine to ${fmt(p.finetune.lr / 10)}), clip 1; seeds ${seeds.join(', ')}`],
    ['held-out', `State of the Union ${years(sotu.splits.test)}; ${p.heldOutTokens ? `the first ${p.heldOutTokens.toLocaleString()} tokens scored` : 'every token scored'}`],
    ['PDL weights', `w = 1 / (freq + ${args.eps})^alpha, freq = ${kind} of each id among the finetuning targets${args.maxWeight ? `, clipped at ${args.maxWeight}` : ''}; reduction sum w CE / sum w`],
    ...variants.filter((v) => v.weights).map((v): [string, string] => [`weights, ${v.label}`, w(v)]),
    ['sampling', `prompts of ${p.promptTokens} tokens at sentence starts of the held-out split, ${p.newTokens} new tokens, temperature 0.8, top-k 40, generator seed 1000 + seed`],
  ] as [string, string][],
  extra: { fullRunAssessMinutes: assessMinutes, sampling: `${p.promptTokens}-token prompts, ${p.newTokens} new tokens, temperature 0.8, top-k 40`, vocabSize: V, kind, finetuneTokensPerSecond: tps, pretrain: { how: pre.how, steps: pre.steps, validPerplexity: pre.validPerplexity }, fullRunHours: fullHours },
};
const reportPath = writeReport(study);
const metricsPath = writeMetrics(study);
console.log(`${minutes.toFixed(1)} min; report: ${reportPath}; metrics: ${metricsPath}`);
for (const file of publishReport(run.runDir, run.outDir)) console.log(`copied to ${file}`);
await destroyDevices();
