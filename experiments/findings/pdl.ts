/**
 * Settling study for the Power-Law Decay Loss (findings/pdl-diversity): does PDL make sampled text more
 * diverse than cross-entropy, and is that more than a flatter next-token distribution?
 *
 * For each seed s: pretrain a model on Brown with seed s (weights, data order; runs/<name>/pretrain-s<s>/),
 * finetune it on State of the Union with cross-entropy and with PDL (alpha --alpha) with seed s (same
 * batches, same start), score the held-out addresses (perplexity overall and per frequency bucket), sample
 * continuations at temperature 0.8, and sample the CE model again at the temperature matched to the PDL
 * model (./../pdl/temperature.ts: equal mean entropy of the top-k sampling distribution on teacher-forced
 * prompt + reference contexts). Each (variant, seed) is saved in runs/<name>/<variant>-s<s>/result.json as it
 * finishes; `--resume` reuses finished ones made with the same settings (and the finetuned checkpoints).
 *
 *   npx tsx experiments/findings/pdl.ts                  # the settling run (full preset sizes, 3 seeds)
 *   npx tsx experiments/findings/pdl.ts --preset quick   # smoke run, 1-2 minutes
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { destroyDevices, initDevice } from '../../core/index.js';
import { TransformerLM } from '../../nn/index.js';
import { powerLawWeights, tokenFrequencies } from '../../nn/losses/index.js';
import { loadBrown, loadSotu } from '../data/index.js';
import { continuationTopLogits } from '../pdl/entropy-probe.js';
import { bucketsFromCounts, type Bucket, type HeldOutScore } from '../pdl/evaluate.js';
import { runCell, type Variant } from '../pdl/finetune.js';
import { PDL_PRESETS, type PdlPreset } from '../pdl/presets.js';
import { pretrain } from '../pdl/pretrain.js';
import { referenceDistanceInterval } from '../pdl/reference-distance.js';
import { continuePrompts, pickPrompts, textMetrics, type SampleSettings, type TextMetrics } from '../pdl/samples.js';
import { matchTemperature, meanSamplingEntropy } from '../pdl/temperature.js';
import { checkRunName, CliError, EXPERIMENT_OPTIONS, nameOption, parseExperimentArgs, presetOption, SEEDS_OPTION } from '../cli/index.js';
import { sameSettings } from '../train/config.js';
import { fmt } from '../report/markdown.js';
import { writeJsonAtomic } from '../report/metrics.js';
import { barChart, lineChart } from '../report/svg.js';
import { loadCheckpoint, stripPrefix } from '../train/checkpoint.js';
import { commandLine, findingReport, machineLine, summarize, writeFinding, type Comparison } from './finding.js';
import { pairedInterval } from './stats.js';

const SETTLE_PRESETS: Record<'quick' | 'settle', PdlPreset> = {
  quick: {
    ...PDL_PRESETS.quick,
    pretrain: { steps: 30, lr: 3e-3, warmup: 3, validTokens: 1024 },
    finetune: { steps: 10, lr: 2e-3, warmup: 1 },
    heldOutTokens: 1024, seeds: 2, prompts: 6,
  },
  settle: PDL_PRESETS.full,
};
const TEMPERATURE = 0.8;
const TOP_K = 40;
/** Temperatures at which each model's mean sampling entropy is recorded (the curve in the report). */
const CURVE = [0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2, 1.35, 1.5, 1.75, 2];

