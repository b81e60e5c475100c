/**
 * The CPU devices' override of flat AdamW's kernel (`adamFlat`, nn/optim.ts): one JavaScript loop per run
 * of parameters with the same weight decay that computes each value's m, v and new parameter once, where
 * the kernel's threads each recompute m and v for one of the three outputs (tiny-GPT step: 2.1 -> ~0.5 ms).
 * Arithmetic in float64, rounded once per output (the kernel rounds every operation to float32): within a
 * few float32 ulps of it, tested in spec/optim.spec.ts against it and the per-parameter kernels.
 */
import type { KernelArg } from '../../kernel.js';
import { outputArray } from '../../pool.js';
import { registerOverride } from '../overrides.js';

type Arr = ArrayLike<number>;

/** adamFlat(pmv, g, bounds, decay, G, N, b1, b2, stepSize, sqrtBc2, eps) -> [p | m | v]. */
function adamFlat(n: number, args: KernelArg[]): Float32Array | null {
  const [pmv, g, bounds, decay, G, N, b1, b2, stepSize, sqrtBc2, eps] = args as [Arr, Arr, Arr, Arr, ...number[]];
  if (n !== 3 * N) return null;
  const out = outputArray(n);
  const [c1, c2] = [1 - b1, 1 - b2];
  let i = 0;
  for (let k = 0; k < G; k++) {
    const d = decay[k];
    for (const end = k === G - 1 ? N : bounds[k]; i < end; i++) {
      const gi = g[i];
      const m = pmv[N + i] * b1 + gi * c1;
      const v = pmv[2 * N + i] * b2 + gi * gi * c2;
      out[N + i] = m;
      out[2 * N + i] = v;
      out[i] = pmv[i] * d - (m / (Math.sqrt(v) / sqrtBc2 + eps)) * stepSize;
    }
  }
  return out;
}

registerOverride({
  name: 'adamFlatLoop',
  replaces: 'adamFlat',
  devices: ['webasm', 'cpu'],
  byDefault: ['webasm', 'cpu'],
  testedBy: 'spec/optim.spec.ts',
  run: (_dev, n, args) => adamFlat(n, args),
});
