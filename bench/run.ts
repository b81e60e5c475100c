/**
 * `npm run bench`: every benchmark in one process, written to BENCHMARKS.md (machine, command, medians,
 * side-by-side ratios) and bench/results/*.json. Benchmarks are not tests: nothing here asserts a time.
 *
 *   npm run bench                  matmul, elementwise, tiny-GPT training step vs TensorFlow.js
 *   npm run bench -- --quick       fewer sizes and steps (about 3 minutes)
 *   npm run bench -- --profile     also the per-kernel profiles of a tiny-GPT and a main-job training step
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { destroyDevices, getDevice } from '../core/index.js';
import { runElementwiseBench } from './elementwise.js';
import { matmulTable, runMatmulBench } from './matmul.js';
import { runTrainStepBench, trainStepMarkdown } from './train-step.js';

process.env.TSGRAD_QUIET ??= '1';
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const withProfile = argv.includes('--profile');
const results = (f: string) => fileURLToPath(new URL(`./results/${f}`, import.meta.url));
const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform}-${process.arch}`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' / ');

console.log(`machine: ${machine}\nload average (1/5/15 min) before: ${load()}`);
const loadBefore = load();
const sections: string[] = [];

console.log('\n== matmul ==');
const mm = await runMatmulBench({ quick, resultsFile: results('matmul.json') });
const at512 = (kernel: string) => mm.find((r) => r.device === 'webasm' && r.n === 512 && r.kernel === kernel)?.gflops;
sections.push(
  '## Matmul (C = A B, n x n, GFLOP/s, median)\n\n' + matmulTable(mm) +
    `\n\nKernels: \`strided\` is one thread per output (the fallback, and what the float64 reference runs); \`rows4\` computes 4 rows per ` +
    'thread over a grid (the default on cpu and webgpu); `rows4-threads` adds WebAssembly threads; `wasm` is the WebAssembly SIMD ' +
    'micro-kernel generated from TypeScript (core/devices/webasm/wasm/gemm.ts), the default on webasm: one thread below 2^20 multiply-adds, ' +
    'two from there (128^3 and up here: a worker thread over shared WebAssembly memory takes half the row blocks). ' +
    `At 512^3 on webasm: wasm ${at512('wasm') ?? '?'} GFLOP/s, rows4 ${at512('rows4') ?? '?'}, rows4-threads ${at512('rows4-threads') ?? '?'}, strided ${at512('strided') ?? '?'} ` +
    `(wasm / strided ${at512('strided') ? ((at512('wasm') ?? 0) / at512('strided')!).toFixed(1) : '?'}x; the target was 10 GFLOP/s on the default device).`,
);

console.log('\n== elementwise ==');
const ew = await runElementwiseBench({ devices: ['webasm', 'cpu'] });
for (const r of ew) console.log(`${r.device.padEnd(7)} ${r.op.padEnd(5)} ${r.ms.toFixed(2)} ms  ${r.melemPerSec.toFixed(0)} M elements/s`);
writeFileSync(results('elementwise.json'), JSON.stringify(ew, null, 2) + '\n');
sections.push(
  '## Elementwise (1M elements, median ms)\n\n| device | op | ms | M elements/s |\n|---|---|---:|---:|\n' +
    ew.map((r) => `| ${r.device} | ${r.op} | ${r.ms.toFixed(2)} | ${r.melemPerSec.toFixed(0)} |`).join('\n') +
    '\n\nOn webasm, exp, tanh, log, sin, cos and pow run as WebAssembly functions linked into the kernel (core/devices/webasm/wasm/math.ts; ' +
    'rare arguments such as log of x <= 0 still go to JavaScript); atan2 calls into JavaScript per element; add stays in WebAssembly SIMD. ' +
    'The GELU and softmax-exp kernels of a training step go further (four lanes per instruction, core/devices/webasm/wasm/simd.ts); tanh here is the plain op. Median after a warm-up of at least 300 ms.',
);

console.log('\n== tiny-GPT training step: tsgrad vs TensorFlow.js ==');
const ts = await runTrainStepBench({ quick, resultsFile: results('train-step.json') });
sections.push(trainStepMarkdown(ts, { heading: 'Tiny-GPT training step vs TensorFlow.js and PyTorch (interleaved)', command }));

if (withProfile) {
  console.log('\n== profile of one training step (tiny GPT, then the main job), each in a fresh process ==');
  // a fresh process each, as the profiles before were measured (after the benchmarks above, in this process,
  // the same step profiled ~10% slower: heap and JIT state differ)
  const profileIn = (args: string[]) => {
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(new URL('./profile.ts', import.meta.url)), ...args], { encoding: 'utf8', env: process.env });
    if (r.status !== 0) throw new Error(`bench/profile.ts ${args.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-1)[0]}`);
    const md = r.stdout.slice(r.stdout.indexOf('## '));
    console.log(md);
    return md.trim();
  };
  const p = profileIn(['--steps', '5']);
  const b = profileIn(['--steps', '3', '--workload', 'backbone']);
  sections.push(
    `Profiles after this round of speed work (each \`npx tsx bench/profile.ts\` in a fresh process, same commands as before):`,
    p.replace(/^## /, '## After: '), b.replace(/^## /, '## After: '),
  );
  // the same profiles before this round of speed work, measured then and kept in bench/profile-before.md
  sections.push(readFileSync(fileURLToPath(new URL('./profile-before.md', import.meta.url)), 'utf8').trim());
}

const md = [
  '# Benchmarks',
  '',
  `Generated by \`${command}\` (bench/run.ts) on ${new Date().toISOString().slice(0, 10)}.`,
  '',
  `- Machine: ${machine}`,
  `- Default device: ${getDevice().name}`,
  `- Load average (1/5/15 min) before: ${loadBefore}; after: ${load()} — other processes on the machine skew absolute numbers; ratios measured side by side in one process are the fairer comparison.`,
  '',
  ...sections.flatMap((s) => [s, '']),
].join('\n');
writeFileSync(fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url)), md);
console.log(`\nwrote BENCHMARKS.md and bench/results/*.json`);
await destroyDevices();
