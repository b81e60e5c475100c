/**
 * The matmul micro-kernel for CPU devices: WebAssembly SIMD generated from this file (no toolchain, no
 * binary blob), used by `matmul` on the `webasm` device. gpu.js's code generator caps its matmul kernels at
 * ~3-5 GFLOP/s (every thread-indexed read is a 4-lane gather, every index a float); this one reaches
 * 10+ on one core (bench/matmul.ts). The gpu.js kernels stay: they are what it is tested against
 * (spec/matmul.spec.ts), and what the other devices run.
 *
 * How it works (the classic BLIS/XNNPACK scheme, small):
 * - pack: op(A) is copied into row blocks of 4 rows, k-major ([Mp/4][Kp][4]); op(B) into panels of 8
 *   columns, k-major ([Np/8][Kp][8]). Transposed and strided operands cost the same: packing reads them
 *   through strides. Sizes are padded with zeros to multiples of 4 (M), 8 (N) and UNROLL (K).
 * - compute: each 4x8 tile of C lives in 8 f32x4 registers; per k, two v128 loads of B and four
 *   load-and-splat reads of A feed 8 multiplies and 8 adds. k is unrolled by UNROLL with constant offsets,
 *   so the inner loop has no index arithmetic beyond two pointer bumps.
 * - unpack: C ([Mp][Np]) rows are copied out without the padding.
 * Packing is O(MK + KN + MN) against O(MNK) of compute.
 */
import { FuncBuilder, moduleBytes, OP, SIMD } from './builder.js';

const UNROLL = 4;
const PAGE = 65536;

/**
 * gemm(A, B, C, MB, NP, Kp): C[Mp][Np] = A[Mp][Kp] B[Kp][Np] from packed operands (byte pointers);
 * MB = Mp / 4 row blocks, NP = Np / 8 panels, Kp a multiple of UNROLL.
 */
function gemmFunction(): FuncBuilder {
  const f = new FuncBuilder(['i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [A, B, C, MB, NP, Kp] = [0, 1, 2, 3, 4, 5];
  const bPanel = f.local('i32');
  const bEnd = f.local('i32');
  const cCol = f.local('i32');
  const ldc = f.local('i32');
  const rb = f.local('i32');
  const pa = f.local('i32');
  const pb = f.local('i32');
  const kEnd = f.local('i32');
  const cRow = f.local('i32');
  const acc = Array.from({ length: 8 }, () => f.local('v128'));
  const vb0 = f.local('v128');
  const vb1 = f.local('v128');
  const s = f.local('v128');

  // ldc = NP * 32 bytes (a row of C); bEnd = B + NP * Kp * 32
  f.localGet(NP).i32Const(32).op(OP.i32Mul).localSet(ldc);
  f.localGet(B).localSet(bPanel);
  f.localGet(B).localGet(ldc).localGet(Kp).op(OP.i32Mul).op(OP.i32Add).localSet(bEnd);
  f.localGet(C).localSet(cCol);
  f.blockLoop(() => {
    // for each panel of 8 columns
    f.localGet(bPanel).localGet(bEnd).op(OP.i32GeU, OP.brIf, 1);
    f.localGet(A).localSet(pa);
    f.localGet(cCol).localSet(cRow);
    f.i32Const(0).localSet(rb);
    f.blockLoop(() => {
      // for each block of 4 rows
      f.localGet(rb).localGet(MB).op(OP.i32GeU, OP.brIf, 1);
      for (const r of acc) f.v128Zero().localSet(r);
      f.localGet(bPanel).localSet(pb);
      f.localGet(pa).localGet(Kp).i32Const(16).op(OP.i32Mul).op(OP.i32Add).localSet(kEnd);
      f.blockLoop(() => {
        // for k in steps of UNROLL
        f.localGet(pa).localGet(kEnd).op(OP.i32GeU, OP.brIf, 1);
        for (let u = 0; u < UNROLL; u++) {
          f.localGet(pb).v128Load(u * 32).localSet(vb0);
          f.localGet(pb).v128Load(u * 32 + 16).localSet(vb1);
          for (let r = 0; r < 4; r++) {
            f.localGet(pa).v128Load32Splat(u * 16 + r * 4).localSet(s);
            f.localGet(acc[2 * r]).localGet(s).localGet(vb0).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).localSet(acc[2 * r]);
            f.localGet(acc[2 * r + 1]).localGet(s).localGet(vb1).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).localSet(acc[2 * r + 1]);
          }
        }
        f.i32AddTo(pa, UNROLL * 16).i32AddTo(pb, UNROLL * 32);
        f.op(OP.br, 0);
      });
      // pa now points at the next row block; store the 4x8 tile
      for (let r = 0; r < 4; r++) {
        f.localGet(cRow).localGet(ldc).i32Const(r).op(OP.i32Mul).op(OP.i32Add).localGet(acc[2 * r]).v128Store(0);
        f.localGet(cRow).localGet(ldc).i32Const(r).op(OP.i32Mul).op(OP.i32Add).localGet(acc[2 * r + 1]).v128Store(16);
      }
      f.localGet(cRow).localGet(ldc).i32Const(4).op(OP.i32Mul).op(OP.i32Add).localSet(cRow);
      f.i32AddTo(rb, 1);
      f.op(OP.br, 0);
    });
    f.localGet(bPanel).localGet(Kp).i32Const(32).op(OP.i32Mul).op(OP.i32Add).localSet(bPanel);
    f.i32AddTo(cCol, 32);
    f.op(OP.br, 0);
  });
  return f;
}

