import { startProfile, stopProfile } from '../core/profile.js';
import { availableParallelism } from 'node:os';
/** Shared test helpers: build an op-table case on a device, and compare arrays with a tolerance. */
import { device, tensor, type Tensor } from '../core/index.js';
import type { InputCase, Tolerance } from './op-table/index.js';

export function build(inputs: InputCase[], dev: string, requiresGrad = false): Tensor[] {
  return inputs.map((c) =>
    tensor(c.values, c.shape, { dtype: c.dtype ?? 'float32', device: device(dev), requiresGrad: requiresGrad && (c.dtype ?? 'float32') === 'float32' }),
  );
}

/** Throws a readable error at the worst element when |a - b| > atol + rtol |b| anywhere (b: reference). */
export function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: Tolerance, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: length ${a.length} vs reference ${b.length}`);
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < a.length; i++) {
    const same = a[i] === b[i] || (Number.isNaN(a[i]) && Number.isNaN(b[i]));
    const err = same ? 0 : Math.abs(a[i] - b[i]);
    const ratio = Number.isNaN(err) ? Infinity : err / (tol.atol + tol.rtol * Math.abs(b[i]));
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = i;
    }
  }
  if (worstRatio > 1) {
    throw new Error(`${what}: element ${worst} is ${a[worst]} vs reference ${b[worst]} (atol ${tol.atol}, rtol ${tol.rtol})`);
  }
}

export function webgpuDir(): string | undefined {
  return process.env.TSGRAD_VK_DIR;
}

/**
 * Start a WebAssembly module's worker thread for a test of the two-thread split. It may be missing only
 * where the machine has one core (the test then runs on one thread and says so); anywhere else that fails.
 */
export async function startWorkerFor(what: string, start: () => Promise<boolean>): Promise<boolean> {
  const threaded = await start();
  if (!threaded) console.warn(`${what} worker: not available here (one core?), the split is not exercised`);
  if (!threaded && availableParallelism() >= 2) throw new Error(`${what}: the worker thread did not start on a ${availableParallelism()}-core machine`);
  return threaded;
}

/** Which kernels ran (profiler rows, core/profile.ts) while `fn` did; errors from `fn` propagate. */
export async function kernelsOf(fn: () => unknown): Promise<string[]> {
  startProfile();
  let rows: { kernel: string }[] = [];
  try {
    await fn();
  } finally {
    rows = stopProfile();
  }
  return rows.map((r) => r.kernel);
}