const args = parseExperimentArgs({
  name: 'tsx experiments/findings/pdl.ts',
  description: 'PDL diversity settling study: CE vs PDL vs temperature-matched CE over seeds that each pretrain their own model.',
  options: {
    preset: presetOption(['quick', 'settle'], 'settle'),
    steps: { ...EXPERIMENT_OPTIONS.steps, description: 'finetuning steps per variant (overrides the preset)' },
    pretrainSteps: { ...EXPERIMENT_OPTIONS.steps, description: 'pretraining steps per seed (overrides the preset)' },
    seeds: SEEDS_OPTION,
    alpha: { type: 'number', default: 0.5, description: 'PDL exponent of the treatment (paper: 0.25..1.5)' },
    device: EXPERIMENT_OPTIONS.device,
    name: nameOption('pdl-settle', 'per-run results go to runs/<name>/'),
    resume: { type: 'boolean', description: 'reuse finished pretraining, (variant, seed) results and checkpoints in runs/<name>/ made with the same settings' },
    write: { type: 'boolean', default: true, description: 'write findings/pdl-diversity (--no-write for a trial run)' },
  },
});
const preset = args.preset as keyof typeof SETTLE_PRESETS;
const p: PdlPreset = structuredClone(SETTLE_PRESETS[preset]);
if (args.steps !== undefined) p.finetune = { ...p.finetune, steps: args.steps, warmup: Math.min(p.finetune.warmup, Math.floor(args.steps / 10)) };
if (args.pretrainSteps !== undefined) {
  p.pretrain = { ...p.pretrain, steps: args.pretrainSteps, warmup: Math.min(p.pretrain.warmup, Math.floor(args.pretrainSteps / 10)) };
}
if (args.seeds !== undefined) p.seeds = args.seeds;
if (!(args.alpha > 0)) throw new CliError(`--alpha must be positive (0 is cross-entropy, the baseline), got ${args.alpha}`);
checkRunName('tsx experiments/findings/pdl.ts', args.name);
const alpha = args.alpha;
const EPS = 1e-6;
const settings = { preset: p, alpha, eps: EPS, kind: 'probabilities', temperature: TEMPERATURE, topK: TOP_K };
const command = commandLine('experiments/findings/pdl.ts');

const t0 = performance.now();
const dev = await initDevice({ device: args.device });
const brown = loadBrown({ maxVocab: p.maxVocab });
const vocab = brown.vocab;
const V = vocab.size;
const sotu = loadSotu({ vocab, splits: { train: p.sotuTrainAddresses } });
console.log(`PDL settle (${preset}): V ${V}, SOTU finetuning ${sotu.train.length.toLocaleString()} tokens, held-out ${sotu.test.length.toLocaleString()}; ` +
  `${p.seeds} seeds x (pretrain ${p.pretrain.steps} + 2 x finetune ${p.finetune.steps} steps), alpha ${alpha}, device ${dev.name}`);

const counts = tokenFrequencies(sotu.train, { vocabSize: V, kind: 'counts' });
const freqs = tokenFrequencies(sotu.train, { vocabSize: V, kind: 'probabilities' });
const bucketOf: Bucket[] = bucketsFromCounts(counts.values);
const weights = powerLawWeights(freqs, { alpha, eps: EPS, names: (id) => vocab.wordOf(id) });
const VARIANTS: Variant[] = [
  { name: 'ce', label: 'CE', alpha: 0, weights: null },
  { name: `pdl-a${alpha}`, label: `PDL alpha ${alpha}`, alpha, weights },
];
const sampling: SampleSettings = { promptTokens: p.promptTokens, newTokens: p.newTokens, temperature: TEMPERATURE, topK: TOP_K };
const prompts = pickPrompts(sotu.test, vocab, p.prompts, sampling);
const reference = textMetrics(prompts.map((q) => q.reference), prompts.map((q) => q.reference), bucketOf, vocab);
const modelConfig = (seed: number) => ({
  vocabSize: V, contextLength: p.context, dModel: p.dModel, nHeads: p.nHeads, nLayers: p.nLayers,
  mlp: 'gelu' as const, norm: 'layernorm' as const, positions: 'rope' as const, dropout: p.dropout, seed,
});
const trainBase = { batchSize: p.batchSize, context: p.context, clip: 1, evalEvery: 0, evalTokens: 0, ckptEvery: 0 };

