/**
 * The gpu.js devices' override of matmul's kernel (`matmulStrided`, ops/matmul.ts): `matmulRows4`, where
 * each thread computes 4 rows of one column over a 3-D grid (`Device.runGrid`). About 4x faster than
 * `matmulStrided` on webasm and 2.5x on cpu (`npx tsx bench/matmul.ts`); WebAssembly threads from 256^3 up.
 * The default on cpu and webgpu; on webasm the WebAssembly gemm (core/devices/webasm/gemm-override.ts) is
 * faster still. Not on headlessgl: untested here, and WebGL1 shaders have no bitwise `|`.
 * spec/matmul.spec.ts tests it against `matmulStrided` on the float64 reference.
 */
import type { Data, Device } from '../../device.js';
import { gridKernel, type GridKernelSpec, type KernelArg, type KernelThis } from '../../kernel.js';
import { registerOverride } from '../overrides.js';

/**
 * Thread (x, y, z) = (column j, row block i0 = 4y, batch) returns C[z, i0..i0+3, j]. Why it is fast on
 * webasm, where gpu.js runs 4 consecutive x as the 4 lanes of an f32x4 (measured, bench/matmul.ts):
 * - A is indexed by thread.y/z only, the same for all 4 lanes: each read is one scalar load and a splat.
 *   B is indexed by thread.x: each read is a 4-load gather. One gather of B now feeds 16 multiply-adds.
 * - gpu.js types every local as f32 (integer initializers decay), and each f32 index costs a saturating
 *   conversion per read. A's row pointers are cut to i32 once per step (`p | 0`, shared by the 4 reads of
 *   that row) and offset by the i32 argument `sAkI`; this alone took 512^3 from ~2.2 to ~3.5-4 GFLOP/s.
 * - Sizes and strides are 'Float' arguments, used as f32 without a conversion; k is unrolled by 4.
 * Rows past M (M not a multiple of 4) read row M-1 and are dropped by `gatherRows`; a K not a multiple of
 * 4 finishes in a one-step loop. Loops count up by `+= 1` (WGSL cannot `++` an f32 loop variable).
 * `sAkI` is `sAk` again, as an i32. Indices stay exact below 2^24 (f32), which `runRows4` checks.
 */
function matmulRows4(
  this: KernelThis, a: Float32Array, b: Float32Array, M: number, K: number,
  sAb: number, sAi: number, sAk: number, sBb: number, sBk: number, sBj: number, sAkI: number,
): number[] {
  const i0 = this.thread.y * 4;
  const last = M - 1;
  let p0 = this.thread.z * sAb + i0 * sAi;
  let p1 = this.thread.z * sAb + Math.min(i0 + 1, last) * sAi;
  let p2 = this.thread.z * sAb + Math.min(i0 + 2, last) * sAi;
  let p3 = this.thread.z * sAb + Math.min(i0 + 3, last) * sAi;
  let pb = this.thread.z * sBb + this.thread.x * sBj;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const K4 = K - (K % 4);
  const sA4 = 4 * sAk;
  const sB2 = 2 * sBk;
  const sB3 = 3 * sBk;
  const sB4 = 4 * sBk;
  for (let k = 0; k < K4; k += 4) {
    const b0 = b[pb];
    const b1 = b[pb + sBk];
    const b2 = b[pb + sB2];
    const b3 = b[pb + sB3];
    s0 += a[(p0 | 0)] * b0 + a[(p0 | 0) + sAkI] * b1 + a[(p0 | 0) + 2 * sAkI] * b2 + a[(p0 | 0) + 3 * sAkI] * b3;
    s1 += a[(p1 | 0)] * b0 + a[(p1 | 0) + sAkI] * b1 + a[(p1 | 0) + 2 * sAkI] * b2 + a[(p1 | 0) + 3 * sAkI] * b3;
    s2 += a[(p2 | 0)] * b0 + a[(p2 | 0) + sAkI] * b1 + a[(p2 | 0) + 2 * sAkI] * b2 + a[(p2 | 0) + 3 * sAkI] * b3;
    s3 += a[(p3 | 0)] * b0 + a[(p3 | 0) + sAkI] * b1 + a[(p3 | 0) + 2 * sAkI] * b2 + a[(p3 | 0) + 3 * sAkI] * b3;
    p0 += sA4;
    p1 += sA4;
    p2 += sA4;
    p3 += sA4;
    pb += sB4;
  }
  for (let kt = K4; kt < K; kt += 1) {
    const bt = b[pb];
    s0 += a[(p0 | 0)] * bt;
    s1 += a[(p1 | 0)] * bt;
    s2 += a[(p2 | 0)] * bt;
    s3 += a[(p3 | 0)] * bt;
    p0 += sAk;
    p1 += sAk;
    p2 += sAk;
    p3 += sAk;
    pb += sBk;
  }
  return [s0, s1, s2, s3];
}

