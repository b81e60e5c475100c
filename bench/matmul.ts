/**
 * Matmul throughput: GFLOP/s of C = A B (n x n) through `matmul()`, median of several runs after a warm-up,
 * for each device and forward kernel:
 * - `strided`: matmul's own kernel, `matmulStrided`, one thread per output (no device override).
 * - `rows4`: the `matmulRows4` override (4 rows per thread, 3-D grid, core/devices/gpujs/matmul-rows4.ts), one thread.
 * - `rows4-threads` (webasm): the same with gpu.js asyncMode, i.e. WebAssembly threads.
 * - `wasm` (webasm, cpu): the WebAssembly SIMD micro-kernel (core/devices/webasm/wasm/gemm.ts), one thread; the default
 *   on webasm.
 *
 *   npx tsx bench/matmul.ts [--quick]     prints a table and writes bench/results/matmul.json
 *
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { device, matmul, randn, setThreads, type Tensor } from '../core/index.js';
import type { Data } from '../core/device.js';
import { setKernelOverride } from '../core/devices/overrides.js';

/** The benchmark's kernel labels as implementations of matmul's kernel (core/devices/overrides.ts). */
const IMPLEMENTATION: Record<string, string> = { strided: 'none', rows4: 'matmulRows4', 'rows4-threads': 'matmulRows4', wasm: 'matmulWasm' };
const setMatmulKernel = (label: string): string => setKernelOverride('matmulStrided', IMPLEMENTATION[label] ?? label);

// ---------------------------------------------------------------------------------------------------------
// The benchmark

export interface MatmulRow {
  device: string;
  n: number;
  gflops: number;
  kernel: string;
}

export interface MatmulBenchOpts {
  /** Smaller sizes and fewer runs. */
  quick?: boolean;
  sizes?: number[];
  devices?: string[];
  kernels?: ('strided' | 'rows4' | 'rows4-threads' | 'wasm')[];
  /** Write the rows as JSON here. */
  resultsFile?: string;
  /** Print a line per measurement (default true). */
  log?: boolean;
}

/**
 * Median milliseconds of `fn`, after warm-up runs (kernel compile, then JIT tier-up: the first dozen runs of
 * a small size can be 10x slow) for at least 2 runs and 300 ms, with as many runs as fit ~2 s (3 to `maxReps`).
 */
async function medianMs(fn: () => Tensor, maxReps: number): Promise<{ ms: number; cpuMs: number; last: Data }> {
  const warm0 = performance.now();
  for (let i = 0; i < 2 || (performance.now() - warm0 < 300 && i < 50); i++) await fn()._data;
  const t0 = performance.now();
  let last = await fn()._data;
  const first = performance.now() - t0;
  const reps = Math.max(3, Math.min(maxReps, Math.floor(2000 / Math.max(first, 1e-3))));
  const ts: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c = process.cpuUsage();
    const s = performance.now();
    last = await fn()._data; // the op's own storage: no copy out, so the timing is the op's
    ts.push(performance.now() - s);
    const used = process.cpuUsage(c);
    cpu.push((used.user + used.system) / 1000);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { ms: median(ts), cpuMs: median(cpu), last };
}

function maxAbsDiff(a: Data, b: Data): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export async function runMatmulBench(opts: MatmulBenchOpts = {}): Promise<MatmulRow[]> {
  const quick = opts.quick ?? false;
  const sizes = opts.sizes ?? (quick ? [64, 256, 512] : [64, 128, 256, 512, 1024]);
  const devices = opts.devices ?? ['webasm', 'cpu'];
  const kernels = opts.kernels ?? ['strided', 'rows4', 'rows4-threads', 'wasm'];
  const maxReps = quick ? 3 : 7;
  const log = opts.log ?? true;
  const rows: MatmulRow[] = [];
  const prevChoice = setMatmulKernel('auto');
  try {
    for (const devName of devices) {
      const dev = device(devName);
      // the JS cpu backend runs the strided kernel at ~0.3-0.5 GFLOP/s: 1024^3 would take a minute
      const ns = sizes.filter((n) => devName !== 'cpu' || n <= (quick ? 256 : 512));
      const inputs = ns.map((n) => [randn([n, n], { device: dev }), randn([n, n], { device: dev })]);
      const strided = new Map<number, Data>();
      for (const kernel of kernels) {
        if (kernel === 'rows4-threads' && devName !== 'webasm') continue;
        setMatmulKernel(kernel);
        const prevThreads = setThreads(kernel === 'rows4-threads');
        try {
          for (const [q, n] of ns.entries()) {
            const [a, b] = inputs[q];
            const { ms, cpuMs, last } = await medianMs(() => matmul(a, b), maxReps);
            const gflops = (2 * n ** 3) / (ms * 1e6);
            rows.push({ device: devName, n, gflops: Math.round(gflops * 1000) / 1000, kernel });
            if (kernel === 'strided') strided.set(n, last);
            const base = strided.get(n);
            const check = base && kernel !== 'strided' ? `  max |diff| vs strided ${maxAbsDiff(last, base).toExponential(1)}` : '';
            // per CPU-second (all threads): less sensitive than wall time to other processes sharing the cores
            const perCpu = ((2 * n ** 3) / (cpuMs * 1e6)).toFixed(2).padStart(6);
            if (log) console.log(`${devName.padEnd(7)} n=${String(n).padEnd(5)} ${kernel.padEnd(14)} ${ms.toFixed(1).padStart(8)} ms ${gflops.toFixed(2).padStart(7)} GFLOP/s (${perCpu} per CPU-s)${check}`);
          }
        } finally {
          setThreads(prevThreads);
        }
      }
    }
  } finally {
    setMatmulKernel(prevChoice);
  }
  if (opts.resultsFile) {
    mkdirSync(dirname(opts.resultsFile), { recursive: true });
    writeFileSync(opts.resultsFile, JSON.stringify(rows, null, 2) + '\n');
  }
  return rows;
}

/** Markdown table: one row per (device, n), one column per kernel. */
export function matmulTable(rows: MatmulRow[]): string {
  const kernels = [...new Set(rows.map((r) => r.kernel))];
  const keys = [...new Set(rows.map((r) => `${r.device}|${r.n}`))];
  const lines = [`| device | n | ${kernels.map((k) => `${k} GFLOP/s`).join(' | ')} |`, `|---|---|${kernels.map(() => '---:').join('|')}|`];
  for (const key of keys) {
    const [dev, n] = key.split('|');
    const cells = kernels.map((k) => rows.find((r) => r.device === dev && String(r.n) === n && r.kernel === k)?.gflops.toFixed(2) ?? '');
    lines.push(`| ${dev} | ${n} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.env.TSGRAD_QUIET ??= '1';
  const resultsFile = fileURLToPath(new URL('./results/matmul.json', import.meta.url));
  const load = () => loadavg()[0].toFixed(2);
  console.log(`${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${load()} before`);
  const rows = await runMatmulBench({ quick: process.argv.includes('--quick'), resultsFile });
  console.log(`\n${matmulTable(rows)}\n\nload average ${load()} after; written to ${resultsFile}`);
}
