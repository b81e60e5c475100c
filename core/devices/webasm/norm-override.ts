/**
 * The CPU devices' overrides of the norms' two kernels (ops/norm.ts): `normForward` and `normBackward`
 * walk each row once (the kernels' threads each recompute their row's statistics, O(R) per value, and a
 * column sum walks the rows once per column): as WebAssembly SIMD (wasm/simd.ts) for rows of a multiple of
 * 4 values, in JavaScript (float64 sums, rounded once per output) for other rows. Measured per tiny-GPT
 * layer norm ([1024, 64]), forward + backward: the kernels 0.36 + 0.64 ms, JavaScript 0.33 + 0.38, SIMD
 * ~0.1 + 0.15. spec/norm-override.spec.ts tests both paths against the kernels and the float64 reference.
 */
import type { KernelArg } from '../../kernel.js';
import { outputArray } from '../../pool.js';
import { registerOverride } from '../overrides.js';
import { wasmSimd } from './wasm/simd.js';

type Arr = ArrayLike<number>;

/** normForward(x, w, b, rows, R, c, eps) -> [y | mean | rstd]. */
function normForward(n: number, args: KernelArg[]): Float32Array | null {
  const [x, w, b, rows, R, c, eps] = args as [Arr, Arr, Arr, ...number[]];
  const nx = rows * R;
  if (n !== nx + 2 * rows) return null;
  if (R % 4 === 0) return wasmSimd().normForward(x, w, b, rows, R, c, eps);
  const out = outputArray(n);
  for (let row = 0, start = 0; row < rows; row++, start += R) {
    let s = 0;
    for (let j = start; j < start + R; j++) s += x[j];
    const mu = (c * s) / R;
    let v = 0;
    for (let j = start; j < start + R; j++) v += (x[j] - mu) * (x[j] - mu);
    const r = 1 / Math.sqrt(v / R + eps);
    out[nx + row] = mu;
    out[nx + rows + row] = r;
    for (let j = 0; j < R; j++) out[start + j] = (x[start + j] - mu) * r * w[j] + b[j];
  }
  return out;
}

/** normBackward(g, x, stats, w, rows, R, c) -> [dx | dw | db]. */
function normBackward(n: number, args: KernelArg[]): Float32Array | null {
  const [g, x, stats, w, rows, R, c] = args as [Arr, Arr, Arr, Arr, ...number[]];
  const nx = rows * R;
  if (n !== nx + 2 * R) return null;
  if (R % 4 === 0) return wasmSimd().normBackward(g, x, stats, w, rows, R, c);
  const out = outputArray(n);
  const dw = new Float64Array(R);
  const db = new Float64Array(R);
  for (let row = 0, start = 0; row < rows; row++, start += R) {
    const mu = stats[row];
    const r = stats[rows + row];
    let a = 0;
    let bb = 0;
    for (let j = 0; j < R; j++) {
      const gw = g[start + j] * w[j];
      a += gw;
      bb += gw * (x[start + j] - mu) * r;
    }
    const [ca, cb] = [(c * a) / R, bb / R];
    for (let j = 0; j < R; j++) {
      const gj = g[start + j];
      const xhat = (x[start + j] - mu) * r;
      out[start + j] = r * (gj * w[j] - ca - xhat * cb);
      dw[j] += gj * xhat;
      db[j] += gj;
    }
  }
  for (let j = 0; j < R; j++) {
    out[nx + j] = dw[j];
    out[nx + R + j] = db[j];
  }
  return out;
}

for (const [name, replaces, run] of [['normForwardRows', 'normForward', normForward], ['normBackwardRows', 'normBackward', normBackward]] as const) {
  registerOverride({ name, replaces, devices: ['webasm', 'cpu'], byDefault: ['webasm', 'cpu'], testedBy: 'spec/norm-override.spec.ts', run: (_dev, n, args) => run(n, args) });
}
