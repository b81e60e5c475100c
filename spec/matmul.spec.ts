/**
 * matmul's kernel and its device overrides against the float64 reference device: the WebAssembly
 * micro-kernel (`matmulWasm`, webasm's default, core/devices/webasm/gemm-override.ts), `matmulRows4` (the
 * gpu.js 4-row kernel, run through `Device.runGrid`, core/devices/gpujs/matmul-rows4.ts) and matmul's own
 * kernel `matmulStrided`, forward and gradients, on webasm and cpu (and webgpu when an adapter answers).
 *
 * Tolerance, per element: the float32 bound for a dot product of length L computed in any order,
 *   |got - ref| <= (L + 4) * 2^-24 * sum_k |x_k y_k|
 * (the + 4 covers rounding the float64 inputs and the result to float32). The sum of |x_k y_k| comes from
 * the same computation on the reference device with every input replaced by its absolute value; L is the
 * longest sum involved (K forward; N, or M times the batch for broadcast gradients, backward).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyDevices, device, Generator, matmul, probeWebGpu, tensor } from '../core/index.js';
import { availableParallelism } from 'node:os';
import { GEMM_WORKER_MIN_MACS, setGemmWorker, wasmGemm, WasmGemm } from '../core/devices/webasm/wasm/gemm.js';
import { WasmWorker } from '../core/devices/webasm/wasm/worker.js';
import { FuncBuilder, moduleBytes } from '../core/devices/webasm/wasm/builder.js';
import { matmulRows4Spec } from '../core/devices/gpujs/matmul-rows4.js';
import { setKernelOverride } from '../core/devices/overrides.js';
import { startWorkerFor } from './helpers.js';

/** The kernels compared here, as implementations of matmul's kernel `matmulStrided`. */
const IMPLEMENTATION = { auto: 'auto', strided: 'none', rows4: 'matmulRows4', wasm: 'matmulWasm' } as const;
const setMatmulKernel = (k: keyof typeof IMPLEMENTATION): string => setKernelOverride('matmulStrided', IMPLEMENTATION[k]);

interface Case {
  M: number;
  N: number;
  K: number;
  tA: boolean;
  tB: boolean;
  /** batch dims of A and B (broadcast against each other) */
  batchA: number[];
  batchB: number[];
  seed: number;
}

const U = 2 ** -24;

function values(g: Generator, n: number): number[] {
  return Array.from({ length: n }, () => g.normal());
}

/** Shapes as stored: A is [..., K, M] when transposed, B is [..., N, K] when transposed. */
function shapesOf(c: Case): [number[], number[]] {
  return [
    [...c.batchA, ...(c.tA ? [c.K, c.M] : [c.M, c.K])],
    [...c.batchB, ...(c.tB ? [c.N, c.K] : [c.K, c.N])],
  ];
}

interface Result {
  out: number[];
  grads: number[][];
}

/** y = matmul(a, b) and the gradients of sum(y * w) w.r.t. a and b, on `dev`. */
async function run(dev: string, c: Case, abs = false): Promise<Result> {
  const g = new Generator(c.seed);
  const [sa, sb] = shapesOf(c);
  const f = (v: number[]) => (abs ? v.map(Math.abs) : v);
  const av = f(values(g, sa.reduce((p, d) => p * d, 1)));
  const bv = f(values(g, sb.reduce((p, d) => p * d, 1)));
  const a = tensor(av, sa, { device: device('reference') }).to(dev).requiresGrad_();
  const b = tensor(bv, sb, { device: device('reference') }).to(dev).requiresGrad_();
  const y = matmul(a, b, { transA: c.tA, transB: c.tB });
  const w = tensor(f(values(g, y.numel)), y.shape, { device: device('reference') }).to(dev);
  y.mul(w).sum().backward();
  return { out: await y.toArray(), grads: [await a.grad!.toArray(), await b.grad!.toArray()] };
}

