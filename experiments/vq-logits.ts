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
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { destroyDevices, initDevice, manualSeed, type Tensor } from '../core/index.js';
import type { Linear } from '../nn/index.js';
import { VQLogitsHead } from '../nn/heads/index.js';
import { claimRun, EXPERIMENT_OPTIONS, nameOption, parseExperimentArgs, presetOption, publishReport, resolveRun, SEED_OPTION } from './cli/index.js';
import { loadBrown } from './data/index.js';
import { kneserNeyBaselines } from './ngram/baselines.js';
import { writeJsonAtomic } from './report/metrics.js';
import { sameSettings, trainConfig, withSteps } from './train/config.js';
import { runLm } from './train/lm.js';
import { FULL_RUN, fullRunPlan, QUICK_RUN, quickRunPlan, type VQRunConfig } from './vq/config.js';
import { writeOutputs, type RunInfo, type VariantResult } from './vq/report.js';
import { fullHeadCase, timeHeads, vqHeadCase, type TimingCase } from './vq/timing.js';
import { logCountBias, MapBuilder, seamsFor, type Variant } from './vq/variants.js';

const PROG = 'tsx experiments/vq-logits.ts';
const args = parseExperimentArgs({
  name: PROG,
  description: 'VQ-Logits codebook output heads vs the full head on the Brown word LM.',
  options: {
    ...EXPERIMENT_OPTIONS,
    quick: { type: 'boolean', description: 'the 5-minute subset: capped vocabulary, small model, 10 VQ variants; same as --preset quick' },
    preset: presetOption(['quick', 'full'], 'full', 'run size (full: every variant, full vocabulary)'),
    name: nameOption('vq-logits', 'run name, one folder name: variant runs go to runs/<name>/<variant>/ (the report module writes runs/vq-logits/)'),
    steps: { ...EXPERIMENT_OPTIONS.steps, description: 'training steps per variant (overrides the preset)' },
    seed: { ...SEED_OPTION, description: 'seed for weights, batches, maps and k-means' },
    resume: { type: 'boolean', description: 'reuse the finished variants in runs/<name>/ (same settings) and continue an unfinished one from its checkpoint' },
    only: { type: 'string', description: 'comma-separated variant names to train (the full head always trains)' },
    keepCheckpoints: { type: 'boolean', description: 'keep each VQ variant\'s checkpoint under runs/<name>/<variant>/ (the full head\'s is always kept)' },
  },
});
const run = resolveRun(PROG, args, () => 'vq-logits');
const quick = run.preset === 'quick';
const cfg: VQRunConfig = withSteps({ ...(quick ? QUICK_RUN : FULL_RUN) }, args.steps);
if (args.maxVocab !== undefined) cfg.maxVocab = args.maxVocab;
claimRun(run);

const t0 = performance.now();
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const dev = await initDevice({ device: args.device });
manualSeed(args.seed);
const corpus = loadBrown({ maxVocab: cfg.maxVocab });
const V = corpus.vocab.size;
const d = cfg.dModel;
let plan: Variant[] = quick ? quickRunPlan(V, cfg) : fullRunPlan(V, cfg);
if (args.only) {
  const want = new Set(args.only.split(',').map((s) => s.trim()));
  plan = plan.filter((v) => v.mapping === 'full' || want.has(v.name));
}
console.log(`Brown: V ${V}${cfg.maxVocab ? ` (capped at ${cfg.maxVocab})` : ''}, d ${d}, ${cfg.steps} steps, ${plan.length} variants, device ${dev.name}`);

