/**
 * findings/complexformer-perplexity from the per-seed results of a ComplexFormer run: CMHA against RoPE
 * over paired seeds (same seed = same initialisation, data order and steps; only the attention differs).
 *
 *   npx tsx experiments/complexformer.ts --preset settle --name complexformer-settle    # train (5 seeds x 2 variants)
 *   npx tsx experiments/findings/complexformer.ts --from runs/complexformer-settle      # this: write the finding
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from '../complexformer/report.js';
import type { Settings } from '../complexformer/settings.js';
import { sameSettings } from '../train/config.js';
import { CliError, parseExperimentArgs } from '../cli/index.js';
import { fmt } from '../report/markdown.js';
import { lineChart } from '../report/svg.js';
import { findingReport, machineLine, summarize, writeFinding, type Comparison } from './finding.js';
import { pairedInterval } from './stats.js';

const args = parseExperimentArgs({
  name: 'tsx experiments/findings/complexformer.ts',
  description: 'Write findings/complexformer-perplexity from a finished ComplexFormer run (paired seeds, 95% t-intervals).',
  options: {
    from: { type: 'string', default: 'runs/complexformer-settle', description: 'the run directory of experiments/complexformer.ts' },
    trainCommand: { type: 'string', default: 'npx tsx experiments/complexformer.ts --preset settle --name complexformer-settle', description: 'the command that trained the runs (quoted in the report)' },
  },
});

if (!existsSync(args.from)) throw new CliError(`--from: no directory ${args.from}; train first (see --help)`);
const saved = readdirSync(args.from)
  .map((d) => join(args.from, d, 'result.json'))
  .filter((f) => existsSync(f))
  .map((f) => ({ f, ...(JSON.parse(readFileSync(f, 'utf8')) as { settings: Settings; result: RunResult }), mtime: statSync(f).mtimeMs }));
const settings = saved[0]?.settings;
if (!settings) throw new Error(`${args.from}: no finished runs (result.json) yet`);
if (saved.some((x) => !sameSettings(x.settings, settings))) throw new Error(`${args.from}: runs made with different settings; use one run directory per setting`);
const by = (variant: string) => saved.map((x) => x.result).filter((r) => r.variant === variant);
const seeds = by('rope').map((r) => r.seed).filter((s) => by('cmha').some((c) => c.seed === s)).sort((a, b) => a - b);
if (seeds.length === 0) throw new Error(`${args.from}: no seed has both rope and cmha finished`);
const pick = (variant: string, key: 'validPerplexity' | 'testPerplexity' | 'test2x' | 'test2xBeyondT') => seeds.map((s) => by(variant).find((r) => r.seed === s)![key]);
const diff = (key: Parameters<typeof pick>[1]) => pairedInterval(pick('cmha', key), pick('rope', key), 'difference');

const primary: Comparison = {
  claim: 'ComplexFormer\'s complex multi-head attention (CMHA) lowers language-model perplexity against RoPE attention', metric: 'test perplexity, CMHA - RoPE', unit: 'perplexity', better: 'lower', interval: diff('testPerplexity'),
};
const secondary: Comparison[] = [
  { claim: 'the same on validation', metric: 'validation perplexity, CMHA - RoPE', unit: 'perplexity', better: 'lower', interval: diff('validPerplexity') },
  { claim: 'CMHA extrapolates better to 2x the training context', metric: 'test perplexity with windows of 2T, CMHA - RoPE', unit: 'perplexity', better: 'lower', interval: diff('test2x') },
  { claim: 'the same, positions >= T only (never trained on)', metric: 'test perplexity at positions T..2T-1, CMHA - RoPE', unit: 'perplexity', better: 'lower', interval: diff('test2xBeyondT') },
];
const all = saved.map((x) => x.result).filter((r) => seeds.includes(r.seed) && (r.variant === 'rope' || r.variant === 'cmha'));
const trainSeconds = all.reduce((a, r) => a + r.trainSeconds, 0);
const mtimes = saved.map((x) => x.mtime);
const summary = summarize(
  'complexformer-perplexity', primary,
  {
    seeds, steps: settings.steps, command: `${args.trainCommand} && npx tsx experiments/findings/complexformer.ts --from ${args.from}`,
    // first result to last result, plus the first run's own training time (its start is not recorded)
    wallSeconds: (Math.max(...mtimes) - Math.min(...mtimes)) / 1000 + Math.min(...all.map((r) => r.trainSeconds)), machine: machineLine(),
  },
  secondary,
  { wallSecondsIs: 'estimated: first to last result.json plus the first run\'s training time', vocab: settings.maxVocab, trainSeconds, settings, rope: pick('rope', 'testPerplexity'), cmha: pick('cmha', 'testPerplexity') },
);
const r = findingReport(summary, 'ComplexFormer CMHA vs RoPE: test perplexity over paired seeds', [primary, ...secondary]);
r.heading('Per seed').table(
  ['seed', 'RoPE valid', 'CMHA valid', 'RoPE test', 'CMHA test', 'CMHA - RoPE (test)', 'RoPE test 2T', 'CMHA test 2T'],
  seeds.map((s, i) => {
    const [ro, cm] = [by('rope').find((x) => x.seed === s)!, by('cmha').find((x) => x.seed === s)!];
    return [String(s), fmt(ro.validPerplexity, 4), fmt(cm.validPerplexity, 4), fmt(ro.testPerplexity, 4), fmt(cm.testPerplexity, 4), fmt(primary.interval.perSeed[i], 3), fmt(ro.test2x, 4), fmt(cm.test2x, 4)];
  }),
);
r.heading('Setup').list([
  `Brown word LM, vocabulary capped at ${settings.maxVocab ?? 'none'} (the full 13,189-word vocabulary costs ~0.5 s/step here against ~0.12 s, which would put 10 runs past an hour), whole validation and test splits (${all[0].validTokens.toLocaleString()} / ${all[0].testTokens.toLocaleString()} tokens)`,
  `${settings.nLayers} pre-LayerNorm blocks, d ${settings.dModel}, ${settings.nHeads} heads, GELU MLP; RoPE baseline vs CMHA (delta ~ N(0, 1/sqrt(d_k/2)), 1/sqrt(d_k) scale, causal); ${all.find((x) => x.variant === 'cmha')!.params - all.find((x) => x.variant === 'rope')!.params} more parameters in CMHA (the learnable phase terms)`,
  `AdamW lr ${settings.lr}, warmup ${settings.warmup}, cosine to ${settings.lr / 10}, batch ${settings.batchSize} x ${settings.context} (T), ${settings.steps} steps; the 2T evaluation uses windows of ${2 * settings.context}`,
  `training time of the ${all.length} runs: ${fmt(trainSeconds / 60, 3)} min (${fmt(all.reduce((a, x) => a + x.tokensPerSecond, 0) / all.length, 3)} tokens/s on average)`,
  'the wall time above is an estimate from the result files: first to last result.json, plus the first run\'s training time (when the first run started is not recorded)',
]);
r.image('valid.svg', lineChart({
  title: 'Validation perplexity during training (first 8,192 tokens), every seed', xLabel: 'step', yLabel: 'perplexity', logY: true,
  series: all.map((x) => ({ name: `${x.variant} s${x.seed}`, points: x.history.filter((h) => h.valPerplexity).map((h) => [h.step, h.valPerplexity!] as [number, number]) })),
}), 'validation perplexity curves');
r.image('position.svg', lineChart({
  title: 'Test NLL by window position (windows of 2T), mean over seeds', xLabel: 'position', yLabel: 'NLL (nats)',
  series: ['rope', 'cmha'].map((v) => {
    const rs = by(v).filter((x) => seeds.includes(x.seed));
    return { name: v, points: rs[0].test2xByPosition.map((_, p) => [p, rs.reduce((a, x) => a + x.test2xByPosition[p], 0) / rs.length] as [number, number]) };
  }),
}), 'NLL by position');
console.log(`report: ${writeFinding(summary, r)}`);
