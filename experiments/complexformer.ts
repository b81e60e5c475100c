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
import { destroyDevices, Generator, initDevice, manualSeed, Tensor, type Device } from '../core/index.js';
import { clipGradNorm, TransformerLM, type TransformerConfig } from '../nn/index.js';
import { VARIANTS, type Variant } from './complexformer/variants.js';
import { evaluateByPosition, perplexityOver } from './complexformer/position-eval.js';
import { writeComplexformerReport, type RunResult } from './complexformer/report.js';
import { SETTINGS, type Settings } from './complexformer/settings.js';
import { loadBrown, randomWindows } from './data/index.js';
import { kneserNeyPerplexity } from './ngram/kneser-ney.js';
import { parseCli } from './report/cli.js';
import { writeJsonAtomic } from './report/metrics.js';
import { makeOptimizer, runLm } from './train/lm.js';

const args = parseCli({
  name: 'tsx experiments/complexformer.ts',
  description: 'ComplexFormer CMHA vs RoPE attention on the Brown word LM (several seeds, 2x-context evaluation).',
  options: {
    quick: { type: 'boolean', description: 'smoke run: 30 steps, vocabulary capped at 1000, small evaluation (< 5 min on 2 cores)' },
    preset: { type: 'string', default: 'full', choices: ['quick', 'full', 'settle'], description: 'run size (settle: RoPE vs CMHA only, 5 seeds x 1000 steps)' },
    steps: { type: 'number', description: 'training steps (overrides the settings)' },
    seeds: { type: 'number', description: 'seeds of the main pair, RoPE and CMHA (default 3)' },
    ablationSeeds: { type: 'number', description: 'seeds of the ablations (no scale, delta = 1)' },
    device: { type: 'string', description: 'webgpu | webasm | cpu | reference (default: the best that works)' },
    name: { type: 'string', default: 'complexformer', description: 'outputs go to runs/<name>/' },
    resume: { type: 'boolean', description: 'reuse the finished runs in runs/<name>/ (same settings) and continue an unfinished one from its checkpoint' },
    estimateFull: { type: 'boolean', default: true, description: 'in --quick, time a few steps of the full settings to estimate the full run' },
  },
});

const mode = args.quick ? 'quick' : (args.preset as 'quick' | 'full' | 'settle');
const s: Settings = { ...SETTINGS[mode] };
if (args.steps !== undefined) {
  s.steps = args.steps;
  s.warmup = Math.min(s.warmup, Math.floor(s.steps / 10));
}
if (args.seeds !== undefined) s.seeds = args.seeds;
if (args.ablationSeeds !== undefined) s.ablationSeeds = args.ablationSeeds;

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
    const runName = join(args.name, `${v.name}-s${seed}`);
    const resultFile = join('runs', runName, 'result.json');
    if (args.resume && existsSync(resultFile)) {
      const saved = JSON.parse(readFileSync(resultFile, 'utf8')) as { settings: Settings; result: RunResult };
      if (JSON.stringify(saved.settings) === JSON.stringify(s)) {
        results.push(saved.result);
        console.log(`${v.name} seed ${seed}: reusing ${resultFile}`);
        continue;
      }
      console.log(`${resultFile} was made with other settings: training ${v.name} seed ${seed} again`);
    }
    const train = {
      steps: s.steps, batchSize: s.batchSize, context: s.context, lr: s.lr, minLr: s.lr / 10, warmup: s.warmup, clip: 1,
      evalEvery: s.evalEvery, evalTokens: s.evalTokens, ckptEvery: mode === 'quick' ? 0 : s.evalEvery, seed,
    };
    const run = await runLm({
      name: runName, model: modelConfig(seed, v), train, data: corpus, device: dev, resume: args.resume && existsSync(join('runs', runName, 'checkpoint.safetensors')),
      finalValidTokens: s.finalValidTokens, testTokens: s.testTokens, meta: { experiment: 'complexformer', variant: v.name },
    });
    if (run.result.interrupted) {
      interrupted = true;
      console.log('stopped: the report covers the finished runs; continue with --resume');
      break;
    }
    const twice = await evaluateByPosition(run.model, corpus.test, { context: 2 * s.context, batch: s.batchSize, maxTokens: s.testTokens, device: dev });
    const r: RunResult = {
      variant: v.name, seed, params: run.model.numParameters(), validPerplexity: run.valid.perplexity, validTokens: run.valid.tokens,
      testPerplexity: run.test.perplexity, testTokens: run.test.tokens, test2x: twice.perplexity, test2xBeyondT: perplexityOver(twice, s.context),
      test2xByPosition: twice.nllAt.map((n, p) => n / twice.tokensAt[p]), tokensPerSecond: run.result.tokensPerSecond, trainSeconds: run.result.seconds,
      history: run.result.history.map((h) => ({ step: h.step, loss: h.loss, valPerplexity: h.valPerplexity })),
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
const kneserNey = [3, 5].map((order) => ({
  order,
  valid: kneserNeyPerplexity(corpus.train, corpus.valid.subarray(0, validTokens + 1), order, V, { skipFirst: true }),
  test: kneserNeyPerplexity(corpus.train, corpus.test.subarray(0, testTokens + 1), order, V, { skipFirst: true }),
}));

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
      const shape = [f.batchSize, f.context];
      const loss = lm.loss(Tensor.fromValues(b.x, shape, d, 'int32'), Tensor.fromValues(b.y, shape, d, 'int32'));
      loss.backward();
      clipGradNorm(lm.parameters(), 1);
      opt.step();
      opt.zeroGrad();
      await loss.item();
      if (i > 0) times.push((performance.now() - start) / 1000);
    }
    await Promise.all(lm.parameters().map((p) => p.data())); // the last update may still be running on worker threads
    out[v.name] = times.reduce((a, b) => a + b, 0) / times.length;
  }
  return out;
}
const fullStepSeconds = mode === 'quick' && args.estimateFull && !interrupted ? await timeFullSteps(dev) : undefined;

const file = writeComplexformerReport({
  name: args.name, mode, settings: s, fullSettings: SETTINGS.full, device: dev.name, vocabSize: V, corpusStats: corpus.stats,
  results, kneserNey, interrupted, splitTokens: { valid: corpus.valid.length - 1, test: corpus.test.length - 1 }, wallSeconds: (performance.now() - t0) / 1000, fullStepSeconds,
  command: `npx tsx experiments/complexformer.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
});
console.log(`report: ${file} (${((performance.now() - t0) / 60000).toFixed(1)} min in all)`);
await destroyDevices();