/** One finetuned model, assessed: held-out scores, samples at 0.8, and its entropy curve. */
interface ModelResult {
  variant: string;
  seed: number;
  score: HeldOutScore;
  text: TextMetrics;
  samples: number[][];
  /** Mean sampling entropy (nats, top-k 40) on the teacher-forced continuations at each temperature of CURVE. */
  entropyCurve: [number, number][];
  trainSeconds: number;
  finalLoss: number;
  pretrain: { validPerplexity: number; seconds: number; how: string };
}
/** The CE model sampled at the temperature matched to the PDL model's entropy at 0.8. */
interface MatchedResult {
  seed: number;
  temperature: number;
  targetEntropy: number;
  entropy: number;
  clamped: 'low' | 'high' | null;
  text: TextMetrics;
  samples: number[][];
}

/** Settings as compared on --resume: the seed count is left out, so adding seeds reuses the finished ones. */
const comparable = (x: unknown): unknown => {
  const o = x as { preset?: Record<string, unknown> };
  return o.preset ? { ...o, preset: { ...o.preset, seeds: 0 } } : o;
};
const dirOf = (variant: string, seed: number) => join('runs', args.name, `${variant}-s${seed}`);
function reuse<T>(variant: string, seed: number): T | null {
  const file = join(dirOf(variant, seed), 'result.json');
  if (!args.resume || !existsSync(file)) return null;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { settings: unknown; result: T };
  if (!sameSettings(comparable(saved.settings), comparable(settings))) {
    console.log(`${file} was made with other settings: running ${variant} seed ${seed} again`);
    return null;
  }
  console.log(`${variant} seed ${seed}: reusing ${file}`);
  return saved.result;
}
const save = (variant: string, seed: number, result: unknown) => writeJsonAtomic(join(dirOf(variant, seed), 'result.json'), { settings, result });

const results: { ce: ModelResult; pdl: ModelResult; matched: MatchedResult }[] = [];
for (let seed = 0; seed < p.seeds; seed++) {
  let ce = reuse<ModelResult>('ce', seed);
  let pdl = reuse<ModelResult>(VARIANTS[1].name, seed);
  let matched = reuse<MatchedResult>('ce-matched', seed);
  if (ce && pdl && matched) {
    results.push({ ce, pdl, matched });
    continue;
  }
  const pre = await pretrain({
    preset: `settle-${preset}`, maxVocab: p.maxVocab ?? null, vocabSize: V, model: modelConfig(seed), validTokens: p.pretrain.validTokens,
    train: { ...trainBase, steps: p.pretrain.steps, lr: p.pretrain.lr, minLr: p.pretrain.lr / 10, warmup: p.pretrain.warmup, ckptEvery: 200, seed },
  }, brown, dev, { dir: join('runs', args.name, `pretrain-s${seed}`), fresh: !args.resume });
  console.log(`seed ${seed}: pretrained (${pre.how}), Brown validation perplexity ${pre.validPerplexity.toFixed(1)}`);

  const models: TransformerLM[] = [];
  const done: ModelResult[] = [];
  for (const variant of VARIANTS) {
    const runDir = dirOf(variant.name, seed);
    const common = {
      model: modelConfig(seed), seed, pretrained: pre.state, variant, runDir, keepCheckpoint: true,
      train: { ...trainBase, steps: p.finetune.steps, lr: p.finetune.lr, minLr: p.finetune.lr / 10, warmup: p.finetune.warmup },
      data: { train: sotu.train, valid: sotu.valid, heldOut: sotu.test }, heldOutTokens: p.heldOutTokens, bucketOf, prompts, sampling, vocab, device: dev,
    };
    let r = variant.alpha === 0 ? ce : pdl;
    if (!r || !existsSync(join(runDir, 'checkpoint.safetensors'))) {
      const c = await runCell(common);
      r = {
        variant: variant.name, seed, score: c.score, text: c.text, samples: c.samples, entropyCurve: [], trainSeconds: c.trainSeconds, finalLoss: c.finalLoss,
        pretrain: { validPerplexity: pre.validPerplexity, seconds: pre.seconds, how: pre.how },
      };
    }
    const model = new TransformerLM(modelConfig(seed));
    model.loadStateDict(stripPrefix('model', loadCheckpoint(join(runDir, 'checkpoint.safetensors'), dev).tensors));
    if (r.entropyCurve.length === 0) {
      const top = await continuationTopLogits(model, prompts, TOP_K, dev);
      r.entropyCurve = CURVE.map((t) => [t, meanSamplingEntropy(top, t)]);
      save(variant.name, seed, r);
    }
    models.push(model);
    done.push(r);
    console.log(`${variant.label} seed ${seed}: perplexity ${r.score.perplexity.toFixed(1)} (rare ${r.score.buckets.rare.perplexity.toFixed(1)}); ` +
      `distinct-2 ${(r.text.distinct2 * 100).toFixed(1)}% (reference ${(reference.distinct2 * 100).toFixed(1)}%); entropy at ${TEMPERATURE} ${entropyAt(r, TEMPERATURE).toFixed(3)} nats; ${r.trainSeconds.toFixed(0)} s`);
  }
  [ce, pdl] = done;
  if (!matched) {
    const ceTop = await continuationTopLogits(models[0], prompts, TOP_K, dev);
    const pdlTop = await continuationTopLogits(models[1], prompts, TOP_K, dev);
    const m = matchTemperature((t) => meanSamplingEntropy(ceTop, t), meanSamplingEntropy(pdlTop, TEMPERATURE));
    const samples = await continuePrompts(models[0], prompts, { ...sampling, temperature: m.temperature }, 1000 + seed);
    matched = { seed, temperature: m.temperature, targetEntropy: m.target, entropy: m.entropy, clamped: m.clamped, text: textMetrics(samples, prompts.map((q) => q.reference), bucketOf, vocab), samples };
    save('ce-matched', seed, matched);
  }
  console.log(`CE at matched temperature ${matched.temperature.toFixed(3)} seed ${seed}: distinct-2 ${(matched.text.distinct2 * 100).toFixed(1)}%${matched.clamped ? ` (clamped ${matched.clamped})` : ''}`);
  results.push({ ce, pdl, matched });
}