export const matmulRows4Spec: GridKernelSpec = gridKernel({
  name: 'matmulRows4Grid',
  fn: matmulRows4,
  components: 4,
  argumentTypes: {
    a: 'Array', b: 'Array', M: 'Float', K: 'Float', sAb: 'Float', sAi: 'Float', sAk: 'Float',
    sBb: 'Float', sBk: 'Float', sBj: 'Float', sAkI: 'Integer',
  },
});

/** gpu.js indexes in float32: the kernel's f32 pointers are exact only below 2^24. */
const MAX_EXACT_INDEX = 2 ** 24;
/**
 * Ask for threads from 256^3 up: there they gave 1.4-1.9x on 2 free cores (bench/matmul.ts); at 128^3
 * starting the workers ate the gain. gpu.js itself keeps grids under 4096 cells on one thread.
 */
const THREADS_MIN_FLOPS = 2 * 256 ** 3;

/** `matmulStrided`'s arguments in, its n outputs out; null where the f32 indices would not be exact. */
function runRows4(dev: Device, n: number, args: KernelArg[]): Data | Promise<Data> | null {
  const [a, b, bias, M, N, K, sAb, sAi, sAk, sBb, sBk, sBj, hasBias] = args as [Data, Data, Data, ...number[]];
  if (n === 0 || K === 0 || typeof a === 'number' || typeof b === 'number') return null;
  const addBias = hasBias ? bias : null;
  const batches = n / (M * N);
  const rowBlocks = Math.ceil(M / 4);
  if (Math.max(a.length, b.length, batches * rowBlocks * N * 4) > MAX_EXACT_INDEX) return null;
  const threads = 2 * n * K >= THREADS_MIN_FLOPS;
  const out = dev.runGrid(matmulRows4Spec, [N, rowBlocks, batches], [a, b, M, K, sAb, sAi, sAk, sBb, sBk, sBj, sAk], { threads });
  return out instanceof Promise ? out.then((o) => gatherRows(dev, o, batches, M, N, addBias)) : gatherRows(dev, out, batches, M, N, addBias);
}

/**
 * `matmulRows4`'s output holds, per batch, row block y and column j, the 4 rows 4y..4y+3 side by side:
 * out[((bat * rowBlocks + y) * N + j) * 4 + r]. Put them back in row-major order (O(M N), next to O(M N K)),
 * adding `linear`'s bias on the way (bias[j] + the sum, the order of matmulStrided).
 */
function gatherRows(dev: Device, out: Data, batches: number, M: number, N: number, bias: Data | null): Data {
  const rowBlocks = Math.ceil(M / 4);
  const c = dev.alloc(batches * M * N);
  for (let bat = 0; bat < batches; bat++) {
    for (let i = 0; i < M; i++) {
      const src = ((bat * rowBlocks + (i >> 2)) * N) * 4 + (i & 3);
      const dst = (bat * M + i) * N;
      if (bias) for (let j = 0; j < N; j++) c[dst + j] = bias[j] + out[src + 4 * j];
      else for (let j = 0; j < N; j++) c[dst + j] = out[src + 4 * j];
    }
  }
  return c;
}

registerOverride({
  name: 'matmulRows4',
  replaces: 'matmulStrided',
  devices: ['webasm', 'cpu', 'webgpu'],
  byDefault: ['cpu', 'webgpu'],
  testedBy: 'spec/matmul.spec.ts',
  run: runRows4,
});