function expectWithinBound(got: number[], ref: number[], absRef: number[], L: number, what: string): void {
  expect(got.length, `${what}: length`).toBe(ref.length);
  for (let i = 0; i < ref.length; i++) {
    const bound = (L + 4) * U * absRef[i] + 1e-30;
    if (!(Math.abs(got[i] - ref[i]) <= bound)) {
      throw new Error(`${what}: element ${i} is ${got[i]} vs reference ${ref[i]} (|diff| ${Math.abs(got[i] - ref[i]).toExponential(2)} > bound ${bound.toExponential(2)})`);
    }
  }
}

async function agrees(dev: string, c: Case): Promise<void> {
  const [ref, absRef, got] = [await run('reference', c), await run('reference', c, true), await run(dev, c)];
  const nb = Math.max(c.batchA.reduce((p, d) => p * d, 1), c.batchB.reduce((p, d) => p * d, 1));
  const where = `${dev} ${JSON.stringify(c)}`;
  expectWithinBound(got.out, ref.out, absRef.out, c.K, `${where} forward`);
  expectWithinBound(got.grads[0], ref.grads[0], absRef.grads[0], c.N * nb, `${where} dA`);
  expectWithinBound(got.grads[1], ref.grads[1], absRef.grads[1], c.M * nb, `${where} dB`);
}

const dim = fc.oneof(fc.integer({ min: 1, max: 13 }), fc.constantFrom(1, 4, 8));
const batches = fc.constantFrom<[number[], number[]]>([[], []], [[2], [2]], [[3], []], [[], [2]], [[2, 1], [1, 3]], [[1], [2]]);
const cases = fc.record({
  M: dim,
  N: dim,
  K: fc.oneof(fc.integer({ min: 1, max: 21 }), fc.constantFrom(1, 4, 16)),
  tA: fc.boolean(),
  tB: fc.boolean(),
  batch: batches,
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
}).map(({ batch, ...r }): Case => ({ ...r, batchA: batch[0], batchB: batch[1] }));

/** Count calls of `obj[key]` (a device's runGrid, the micro-kernel's run), so a test can tell which kernel ran. */
function countCalls<K extends string, T extends Record<K, (...args: never[]) => unknown>>(obj: T, key: K): { calls: number } {
  const counter = { calls: 0 };
  const inner = obj[key].bind(obj) as (...args: unknown[]) => unknown;
  (obj as Record<K, unknown>)[key] = (...args: unknown[]) => {
    counter.calls++;
    return inner(...args);
  };
  return counter;
}

const edgeCases: Case[] = [
  { M: 1, N: 1, K: 1, tA: false, tB: false, batchA: [], batchB: [], seed: 1 },
  { M: 5, N: 7, K: 9, tA: false, tB: false, batchA: [], batchB: [], seed: 2 },
  { M: 4, N: 8, K: 4, tA: true, tB: true, batchA: [2], batchB: [2], seed: 3 },
  { M: 67, N: 130, K: 45, tA: false, tB: false, batchA: [2], batchB: [], seed: 4 },
  { M: 33, N: 17, K: 64, tA: true, tB: false, batchA: [], batchB: [3], seed: 5 },
  { M: 3, N: 1, K: 13, tA: false, tB: true, batchA: [2, 1], batchB: [1, 2], seed: 6 },
];

describe('matmulRows4 as plain JavaScript (ReferenceDevice.runGrid)', () => {
  it('gives the float64 product for tails, transposes and batches', () => {
    for (const c of edgeCases) {
      const g = new Generator(c.seed);
      const nb = Math.max(c.batchA.reduce((p, d) => p * d, 1), c.batchB.reduce((p, d) => p * d, 1));
      if (c.batchA.length > 1 || c.batchB.length > 1) continue; // partial broadcasts are matmul's job
      const nA = c.batchA.length ? nb : 1;
      const nB = c.batchB.length ? nb : 1;
      const a = Float64Array.from(values(g, nA * c.M * c.K));
      const b = Float64Array.from(values(g, nB * c.K * c.N));
      // element (i, k) of op(A) and (k, j) of op(B), as stored
      const [sAi, sAk] = c.tA ? [1, c.M] : [c.K, 1];
      const [sBk, sBj] = c.tB ? [1, c.K] : [c.N, 1];
      const [sAb, sBb] = [nA > 1 ? c.M * c.K : 0, nB > 1 ? c.K * c.N : 0];
      const Mq = Math.ceil(c.M / 4);
      const out = device('reference').runGrid(matmulRows4Spec, [c.N, Mq, nb], [a, b, c.M, c.K, sAb, sAi, sAk, sBb, sBk, sBj, sAk]) as Float64Array;
      for (let bat = 0; bat < nb; bat++) {
        for (let i = 0; i < c.M; i++) {
          for (let j = 0; j < c.N; j++) {
            let want = 0;
            for (let k = 0; k < c.K; k++) want += a[bat * sAb + i * sAi + k * sAk] * b[bat * sBb + k * sBk + j * sBj];
            const got = out[((bat * Mq + (i >> 2)) * c.N + j) * 4 + (i & 3)];
            expect(Math.abs(got - want), `${JSON.stringify(c)} C[${bat}, ${i}, ${j}]`).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(want)));
          }
        }
      }
    }
  });
});