const validEval = cfg.evalTokens === undefined ? corpus.valid : corpus.valid.subarray(0, cfg.evalTokens + 1);
const testEval = cfg.evalTokens === undefined ? corpus.test : corpus.test.subarray(0, cfg.evalTokens + 1);
const kn = kneserNeyBaselines({ train: corpus.train, valid: validEval, test: testEval, vocabSize: V });
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
  runName: run.name, quick, V, d, cfg, seed: args.seed, device: dev.name, N, kn, validTokens: validEval.length - 1, testTokens: testEval.length - 1,
  plan, wallSeconds: 0, cpuSeconds: 0, load: { beforeTiming: loadBefore, end: loadBefore }, command: `npx tsx experiments/vq-logits.ts ${process.argv.slice(2).join(' ')}`.trim(), timing: timed,
};
let fullResult: { valid: number; test: number } | null = null;
let interrupted = false;
for (const v of plan) {
  const name = join(run.name, v.name);
  const checkpoint = join('runs', name, 'checkpoint.safetensors');
  const resultFile = join('runs', name, 'result.json');
  const reused = args.resume && v.mapping !== 'full' && !existsSync(checkpoint) ? reuseResult(resultFile) : null;
  if (reused) {
    results.push(reused);
    console.log(`${v.name}: reusing ${resultFile}`);
    continue;
  }
  const seams = await seamsFor(v, maps, { seed: args.seed, biasInit });
  const lm = await runLm({
    name,
    model: { vocabSize: V, contextLength: cfg.context, dModel: d, nHeads: cfg.nHeads, nLayers: cfg.nLayers, dropout: cfg.dropout, seed: args.seed, head: seams.head, loss: seams.loss },
    train: trainConfig(cfg, { seed: args.seed }),
    data: { train: corpus.train, valid: validEval, test: testEval },
    device: dev,
    resume: args.resume && existsSync(checkpoint),
    allowConfigChange: args.allowConfigChange,
    meta: { experiment: 'vq-logits', variant: v.name },
  });
  if (lm.interrupted) {
    interrupted = true;
    console.log(`stopped during ${v.name}: the report covers the ${results.length} finished variants only; continue with --resume`);
    break;
  }
  // the full head's checkpoint stays: --resume rebuilds its weights for the k-means maps from it
  if (!args.keepCheckpoints && v.mapping !== 'full') rmSync(checkpoint, { force: true });
  if (v.mapping === 'full') {
    maps.fullWeight = (lm.model.head as Linear).weight as Tensor;
    fullResult = { valid: lm.valid.perplexity, test: lm.test.perplexity };
  }
  const head = v.mapping === 'full' ? null : (lm.model.head as VQLogitsHead);
  const key = `${v.K}:${v.bias}`;
  const headMs = v.mapping === 'full' ? fullMs : ms.get(`fast ${key}`)!;
  const naiveMs = v.mapping === 'full' ? fullMs : ms.get(`naive ${key}`)!;
  const headParams = head ? head.headParams : V * d;
  results.push({
    name: v.name, K: v.K, mapping: v.mapping, bias: v.bias,
    headParams, fullHeadParams: V * d, paramReduction: 1 - headParams / (V * d),
    headMsPerStep: headMs, naiveHeadMsPerStep: naiveMs, fullHeadMsPerStep: fullMs, speedupVsFull: fullMs / headMs, naiveSpeedupVsFull: fullMs / naiveMs,
    valPerplexity: lm.valid.perplexity, testPerplexity: lm.test.perplexity,
    perplexityGapPct: fullResult ? (lm.test.perplexity / fullResult.test - 1) * 100 : 0,
    valPerplexityGapPct: fullResult ? (lm.valid.perplexity / fullResult.valid - 1) * 100 : 0,
    finalTrainLoss: lm.result.history.at(-1)?.loss ?? NaN, trainTokensPerSecond: lm.result.tokensPerSecond, trainSeconds: lm.result.seconds,
    codeSizes: head ? { min: Math.min(...head.sizes), max: Math.max(...head.sizes) } : null, note: seams.note ?? null,
    curve: lm.result.history.map((h) => [h.step, h.loss]),
  });
  writeJsonAtomic(resultFile, { cfg, seed: args.seed, V, result: results[results.length - 1] });
  console.log(`${v.name}: valid ${lm.valid.perplexity.toFixed(1)}, test ${lm.test.perplexity.toFixed(1)} (${((performance.now() - t0) / 1000).toFixed(0)} s so far)`);
  info.wallSeconds = (performance.now() - t0) / 1000;
  info.load.end = loadavg()[0];
  info.cpuSeconds = cpuSeconds();
  writeOutputs(results, info);
}
info.wallSeconds = (performance.now() - t0) / 1000;
info.load.end = loadavg()[0];
info.cpuSeconds = cpuSeconds();
const reportPath = writeOutputs(results, info);
console.log(`${interrupted ? 'stopped' : 'done'} in ${(info.wallSeconds / 60).toFixed(1)} min; report: ${reportPath}${interrupted ? ' (partial: finished variants only)' : ''}`);
for (const file of publishReport(run.runDir, run.outDir)) console.log(`copied to ${file}`);
await teardown();

/** A finished variant's saved result, when it was made with this command's settings (else an error, or null to retrain). */
function reuseResult(file: string): VariantResult | null {
  if (!existsSync(file)) return null;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { cfg: VQRunConfig; seed: number; V: number; result: VariantResult };
  if (sameSettings([saved.cfg, saved.seed, saved.V], [cfg, args.seed, V])) return saved.result;
  if (!args.allowConfigChange) throw new Error(`--resume: ${file} was made with other settings than this command's; run with the same flags, or add --allow-config-change to train it again`);
  return null;
}

/** Release the devices; a failure here comes after every result is written, so it is reported, not thrown. */
async function teardown(): Promise<void> {
  try {
    await destroyDevices();
  } catch (e) {
    console.warn(`teardown: destroyDevices failed (${(e as Error).message}); results are already written`);
    process.exit(process.exitCode ?? 0); // workers that were not released would keep Node alive
  }
}
