/**
 * Kernel plumbing that the op table does not reach directly:
 * - strided views: collapsing a view to fewer dims, and each copy kernel (2-4 dims with scalar arguments,
 *   the general 6-dim one) against plain indexing, on every CPU device;
 * - the webasm fast path (core/devices/webasm/fast-path.ts): it is taken once a kernel was compiled, and gives exactly
 *   what gpu.js's own run() gives; with WebAssembly exp/tanh/log/sin/cos/pow linked in, the same to float32 rounding;
 * - those exp, tanh, log, sin, cos and pow (core/devices/webasm/wasm/math.ts) against Math's;
 * - empty tensors on gpu.js devices.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { device, Generator, layerNorm, Tensor } from '../core/index.js';
import { numel, stridesOf } from '../core/shape.js';
import { fastPathStats, setWasmMath, setWebAsmFastPath } from '../core/devices/webasm/fast-path.js';
import { wasmMath } from '../core/devices/webasm/wasm/math.js';
import { collapseView, stridedView } from '../ops/shape.js';
import { expectClose } from './helpers.js';

/** Plain-JS reading of a view: what every copy kernel must give. */
function readView(x: number[], shape: number[], strides: number[], offset: number): number[] {
  const out: number[] = [];
  const idx = new Array<number>(shape.length).fill(0);
  for (let t = 0; t < numel(shape); t++) {
    let rem = t;
    let at = offset;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      at += idx[d] * strides[d];
    }
    out.push(x[at]);
  }
  return out;
}

describe('collapseView', () => {
  it('drops size-1 dims and merges dims contiguous in the source', () => {
    expect(collapseView([2, 3, 4], [12, 4, 1])).toEqual({ shape: [24], strides: [1] });
    expect(collapseView([2, 1, 4], [4, 99, 1])).toEqual({ shape: [8], strides: [1] });
    // head split [B, T, H, dk] -> [B, H, T, dk]
    expect(collapseView([16, 4, 64, 16], [4096, 16, 64, 1])).toEqual({ shape: [16, 4, 64, 16], strides: [4096, 16, 64, 1] });
    // a broadcast of a row over 5 rows
    expect(collapseView([5, 7], [0, 1])).toEqual({ shape: [5, 7], strides: [0, 1] });
    expect(collapseView([1, 1], [0, 0])).toEqual({ shape: [], strides: [] });
  });
});

// every permutation of a random shape of rank 1..6, plus broadcast (stride 0) and offset views
const views = fc
  .record({
    shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 6 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  })
  .map(({ shape, seed }) => {
    const g = new Generator(seed);
    const src = stridesOf(shape);
    const order = shape.map((_, i) => i).sort(() => g.random() - 0.5);
    const viewShape = order.map((i) => shape[i]);
    const strides = order.map((i) => (g.random() < 0.15 ? 0 : src[i]));
    return { size: numel(shape) + 3, viewShape, strides, offset: g.int(4) };
  });

for (const dev of ['reference', 'webasm', 'cpu']) {
  describe(`strided copies on ${dev}`, () => {
    it('read every view as plain indexing does (ranks 1-6: the 2-4 dim kernels and the general one)', () => {
      fc.assert(
        fc.property(views, ({ size, viewShape, strides, offset }) => {
          const x = Array.from({ length: size }, (_, i) => i + 1);
          const t = Tensor.fromValues(x, [size], device(dev));
          const got = Array.from(stridedView(t, viewShape, strides, Math.min(offset, 2)).dataSync());
          expect(got).toEqual(readView(x, viewShape, strides, Math.min(offset, 2)));
        }),
        { numRuns: dev === 'cpu' ? 60 : 150 },
      );
    });
  });
}

describe('empty tensors', () => {
  for (const dev of ['reference', 'webasm', 'cpu']) {
    it(`reduce to 0 and pass gradients through on ${dev} (gpu.js takes no zero-length array; a stand-in does)`, () => {
      const d = device(dev);
      const x = Tensor.fromValues([], [0, 4], d).requiresGrad_();
      const w = Tensor.fromValues([1, 2, 3, 4], [4], d).requiresGrad_();
      expect(Array.from(x.sum().dataSync())).toEqual([0]);
      expect(Array.from(x.sum(0).dataSync())).toEqual([0, 0, 0, 0]);
      const y = layerNorm(x, w, null);
      y.sum().backward();
      expect(y.shape).toEqual([0, 4]);
      expect(x.grad!.shape).toEqual([0, 4]);
      expect(Array.from(w.grad!.dataSync())).toEqual([0, 0, 0, 0]);
    });
  }
});

