/**
 * The CPU devices' overrides of row and element kernels against the kernels they replace and the float64
 * reference:
 *   - `expShiftRowsWasm` (WebAssembly SIMD exp) replaces `expShiftRows`: softmax's and cross-entropy's exp;
 *   - `expShiftCausalWasm` replaces `expShiftCausal`: causalSoftmax's exp and mask;
 *   - `nllBackwardRows` replaces `nllBackward_`: cross-entropy's gradient
 *     (these three: core/devices/webasm/softmax-override.ts);
 *   - `geluWasm` and `geluBackwardWasm` replace `gelu` and `geluBackward_` (gelu-override.ts);
 *   - `indexAddRows` replaces `indexAdd_`: indexAdd, the embedding's backward (index-add-override.ts).
 * Rows of every length from 1 (under 4 floats the kernel itself runs) past one vector and its overlapping
 * tail, values from float32's exp underflow to overflow, -Infinity (a masked logit) and NaN; indexAdd along
 * every dim of 1-d to 4-d tensors, with repeated and unused indices.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { causalSoftmax, crossEntropy, destroyDevices, device, gelu, Generator, indexAdd, setGemmWorker, softmax, tensor, type Tensor } from '../core/index.js';
import { listOverrides, setKernelOverride } from '../core/devices/overrides.js';
import { SIMD_WORKER_MIN_FLOATS, wasmSimd, WasmSimd } from '../core/devices/webasm/wasm/simd.js';
import { expectClose, kernelsOf, startWorkerFor } from './helpers.js';

afterAll(() => destroyDevices());

// atol: a few float32 ulps of 1, for p - 1 at the target class (its cancellation loses the relative accuracy)
const TOL = { atol: 3e-7, rtol: 2e-6 };

/** softmax(x) and cross-entropy's loss and gradient for logits [rows, R] on `dev`. */
async function run(dev: string, x: number[], rows: number, R: number, targets: number[]) {
  const logits: Tensor = tensor(x, [rows, R], { device: device(dev), requiresGrad: true });
  const p = await softmax(logits, -1).toArray();
  const loss = crossEntropy(logits, tensor(targets, [rows], { dtype: 'int32', device: device(dev) }));
  loss.backward();
  return { p, loss: await loss.toArray(), grad: await logits.grad!.toArray() };
}


