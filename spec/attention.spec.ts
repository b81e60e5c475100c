/**
 * fusedAttention (ops/attention.ts) beyond the op table's small cases: its webasm overrides (the
 * WebAssembly SIMD heads of core/devices/webasm/wasm/attention.ts, on webasm and cpu) against the kernels they replace and
 * against the float64 reference, at sizes that reach every vector tail (keys not a multiple of 4, heads of
 * 4 to 16 values, offsets > 0, keys no query sees); and the op against attention written with ops
 * (`causalAttention` between `splitHeads` and `mergeHeads`, nn/attention.ts).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { destroyDevices, device, fusedAttention, Generator, getDevice, noGrad, setDevice, setGemmWorker, tensor, type Tensor } from '../core/index.js';
import { setKernelOverride } from '../core/devices/overrides.js';
import { ATTENTION_WORKER_MIN_MACS, WasmAttention } from '../core/devices/webasm/wasm/attention.js';
import { CausalSelfAttention, causalAttention, mergeHeads, splitHeads } from '../nn/attention.js';
import { expectClose, kernelsOf, startWorkerFor } from './helpers.js';

afterAll(() => destroyDevices());

interface Case {
  B: number; Tq: number; Tk: number; H: number; D: number; Dv: number; offset: number; scale?: number;
  q: number[]; k: number[]; v: number[]; w: number[];
}

/** y and the gradients of sum(y * w) with respect to q, k, v on `dev`, and the kernels that ran. */
async function run(dev: string, c: Case, f: (q: Tensor, k: Tensor, v: Tensor) => Tensor = (q, k, v) => fusedAttention(q, k, v, { heads: c.H, offset: c.offset, scale: c.scale })) {
  const d = device(dev);
  const q = tensor(c.q, [c.B, c.Tq, c.H * c.D], { device: d, requiresGrad: true });
  const k = tensor(c.k, [c.B, c.Tk, c.H * c.D], { device: d, requiresGrad: true });
  const v = tensor(c.v, [c.B, c.Tk, c.H * c.Dv], { device: d, requiresGrad: true });
  const kernels = await kernelsOf(() => f(q, k, v).mul(tensor(c.w, [c.B, c.Tq, c.H * c.Dv], { device: d })).sum().backward());
  const y = f(q, k, v);
  return { y: await y.toArray(), dq: await q.grad!.toArray(), dk: await k.grad!.toArray(), dv: await v.grad!.toArray(), kernels };
}

const sizes = fc.record({
  B: fc.integer({ min: 1, max: 2 }), Tq: fc.integer({ min: 1, max: 11 }), offset: fc.integer({ min: 0, max: 3 }), unseen: fc.integer({ min: 0, max: 2 }),
  H: fc.integer({ min: 1, max: 3 }), D: fc.constantFrom(4, 8, 16), Dv: fc.constantFrom(4, 8), scaled: fc.boolean(), seed: fc.integer({ min: 0, max: 1e6 }),
});

function draw(s: { B: number; Tq: number; offset: number; unseen: number; H: number; D: number; Dv: number; scaled: boolean; seed: number }): Case {
  const g = new Generator(s.seed);
  const Tk = s.Tq + s.offset + s.unseen;
  const vals = (n: number, sd: number) => Array.from({ length: n }, () => g.normal() * sd);
  return {
    ...s, Tk, scale: s.scaled ? 0.9 : undefined,
    q: vals(s.B * s.Tq * s.H * s.D, 1.5), k: vals(s.B * Tk * s.H * s.D, 1.5), v: vals(s.B * Tk * s.H * s.Dv, 1), w: vals(s.B * s.Tq * s.H * s.Dv, 1),
  };
}

const TOL = { atol: 2e-6, rtol: 2e-5 };
const GRAD_TOL = { atol: 1e-5, rtol: 1e-4 };

