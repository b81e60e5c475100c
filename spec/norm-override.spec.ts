/**
 * The norms' kernels on the CPU devices (core/devices/webasm/norm-override.ts: `normForwardRows` and
 * `normBackwardRows`, one JavaScript pass per row) against the kernels they replace and the float64
 * reference: layer and RMS norm, with and without weight and bias, rows of 1 to 70 values, and rows whose
 * values sit far from 0 (where the centring matters).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { destroyDevices, device, Generator, layerNorm, rmsNorm, tensor, type Tensor } from '../core/index.js';
import { setKernelOverride } from '../core/devices/overrides.js';
import { expectClose, kernelsOf } from './helpers.js';

afterAll(() => destroyDevices());

/** y and the gradients (x, weight?, bias?) of sum(y * w) on `dev`, and the kernels that ran. */
async function run(dev: string, kind: 'layerNorm' | 'rmsNorm', shape: number[], xs: number[], ws: number[] | null, bs: number[] | null, wOut: number[]) {
  const d = device(dev);
  const R = shape[shape.length - 1];
  const x = tensor(xs, shape, { device: d, requiresGrad: true });
  const w = ws && tensor(ws, [R], { device: d, requiresGrad: true });
  const b = bs && tensor(bs, [R], { device: d, requiresGrad: true });
  let y!: Tensor;
  const kernels = await kernelsOf(() => {
    y = kind === 'layerNorm' ? layerNorm(x, w, b) : rmsNorm(x, w);
    y.mul(tensor(wOut, shape, { device: d })).sum().backward();
  });
  return {
    kernels,
    values: [await y.toArray(), await x.grad!.toArray(), ...(w ? [await w.grad!.toArray()] : []), ...(b ? [await b.grad!.toArray()] : [])],
  };
}

describe('norm overrides on webasm and cpu', () => {
  it('agree with the float64 reference and with the kernels they replace', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('layerNorm' as const, 'rmsNorm' as const), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 70 }),
        fc.boolean(), fc.boolean(), fc.constantFrom(0, 30), fc.integer({ min: 0, max: 1e6 }),
        async (kind, rows, R0, withW, withB, offset, seed) => {
          let R = R0;
          // far from 0 only with rows of 8 or more: with 2 values a row's true dx is 0 and what is computed is
          // float32 rounding of x (~30 ulp) times rstd, on every device and on the reference alike
          if (offset && R < 8) R += 8;
          // nor layer norm's rows of 2: their exact dx is 0, and what is computed is the rounding of the
          // float32 mean and rstd kept from the forward, times rstd (up to 1 / sqrt(eps) when the two
          // values nearly agree): 1.8e-4 apart from the float64 reference in 1 of ~2,000 cases
          if (kind === 'layerNorm' && R === 2) R = 3;
          const g = new Generator(seed);
          const xs = Array.from({ length: rows * R }, () => offset + g.normal());
          const ws = withW ? Array.from({ length: R }, () => 1 + 0.3 * g.normal()) : null;
          const bs = withB && kind === 'layerNorm' ? Array.from({ length: R }, () => g.normal()) : null;
          const wOut = Array.from({ length: rows * R }, () => g.normal());
          const shape = [rows, R];
          const what = `${kind} [${rows}, ${R}] w ${withW} b ${Boolean(bs)} offset ${offset}`;
          const ref = await run('reference', kind, shape, xs, ws, bs, wOut);
          for (const dev of ['webasm', 'cpu']) {
            const fast = await run(dev, kind, shape, xs, ws, bs, wOut);
            expect(fast.kernels, what).toContain('normForwardRows');
            expect(fast.kernels, what).toContain('normBackwardRows');
            // values near 1 after normalising; gradients through rstd grow with 1 / sd
            fast.values.forEach((v, i) => expectClose(v, ref.values[i], { atol: 2e-5, rtol: 1e-4 }, `${what} on ${dev}: output ${i} vs reference`));
            const prev = [setKernelOverride('normForward', 'none'), setKernelOverride('normBackward', 'none')];
            try {
              const slow = await run(dev, kind, shape, xs, ws, bs, wOut);
              expect(slow.kernels).toContain('normForward');
              // the kernels sum in float32: 70 values near 30 move a row's mean by ~1e-4, and xhat with it
              const tol = offset ? { atol: 3e-4, rtol: 3e-3 } : { atol: 2e-5, rtol: 1e-4 };
              slow.values.forEach((v, i) => expectClose(fast.values[i], v, tol, `${what} on ${dev}: output ${i} vs the kernel`));
            } finally {
              setKernelOverride('normForward', prev[0]);
              setKernelOverride('normBackward', prev[1]);
            }
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});