for (const dev of ['webasm', 'cpu']) {
  describe(`matmul on ${dev} agrees with the float64 reference`, () => {
    let grid = { calls: 0 };
    let wasm = { calls: 0 };
    beforeAll(() => {
      grid = countCalls(device(dev), 'runGrid');
      wasm = countCalls(wasmGemm(), 'run');
    });
    afterAll(() => {
      setMatmulKernel('auto');
    });

    it(`'auto' runs ${dev === 'webasm' ? 'the WebAssembly micro-kernel' : 'matmulRows4'} on ${dev}`, async () => {
      setMatmulKernel('auto');
      const counter = dev === 'webasm' ? wasm : grid;
      const before = counter.calls;
      for (const c of edgeCases) await agrees(dev, c);
      // forward + two gradients per case, one kernel call each
      expect(counter.calls - before).toBe(3 * edgeCases.length);
    });

    for (const kernel of ['rows4', 'wasm'] as const) {
      it(`${kernel}: edge shapes, then random shapes, transposes and batches`, async () => {
        setMatmulKernel(kernel);
        const counter = kernel === 'wasm' ? wasm : grid;
        const before = counter.calls;
        for (const c of edgeCases) await agrees(dev, c);
        expect(counter.calls - before).toBe(3 * edgeCases.length);
        await fc.assert(fc.asyncProperty(cases, (c) => agrees(dev, c)), { numRuns: dev === 'cpu' ? 25 : 40 });
      });
    }

    it('wasm: sizes past one 4x8 tile and one unrolled k step, padded A rows, K = 0', async () => {
      setMatmulKernel('wasm');
      const big: Case[] = [
        { M: 70, N: 37, K: 130, tA: false, tB: false, batchA: [], batchB: [], seed: 11 },
        { M: 9, N: 66, K: 3, tA: true, tB: true, batchA: [3], batchB: [3], seed: 12 },
        { M: 64, N: 64, K: 16, tA: false, tB: true, batchA: [2, 2], batchB: [2, 2], seed: 13 },
        { M: 9, N: 10, K: 256, tA: false, tB: false, batchA: [2], batchB: [], seed: 14 }, // A rows padded (lda = K + 4)
        { M: 6, N: 9, K: 512, tA: true, tB: false, batchA: [], batchB: [], seed: 15 },
        // transposed A past SMALL_TRANSPOSE (1,100 x 1,000 source floats): the tiled packing, its plain
        // transpose path, then tiles that cross from one batch to the next (B shared: one tall product)
        { M: 1100, N: 5, K: 1000, tA: true, tB: false, batchA: [], batchB: [], seed: 16 },
        { M: 650, N: 3, K: 1700, tA: true, tB: false, batchA: [2], batchB: [], seed: 17 },
      ];
      for (const c of big) await agrees(dev, c);
      const z = matmul(tensor(new Array<number>(0), [3, 0]).to(dev), tensor(new Array<number>(0), [0, 5]).to(dev));
      expect(await z.toArray()).toEqual(new Array<number>(15).fill(0));
    });

    it('fallback (matmulStrided): random shapes, transposes and batches', async () => {
      setMatmulKernel('strided');
      const before = grid.calls + wasm.calls;
      await fc.assert(fc.asyncProperty(cases, (c) => agrees(dev, c)), { numRuns: 20 });
      expect(grid.calls + wasm.calls).toBe(before);
    });

    it('vectors (1-D operands) take the fast path too', async () => {
      setMatmulKernel('auto');
      const before = grid.calls + wasm.calls;
      const g = new Generator(7);
      const v = values(g, 6);
      const m = values(g, 6 * 5);
      const ref = matmul(tensor(v, [6], { device: device('reference') }), tensor(m, [6, 5], { device: device('reference') }));
      const got = matmul(tensor(v, [6]).to(dev), tensor(m, [6, 5]).to(dev));
      expect(got.shape).toEqual([5]);
      const [r, o] = [await ref.toArray(), await got.toArray()];
      o.forEach((x, i) => expect(Math.abs(x - r[i])).toBeLessThan(1e-5));
      expect(grid.calls + wasm.calls - before).toBe(1);
    });
  });
}

