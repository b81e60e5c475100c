/**
 * VQ-Logits (papers.md section 2) on the Brown word LM: the full V x d head against codebook heads with
 * K in {V/64, V/16, V/4} codes, mappings {random, frequency, kmeans}, faithful (the paper's head) and +bias
 * (a per-token bias), all on the same backbone, seed, batches and steps. Per variant: head parameters,
 * head + loss time per step (exact O(K) loss and the naive V-sized softmax, timed side by side with the
 * full head), validation and test perplexity and the gap to the full head; Kneser-Ney on the same tokens.
 *
 *   npx tsx experiments/vq-logits.ts --quick     # < 5 min on 2 cores: V capped at 2000, d 32, 100 steps, 10 VQ heads
 *   npx tsx experiments/vq-logits.ts             # every variant, full vocabulary (hours: see experiments/vq/bench.ts)
 *   npx tsx experiments/vq/bench.ts              # the performance target at V 16384, d 128, K V/64 + the full run estimate
 *
 * Writes runs/vq-logits/report.md (tables, SVG charts) and runs/vq-logits/metrics.json, updated after every variant.
 */
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { destroyDevices, initDevice, manualSeed, type Tensor } from '../core/index.js';
import type { Linear } from '../nn/index.js';
import { VQLogitsHead } from '../nn/heads/index.js';
import { loadBrown } from './data/index.js';
import { KneserNey } from './ngram/kneser-ney.js';
import { parseCli } from './report/cli.js';
import { runLm } from './train/lm.js';
import { FULL_RUN, fullRunPlan, QUICK_RUN, quickRunPlan } from './vq/config.js';
import { writeOutputs, type RunInfo, type VariantResult } from './vq/report.js';
import { fullHeadCase, timeHeads, vqHeadCase, type TimingCase } from './vq/timing.js';
import { logCountBias, MapBuilder, seamsFor, type Variant } from './vq/variants.js';

const args = parseCli({
  name: 'tsx experiments/vq-logits.ts',
  description: 'VQ-Logits codebook output heads vs the full head on the Brown word LM.',
  options: {
    quick: { type: 'boolean', description: 'the 5-minute subset: capped vocabulary, small model, 10 VQ variants' },
    device: { type: 'string', description: 'webgpu | webasm | cpu | reference (default: the best that works)' },
    steps: { type: 'number', description: 'training steps per variant (overrides the run size)' },
    seed: { type: 'number', default: 0, description: 'seed for weights, batches, maps and k-means' },
    only: { type: 'string', description: 'comma-separated variant names to train (the full head always trains)' },
    keepCheckpoints: { type: 'boolean', description: 'keep each variant\'s checkpoint under runs/vq-logits/<variant>/' },
  },
});

const t0 = performance.now();
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const cfg = { ...(args.quick ? QUICK_RUN : FULL_RUN) };
if (args.steps !== undefined) {
  cfg.steps = args.steps;
  cfg.warmup = Math.min(cfg.warmup, Math.floor(cfg.steps / 10));
}
const dev = await initDevice({ device: args.device });
manualSeed(args.seed);
const corpus = loadBrown({ maxVocab: cfg.maxVocab });
const V = corpus.vocab.size;
const d = cfg.dModel;
let plan: Variant[] = args.quick ? quickRunPlan(V, cfg) : fullRunPlan(V, cfg);
if (args.only) {
  const want = new Set(args.only.split(',').map((s) => s.trim()));
  plan = plan.filter((v) => v.mapping === 'full' || want.has(v.name));
}
console.log(`Brown: V ${V}${cfg.maxVocab ? ` (capped at ${cfg.maxVocab})` : ''}, d ${d}, ${cfg.steps} steps, ${plan.length} variants, device ${dev.name}`);

const validEval = cfg.evalTokens === undefined ? corpus.valid : corpus.valid.subarray(0, cfg.evalTokens + 1);
const testEval = cfg.evalTokens === undefined ? corpus.test : corpus.test.subarray(0, cfg.evalTokens + 1);
const kn = [3, 5].map((order) => {
  const lm = KneserNey.train(corpus.train, order, V);
  return { order, valid: lm.perplexity(validEval, { skipFirst: true }).perplexity, test: lm.perplexity(testEval, { skipFirst: true }).perplexity };
});
console.log(`Kneser-Ney: ${kn.map((k) => `${k.order}-gram valid ${k.valid.toFixed(1)} test ${k.test.toFixed(1)}`).join('; ')}`);

const maps = new MapBuilder({ V, seed: args.seed, counts: corpus.counts });
const biasInit = logCountBias(corpus.counts);

