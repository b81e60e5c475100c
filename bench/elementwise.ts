/**
 * Elementwise throughput per device: a transcendental unary op (tanh; on webasm a WebAssembly function
 * linked into the kernel, core/devices/webasm/wasm/math.ts), log (linked the same way since the kernel-path work), and
 * a binary op (add), over 1M elements. Median of several runs after a warm-up of at least 300 ms: V8 first
 * runs a new WebAssembly module in its baseline compiler and swaps in optimised code a little later, so a
 * short warm-up measures the baseline code (1M-element add: ~13 ms instead of ~2 ms here).
 */
import { device, randn, type Tensor } from '../core/index.js';

export interface ElementwiseRow {
  device: string;
  op: string;
  n: number;
  ms: number;
  melemPerSec: number;
}

async function time(fn: () => Tensor, reps: number): Promise<number> {
  const w0 = performance.now();
  for (let i = 0; i < 3 || performance.now() - w0 < 300; i++) await fn()._data;
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn()._data;
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

export async function runElementwiseBench(opts: { devices: string[]; n?: number; reps?: number }): Promise<ElementwiseRow[]> {
  const n = opts.n ?? 1 << 20;
  const rows: ElementwiseRow[] = [];
  for (const dev of opts.devices) {
    const a = randn([n], { device: device(dev) });
    const b = randn([n], { device: device(dev) });
    const pos = a.abs().add(0.5);
    for (const [op, fn] of [['tanh', () => a.tanh()], ['log', () => pos.log()], ['add', () => a.add(b)]] as const) {
      const ms = await time(fn, opts.reps ?? 9);
      rows.push({ device: dev, op, n, ms, melemPerSec: n / ms / 1e3 });
    }
  }
  return rows;
}