describe('matmul on webgpu (fast path) agrees with the float64 reference', () => {
  const gpu = { ok: false, reason: '' };
  beforeAll(async () => {
    const p = await probeWebGpu();
    Object.assign(gpu, { ok: p.ok, reason: p.reason });
    if (!p.ok && process.env.TSGRAD_REQUIRE_WEBGPU === '1') throw new Error(`webgpu required but ${p.reason}`);
    if (!p.ok) console.warn(`SKIPPING webgpu matmul tests: ${p.reason}`);
  });
  afterAll(async () => {
    await destroyDevices();
  });
  it('edge shapes', async (ctx) => {
    if (!gpu.ok) ctx.skip();
    const counter = countCalls(device('webgpu'), 'runGrid');
    for (const c of edgeCases.slice(0, 3)) await agrees('webgpu', c);
    expect(counter.calls).toBe(9);
  });
});

describe('wasm gemm: big products split between two threads', () => {
  /** C = op(A) B in float64, and sum |a b| per element for the float32 bound. */
  function reference(a: Float32Array, b: Float32Array, M: number, N: number, K: number, tA: boolean) {
    const ref = new Float64Array(M * N);
    const abs = new Float64Array(M * N);
    for (let i = 0; i < M; i++) {
      for (let k = 0; k < K; k++) {
        const x = tA ? a[k * M + i] : a[i * K + k];
        for (let j = 0; j < N; j++) {
          ref[i * N + j] += x * b[k * N + j];
          abs[i * N + j] += Math.abs(x * b[k * N + j]);
        }
      }
    }
    return { ref, abs };
  }

  it('a product past GEMM_WORKER_MIN_MACS (with and without a bias) is bitwise the one-thread product, within float32 rounding of float64', async () => {
    const g = new WasmGemm({ shared: true });
    try {
      await startWorkerFor('wasm gemm', () => g.startWorker());
      const gen = new Generator(5);
      for (const tA of [false, true]) {
        const [M, N, K] = [261, 131, 1000]; // 66 row blocks (the last padded), 17 panels; M N K > 2^25 (and the threshold)
        expect(M * N * K).toBeGreaterThanOrEqual(GEMM_WORKER_MIN_MACS);
        const a = Float32Array.from({ length: M * K }, () => gen.normal());
        const b = Float32Array.from({ length: K * N }, () => gen.normal());
        const A = tA ? { data: a, sb: 0, si: 1, sk: M } : { data: a, sb: 0, si: K, sk: 1 };
        const B = { data: b, sb: 0, si: N, sk: 1 };
        // with the transposed A, also linear's bias (added by the micro-kernel on both threads)
        const bias = tA ? Float32Array.from({ length: N }, () => gen.normal()) : null;
        const two = g.run(A, B, 1, M, N, K, bias);
        const prev = setGemmWorker(false);
        const one = g.run(A, B, 1, M, N, K, bias);
        setGemmWorker(prev);
        expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer))).toBe(true);
        const { ref, abs } = reference(a, b, M, N, K, tA);
        if (bias) for (let i = 0; i < M * N; i++) (ref[i] += bias[i % N]), (abs[i] += Math.abs(bias[i % N]));
        for (let i = 0; i < M * N; i++) {
          if (!(Math.abs(two[i] - ref[i]) <= (K + 4) * U * abs[i])) throw new Error(`element ${i}: ${two[i]} vs ${ref[i]} (tA ${tA})`);
        }
      }
    } finally {
      g.close();
    }
  });
});