function entropyAt(r: ModelResult, t: number): number {
  return r.entropyCurve.find(([x]) => x === t)?.[1] ?? NaN;
}

// ---- the finding ----
const seeds = results.map((r) => r.ce.seed);
// the study's wall time sums every invocation that built runs/<name>/ (a --resume run adds its own)
const ledgerPath = join('runs', args.name, 'invocations.json');
interface Invocation { command: string; wallSeconds: number; at: string }
const earlier: Invocation[] = args.resume && existsSync(ledgerPath) ? (JSON.parse(readFileSync(ledgerPath, 'utf8')) as Invocation[]) : [];
const invocations = [...earlier, { command: `npx tsx experiments/findings/pdl.ts ${process.argv.slice(2).join(' ')}`.trim(), wallSeconds: (performance.now() - t0) / 1000, at: new Date().toISOString() }];
writeJsonAtomic(ledgerPath, invocations);
const wallSeconds = invocations.reduce((a, x) => a + x.wallSeconds, 0);
const machine = machineLine();
const pp = (x: number) => `${(x * 100).toFixed(1)}%`;
const col = <T>(f: (r: (typeof results)[number]) => T) => results.map(f);
const d2 = { ce: col((r) => r.ce.text.distinct2), pdl: col((r) => r.pdl.text.distinct2), matched: col((r) => r.matched.text.distinct2) };
const label = `PDL (alpha ${alpha})`;

