/**
 * (b) Every op's forward and backward on each gpu.js device against the float64 reference, with the per-op
 * tolerances written in the op table (DEFAULT_TOL otherwise). webgpu runs through whatever adapter answers
 * (SwiftShader's Vulkan driver in CI: slow, so fewer cases); set TSGRAD_REQUIRE_WEBGPU=1 to make a missing
 * adapter fail instead of skip.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { destroyDevices, probeWebGpu, propagateFor, type Tensor } from './device-helpers.js';
import { DEFAULT_TOL, opTable, Sampler } from './op-table/index.js';
import { build, expectClose } from './helpers.js';

async function forwardAndGrads(call: (xs: Tensor[]) => Tensor, xs: Tensor[], seedWeights: number[] | null) {
  const y = call(xs);
  const out = await y.toArray();
  const grads: number[][] = [];
  if (seedWeights && y.requiresGrad) {
    for (const g of propagateFor(y, seedWeights, xs)) grads.push(g ? await g.toArray() : []);
  }
  return { out, grads };
}

function agreementSuite(dev: string, numRuns: number) {
  for (const entry of opTable) {
    it(entry.name, async () => {
      const tol = { fwd: entry.tol?.fwd ?? DEFAULT_TOL.fwd, bwd: entry.tol?.bwd ?? DEFAULT_TOL.bwd };
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (seed) => {
          const c = entry.sample(new Sampler(seed));
          const grad = entry.grad !== false;
          const ref = await forwardAndGrads(c.call, build(c.inputs, 'reference', grad), null);
          const w = new Sampler(seed + 1).values(ref.out.length);
          const refG = grad ? await forwardAndGrads(c.call, build(c.inputs, 'reference', true), w) : ref;
          const got = await forwardAndGrads(c.call, build(c.inputs, dev, grad), grad ? w : null);
          const where = `${entry.name} on ${dev} (seed ${seed})`;
          expectClose(got.out, ref.out, tol.fwd, `${where} forward`);
          got.grads.forEach((g, i) => expectClose(g, refG.grads[i], tol.bwd, `${where} gradient of input ${i}`));
        }),
        { numRuns },
      );
    });
  }
}

describe('webasm agrees with the float64 reference', () => agreementSuite('webasm', 6));
describe('cpu agrees with the float64 reference', () => agreementSuite('cpu', 4));

const gpu = { ok: false, reason: '' };
describe('webgpu agrees with the float64 reference', () => {
  beforeAll(async () => {
    const p = await probeWebGpu();
    gpu.ok = p.ok;
    gpu.reason = p.reason;
    if (!p.ok && process.env.TSGRAD_REQUIRE_WEBGPU === '1') throw new Error(`webgpu required but ${p.reason}`);
    if (!p.ok) console.warn(`SKIPPING webgpu agreement tests: ${p.reason}`);
  });
  afterAll(async () => destroyDevices());
  for (const entry of opTable) {
    it(entry.name, async (ctx) => {
      if (!gpu.ok) ctx.skip();
      const tol = { fwd: entry.tol?.fwd ?? DEFAULT_TOL.fwd, bwd: entry.tol?.bwd ?? DEFAULT_TOL.bwd };
      const seed = 1234;
      const c = entry.sample(new Sampler(seed));
      const grad = entry.grad !== false;
      const refOut = await forwardAndGrads(c.call, build(c.inputs, 'reference', grad), null);
      const w = new Sampler(seed + 1).values(refOut.out.length);
      const ref = await forwardAndGrads(c.call, build(c.inputs, 'reference', grad), grad ? w : null);
      const got = await forwardAndGrads(c.call, build(c.inputs, 'webgpu', grad), grad ? w : null);
      expectClose(got.out, ref.out, tol.fwd, `${entry.name} on webgpu forward`);
      got.grads.forEach((g, i) => expectClose(g, ref.grads[i], tol.bwd, `${entry.name} on webgpu gradient of input ${i}`));
    });
  }
});
