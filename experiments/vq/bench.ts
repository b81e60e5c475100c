/**
 * The VQ-Logits performance target and the full run's time estimate, measured on the current device.
 *
 *   npx tsx experiments/vq/bench.ts                  # head + loss at V 16384, d 128, K V/64, N 512; then the estimate
 *   npx tsx experiments/vq/bench.ts --no-estimate    # only the head micro-benchmark
 *
 * 1. Head + loss, forward and backward, side by side in one process: the full head (V x d Linear + softmax over
 *    V), the VQ head through the V-sized softmax (the paper's path) and through the exact O(K) loss, faithful
 *    and +bias. Target: fast VQ >= 6x faster than the full head, aiming at >= 20x.
 * 2. The full run (experiments/vq-logits.ts without --quick): a few training steps of the full-vocabulary model
 *    with the full head and with a VQ head, one k-means pass at the largest K, multiplied out over its variants.
 * Results go to runs/vq-logits/bench.json (the experiment's report shows them).
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { destroyDevices, Generator, initDevice } from '../../core/index.js';
import { TransformerLM } from '../../nn/index.js';
import { kmeans, randomMap, VQLogitsHead } from '../../nn/heads/index.js';
import { loadBrown } from '../data/index.js';
import { parseCli } from '../report/cli.js';
import { writeJsonAtomic } from '../report/metrics.js';
import { makeOptimizer } from '../train/lm.js';
import { trainStep } from '../train/step.js';
import { FULL_RUN, fullRunPlan } from './config.js';
import { fullHeadCase, timeHeads, vqHeadCase } from './timing.js';
import { seamsFor, MapBuilder } from './variants.js';

const args = parseCli({
  name: 'tsx experiments/vq/bench.ts',
  description: 'VQ-Logits head micro-benchmark (performance target) and the full run time estimate.',
  options: {
    device: { type: 'string', description: 'webgpu | webasm | cpu (default: the best that works)' },
    vocab: { type: 'number', default: 16384, description: 'V of the micro-benchmark' },
    dModel: { type: 'number', default: 128, description: 'd of the micro-benchmark' },
    divisor: { type: 'number', default: 64, description: 'K = V / divisor' },
    tokens: { type: 'number', default: 512, description: 'positions per step N (batch x context)' },
    reps: { type: 'number', default: 20, description: 'timed steps of the fast VQ cases' },
    slowReps: { type: 'number', default: 5, description: 'timed steps of the full head and the naive VQ path (each takes seconds)' },
    estimate: { type: 'boolean', default: true, description: 'also time full-run training steps and estimate its wall time' },
    out: { type: 'string', default: 'runs/vq-logits/bench.json', description: 'where the results go' },
  },
});

const dev = await initDevice({ device: args.device });
const V = args.vocab;
const d = args.dModel;
const K = Math.round(V / args.divisor);
const N = args.tokens;
console.log(`head + loss forward and backward: V ${V}, d ${d}, K ${K}, N ${N} positions, device ${dev.name}`);
const map = randomMap(V, K, 0);
const faithful = new VQLogitsHead(V, d, { numCodes: K, map, bias: false });
const biased = new VQLogitsHead(V, d, { numCodes: K, map, bias: true });
const cases = [
  fullHeadCase(V, d),
  vqHeadCase('vq faithful, exact O(K) loss', faithful, false),
  vqHeadCase('vq +bias, exact O(K) loss', biased, false),
  vqHeadCase('vq faithful, naive V softmax', faithful, true),
  vqHeadCase('vq +bias, naive V softmax', biased, true),
];
const reps = [args.slowReps, args.reps, args.reps, args.slowReps, args.slowReps];
const loadBefore = loadavg()[0];
const t0 = performance.now();
const timed = await timeHeads(cases, { N, d, V, reps, device: dev, onRep: (r, n) => process.stdout.write(`\r  repetition ${r}/${n}`) });
process.stdout.write('\n');
const full = timed[0].medianMs;
const fullMin = Math.min(...timed[0].samples);
const head = timed.map((r) => ({
  name: r.name, medianMs: r.medianMs, minMs: Math.min(...r.samples), reps: r.samples.length, speedupVsFull: full / r.medianMs, speedupOfMins: fullMin / Math.min(...r.samples),
}));
for (const r of head) console.log(`  ${r.name.padEnd(32)} ${r.medianMs.toFixed(1).padStart(9)} ms  ${r.speedupVsFull.toFixed(1).padStart(6)}x  (median of ${r.reps}; fastest ${r.minMs.toFixed(1)} ms, ${r.speedupOfMins.toFixed(1)}x)`);
const fastFaithful = head[1].speedupVsFull;
console.log(`target >= 6x: ${fastFaithful >= 6 ? 'met' : 'NOT met'}; aim >= 20x: ${fastFaithful >= 20 ? 'met' : 'not met'} (${(performance.now() - t0) / 1000 | 0} s)`);

let estimate: Record<string, unknown> | null = null;
if (args.estimate) estimate = await estimateFullRun();

writeJsonAtomic(args.out, {
  command: `npx tsx experiments/vq/bench.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
  measuredAt: new Date().toISOString(),
  device: dev.name,
  loadAverage: { before: loadBefore, end: loadavg()[0] },
  V, d, K, N,
  head,
  target: { min: 6, aim: 20, speedup: fastFaithful, met: fastFaithful >= 6, aimMet: fastFaithful >= 20 },
  estimate,
});
console.log(`wrote ${args.out}`);
await teardown();

/** Time a few training steps of the full run's model with each head kind, then multiply out. */
async function estimateFullRun(): Promise<Record<string, unknown>> {
  const p = FULL_RUN;
  const corpus = loadBrown({ maxVocab: p.maxVocab });
  const Vf = corpus.vocab.size;
  const plan = fullRunPlan(Vf);
  console.log(`full run estimate: V ${Vf}, d ${p.dModel}, ${p.nLayers} layers, batch ${p.batchSize} x ${p.context}, ${p.steps} steps, ${plan.length} variants`);
  const maps = new MapBuilder({ V: Vf, seed: 0, counts: corpus.counts });
  const stepMs = async (name: string, v: (typeof plan)[number], steps: number): Promise<number> => {
    const seams = await seamsFor(v, maps, { seed: 0 });
    const lm = new TransformerLM({ vocabSize: Vf, contextLength: p.context, dModel: p.dModel, nHeads: p.nHeads, nLayers: p.nLayers, dropout: p.dropout, ...seams });
    const opt = makeOptimizer(lm, p.lr);
    const g = new Generator(0);
    const ts: number[] = [];
    for (let s = 0; s <= steps; s++) {
      const ids = () => Int32Array.from({ length: p.batchSize * p.context }, () => g.int(Vf));
      const t = performance.now();
      await trainStep(lm, opt, { x: ids(), y: ids() }, { device: dev, batchSize: p.batchSize, context: p.context, clip: 1 });
      if (s > 0) ts.push(performance.now() - t); // the first step compiles kernels
    }
    const ms = ts.reduce((a, b) => a + b, 0) / ts.length;
    console.log(`  ${name}: ${(ms / 1000).toFixed(2)} s per training step (mean of ${ts.length})`);
    return ms;
  };
  const fullMs = await stepMs('full head', plan[0], 2);
  const vqVariant = plan.find((v) => v.mapping === 'random' && v.bias)!;
  const vqMs = await stepMs(`${vqVariant.name} (representative VQ head)`, vqVariant, 3);
  // k-means at the largest K: k-means++ seeding plus 2 Lloyd iterations on random rows, scaled to 25 iterations
  const Kmax = Math.max(...plan.map((v) => (v.mapping === 'kmeans' ? v.K : 0)));
  const g = new Generator(1);
  const rows = Float64Array.from({ length: Vf * p.dModel }, () => g.normal());
  const tk = performance.now();
  kmeans(rows, Vf, p.dModel, Kmax, { seed: 0, maxIter: 2 });
  const kmeansPass = (performance.now() - tk) / 3; // seeding costs about one iteration
  const kmeansSec = (plan.filter((v) => v.mapping === 'kmeans' && !v.bias).reduce((s, v) => s + (v.K / Kmax) * kmeansPass * 26, 0)) / 1000;
  // evaluation: every variant scores all of valid and test; a forward pass is about a third of a training step
  const evalSteps = (corpus.valid.length + corpus.test.length) / (p.batchSize * p.context);
  const perVariant = (ms: number) => (p.steps * ms + (evalSteps * ms) / 3) / 1000;
  const vqCount = plan.length - 1;
  const totalSec = perVariant(fullMs) + vqCount * perVariant(vqMs) + kmeansSec;
  const hours = totalSec / 3600;
  console.log(`  full run: about ${hours.toFixed(1)} h (${vqCount} VQ variants + the full head; k-means ${(kmeansSec / 60).toFixed(1)} min)`);
  return {
    V: Vf, dModel: p.dModel, nLayers: p.nLayers, batch: p.batchSize, context: p.context, steps: p.steps, variants: plan.length,
    fullStepSec: fullMs / 1000, vqStepSec: vqMs / 1000, kmeansSec, evalStepsPerVariant: evalSteps, totalHours: hours,
    note: `${p.steps} steps x (${(fullMs / 1000).toFixed(2)} s full head, ${(vqMs / 1000).toFixed(2)} s per VQ step) + evaluation of ${corpus.valid.length + corpus.test.length} tokens per variant + k-means`,
    outputDir: join('runs', 'vq-logits'),
  };
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