describe('webasm fast path', () => {
  afterEach(() => {
    setWebAsmFastPath(true);
    setWasmMath(true);
  });

  const run = (on: { fast: boolean; math: boolean }) => {
    setWebAsmFastPath(on.fast);
    setWasmMath(on.math);
    const dev = device('webasm');
    const g = new Generator(3);
    const a = Tensor.fromValues(Array.from({ length: 1000 }, () => 3 * g.normal()), [10, 100], dev);
    const b = Tensor.fromValues(Array.from({ length: 100 }, () => g.normal()), [100], dev);
    const positive = a.abs().add(0.1);
    return [a.mul(b), a.gelu(), a.sum(-1), a.softmax(-1), a.exp(), a.tanh(), positive.log(), a.sin(), a.cos(), positive.pow(1.7), positive.pow(b)].map((t) => Array.from(t.dataSync()));
  };

  it('is taken after the first call of a size and agrees with gpu.js run() exactly (Math.exp and Math.tanh kept)', () => {
    const slow = run({ fast: false, math: false });
    run({ fast: true, math: false }); // compiles (or finds) this size's modules and remembers them
    const before = fastPathStats.fast;
    const fast = run({ fast: true, math: false });
    expect(fastPathStats.fast).toBeGreaterThan(before);
    expect(fast).toEqual(slow);
  });

  it('with WebAssembly exp, tanh, log, sin, cos and pow linked in, agrees with gpu.js run() to float32 rounding, and is the same every call', () => {
    const slow = run({ fast: false, math: false });
    const first = run({ fast: true, math: true });
    const again = run({ fast: true, math: true });
    expect(again).toEqual(first);
    first.forEach((xs, k) => expectClose(xs, slow[k], { atol: 1e-30, rtol: 4e-7 }, `kernel ${k}`));
  });
});

describe('WebAssembly exp, tanh, log, sin, cos and pow (core/devices/webasm/wasm/math.ts)', () => {
  it('equal Math.exp and Math.tanh rounded to float32 within one unit in the last place, specials included', () => {
    const m = wasmMath();
    const f = Math.fround;
    const g = new Generator(9);
    const xs = [0, -0, 1e-30, -1e-5, 1e-4, -2e-4, 0.17, -0.18, 0.5, 8.9, 9.1, -30, 88.7, 88.8, -87, -103, -104, -Infinity, Infinity, NaN];
    for (let i = 0; i < 100_000; i++) xs.push(f((g.random() - 0.5) * (i % 2 ? 200 : 12)));
    for (const x0 of xs) {
      const x = f(x0);
      const [e, we] = [m.exp(x), f(Math.exp(x))];
      const [t, wt] = [m.tanh(x), f(Math.tanh(x))];
      // one float32 ulp of the expected value (denormals: one denormal step)
      const ulp = (v: number) => Math.max(Math.abs(v) * 2 ** -23, 2 ** -149);
      if (!(Object.is(e, we) || Math.abs(e - we) <= ulp(we))) throw new Error(`exp(${x}) = ${e}, Math.exp gives ${we}`);
      if (!(Object.is(t, wt) || Math.abs(t - wt) <= ulp(wt))) throw new Error(`tanh(${x}) = ${t}, Math.tanh gives ${wt}`);
    }
  });

  it('log, sin, cos and pow equal Math\'s rounded to float32 within one ulp over a sweep, specials included', () => {
    const m = wasmMath();
    const f = Math.fround;
    const g = new Generator(11);
    const ulp = (v: number) => Math.max(Math.abs(v) * 2 ** -23, 2 ** -149);
    const same = (name: string, got: number, want: number) => {
      if (!(Object.is(got, want) || Math.abs(got - want) <= ulp(want))) throw new Error(`${name} = ${got}, Math gives ${want}`);
    };
    const specials = [0, -0, 1e-40, 1e-30, 2 ** -13, -(2 ** -12), 1, 0.5, Math.SQRT2, f(Math.PI), -f(Math.PI / 2), 5e5, 6e5, 1e30, -1, -Infinity, Infinity, NaN];
    const xs = [...specials];
    // log: positive values across float32's range; sin/cos: small and large arguments
    for (let i = 0; i < 50_000; i++) xs.push(f(Math.exp((g.random() - 0.5) * 180)), f((g.random() - 0.5) * (i % 2 ? 2e5 : 20)));
    for (const x0 of xs) {
      const x = f(x0);
      same(`log(${x})`, m.log(x), f(Math.log(x)));
      same(`sin(${x})`, m.sin(x), f(Math.sin(x)));
      same(`cos(${x})`, m.cos(x), f(Math.cos(x)));
    }
    const bases = [...specials, -2, -0.5];
    for (let i = 0; i < 50_000; i++) bases.push(f(g.random() * 10));
    for (const [k, x0] of bases.entries()) {
      const x = f(x0);
      for (const p of [f((g.random() - 0.5) * 20), [0, 1, 2, -1, 0.5, 3, NaN, Infinity][k % 8]]) same(`pow(${x}, ${p})`, m.pow(x, p), f(Math.pow(x, p)));
    }
  });
});
