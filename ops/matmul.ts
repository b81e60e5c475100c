/**
 * Batched matmul with numpy batch broadcasting. Transposed operands are read through strides, so the
 * backward pass (which needs A^T and B^T) never materialises a transpose.
 *
 *   C = op(A) op(B),   op(X) = X or X^T (last two dims)
 *   dA = G op(B)^T (transposed back when A was), dB = op(A)^T G (likewise) — see `backward` below.
 *
 * Three forward kernels compute the same thing:
 * - `matmulStrided`: one thread per output element over the 1-D `Device.run`. Simple; it is what the
 *   float64 reference device runs, and the fallback everywhere else.
 * - `matmulRows4`: each thread computes 4 rows of one column, over a 3-D grid (`Device.runGrid`). About
 *   4x faster on webasm and 2.5x on cpu (`npx tsx bench/matmul.ts`); WebAssembly threads from 256^3 up.
 * - on webasm, a WebAssembly SIMD micro-kernel generated from TypeScript (core/wasm/gemm.ts), the one
 *   exception to "every op is a gpu.js kernel": gpu.js's code generator caps matmul at ~5 GFLOP/s, the
 *   micro-kernel reaches ~25 on one core. It is tested against the other two (spec/matmul.spec.ts).
 */
import { record } from '../core/autograd.js';
import type { Data, Device } from '../core/device.js';
import type { GridKernelSpec, KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { broadcastShapes, numel, shapeStr } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { timedHostKernel } from '../core/profile.js';
import { wasmGemm } from '../core/devices/webasm/wasm/gemm.js';
import { broadcastRaw } from './shape.js';

// One thread per output element C[bat, i, j]; strides make transposed and broadcast operands free.
function matmulStrided(
  this: KernelThis, a: Float32Array, b: Float32Array, M: number, N: number, K: number,
  sAb: number, sAi: number, sAk: number, sBb: number, sBk: number, sBj: number,
): number {
  const t = this.thread.x;
  const bat = Math.floor(t / (M * N));
  const ij = t - bat * M * N;
  const i = Math.floor(ij / N);
  const j = ij - i * N;
  let ia = bat * sAb + i * sAi;
  let ib = bat * sBb + j * sBj;
  let s = 0;
  for (let k = 0; k < K; k++) {
    s += a[ia] * b[ib];
    ia += sAk;
    ib += sBk;
  }
  return s;
}
const matmulK = kernel(matmulStrided);

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
 * `sAkI` is `sAk` again, as an i32. Indices stay exact below 2^24 (f32), which `matmul2` checks.
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

export const matmulRows4Spec: GridKernelSpec = {
  name: 'matmulRows4',
  fn: matmulRows4,
  components: 4,
  argumentTypes: {
    a: 'Array', b: 'Array', M: 'Float', K: 'Float', sAb: 'Float', sAi: 'Float', sAk: 'Float',
    sBb: 'Float', sBk: 'Float', sBj: 'Float', sAkI: 'Integer',
  },
};

/**
 * Devices whose gpu.js code for `matmulRows4` was checked against the reference (spec/matmul.spec.ts).
 * Not headlessgl: untested here, and WebGL1 shaders have no bitwise `|`.
 */
const FAST_DEVICES: ReadonlySet<string> = new Set(['webasm', 'cpu', 'webgpu']);
/** gpu.js indexes in float32: the fast kernel's f32 pointers are exact only below 2^24. */
const MAX_EXACT_INDEX = 2 ** 24;
/**
 * Ask for threads from 256^3 up: there they gave 1.4-1.9x on 2 free cores (bench/matmul.ts); at 128^3
 * starting the workers ate the gain. gpu.js itself keeps grids under 4096 cells on one thread.
 */
const THREADS_MIN_FLOPS = 2 * 256 ** 3;

export type MatmulKernel = 'auto' | 'strided' | 'rows4' | 'wasm';

/**
 * Which forward kernel matmul uses:
 * - 'auto' (default): the WebAssembly SIMD micro-kernel (core/wasm/gemm.ts) on webasm; `matmulRows4` on the
 *   other FAST_DEVICES (cpu, webgpu); `matmulStrided` elsewhere, the reference device included, which stays
 *   the independent float64 check.
 * - 'strided', 'rows4', 'wasm': force one (where the device cannot run it, 'strided'). Tests and benchmarks
 *   compare them. Returns the previous setting.
 */
export function setMatmulKernel(choice: MatmulKernel): MatmulKernel {
  if (!['auto', 'strided', 'rows4', 'wasm'].includes(choice)) {
    throw new Error(`setMatmulKernel: unknown kernel "${String(choice)}"; choose auto, strided, rows4 or wasm`);
  }
  const prev = kernelChoice;
  kernelChoice = choice;
  return prev;
}
let kernelChoice: MatmulKernel = 'auto';

/** The forward kernel matmul runs on `dev` under the current setting. */
export function matmulKernelFor(dev: Device): 'strided' | 'rows4' | 'wasm' {
  const cpuDevice = dev.name === 'webasm' || dev.name === 'cpu';
  if (kernelChoice === 'wasm' && cpuDevice) return 'wasm';
  if (kernelChoice === 'auto' && dev.name === 'webasm') return 'wasm';
  if ((kernelChoice === 'auto' || kernelChoice === 'rows4') && FAST_DEVICES.has(dev.name)) return 'rows4';
  return 'strided';
}

// ---------------------------------------------------------------------------------------------------------

export interface MatmulOpts {
  transA?: boolean;
  transB?: boolean;
}

/**
 * Matrix product of the last two dims, batch dims broadcast (as torch.matmul). 1-D operands are treated
 * as a row (left) or a column (right) vector and that dim is dropped from the result.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOpts = {}): Tensor {
  if (!(a instanceof Tensor) || !(b instanceof Tensor)) throw new Error('matmul: both operands must be Tensors');
  if (a.device !== b.device) throw new Error(`matmul: operands on different devices (${a.device.name}, ${b.device.name})`);
  if (a.ndim === 0 || b.ndim === 0) throw new Error(`matmul: operands must have at least 1 dim, got ${shapeStr(a.shape)} x ${shapeStr(b.shape)}`);
  if (a.ndim === 1) return matmul(a.unsqueeze(0), b, opts).squeeze(-2);
  if (b.ndim === 1) return matmul(a, b.unsqueeze(1), opts).squeeze(-1);
  return matmul2(a, b, opts.transA ?? false, opts.transB ?? false);
}

function matmul2(a: Tensor, b: Tensor, tA: boolean, tB: boolean): Tensor {
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, Ka] = tA ? [ac, ar] : [ar, ac];
  const [Kb, N] = tB ? [bc, br] : [br, bc];
  if (Ka !== Kb) {
    const how = `${tA ? 'A^T' : 'A'} x ${tB ? 'B^T' : 'B'}`;
    throw new Error(`matmul: inner dims differ: ${shapeStr(a.shape)} x ${shapeStr(b.shape)} (${how}: ${Ka} vs ${Kb})`);
  }
  const batch = broadcastShapes('matmul (batch dims)', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const nb = numel(batch);
  // an operand whose batch is all ones is shared by every batch (stride 0); otherwise broadcast it fully
  const prep = (x: Tensor, r: number, c: number) => {
    const xb = numel(x.shape.slice(0, -2));
    if (xb === 1) return { t: x, stride: 0 };
    if (xb === nb) return { t: x, stride: r * c };
    return { t: broadcastRaw(x, [...batch, r, c]), stride: r * c };
  };
  const A = prep(a, ar, ac);
  const B = prep(b, br, bc);
  const [sAi, sAk] = tA ? [1, ac] : [ac, 1];
  const [sBk, sBj] = tB ? [1, bc] : [bc, 1];
  const dev = a.device;
  const Mq = Math.ceil(M / 4);
  const choice = matmulKernelFor(dev);
  const fast =
    choice === 'rows4' && M * N * nb > 0 && Ka > 0 && Math.max(A.t.numel, B.t.numel, nb * Mq * N * 4) <= MAX_EXACT_INDEX;
  let data: Data | Promise<Data>;
  if (choice === 'wasm') {
    const run = ([ad, bd]: Data[]) =>
      timedHostKernel(dev, 'matmulWasm', nb * M * N, () =>
        wasmGemm().run(
          { data: ad as Float32Array, sb: A.stride, si: sAi, sk: sAk },
          { data: bd as Float32Array, sb: B.stride, si: sBk, sk: sBj },
          nb, M, N, Ka,
        ),
      );
    const args = [A.t._data, B.t._data];
    data = args.some((d) => d instanceof Promise) ? Promise.all(args).then(run) : run(args as Data[]);
  } else if (fast) {
    const args = [A.t._data, B.t._data];
    const run = ([ad, bd]: Data[]) => {
      const threads = 2 * nb * M * N * Ka >= THREADS_MIN_FLOPS;
      const out = dev.runGrid(matmulRows4Spec, [N, Mq, nb], [ad, bd, M, Ka, A.stride, sAi, sAk, B.stride, sBk, sBj, sAk], { threads });
      return out instanceof Promise ? out.then((o) => gatherRows(dev, o, nb, M, N)) : gatherRows(dev, out, nb, M, N);
    };
    data = args.some((d) => d instanceof Promise) ? Promise.all(args).then(run) : run(args as Data[]);
  } else {
    data = a.run(matmulK, nb * M * N, [A.t, B.t, M, N, Ka, A.stride, sAi, sAk, B.stride, sBk, sBj]);
  }
  const y = new Tensor(data, [...batch, M, N], dev);
  return record(y, 'matmul', [a, b], (g) => backward(g, a, b, tA, tB));
}

/**
 * `matmulRows4`'s output holds, per batch, row block y and column j, the 4 rows 4y..4y+3 side by side:
 * out[((bat * Mq + y) * N + j) * 4 + r]. Put them back in row-major order (O(M N), next to O(M N K)).
 */
function gatherRows(dev: Device, out: Data, nb: number, M: number, N: number): Data {
  const Mq = Math.ceil(M / 4);
  const c = dev.alloc(nb * M * N);
  for (let bat = 0; bat < nb; bat++) {
    for (let i = 0; i < M; i++) {
      const src = ((bat * Mq + (i >> 2)) * N) * 4 + (i & 3);
      const dst = (bat * M + i) * N;
      for (let j = 0; j < N; j++) c[dst + j] = out[src + 4 * j];
    }
  }
  return c;
}

function backward(g: Tensor, a: Tensor, b: Tensor, tA: boolean, tB: boolean): [Tensor, Tensor] {
  const mm = (x: Tensor, y: Tensor, tx: boolean, ty: boolean) => matmul2(x, y, tx, ty);
  if (!tA && !tB) return [mm(g, b, false, true), mm(a, g, true, false)];
  if (!tA && tB) return [mm(g, b, false, false), mm(g, a, true, false)];
  if (tA && !tB) return [mm(b, g, false, true), mm(a, g, false, false)];
  return [mm(b, g, true, true), mm(g, a, true, true)];
}