describe('row overrides on webasm and cpu agree with the float64 reference', () => {
  it('both are registered, on webasm by default, and name this file', () => {
    const mine = listOverrides().filter((o) => o.testedBy === 'spec/row-overrides.spec.ts').map((o) => `${o.name}>${o.replaces}`);
    expect(mine.sort()).toEqual([
      'expShiftCausalWasm>expShiftCausal', 'expShiftRowsWasm>expShiftRows', 'geluBackwardWasm>geluBackward_', 'geluWasm>gelu',
      'indexAddRows>indexAdd_', 'nllBackwardRows>nllBackward_',
    ]);
  });

  it('run by default on webasm and give what the kernels give, for rows of 1 to 40 floats', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 1e6 }), async (rows, R, seed) => {
        const g = new Generator(seed);
        const x = Array.from({ length: rows * R }, () => g.normal() * 4);
        const t = Array.from({ length: rows }, () => g.int(R));
        const ref = await run('reference', x, rows, R, t);
        let fast!: Awaited<ReturnType<typeof run>>;
        const ran = await kernelsOf(async () => (fast = await run('webasm', x, rows, R, t)));
        if (R >= 4) expect(ran).toEqual(expect.arrayContaining(['expShiftRowsWasm', 'nllBackwardRows']));
        else expect(ran).toEqual(expect.arrayContaining(['expShiftRows']));
        expectClose(fast.p, ref.p, TOL, `softmax ${rows}x${R}`);
        expectClose(fast.loss, ref.loss, TOL, `cross-entropy ${rows}x${R}`);
        expectClose(fast.grad, ref.grad, TOL, `cross-entropy grad ${rows}x${R}`);
        const prevE = setKernelOverride('expShiftRows', 'none');
        const prevN = setKernelOverride('nllBackward_', 'none');
        try {
          const plain = await run('webasm', x, rows, R, t);
          expectClose(fast.p, plain.p, TOL, `override vs kernel, softmax ${rows}x${R}`);
          expectClose(fast.grad, plain.grad, TOL, `override vs kernel, grad ${rows}x${R}`);
        } finally {
          setKernelOverride('expShiftRows', prevE);
          setKernelOverride('nllBackward_', prevN);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('exp from underflow to overflow, -Infinity and NaN, as Math.exp rounded to float32', () => {
    const xs = [-Infinity, -1e30, -200, -104, -103.9, -103.2, -100, -88, -87.3, -20, -1, -0.5, -1e-8, 0, 1e-8, 0.5, 1, 20, 88, 88.7, 88.73, 89, 1e30, Infinity, NaN];
    const R = xs.length;
    const got = wasmSimd().expShift(Float32Array.from(xs), [0], 1, R);
    for (let i = 0; i < R; i++) {
      const want = Math.fround(Math.exp(Math.fround(xs[i])));
      if (Number.isNaN(want)) expect(got[i]).toBeNaN();
      else if (want === 0 || !Number.isFinite(want)) expect(got[i]).toBe(want);
      else expect(Math.abs(got[i] - want) / want, `exp(${xs[i]})`).toBeLessThanOrEqual(3 * 2 ** -23);
    }
    // a sweep: within 3 ulp of float32 everywhere in [-87, 88]
    let worst = 0;
    const n = 100_003;
    const sweep = Float32Array.from({ length: n }, (_, i) => -87 + (175 * i) / (n - 1));
    const e = wasmSimd().expShift(sweep, [0], 1, n);
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(e[i] - Math.exp(sweep[i])) / Math.exp(sweep[i]));
    expect(worst).toBeLessThanOrEqual(3 * 2 ** -23);
  });

  it('a masked logit (-Infinity) gets probability exactly 0 and gradient exactly 0', async () => {
    const x = [1, -Infinity, 2, 0.5, -Infinity, 3];
    const fast = await run('webasm', x, 1, 6, [0]);
    expect(fast.p[1]).toBe(0);
    expect(fast.p[4]).toBe(0);
    expect(fast.grad[1]).toBe(0);
    expect(fast.grad[4]).toBe(0);
  });
});

