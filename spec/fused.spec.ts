/**
 * Fused backward kernels against the same rules written with Tensor ops (`fusedBackward` in
 * core/autograd.ts): for every op in the op table, the gradient of sum(y * w) with fused kernels allowed
 * equals the one with every backward composed of ops, on the float64 reference device. The op-table
 * gradient checks (ops.grad.spec.ts) prove the fused path against finite differences; grad of grad
 * (autograd.spec.ts) exercises the composed path. This ties the two together.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Generator, setDevice } from '../core/index.js';
import { setFusedBackward } from '../core/autograd.js';
import { opTable, Sampler } from './op-table/index.js';
import { propagateFor } from './device-helpers.js';
import { build, expectClose } from './helpers.js';

setDevice('reference', 'fused vs composed backward');

async function gradients(entry: (typeof opTable)[number], seed: number, fused: boolean): Promise<number[][]> {
  const prev = setFusedBackward(fused);
  try {
    const c = entry.sample(new Sampler(seed));
    const xs = build(c.inputs, 'reference', true);
    const y = c.call(xs);
    const g = new Generator(seed + 1);
    const w = Array.from({ length: y.numel }, () => g.normal());
    const grads = propagateFor(y, w, xs);
    return Promise.all(grads.map(async (d) => (d ? Array.from(await d.data()) : [])));
  } finally {
    setFusedBackward(prev);
  }
}

describe('fused backward kernels equal the composed rules (float64 reference)', () => {
  afterEach(() => setFusedBackward(true));
  for (const entry of opTable.filter((e) => e.grad !== false)) {
    it(entry.name, async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (seed) => {
          const [fast, slow] = [await gradients(entry, seed, true), await gradients(entry, seed, false)];
          expect(fast.length).toBe(slow.length);
          fast.forEach((f, i) => expectClose(f, slow[i], { atol: 1e-12, rtol: 1e-9 }, `${entry.name} (seed ${seed}) input ${i}`));
        }),
        { numRuns: 10 },
      );
    });
  }
});