// ---- 1. head + loss timing, side by side, before training (the numbers do not depend on trained values) -------
const N = cfg.batchSize * cfg.context;
const timingKeys = [...new Set(plan.filter((v) => v.mapping !== 'full').map((v) => `${v.K}:${v.bias}`))];
const cases: TimingCase[] = [fullHeadCase(V, d, args.seed)];
for (const key of timingKeys) {
  // once per K and head kind, with a random map: the mapping does not change the work
  const [K, bias] = [Number(key.split(':')[0]), key.endsWith('true')];
  const head = new VQLogitsHead(V, d, { numCodes: K, map: (await maps.get('random', K)).map, bias });
  cases.push(vqHeadCase(`fast ${key}`, head, false), vqHeadCase(`naive ${key}`, head, true));
}
const loadBefore = loadavg()[0];
console.log(`timing head + loss (forward + backward) at N ${N}: ${cases.length} cases x ${cfg.timingReps} steps, round-robin`);
const timed = await timeHeads(cases, { N, d, V, reps: cfg.timingReps, warmup: 1, device: dev, seed: args.seed, onRep: (r, n) => process.stdout.write(`\r  repetition ${r}/${n}`) });
process.stdout.write('\n');
const ms = new Map(timed.map((r) => [r.name, r.medianMs]));
const fullMs = ms.get('full')!;

// ---- 2. train every variant (the full head first: k-means clusters its output embeddings) ------------------------
const results: VariantResult[] = [];
const info: RunInfo = {
  quick: args.quick, V, d, cfg, seed: args.seed, device: dev.name, N, kn, validTokens: validEval.length - 1, testTokens: testEval.length - 1,
  plan, wallSeconds: 0, cpuSeconds: 0, load: { beforeTiming: loadBefore, end: loadBefore }, command: `npx tsx experiments/vq-logits.ts ${process.argv.slice(2).join(' ')}`.trim(), timing: timed,
};
let fullResult: { valid: number; test: number } | null = null;
for (const v of plan) {
  const seams = await seamsFor(v, maps, { seed: args.seed, biasInit });
  const name = join('vq-logits', v.name);
  const run = await runLm({
    name,
    model: { vocabSize: V, contextLength: cfg.context, dModel: d, nHeads: cfg.nHeads, nLayers: cfg.nLayers, dropout: cfg.dropout, seed: args.seed, head: seams.head, loss: seams.loss },
    train: { steps: cfg.steps, batchSize: cfg.batchSize, context: cfg.context, lr: cfg.lr, minLr: cfg.lr / 10, warmup: cfg.warmup, clip: 1, evalEvery: 0, evalTokens: 0, ckptEvery: 0, seed: args.seed },
    data: { train: corpus.train, valid: validEval, test: testEval },
    device: dev,
    meta: { experiment: 'vq-logits', variant: v.name },
  });
  if (run.result.interrupted) break;
  if (!args.keepCheckpoints) rmSync(join('runs', name, 'checkpoint.safetensors'), { force: true });
  if (v.mapping === 'full') {
    maps.fullWeight = (run.model.head as Linear).weight as Tensor;
    fullResult = { valid: run.valid.perplexity, test: run.test.perplexity };
  }
  const head = v.mapping === 'full' ? null : (run.model.head as VQLogitsHead);
  const key = `${v.K}:${v.bias}`;
  const headMs = v.mapping === 'full' ? fullMs : ms.get(`fast ${key}`)!;
  const naiveMs = v.mapping === 'full' ? fullMs : ms.get(`naive ${key}`)!;
  const headParams = head ? head.headParams : V * d;
  results.push({
    name: v.name, K: v.K, mapping: v.mapping, bias: v.bias,
    headParams, fullHeadParams: V * d, paramReduction: 1 - headParams / (V * d),
    headMsPerStep: headMs, naiveHeadMsPerStep: naiveMs, fullHeadMsPerStep: fullMs, speedupVsFull: fullMs / headMs, naiveSpeedupVsFull: fullMs / naiveMs,
    valPerplexity: run.valid.perplexity, testPerplexity: run.test.perplexity,
    perplexityGapPct: fullResult ? (run.test.perplexity / fullResult.test - 1) * 100 : 0,
    valPerplexityGapPct: fullResult ? (run.valid.perplexity / fullResult.valid - 1) * 100 : 0,
    finalTrainLoss: run.result.history.at(-1)?.loss ?? NaN, trainTokensPerSecond: run.result.tokensPerSecond, trainSeconds: run.result.seconds,
    codeSizes: head ? { min: Math.min(...head.sizes), max: Math.max(...head.sizes) } : null, note: seams.note ?? null,
    curve: run.result.history.map((h) => [h.step, h.loss]),
  });
  console.log(`${v.name}: valid ${run.valid.perplexity.toFixed(1)}, test ${run.test.perplexity.toFixed(1)} (${((performance.now() - t0) / 1000).toFixed(0)} s so far)`);
  info.wallSeconds = (performance.now() - t0) / 1000;
  info.load.end = loadavg()[0];
  info.cpuSeconds = cpuSeconds();
  writeOutputs(results, info);
}
info.wallSeconds = (performance.now() - t0) / 1000;
info.load.end = loadavg()[0];
info.cpuSeconds = cpuSeconds();
const reportPath = writeOutputs(results, info);
console.log(`done in ${(info.wallSeconds / 60).toFixed(1)} min; report: ${reportPath}`);
await teardown();

/** Release the devices; a failure here comes after every result is written, so it is reported, not thrown. */
async function teardown(): Promise<void> {
  try {
    await destroyDevices();
  } catch (e) {
    console.warn(`teardown: destroyDevices failed (${(e as Error).message}); results are already written`);
    process.exit(process.exitCode ?? 0); // workers that were not released would keep Node alive
  }
}
