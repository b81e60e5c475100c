/**
 * ComplexFormer (CMHA) against a RoPE baseline on the Brown word-level LM: same data, seeds, steps and
 * (up to CMHA's d extra phase parameters per layer) the same model. Each variant is trained on windows of T
 * tokens and scored on validation and test with windows of T, and on test with windows of 2T (length
 * extrapolation; the model's contextLength is 2T). Writes runs/<name>/report.md and metrics.json.
 *
 *   npx tsx experiments/complexformer.ts --quick     # smoke run, under 5 minutes on 2 CPU cores
 *   npx tsx experiments/complexformer.ts             # the full run (its time is estimated in the quick report)
 *   npx tsx experiments/complexformer.ts --resume    # after a stop: reuse finished runs, continue the unfinished one
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { destroyDevices, Generator, initDevice, manualSeed, type Device } from '../core/index.js';
import { TransformerLM, type TransformerConfig } from '../nn/index.js';
import { claimRun, EXPERIMENT_OPTIONS, nameOption, parseExperimentArgs, presetOption, publishReport, resolveRun, SEEDS_OPTION } from './cli/index.js';
import { VARIANTS, type Variant } from './complexformer/variants.js';
import { evaluateByPosition, perplexityOver } from './complexformer/position-eval.js';
import { writeComplexformerReport, type RunResult } from './complexformer/report.js';
import { SETTINGS, type Settings } from './complexformer/settings.js';
import { loadBrown, randomWindows } from './data/index.js';
import { kneserNeyBaselines } from './ngram/baselines.js';
import { writeJsonAtomic } from './report/metrics.js';
import { sameSettings, trainConfig, withSteps } from './train/config.js';
import { makeOptimizer, runLm } from './train/lm.js';
import { trainStep } from './train/step.js';

const PROG = 'tsx experiments/complexformer.ts';
const args = parseExperimentArgs({
  name: PROG,
  description: 'ComplexFormer CMHA vs RoPE attention on the Brown word LM (several seeds, 2x-context evaluation).',
  options: {
    ...EXPERIMENT_OPTIONS,
    quick: { type: 'boolean', description: 'smoke run: 30 steps, vocabulary capped at 1000, small evaluation (< 5 min on 2 cores); same as --preset quick' },
    preset: presetOption(['quick', 'full', 'settle'], 'full', 'run size (settle: RoPE vs CMHA only, 5 seeds x 1000 steps)'),
    name: nameOption('complexformer'),
    seeds: { ...SEEDS_OPTION, description: 'seeds of the main pair, RoPE and CMHA (overrides the preset)' },
    ablationSeeds: { type: 'number', integer: true, min: 0, description: 'seeds of the ablations (no scale, delta = 1)' },
    resume: { type: 'boolean', description: 'reuse the finished runs in runs/<name>/ (same settings) and continue an unfinished one from its checkpoint' },
    estimateFull: { type: 'boolean', default: true, description: 'in --quick, time a few steps of the full settings to estimate the full run' },
  },
});

const run = resolveRun(PROG, args, () => 'complexformer');
const mode = run.preset as 'quick' | 'full' | 'settle';
const s: Settings = withSteps({ ...SETTINGS[mode] }, args.steps);
if (args.maxVocab !== undefined) s.maxVocab = args.maxVocab;
if (args.seeds !== undefined) s.seeds = args.seeds;
if (args.ablationSeeds !== undefined) s.ablationSeeds = args.ablationSeeds;
claimRun(run);

const t0 = performance.now();
const dev = await initDevice({ device: args.device });
manualSeed(0);
const corpus = loadBrown({ maxVocab: s.maxVocab });
const V = corpus.vocab.size;
console.log(`Brown: ${corpus.train.length} train / ${corpus.valid.length} valid / ${corpus.test.length} test tokens, vocabulary ${V}; device ${dev.name}; ${mode} settings`);

const modelConfig = (seed: number, v: Variant): TransformerConfig => ({
  vocabSize: V, contextLength: 2 * s.context, dModel: s.dModel, nHeads: s.nHeads, nLayers: s.nLayers,
  mlp: 'gelu', norm: 'layernorm', positions: 'rope', dropout: 0, seed, attention: v.attention?.(seed),
});

// seeds outermost, so every variant has the same number of finished seeds whenever the run stops
const results: RunResult[] = [];
let interrupted = false;
const maxSeeds = Math.max(s.seeds, s.ablationSeeds);
for (let seed = 0; seed < maxSeeds && !interrupted; seed++) {
  for (const v of VARIANTS) {
    if (seed >= (v.main ? s.seeds : s.ablationSeeds)) continue;
    const runName = join(run.name, `${v.name}-s${seed}`);
    const resultFile = join('runs', runName, 'result.json');
    if (args.resume && existsSync(resultFile)) {
      const saved = JSON.parse(readFileSync(resultFile, 'utf8')) as { settings: Settings; result: RunResult };
      if (sameSettings(saved.settings, s)) {
        results.push(saved.result);
        console.log(`${v.name} seed ${seed}: reusing ${resultFile}`);
        continue;
      }
      if (!args.allowConfigChange) {
        throw new Error(`--resume: ${resultFile} was made with other settings than this command's; run with the same flags, or add --allow-config-change to train it again with the new ones`);
      }
      console.log(`${resultFile} was made with other settings: training ${v.name} seed ${seed} again`);
    }
    const train = trainConfig(s, { seed, evalEvery: s.evalEvery, evalTokens: s.evalTokens, ckptEvery: mode === 'quick' ? 0 : s.evalEvery });
    const lm = await runLm({
      name: runName, model: modelConfig(seed, v), train, data: corpus, device: dev, resume: args.resume && existsSync(join('runs', runName, 'checkpoint.safetensors')),
      allowConfigChange: args.allowConfigChange, finalValidTokens: s.finalValidTokens, testTokens: s.testTokens, meta: { experiment: 'complexformer', variant: v.name },
    });
    if (lm.interrupted) {
      interrupted = true;
      console.log('stopped: the report covers the finished runs only (marked partial); continue with --resume');
      break;
    }
    const twice = await evaluateByPosition(lm.model, corpus.test, { context: 2 * s.context, batch: s.batchSize, maxTokens: s.testTokens, device: dev });
    const r: RunResult = {
      variant: v.name, seed, params: lm.model.numParameters(), validPerplexity: lm.valid.perplexity, validTokens: lm.valid.tokens,
      testPerplexity: lm.test.perplexity, testTokens: lm.test.tokens, test2x: twice.perplexity, test2xBeyondT: perplexityOver(twice, s.context),
      test2xByPosition: twice.nllAt.map((n, p) => n / twice.tokensAt[p]), tokensPerSecond: lm.result.tokensPerSecond, trainSeconds: lm.result.seconds,
      history: lm.result.history.map((h) => ({ step: h.step, loss: h.loss, valPerplexity: h.valPerplexity })),
    };
    results.push(r);
    writeJsonAtomic(resultFile, { settings: s, result: r });
    console.log(
      `${v.name} seed ${seed}: valid ${r.validPerplexity.toFixed(2)}, test ${r.testPerplexity.toFixed(2)}, test at 2T ${r.test2x.toFixed(2)} ` +
        `(positions >= T: ${r.test2xBeyondT.toFixed(2)}), ${r.tokensPerSecond.toFixed(0)} tokens/s`,
    );
  }
}

const validTokens = results[0]?.validTokens ?? 0;
const testTokens = results[0]?.testTokens ?? 0;
const kneserNey = kneserNeyBaselines({ train: corpus.train, valid: corpus.valid.subarray(0, validTokens + 1), test: corpus.test.subarray(0, testTokens + 1), vocabSize: V });

/** Seconds per training step of the full settings, RoPE and CMHA (a few steps after one warm-up step). */
async function timeFullSteps(d: Device): Promise<Record<string, number>> {
  const f = SETTINGS.full;
  const data = loadBrown({ maxVocab: f.maxVocab });
  const out: Record<string, number> = {};
  for (const v of VARIANTS.filter((x) => x.main)) {
    const lm = new TransformerLM({ ...modelConfig(0, v), vocabSize: data.vocab.size, contextLength: 2 * f.context, dModel: f.dModel, nHeads: f.nHeads, nLayers: f.nLayers });
    const opt = makeOptimizer(lm, f.lr);
    const g = new Generator(0);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const b = randomWindows(data.train, f.batchSize, f.context, g);
      await trainStep(lm, opt, b, { device: d, batchSize: f.batchSize, context: f.context, clip: 1 });
      if (i > 0) times.push((performance.now() - start) / 1000);
    }
    await Promise.all(lm.parameters().map((p) => p.data())); // the last update may still be running on worker threads
    out[v.name] = times.reduce((a, b) => a + b, 0) / times.length;
  }
  return out;
}
const fullStepSeconds = mode === 'quick' && args.estimateFull && !interrupted ? await timeFullSteps(dev) : undefined;

const file = writeComplexformerReport({
  name: run.name, mode, settings: s, fullSettings: SETTINGS.full, device: dev.name, vocabSize: V, corpusStats: corpus.stats,
  results, kneserNey, interrupted, splitTokens: { valid: corpus.valid.length - 1, test: corpus.test.length - 1 }, wallSeconds: (performance.now() - t0) / 1000, fullStepSeconds,
  command: `npx tsx experiments/complexformer.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
});
console.log(`report: ${file} (${((performance.now() - t0) / 60000).toFixed(1)} min in all)`);
for (const copy of publishReport(run.runDir, run.outDir)) console.log(`copied to ${copy}`);
await destroyDevices();
