/**
 * findings/vq-logits-speed: is VQ-Logits' logit computation ~6x faster than the full head's? Like is timed
 * with like, in rounds that interleave every case (so drifts in machine load hit all alike), each round
 * giving one paired speedup per comparison:
 *   logits         full: h W^T -> [N, V]          vs  VQ (the paper's path): h C^T -> [N, K], gathered to [N, V]
 *   logits + bias  the same with the per-token bias added to both
 *   training       full: head + cross-entropy, forward and backward  vs  VQ: head + the exact O(K) loss (ours)
 * at V in {13,189 (Brown), 16,384} and d in {64, 128}, K = V/64. Run it on an otherwise idle machine.
 *
 *   npx tsx experiments/findings/vq-speed.ts                 # 20 rounds per setting
 *   npx tsx experiments/findings/vq-speed.ts --rounds 3 --no-write   # a smoke run
 */
import { destroyDevices, Generator, initDevice, randn, Tensor, type Device } from '../../core/index.js';
import { Linear } from '../../nn/index.js';
import { randomMap, VQLogitsHead } from '../../nn/heads/index.js';
import { crossEntropy, matmul } from '../../ops/index.js';
import { EXPERIMENT_OPTIONS, parseExperimentArgs } from '../cli/index.js';
import { fmt } from '../report/markdown.js';
import { barChart } from '../report/svg.js';
import { commandLine, findingReport, machineLine, summarize, writeFinding, type Comparison } from './finding.js';
import { pairedInterval } from './stats.js';

const args = parseExperimentArgs({
  name: 'tsx experiments/findings/vq-speed.ts',
  description: 'VQ-Logits logit computation vs the full head, timed side by side (paired rounds, 95% t-intervals).',
  options: {
    rounds: { type: 'number', integer: true, min: 2, default: 20, description: 'timed rounds per setting (each round times every case once; an interval needs two)' },
    warmup: { type: 'number', integer: true, min: 0, default: 3, description: 'untimed rounds first (kernel compilation, JIT)' },
    tokens: { type: 'number', integer: true, min: 1, default: 512, description: 'positions N per call (batch x context of the training runs)' },
    device: EXPERIMENT_OPTIONS.device,
    write: { type: 'boolean', default: true, description: 'write findings/vq-logits-speed (--no-write for a trial run)' },
    load: { type: 'string', description: 'what else ran on the machine while timing (quoted in the report)' },
  },
});
const command = commandLine('experiments/findings/vq-speed.ts');
const t0 = performance.now();
const dev = await initDevice({ device: args.device });
const N = args.tokens;

interface Case { name: string; run: () => Promise<void> }
interface Setting { V: number; d: number; K: number; ms: Record<string, number[]> }

/** The middle sample (the upper one of an even count): what the report's tables show. */
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function settle(t: Tensor): Promise<void> {
  await t.data();
}

function casesFor(V: number, d: number, K: number, device: Device): Case[] {
  const g = new Generator(0);
  const h = randn([N, d], { generator: g, device }).requiresGrad_();
  const targets = Tensor.fromValues(Array.from({ length: N }, () => g.int(V)), [N], device, 'int32');
  const full = new Linear(d, V, { bias: false, generator: g });
  const bias = randn([V], { generator: g, device }).requiresGrad_();
  const vq = new VQLogitsHead(V, d, { numCodes: K, map: randomMap(V, K, 0), bias: false, seed: 0 });
  const train = async (loss: Tensor, params: Tensor[]) => {
    loss.backward();
    await loss.item();
    await h.grad!.data();
    for (const p of params) if (p.grad) await p.grad.data();
    h.zeroGrad();
    for (const p of params) p.zeroGrad();
  };
  return [
    { name: 'full logits', run: () => settle(matmul(h.detach(), full.weight.detach(), { transB: true })) },
    { name: 'vq logits', run: () => settle(vq.logits(h.detach())) },
    { name: 'full logits + bias', run: () => settle(matmul(h.detach(), full.weight.detach(), { transB: true }).add(bias.detach())) },
    { name: 'vq logits + bias', run: () => settle(vq.logits(h.detach()).add(bias.detach())) },
    { name: 'full train', run: () => train(crossEntropy(full.forward(h), targets), full.parameters()) },
    { name: 'vq train', run: () => train(vq.loss(vq.forward(h), targets), vq.parameters()) },
  ];
}