describe('fusedAttention on webasm (WebAssembly SIMD heads)', () => {
  it('agrees with the float64 reference and with the kernels it replaces', async () => {
    await fc.assert(
      fc.asyncProperty(sizes, async (s) => {
        const c = draw(s);
        const what = `B ${c.B} Tq ${c.Tq} Tk ${c.Tk} H ${c.H} D ${c.D} Dv ${c.Dv} offset ${c.offset} scale ${c.scale}`;
        const ref = await run('reference', c);
        const fast = await run('webasm', c);
        expect(fast.kernels, what).toContain('attnForwardWasm');
        expect(fast.kernels, what).toContain('attnBackwardWasm');
        for (const key of ['y', 'dq', 'dk', 'dv'] as const) expectClose(fast[key], ref[key], key === 'y' ? TOL : GRAD_TOL, `${what}: ${key} vs reference`);
        // the cpu device runs the same overrides by default (its other kernels round differently)
        const onCpu = await run('cpu', c);
        expect(onCpu.kernels, what).toContain('attnBackwardWasm');
        for (const key of ['y', 'dq', 'dk', 'dv'] as const) expectClose(onCpu[key], ref[key], key === 'y' ? TOL : GRAD_TOL, `${what}: ${key} on cpu vs reference`);
        const prev = [setKernelOverride('attnForward', 'none'), setKernelOverride('attnBackward', 'none')];
        try {
          const slow = await run('webasm', c);
          expect(slow.kernels).not.toContain('attnForwardWasm');
          for (const key of ['y', 'dq', 'dk', 'dv'] as const) expectClose(fast[key], slow[key], key === 'y' ? TOL : GRAD_TOL, `${what}: ${key} vs the kernel`);
        } finally {
          setKernelOverride('attnForward', prev[0]);
          setKernelOverride('attnBackward', prev[1]);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('hands heads whose size is not a multiple of 4 back to the kernels', async () => {
    const c = draw({ B: 1, Tq: 5, offset: 0, unseen: 0, H: 2, D: 3, Dv: 4, scaled: false, seed: 7 });
    const fast = await run('webasm', c);
    expect(fast.kernels).toContain('attnForward');
    expect(fast.kernels).not.toContain('attnForwardWasm');
    const ref = await run('reference', c);
    expectClose(fast.y, ref.y, TOL, 'y');
  });

  it('keeps its accuracy for large scores (the row max is subtracted before exp)', async () => {
    const c = draw({ B: 1, Tq: 7, offset: 1, unseen: 0, H: 1, D: 8, Dv: 4, scaled: false, seed: 3 });
    c.q = c.q.map((x) => x * 30);
    const [ref, fast] = [await run('reference', c), await run('webasm', c)];
    expectClose(fast.y, ref.y, { atol: 1e-5, rtol: 1e-4 }, 'y with scores in the hundreds');
    expect(fast.y.every(Number.isFinite)).toBe(true);
  });
});

describe('fusedAttention masks before the row max', () => {
  it('a key no query may see, with a far larger score, changes nothing (no underflow to 0 / 0)', async () => {
    // query 0 sees key 0 only (score -144); key 1 (score +144) is masked for it
    const c: Case = { B: 1, Tq: 2, Tk: 2, H: 1, D: 4, Dv: 4, offset: 0, scale: 1, q: [12, 0, 0, 0, 1, 0, 0, 0], k: [-12, 0, 0, 0, 12, 0, 0, 0], v: [1, 2, 3, 4, 5, 6, 7, 8], w: [1, 1, 1, 1, 1, 1, 1, 1] };
    const [ref, fast] = [await run('reference', c), await run('webasm', c)];
    expect(fast.kernels).toContain('attnForwardWasm');
    expect(fast.y.slice(0, 4)).toEqual([1, 2, 3, 4]);
    for (const key of ['y', 'dq', 'dk', 'dv'] as const) expectClose(fast[key], ref[key], GRAD_TOL, key);
  });
});

describe('fusedAttention equals attention written with ops', () => {
  it('mergeHeads(causalAttention(splitHeads(q), splitHeads(k), splitHeads(v))) on the reference, gradients included', async () => {
    await fc.assert(
      fc.asyncProperty(sizes, async (s) => {
        const c = draw(s);
        const composed = (q: Tensor, k: Tensor, v: Tensor) =>
          mergeHeads(causalAttention(splitHeads(q, c.H), splitHeads(k, c.H), splitHeads(v, c.H), { offset: c.offset, scale: c.scale }));
        const [a, b] = [await run('reference', c), await run('reference', c, composed)];
        for (const key of ['y', 'dq', 'dk', 'dv'] as const) expectClose(a[key], b[key], { atol: 1e-12, rtol: 1e-10 }, `${key}`);
      }),
      { numRuns: 15 },
    );
  });
});

describe('fusedAttention on webasm: half of the heads on the worker thread', () => {
  it('gives bitwise the one-thread result (and the reference within float32 rounding) for a call past ATTENTION_WORKER_MIN_MACS', async () => {
    const a = new WasmAttention({ shared: true });
    try {
      await startWorkerFor('fusedAttention', () => a.startWorker());
      const [B, T, H, D, offset] = [3, 67, 5, 8, 0]; // 15 heads (an odd split), 67 keys (a vector tail)
      expect(B * H * T * T * 2 * D).toBeGreaterThanOrEqual(ATTENTION_WORKER_MIN_MACS);
      const g = new Generator(9);
      const r = (n: number) => Float32Array.from({ length: n }, () => g.normal());
      const [q, k, v, dy] = [r(B * T * H * D), r(B * T * H * D), r(B * T * H * D), r(B * T * H * D)];
      const lse = r(B * T * H);
      const delta = r(B * T * H);
      const both = () => [a.forward(q, k, v, B, T, T, H, D, D, offset, 0.35), a.backward(q, k, v, dy, lse, delta, B, T, T, H, D, D, offset, 0.35)];
      const two = both().map((x) => Array.from(x));
      const prev = setGemmWorker(false);
      const one = both().map((x) => Array.from(x));
      setGemmWorker(prev);
      expect(two).toEqual(one);
      // and the op on the reference device agrees with the forward output
      const c: Case = { B, Tq: T, Tk: T, H, D, Dv: D, offset, scale: 0.35, q: [...q], k: [...k], v: [...v], w: [...dy] };
      const ref = await run('reference', c);
      expectClose(two[0].slice(0, B * T * H * D), ref.y, TOL, 'y (two threads) vs reference');
    } finally {
      a.close();
    }
  });
});

describe('CausalSelfAttention picks fusedAttention where it is fast', () => {
  async function kernelsOn(dev: string, fused?: boolean | 'auto') {
    const prev = getDevice();
    setDevice(dev, 'CausalSelfAttention test');
    // the same weights on every device (one seed)
    const attn = new CausalSelfAttention({ dModel: 16, nHeads: 2, positions: 'learned', fused, generator: new Generator(1) });
    setDevice(prev.name, 'back');
    const x = tensor(Array.from({ length: 2 * 5 * 16 }, (_, i) => Math.sin(i)), [2, 5, 16], { device: device(dev) });
    let y!: Tensor;
    const kernels = await kernelsOf(() => (y = noGrad(() => attn.forward(x))));
    return { kernels, y: await y.toArray() };
  }

  it("'auto' runs it on webasm (a registered override) and the composed ops on the reference device; both agree", async () => {
    const fast = await kernelsOn('webasm');
    expect(fast.kernels).toContain('attnForwardWasm');
    const ref = await kernelsOn('reference');
    expect(ref.kernels).not.toContain('attnForward');
    expectClose(fast.y, ref.y, TOL, 'fused on webasm vs composed on the reference');
    expect((await kernelsOn('reference', true)).kernels).toContain('attnForward');
    expect((await kernelsOn('webasm', false)).kernels).not.toContain('attnForwardWasm');
  });
});