const primary: Comparison = {
  claim: 'PDL makes generated text more diverse than cross-entropy (closer to the held-out text\'s distinct-2; overshooting it counts as distance)',
  metric: `|distinct-2 - reference| of samples at T ${TEMPERATURE}, ${label} - CE`, unit: 'percentage points', better: 'lower',
  interval: referenceDistanceInterval(d2.pdl, d2.ce, reference.distinct2, 100),
};
const vsMatched: Comparison = {
  claim: 'PDL\'s diversity is more than a flatter distribution: it beats CE sampled at the entropy-matched temperature',
  metric: `|distinct-2 - reference|, ${label} at T ${TEMPERATURE} - CE at the matched T`, unit: 'percentage points', better: 'lower',
  interval: referenceDistanceInterval(d2.pdl, d2.matched, reference.distinct2, 100),
};
const rawDistinct: Comparison = {
  claim: 'PDL raises distinct-2 (no reference: the naive reading of "more diverse")',
  metric: `distinct-2 at T ${TEMPERATURE}, ${label} - CE`, unit: 'percentage points', better: 'higher',
  interval: pairedInterval(d2.pdl.map((x) => 100 * x), d2.ce.map((x) => 100 * x), 'difference'),
};
const perplexity: Comparison = {
  claim: 'PDL costs no held-out perplexity', metric: `held-out perplexity ratio, ${label} / CE`, unit: 'ratio', better: 'lower',
  interval: pairedInterval(col((r) => r.pdl.score.perplexity), col((r) => r.ce.score.perplexity), 'ratio'),
};
const rarePerplexity: Comparison = {
  claim: 'PDL lowers the perplexity of rare words (rank >= 1000 in the finetuning counts)', metric: `rare-bucket held-out perplexity ratio, ${label} / CE`, unit: 'ratio', better: 'lower',
  interval: pairedInterval(col((r) => r.pdl.score.buckets.rare.perplexity), col((r) => r.ce.score.buckets.rare.perplexity), 'ratio'),
};
const rareRecall: Comparison = {
  claim: 'PDL samples recall more of the references\' rare words', metric: `rare-word recall at T ${TEMPERATURE}, ${label} - CE`, unit: 'percentage points', better: 'higher',
  interval: pairedInterval(col((r) => 100 * r.pdl.text.rareRecall), col((r) => 100 * r.ce.text.rareRecall), 'difference'),
};
const rareShare: Comparison = {
  claim: 'PDL samples use rare words at a rate closer to the held-out text\'s', metric: `|rare-word share - reference| at T ${TEMPERATURE}, ${label} - CE`, unit: 'percentage points', better: 'lower',
  interval: referenceDistanceInterval(col((r) => r.pdl.text.rareShare), col((r) => r.ce.text.rareShare), reference.rareShare, 100),
};
const flatter: Comparison = {
  claim: 'PDL flattens the next-token sampling distribution', metric: `mean sampling entropy at T ${TEMPERATURE} (top-k ${TOP_K}, teacher-forced), ${label} - CE`, unit: 'nats', better: 'higher',
  interval: pairedInterval(col((r) => entropyAt(r.pdl, TEMPERATURE)), col((r) => entropyAt(r.ce, TEMPERATURE)), 'difference'),
};
const secondary = [vsMatched, rawDistinct, perplexity, rarePerplexity, rareRecall, rareShare, flatter];
const trainSeconds = results.reduce((a, r) => a + r.ce.trainSeconds + r.pdl.trainSeconds + r.ce.pretrain.seconds, 0);
const matchingRule = `The CE model's sampling temperature T* is the one at which the mean entropy of its sampling distribution (top-${TOP_K} logits / T, softmax) over the ` +
  `${prompts.length * p.newTokens} continuation positions of the prompts, teacher-forced on the reference continuations, equals the PDL model's at T ${TEMPERATURE} ` +
  '(bisection on log T in [0.05, 20], 40 steps).';