const settings: Setting[] = [];
for (const V of [13189, 16384]) {
  for (const d of [64, 128]) {
    const K = Math.round(V / 64);
    const cases = casesFor(V, d, K, dev);
    const ms: Record<string, number[]> = Object.fromEntries(cases.map((c) => [c.name, []]));
    for (let round = 0; round < args.warmup + args.rounds; round++) {
      for (const c of cases) {
        const s = performance.now();
        await c.run();
        if (round >= args.warmup) ms[c.name].push(performance.now() - s);
      }
    }
    settings.push({ V, d, K, ms });
    console.log(`V ${V} d ${d} K ${K}: ${cases.map((c) => `${c.name} ${median(ms[c.name]).toFixed(2)} ms`).join(', ')}`);
  }
}

/** Speedup full / VQ per round (a ratio: the geometric mean over rounds with its t-interval). */
const speedup = (s: Setting, what: 'logits' | 'logits + bias' | 'train') =>
  pairedInterval(s.ms[`full ${what}`], s.ms[`vq ${what}`], 'ratio');
const at = (V: number, d: number) => settings.find((s) => s.V === V && s.d === d)!;
const main = at(16384, 128);
const primary: Comparison = {
  claim: 'VQ-Logits computes logits ~6x faster than the full output layer', metric: `logit computation speedup, full / VQ (V 16,384, d 128, K ${main.K}, N ${N})`, unit: 'x (ratio of times)',
  better: 'higher', threshold: 6, interval: speedup(main, 'logits'),
};
const secondary: Comparison[] = [];
for (const s of settings) {
  for (const what of ['logits', 'logits + bias', 'train'] as const) {
    if (s === main && what === 'logits') continue;
    secondary.push({
      claim: what === 'train' ? 'training head + loss (forward and backward; VQ through the exact O(K) loss) is faster' : `logit computation${what === 'logits + bias' ? ' with a per-token bias' : ''} is ~6x faster`,
      metric: `${what} speedup, full / VQ (V ${s.V}, d ${s.d}, K ${s.K})`, unit: 'x (ratio of times)', better: 'higher',
      ...(what === 'train' ? {} : { threshold: 6 }), interval: speedup(s, what),
    });
  }
}
const summary = summarize('vq-logits-speed', primary, { seeds: Array.from({ length: args.rounds }, (_, i) => i), steps: args.rounds, command, wallSeconds: (performance.now() - t0) / 1000, machine: machineLine() }, secondary, {
  device: dev.name, tokens: N, rounds: args.rounds, ...(args.load ? { load: args.load } : {}), pairing: `Pairs are timing rounds here, not seeds: ${args.rounds} rounds, each timing every case once, interleaved (the "seeds" field lists the rounds).`,
  medianMs: settings.map((s) => ({ V: s.V, d: s.d, K: s.K, ...Object.fromEntries(Object.entries(s.ms).map(([k, v]) => [k, median(v)])) })),
});
if (args.write) {
  const r = findingReport(summary, 'VQ-Logits: logit computation time against the full head', [primary, ...secondary]);
  r.paragraph(
    `Device ${dev.name}; N = ${N} positions per call; ${args.rounds} timed rounds after ${args.warmup} warm-up rounds; each round times every case once, in the same order, ` +
      'and yields one paired ratio per comparison, so the interval is over rounds (not seeds). Every call awaits its outputs (and gradients), so asynchronous work is inside the time. ' +
      'The VQ logits are the paper\'s path: the K code logits h C^T, then each token reads its code\'s logit (a gather to V columns). The training rows are a different question: ' +
      'there VQ uses our exact O(K)-per-position loss, which never forms the V logits.' + (args.load ? ` While timing, the machine also ran: ${args.load}.` : ''),
  );
  r.heading('Median milliseconds per call').table(
    ['V', 'd', 'K', ...Object.keys(settings[0].ms)],
    settings.map((s) => [s.V.toLocaleString(), String(s.d), String(s.K), ...Object.values(s.ms).map((v) => fmt(median(v), 3))]),
  );
  r.image('speedup.svg', barChart({
    title: 'Speedup full / VQ (geometric mean over rounds)', categories: settings.map((s) => `V ${s.V} d ${s.d}`), yLabel: 'x',
    series: (['logits', 'logits + bias', 'train'] as const).map((w) => ({ name: w, values: settings.map((s) => speedup(s, w).effect) })),
  }), 'speedups');
  console.log(`report: ${writeFinding(summary, r)}`);
}
await destroyDevices();