/** Where operand values sit in a flat array: element (bat, i, k) of op(A) is at bat*sb + i*si + k*sk. */
export interface Strided {
  data: Float32Array;
  sb: number;
  si: number;
  sk: number;
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** One instance of the micro-kernel with its own memory. */
export class WasmGemm {
  private memory = new WebAssembly.Memory({ initial: 1 });
  private f32 = new Float32Array(this.memory.buffer);
  private gemm: (A: number, B: number, C: number, MB: number, NP: number, Kp: number) => void;

  constructor() {
    const mod = new WebAssembly.Module(moduleBytes([{ name: 'gemm', fn: gemmFunction() }]));
    const inst = new WebAssembly.Instance(mod, { env: { memory: this.memory } });
    this.gemm = inst.exports.gemm as WasmGemm['gemm'];
  }

  private ensure(floats: number): void {
    const need = floats * 4 - this.memory.buffer.byteLength;
    if (need > 0) {
      try {
        this.memory.grow(Math.ceil(need / PAGE));
      } catch (e) {
        throw new Error(`matmul (wasm): cannot grow WebAssembly memory to ${(floats * 4 / 2 ** 20).toFixed(0)} MiB (${(e as Error).message}); use smaller matrices or a batch loop`);
      }
      this.f32 = new Float32Array(this.memory.buffer);
    }
  }

  /**
   * out[bat, i, j] = sum_k A(bat, i, k) B(bat, k, j) for bat < nb, i < M, j < N, k < K, written row-major
   * into a new Float32Array(nb * M * N). A batch that shares B (b.sb = 0) is computed as one tall product.
   */
  run(a: Strided, b: Strided, nb: number, M: number, N: number, K: number): Float32Array {
    const out = new Float32Array(nb * M * N);
    if (out.length === 0 || K === 0) return out; // an empty sum is 0
    if (b.sb === 0) {
      this.product(a, b, 0, M, nb * M, N, K, out, 0);
    } else {
      for (let bat = 0; bat < nb; bat++) this.product(a, b, bat, M, M, N, K, out, bat * M * N);
    }
    return out;
  }

  /** One product of `rows` rows of op(A) (row r is batch bat + floor(r / M), row r % M) times op(B) of batch bat. */
  private product(a: Strided, b: Strided, bat: number, M: number, rows: number, N: number, K: number, out: Float32Array, at: number): void {
    const Mp = roundUp(rows, 4);
    const Np = roundUp(N, 8);
    const Kp = roundUp(K, UNROLL);
    const aOff = 0;
    const bOff = Mp * Kp;
    const cOff = bOff + Np * Kp;
    this.ensure(cOff + Mp * Np);
    const m = this.f32;
    // A -> [Mp/4][Kp][4]
    const ad = a.data;
    for (let r = 0; r < Mp; r++) {
      const dst = aOff + (r >> 2) * Kp * 4 + (r & 3);
      if (r >= rows) {
        for (let k = 0; k < Kp; k++) m[dst + 4 * k] = 0;
        continue;
      }
      const src = (bat + Math.floor(r / M)) * a.sb + (r % M) * a.si;
      const sk = a.sk;
      for (let k = 0; k < K; k++) m[dst + 4 * k] = ad[src + k * sk];
      for (let k = K; k < Kp; k++) m[dst + 4 * k] = 0;
    }
    // B -> [Np/8][Kp][8]   (b.si is the stride along k, b.sk along j)
    const bd = b.data;
    const bBase = bat * b.sb;
    const [sk, sj] = [b.si, b.sk];
    m.fill(0, bOff, cOff); // the padding (k >= K, j >= N) stays 0
    for (let j = 0; j < N; j++) {
      const dst = bOff + (j >> 3) * Kp * 8 + (j & 7);
      const src = bBase + j * sj;
      for (let k = 0; k < K; k++) m[dst + 8 * k] = bd[src + k * sk];
    }
    this.gemm(aOff * 4, bOff * 4, cOff * 4, Mp / 4, Np / 8, Kp);
    if (Np === N) out.set(m.subarray(cOff, cOff + rows * N), at);
    else for (let i = 0; i < rows; i++) out.set(m.subarray(cOff + i * Np, cOff + i * Np + N), at + i * N);
  }
}

let shared: WasmGemm | null = null;

/** The process-wide micro-kernel instance (compiled on first use, ~1 ms). */
export function wasmGemm(): WasmGemm {
  shared ??= new WasmGemm();
  return shared;
}