describe('indexAddRows (indexAdd, the embedding backward) agrees with the kernel and the float64 reference', () => {
  it('along every dim of 1-d to 4-d tensors, with repeated and unused indices, on webasm and cpu', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 1e6 }),
        async (shape, dimSeed, size, seed) => {
          const g = new Generator(seed);
          const dim = dimSeed % shape.length;
          const values = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => g.normal());
          const ids = Array.from({ length: shape[dim] }, () => g.int(size));
          const on = async (dev: string) =>
            indexAdd(tensor(values, shape, { device: device(dev) }), dim, tensor(ids, [ids.length], { dtype: 'int32', device: device(dev) }), size).toArray();
          const ref = await on('reference');
          for (const dev of ['webasm', 'cpu']) {
            let got!: number[];
            const ran = await kernelsOf(async () => (got = await on(dev)));
            expect(ran).toContain('indexAddRows');
            expectClose(got, ref, TOL, `indexAdd on ${dev}, shape [${shape}] dim ${dim} size ${size} ids [${ids}]`);
            const prev = setKernelOverride('indexAdd_', 'none');
            try {
              expectClose(got, await on(dev), TOL, `override vs kernel on ${dev}`);
            } finally {
              setKernelOverride('indexAdd_', prev);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('causal softmax and GELU overrides agree with the kernels and the float64 reference', () => {
  /** y = f(x) and d(sum(y * w))/dx on `dev`. */
  async function withGrad(dev: string, f: (x: Tensor) => Tensor, values: number[], shape: number[], w: number[]) {
    const x = tensor(values, shape, { device: device(dev), requiresGrad: true });
    const y = f(x);
    y.mul(tensor(w, shape, { device: device(dev) })).sum().backward();
    return { y: await y.toArray(), grad: await x.grad!.toArray() };
  }

  /** The op on webasm with the overrides (checking they ran), without them, and on the reference. */
  async function compare(what: string, f: (x: Tensor) => Tensor, values: number[], shape: number[], w: number[], kernels: string[], expectRan: boolean) {
    const ref = await withGrad('reference', f, values, shape, w);
    let fast!: Awaited<ReturnType<typeof withGrad>>;
    const ran = await kernelsOf(async () => (fast = await withGrad('webasm', f, values, shape, w)));
    for (const k of expectRan ? kernels : []) expect(ran, what).toContain(k);
    expectClose(fast.y, ref.y, TOL, `${what}: forward`);
    expectClose(fast.grad, ref.grad, { atol: 1e-6, rtol: 1e-5 }, `${what}: gradient`);
  }

  it('causalSoftmax over [B, Tq, Tk] with every offset Tk - Tq, including masked rows of -Infinity', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 1e6 }), async (B, Tq, extra, seed) => {
        const Tk = Tq + extra;
        const g = new Generator(seed);
        const n = B * Tq * Tk;
        const values = Array.from({ length: n }, () => g.normal() * 3);
        const w = Array.from({ length: n }, () => g.normal());
        await compare(`causalSoftmax [${B}, ${Tq}, ${Tk}]`, (x) => causalSoftmax(x), values, [B, Tq, Tk], w, ['expShiftCausalWasm'], Tk >= 4);
      }),
      { numRuns: 40 },
    );
    // masked entries are exactly 0 even where the scores are huge (they are never read)
    const p = await causalSoftmax(tensor([1, 1e30, -2, 2, 3, Infinity, 0, 1, 2, 3, 4, 5], [2, 6], { device: device('webasm') }), 4).toArray();
    expect(p.slice(0, 6)).toEqual([0, 1, 0, 0, 0, 0]);
    expect(p.slice(6).every((v) => v > 0)).toBe(true);
  });

  it('gelu and its gradient over [-12, 12], past tanh saturation, and near 0; n not a multiple of 4', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 0, max: 1e6 }), fc.constantFrom(0.01, 1, 4, 12), async (n, seed, scale) => {
        const g = new Generator(seed);
        const values = Array.from({ length: n }, () => g.normal() * scale);
        const w = Array.from({ length: n }, () => g.normal());
        await compare(`gelu (n ${n}, scale ${scale})`, (x) => gelu(x), values, [n], w, ['geluWasm', 'geluBackwardWasm'], true);
        const prev = [setKernelOverride('gelu', 'none'), setKernelOverride('geluBackward_', 'none')];
        try {
          const plain = await withGrad('webasm', (x) => gelu(x), values, [n], w);
          const fast = await withGrad('webasm', (x) => gelu(x), values, [n], w);
          expect(fast.y.length).toBe(plain.y.length);
        } finally {
          setKernelOverride('gelu', prev[0]);
          setKernelOverride('geluBackward_', prev[1]);
        }
      }),
      { numRuns: 60 },
    );
    const special = await gelu(tensor([0, -0, 1e-30, -1e-30, 30, -30, 1e6, -1e6, Infinity, NaN], [10], { device: device('webasm') })).toArray();
    expect(special.slice(0, 8)).toEqual([0, -0, 5e-31, -5e-31, 30, -0, 1e6, -0].map(Math.fround));
    expect(special[8]).toBe(Infinity);
    expect(special[9]).toBeNaN();
  });
});

describe('SIMD kernels: the second half of a big call on the worker thread', () => {
  it('GELU, its backward and expShift past SIMD_WORKER_MIN_FLOATS are bitwise the one-thread results', async () => {
    const s = new WasmSimd({ shared: true });
    try {
      await startWorkerFor('SIMD', () => s.startWorker());
      const g = new Generator(4);
      const n = SIMD_WORKER_MIN_FLOATS + 13; // an odd tail
      const x = Float32Array.from({ length: n }, () => g.normal() * 4);
      const dy = Float32Array.from({ length: n }, () => g.normal());
      const [rows, R] = [(SIMD_WORKER_MIN_FLOATS >> 7) + 1, 131];
      const logits = Float32Array.from({ length: rows * R }, () => g.normal() * 3);
      const m = Float32Array.from({ length: rows }, (_, r) => Math.max(...logits.subarray(r * R, (r + 1) * R)));
      const all = () => [s.gelu(x, n), s.geluBackward(dy, x, n), s.expShift(logits, m, rows, R)].map((a) => Array.from(a));
      const two = all();
      const prev = setGemmWorker(false);
      const one = all();
      setGemmWorker(prev);
      expect(two).toEqual(one);
      // and against the single-thread module of the process, which the overrides use
      expect(Array.from(wasmSimd().gelu(x, n))).toEqual(two[0]);
    } finally {
      s.close();
    }
  });
});