if (args.write) {
  const summary = summarize('pdl-diversity', primary, { seeds, steps: p.finetune.steps, command, wallSeconds, machine }, secondary, {
    pretraining: `each seed pretrains its own model (${p.pretrain.steps} steps on Brown, seed s for weights and data order)`,
    alpha, eps: EPS, frequencies: 'probabilities over the finetuning targets', pretrainSteps: p.pretrain.steps, vocabSize: V,
    sampling: { temperature: TEMPERATURE, topK: TOP_K, prompts: prompts.length, promptTokens: p.promptTokens, newTokens: p.newTokens },
    reference: { distinct2: reference.distinct2, distinct1: reference.distinct1, rareShare: reference.rareShare },
    matchedTemperature: col((r) => r.matched.temperature), matchingRule, trainSeconds, device: dev.name, preset, invocations,
  });
  const report = findingReport(summary, 'PDL: more diverse text, or just flatter sampling?', [primary, ...secondary]);
  report.paragraph(
    `Primary metric, and why: "more diverse" is only a gain while it moves sampled text toward real text; a model that emits word salad beats any ` +
      `real text on distinct-2. So the primary effect is the paired change of the DISTANCE between the samples' distinct-2 and the held-out ` +
      `reference continuations' own distinct-2 (${pp(reference.distinct2)}, the same prompts and length): overshooting the reference is a cost. ` +
      `The raw distinct-2 difference is reported as a secondary line for contrast. A PDL that only flattens the distribution would be matched by a ` +
      `CE model sampled hotter; the entropy-matched CE comparison separates the two. ${matchingRule} Entropy is the matched quantity (not distinct-2 ` +
      'itself, which would make the comparison zero by construction): it is what temperature changes, it is measured on identical contexts for both ' +
      'models, and it carries no sampling noise.',
  );
  report.heading('Per seed').table(
    ['seed', 'pretrain valid ppl', 'CE ppl', 'PDL ppl', 'CE rare ppl', 'PDL rare ppl', `CE d-2 @${TEMPERATURE}`, `PDL d-2 @${TEMPERATURE}`, 'T*', 'CE d-2 @T*',
      `H CE @${TEMPERATURE}`, `H PDL @${TEMPERATURE}`, 'CE rare recall', 'PDL rare recall', 'CE rare share', 'PDL rare share'],
    results.map((r) => [
      String(r.ce.seed), fmt(r.ce.pretrain.validPerplexity, 4), fmt(r.ce.score.perplexity, 4), fmt(r.pdl.score.perplexity, 4),
      fmt(r.ce.score.buckets.rare.perplexity, 4), fmt(r.pdl.score.buckets.rare.perplexity, 4), pp(r.ce.text.distinct2), pp(r.pdl.text.distinct2),
      `${fmt(r.matched.temperature, 3)}${r.matched.clamped ? ` (clamped ${r.matched.clamped})` : ''}`, pp(r.matched.text.distinct2),
      fmt(entropyAt(r.ce, TEMPERATURE), 3), fmt(entropyAt(r.pdl, TEMPERATURE), 3), pp(r.ce.text.rareRecall), pp(r.pdl.text.rareRecall), pp(r.ce.text.rareShare), pp(r.pdl.text.rareShare),
    ]),
  );
  report.paragraph(`Reference continuations: distinct-1 ${pp(reference.distinct1)}, distinct-2 ${pp(reference.distinct2)}, rare-word share ${pp(reference.rareShare)}. ` +
    'ppl = held-out perplexity (cross-entropy of the logits, whatever the training loss); H = mean sampling entropy in nats.');
  const cats = seeds.map((s) => `seed ${s}`);
  report.image('distinct2.svg', barChart({
    title: `distinct-2 of sampled continuations (reference ${pp(reference.distinct2)})`, categories: cats, yLabel: 'distinct-2 (%)',
    series: [
      { name: `CE @${TEMPERATURE}`, values: d2.ce.map((x) => 100 * x) },
      { name: `${label} @${TEMPERATURE}`, values: d2.pdl.map((x) => 100 * x) },
      { name: 'CE @ matched T*', values: d2.matched.map((x) => 100 * x) },
      { name: 'held-out reference', values: seeds.map(() => 100 * reference.distinct2) },
    ],
  }), 'distinct-2 per seed and variant, with the reference');
  report.image('entropy.svg', lineChart({
    title: `Mean sampling entropy vs temperature (top-k ${TOP_K}, teacher-forced continuations)`, xLabel: 'temperature', yLabel: 'entropy (nats)',
    series: results.flatMap((r) => [
      { name: `CE seed ${r.ce.seed}`, points: r.ce.entropyCurve },
      { name: `PDL seed ${r.pdl.seed}`, points: r.pdl.entropyCurve },
    ]),
  }), 'entropy curves; the matched T* is where a CE curve reaches the PDL curve\'s value at 0.8');
  report.image('perplexity.svg', barChart({
    title: 'Held-out perplexity ratio PDL / CE per seed', categories: cats, yLabel: 'ratio',
    series: [
      { name: 'all tokens', values: perplexity.interval.perSeed },
      { name: 'rare bucket', values: rarePerplexity.interval.perSeed },
    ],
  }), 'perplexity ratios per seed');
  report.heading('Setup').list([
    `wall time: ${fmt(wallSeconds / 60, 3)} min over ${invocations.length} invocation${invocations.length > 1 ? 's' : ''} (${invocations.map((x) => `\`${x.command}\` ${fmt(x.wallSeconds / 60, 3)} min`).join('; ')}), on a shared 2-core machine beside other long runs`,
    `Brown vocabulary ${V} (train words by frequency, capped at ${p.maxVocab ?? 'none'}; the rest is <unk>); model ${p.nLayers} pre-LayerNorm blocks, d ${p.dModel}, ${p.nHeads} heads, RoPE, GELU, context ${p.context}, dropout ${p.dropout}`,
    `pretraining per seed: ${p.pretrain.steps} steps of cross-entropy on Brown, batch ${p.batchSize} x ${p.context}, AdamW lr ${p.pretrain.lr}, warmup ${p.pretrain.warmup}, cosine to ${fmt(p.pretrain.lr / 10)}; seed s sets the initialisation, data order and dropout`,
    `finetuning: State of the Union (${p.sotuTrainAddresses} addresses, ${sotu.train.length.toLocaleString()} tokens), ${p.finetune.steps} steps, lr ${p.finetune.lr}, warmup ${p.finetune.warmup}; CE and PDL start from the same pretrained weights and see the same batches (seed s)`,
    `PDL: w = 1 / (p + ${EPS})^${alpha}, p = probability of the id among the finetuning targets; loss = sum w CE / sum w. alpha ${alpha}: the middle of the paper's range [0.25, 1.5]`,
    `held-out: the State of the Union test split (${sotu.test.length.toLocaleString()} tokens), ${p.heldOutTokens ? `first ${p.heldOutTokens} tokens` : 'all tokens'} scored; buckets by rank in the finetuning counts (top-100, 100-999, rare >= 1000, <unk>)`,
    `sampling: ${prompts.length} prompts of ${p.promptTokens} tokens at sentence starts of the held-out split, ${p.newTokens} new tokens each, top-k ${TOP_K}, generator seed 1000 + s (the same draws for every variant of a seed)`,
    `training time (pretraining + finetuning, all seeds): ${fmt(trainSeconds / 60, 3)} min; device ${dev.name}`,
  ]);
  const show = (ids: number[]) => vocab.decode(ids).join(' ');
  const r0 = results[0];
  report.heading('Samples (seed 0, first prompts)').list(prompts.slice(0, 3).flatMap((q, i) => [
    `prompt: ${show(q.prompt)}`, `reference: ${show(q.reference)}`, `CE @${TEMPERATURE}: ${show(r0.ce.samples[i])}`,
    `PDL @${TEMPERATURE}: ${show(r0.pdl.samples[i])}`, `CE @${fmt(r0.matched.temperature, 3)}: ${show(r0.matched.samples[i])}`,
  ]));
  console.log(`verdict: ${summary.verdict}; report: ${writeFinding(summary, report)}`);
}
console.log(`${(wallSeconds / 60).toFixed(1)} min`);
await destroyDevices();
