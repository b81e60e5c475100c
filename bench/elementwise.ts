/**
 * Elementwise throughput per device: a unary op that calls into JS on webasm (tanh) and a binary op that
 * does not (add), over 1M elements. Median of several runs after a warm-up.
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
  await fn().data();
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
    for (const [op, fn] of [['tanh', () => a.tanh()], ['add', () => a.add(b)]] as const) {
      const ms = await time(fn, opts.reps ?? 7);
      rows.push({ device: dev, op, n, ms, melemPerSec: n / ms / 1e3 });
    }
  }
  return rows;
}