describe('wasm worker thread (core/devices/webasm/wasm/worker.ts)', () => {
  it('runs jobs over the shared memory, and a trap in the worker comes back as an error with its message', async () => {
    if (availableParallelism() < 2) return void console.warn('wasm worker: one core, not exercised');
    // store(ptr, value): memory[ptr] = value (f32)
    const f = new FuncBuilder(['i32', 'f32']);
    f.localGet(0).localGet(1).op(0x38, 2, 0);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
    const mod = new WebAssembly.Module(moduleBytes([{ name: 'store', fn: f }], { sharedMaxPages: 16 }));
    const w = new WasmWorker(mod, memory, [{ name: 'store', arity: 2, floats: [1] }], 'store (test)');
    try {
      for (let i = 0; i < 500 && !w.ready; i++) await new Promise((r) => setTimeout(r, 10));
      expect(w.ready).toBe(true);
      w.start([[0, 64, 2.5], [0, 68, -1]]);
      w.wait();
      expect(Array.from(new Float32Array(memory.buffer, 64, 2))).toEqual([2.5, -1]);
      w.start([[0, 2 ** 30, 1]]);
      expect(() => w.wait()).toThrow(/^store \(test\): the worker thread failed: memory access out of bounds; call setGemmWorker\(false\)/);
      // a worker that stopped: the wait fails at once instead of after its 120 s deadline
      await (w as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      w.start([[0, 64, 1]]);
      const t0 = Date.now();
      expect(() => w.wait()).toThrow(/^store \(test\): the worker thread stopped before answering/);
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(w.failure).not.toBeNull();
    } finally {
      w.stop();
    }
  });
});

describe('wasm gemm: operands packed by WebAssembly (packAT, packB) or by JavaScript give the same bits', () => {
  it('a transposed A and a B with dense rows, against the same values laid out the other way', () => {
    const g = new WasmGemm({ shared: false });
    const gen = new Generator(13);
    for (const [M, N, K] of [[2, 3, 1], [5, 9, 7], [64, 64, 33], [13, 17, 130], [4, 8, 4]]) {
      const At = Float32Array.from({ length: K * M }, () => gen.normal()); // op(A) = At^T: [K][M] rows
      const A = new Float32Array(M * K);
      for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) A[i * K + k] = At[k * M + i];
      const B = Float32Array.from({ length: K * N }, () => gen.normal()); // dense rows [K][N]
      const Bt = new Float32Array(N * K);
      for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) Bt[j * K + k] = B[k * N + j];
      const bias = Float32Array.from({ length: N }, () => gen.normal());
      // panels (transposed A, dense B) vs JavaScript packing (row-major A, transposed B)
      const viaWasm = g.run({ data: At, sb: 0, si: 1, sk: M }, { data: B, sb: 0, si: N, sk: 1 }, 1, M, N, K, bias);
      const viaJs = g.run({ data: A, sb: 0, si: K, sk: 1 }, { data: Bt, sb: 0, si: 1, sk: K }, 1, M, N, K, bias);
      expect(Buffer.from(viaWasm.buffer, viaWasm.byteOffset, viaWasm.byteLength).equals(Buffer.from(viaJs.buffer, viaJs.byteOffset, viaJs.byteLength)), `${M}x${N}x${K}`).toBe(true);
      // and the float64 product within float32 rounding
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let ref = bias[j];
          let abs = Math.abs(bias[j]);
          for (let k = 0; k < K; k++) (ref += A[i * K + k] * B[k * N + j]), (abs += Math.abs(A[i * K + k] * B[k * N + j]));
          expect(Math.abs(viaWasm[i * N + j] - ref)).toBeLessThanOrEqual((K + 4) * U * abs);
        }
      }
    }
  });
});
