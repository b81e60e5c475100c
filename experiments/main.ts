/**
 * The main job: train a small decoder-only transformer on the Brown corpus with the default device, score
 * validation and test perplexity, set them beside an interpolated modified Kneser-Ney baseline on exactly
 * the same token streams, and write runs/<name>/report.md (tables, SVG curves, samples) and metrics.json.
 *
 *   npx tsx experiments/main.ts --quick          # a few minutes on 2 CPU cores (npm start)
 *   npx tsx experiments/main.ts --preset cpu     # the longer CPU run
 *   npx tsx experiments/main.ts --resume         # continue runs/<name>/checkpoint.safetensors
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { destroyDevices, Generator, initDevice, manualSeed } from '../core/index.js';
import { claimRun, CliError, EXPERIMENT_OPTIONS, InterruptedError, nameOption, parseExperimentArgs, presetOption, publishReport, resolveRun, SEED_OPTION } from './cli/index.js';
import { loadBrown } from './data/index.js';
import { kneserNeyBaselines } from './ngram/baselines.js';
import { fmt, ReportWriter } from './report/markdown.js';
import { writeJsonAtomic } from './report/metrics.js';
import { lineChart } from './report/svg.js';
import { trainConfig, withSteps } from './train/config.js';
import { runLm } from './train/lm.js';
import { mainModelConfig, PRESETS } from './train/presets.js';

const PROG = 'tsx experiments/main.ts';
const args = parseExperimentArgs({
  name: PROG,
  description: 'Train a small transformer LM on the Brown corpus and report perplexity next to Kneser-Ney.',
  options: {
    ...EXPERIMENT_OPTIONS,
    preset: presetOption(['quick', 'cpu', 'gpu'], 'quick'),
    name: nameOption(undefined, 'run name, one folder name: outputs go to runs/<name>/ (default main-<preset>)'),
    seed: SEED_OPTION,
    lr: { type: 'number', description: 'peak learning rate (overrides the preset)' },
    ckptEvery: { type: 'number', integer: true, min: 0, default: 100, description: 'checkpoint every N steps (0 = only at the end and on Ctrl-C)' },
  },
});
if (args.lr !== undefined && !(args.lr > 0)) throw new CliError(`${PROG}: option --lr must be above 0, got '${args.lr}'`);
const run = resolveRun(PROG, args, (preset) => `main-${preset}`);
const presetName = run.preset as keyof typeof PRESETS;
const p = withSteps({ ...PRESETS[presetName] }, args.steps);
if (args.lr !== undefined) p.lr = args.lr;
if (args.maxVocab !== undefined) p.maxVocab = args.maxVocab;
const { name, runDir } = run;
const checkpoint = join(runDir, 'checkpoint.safetensors');
if (args.resume && !existsSync(checkpoint)) throw new Error(`--resume: no checkpoint at ${checkpoint}; start without --resume`);
claimRun(run);

const dev = await initDevice({ device: args.device });
manualSeed(args.seed);
const t0 = performance.now();
const corpus = loadBrown({ maxVocab: p.maxVocab });
const V = corpus.vocab.size;
console.log(
  `Brown: ${corpus.train.length} train / ${corpus.valid.length} valid / ${corpus.test.length} test tokens, ` +
    `vocabulary ${V}${p.maxVocab ? ` (capped at ${p.maxVocab})` : ''}, OOV valid ${(corpus.stats.valid.oovRate * 100).toFixed(2)}% test ${(corpus.stats.test.oovRate * 100).toFixed(2)}%`,
);

const modelConfig = mainModelConfig(p, V, args.seed);
const config = trainConfig(p, { seed: args.seed, evalEvery: p.evalEvery, evalTokens: p.evalTokens, ckptEvery: args.ckptEvery });
const lm = await runLm({
  name, model: modelConfig, train: config, data: corpus, device: dev, resume: args.resume, allowConfigChange: args.allowConfigChange,
  finalValidTokens: p.finalValidTokens, testTokens: p.testTokens, meta: { preset: presetName },
});
if (lm.interrupted) {
  await destroyDevices();
  throw new InterruptedError(`stopped at step ${lm.result.steps}; no report written (it needs the final evaluation); continue with --resume`);
}
const { model, result, valid, test } = lm;
const kn = kneserNeyBaselines({ train: corpus.train, valid: corpus.valid.subarray(0, valid.tokens + 1), test: corpus.test.subarray(0, test.tokens + 1), vocabSize: V });
const bestKn = Math.min(...kn.map((k) => k.test));

// samples from fixed prompts, for the report
const gen = new Generator(1234);
const prompts = ['the', 'in the first place ,', 'he said that'];
const samples: string[] = [];
for (const text of prompts) {
  const ids = Array.from(corpus.vocab.encode(text.split(' ')));
  const out = await model.generate([ids], { maxNewTokens: 20, temperature: 0.8, topK: 40, generator: gen });
  samples.push(corpus.vocab.decode(Array.from(await out.toArray())).join(' '));
}
const minutes = (performance.now() - t0) / 60000;

const report = new ReportWriter(name, { title: `Brown transformer LM (${presetName} preset)` });
report
  .paragraph(
    `Command: \`npx tsx experiments/main.ts --preset ${presetName}${args.steps !== undefined ? ` --steps ${args.steps}` : ''}\` on device **${dev.name}**; ` +
      `${minutes.toFixed(1)} min in all, ${result.tokensPerSecond.toFixed(0)} training tokens/s.`,
  )
  .heading('Results')
  .table(
    ['model', 'valid perplexity', 'test perplexity'],
    [
      [`transformer (${model.numParameters().toLocaleString()} params, ${result.steps} steps)`, fmt(valid.perplexity, 4), fmt(test.perplexity, 4)],
      ...kn.map((k) => [`Kneser-Ney ${k.order}-gram (interpolated, modified)`, fmt(k.valid, 4), fmt(k.test, 4)]),
    ],
  )
  .paragraph(
    `Scored tokens: ${valid.tokens.toLocaleString()} validation, ${test.tokens.toLocaleString()} test` +
      `${p.testTokens ? ' (a prefix of the test split: the quick preset caps it; the cpu and gpu presets score it all)' : ' (the whole split)'}; ` +
      `the n-gram baselines score exactly the same tokens. The transformer reads non-overlapping windows of ${p.context} tokens, ` +
      `so early tokens of each window have short contexts; Kneser-Ney reads the stream continuously. ` +
      `Transformer vs best Kneser-Ney on test: ${(((test.perplexity - bestKn) / bestKn) * 100).toFixed(1)}% ` +
      `(negative = the transformer is better).`,
  )
  .heading('Setup')
  .table(
    ['setting', 'value'],
    [
      ['vocabulary', `${V}${p.maxVocab ? ` (capped at ${p.maxVocab}; the rest is <unk>)` : ' (train words seen >= 4 times + <unk>)'}`],
      ['OOV rate valid / test', `${(corpus.stats.valid.oovRate * 100).toFixed(2)}% / ${(corpus.stats.test.oovRate * 100).toFixed(2)}%`],
      ['model', `${p.nLayers} pre-LayerNorm blocks, d ${p.dModel}, ${p.nHeads} heads, RoPE, GELU MLP 4x, ${p.tieEmbeddings ? 'head tied to the token embedding' : 'untied head'}, dropout ${p.dropout}`],
      ['training', `AdamW (0.9, 0.95), wd 0.1 on matrices, lr ${p.lr} warmup ${p.warmup} cosine to ${fmt(p.lr / 10)}, clip 1, batch ${p.batchSize} x ${p.context}, seed ${args.seed}`],
    ],
  )
  .heading('Curves')
  .image('loss.svg', lineChart({ title: 'Training loss', xLabel: 'step', yLabel: 'cross-entropy (nats)', series: [{ name: 'train loss', points: result.history.map((h) => [h.step, h.loss]) }] }))
  .image(
    'perplexity.svg',
    lineChart({
      title: 'Validation perplexity',
      xLabel: 'step',
      yLabel: 'perplexity',
      series: [
        { name: 'transformer (periodic, first tokens of valid)', points: result.history.filter((h) => h.valPerplexity).map((h) => [h.step, h.valPerplexity!]) },
        { name: `Kneser-Ney ${kn[0].order}-gram`, points: [[0, kn[0].valid], [result.steps, kn[0].valid]] },
      ],
    }),
  )
  .heading('Samples (temperature 0.8, top-k 40)')
  .list(samples.map((s) => `\`${s}\``));
const reportPath = report.write();
writeJsonAtomic(join(runDir, 'metrics.json'), {
  name, preset: presetName, device: dev.name, steps: result.steps, params: model.numParameters(), vocabSize: V,
  tokensPerSecond: result.tokensPerSecond, trainSeconds: result.seconds, minutes, validPerplexity: valid.perplexity, validTokens: valid.tokens,
  testPerplexity: test.perplexity, testTokens: test.tokens, kneserNey: kn, config, modelConfig, history: result.history,
});
console.log(`valid perplexity ${valid.perplexity.toFixed(2)}, test perplexity ${test.perplexity.toFixed(2)} (Kneser-Ney ${kn.map((k) => `${k.order}-gram ${k.test.toFixed(2)}`).join(', ')})`);
console.log(`report: ${reportPath}`);
for (const file of publishReport(runDir, run.outDir)) console.log(`copied to ${file}`);
await destroyDevices();
