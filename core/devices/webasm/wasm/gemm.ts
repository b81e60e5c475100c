/**
 * The matmul micro-kernel for CPU devices: WebAssembly SIMD generated from this file (no toolchain, no
 * binary blob), used by `matmul` on the `webasm` device. gpu.js's code generator caps its matmul kernels at
 * ~3-5 GFLOP/s (every thread-indexed read is a 4-lane gather, every index a float); this one ran at
 * 20-28 GFLOP/s on one core of a 2-core EPYC from 256^3 to 1024^3 (bench/matmul.ts). The gpu.js kernels
 * stay: they are what it is tested against (spec/matmul.spec.ts), and what the other devices run.
 *
 * How it works (the classic BLIS/XNNPACK scheme, small):
 * - pack: op(A) is copied row-major ([Mp][lda]; contiguous rows as one block copy); op(B) into panels
 *   of 8 columns, k-major ([Np/8][Kp][8]). Transposed and strided operands work the same: packing reads
 *   them through strides. Sizes are padded with zeros to multiples of 4 (M), 8 (N) and UNROLL (K).
 * - compute: each 4x8 tile of C lives in 8 f32x4 registers; per k, two v128 loads of B and four
 *   load-and-splat reads of A (one per row) feed 8 multiplies and 8 adds. k is unrolled by UNROLL with
 *   constant offsets, so the inner loop has no index arithmetic beyond pointer bumps.
 * - unpack: C ([Mp][Np]) rows are copied out without the padding.
 * Packing is O(MK + KN + MN) against O(MNK) of compute. All products of a call are packed first, then
 * computed, then unpacked. One thread: a second one (a worker over shared memory taking half the kernel
 * calls) made 512^3 1.6x faster but the tiny-GPT training step 10-25% slower on 2 cores, so it was left out.
 */
import { FuncBuilder, moduleBytes, OP, SIMD } from './builder.js';

const UNROLL = 4;
const PAGE = 65536;

/**
 * gemm(A, B, C, MB, NP, Kp, lda): C[Mp][Np] = A[Mp][Kp] B[Kp][Np] (byte pointers; A row-major with rows
 * lda bytes apart, B packed in panels); MB = Mp / 4 row blocks, NP = Np / 8 panels, Kp a multiple of UNROLL.
 */
function gemmFunction(): FuncBuilder {
  const f = new FuncBuilder(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [A, B, C, MB, NP, Kp, lda] = [0, 1, 2, 3, 4, 5, 6];
  const bPanel = f.local('i32');
  const bEnd = f.local('i32');
  const cCol = f.local('i32');
  const ldc = f.local('i32');
  const rb = f.local('i32');
  const rowA = f.local('i32');
  const pa = [f.local('i32'), f.local('i32'), f.local('i32'), f.local('i32')];
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
    f.localGet(A).localSet(rowA);
    f.localGet(cCol).localSet(cRow);
    f.i32Const(0).localSet(rb);
    f.blockLoop(() => {
      // for each block of 4 rows: pointers to the rows, k-end of the first
      f.localGet(rb).localGet(MB).op(OP.i32GeU, OP.brIf, 1);
      for (let r = 0; r < 4; r++) f.localGet(rowA).localGet(lda).i32Const(r).op(OP.i32Mul).op(OP.i32Add).localSet(pa[r]);
      for (const r of acc) f.v128Zero().localSet(r);
      f.localGet(bPanel).localSet(pb);
      f.localGet(rowA).localGet(Kp).i32Const(4).op(OP.i32Mul).op(OP.i32Add).localSet(kEnd);
      f.blockLoop(() => {
        // for k in steps of UNROLL
        f.localGet(pa[0]).localGet(kEnd).op(OP.i32GeU, OP.brIf, 1);
        for (let u = 0; u < UNROLL; u++) {
          f.localGet(pb).v128Load(u * 32).localSet(vb0);
          f.localGet(pb).v128Load(u * 32 + 16).localSet(vb1);
          for (let r = 0; r < 4; r++) {
            f.localGet(pa[r]).v128Load32Splat(u * 4).localSet(s);
            f.localGet(acc[2 * r]).localGet(s).localGet(vb0).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).localSet(acc[2 * r]);
            f.localGet(acc[2 * r + 1]).localGet(s).localGet(vb1).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).localSet(acc[2 * r + 1]);
          }
        }
        for (const p of pa) f.i32AddTo(p, UNROLL * 4);
        f.i32AddTo(pb, UNROLL * 32);
        f.op(OP.br, 0);
      });
      // store the 4x8 tile
      for (let r = 0; r < 4; r++) {
        f.localGet(cRow).localGet(ldc).i32Const(r).op(OP.i32Mul).op(OP.i32Add).localGet(acc[2 * r]).v128Store(0);
        f.localGet(cRow).localGet(ldc).i32Const(r).op(OP.i32Mul).op(OP.i32Add).localGet(acc[2 * r + 1]).v128Store(16);
      }
      f.localGet(cRow).localGet(ldc).i32Const(4).op(OP.i32Mul).op(OP.i32Add).localSet(cRow);
      f.localGet(rowA).localGet(lda).i32Const(4).op(OP.i32Mul).op(OP.i32Add).localSet(rowA);
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

/** Where one product's packed operands and result sit in memory (float offsets) and its sizes. */
interface Region {
  bat: number;
  rows: number;
  /** Output offset of its first row. */
  at: number;
  aOff: number;
  bOff: number;
  cOff: number;
}

/** One instance of the micro-kernel with its own memory. */
export class WasmGemm {
  private readonly memory = new WebAssembly.Memory({ initial: 1 });
  private f32 = new Float32Array(this.memory.buffer);
  private readonly gemm: (A: number, B: number, C: number, MB: number, NP: number, Kp: number, lda: number) => void;

  constructor() {
    const mod = new WebAssembly.Module(moduleBytes([{ name: 'gemm', fn: gemmFunction() }]));
    this.gemm = new WebAssembly.Instance(mod, { env: { memory: this.memory } }).exports.gemm as WasmGemm['gemm'];
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
    const products = b.sb === 0 ? [{ bat: 0, rows: nb * M, at: 0 }] : Array.from({ length: nb }, (_, bat) => ({ bat, rows: M, at: bat * M * N }));
    const Mp = roundUp(products[0].rows, 4);
    const Np = roundUp(N, 8);
    const Kp = roundUp(K, UNROLL);
    // A's row stride: Kp, plus 4 floats when that is a multiple of 256 floats (1 KiB), so that the 4 rows
    // read together do not fall into the same L1 cache sets (measured: 1024^3 ran at 17 instead of 25 GFLOP/s)
    const lda = Kp % 256 === 0 ? Kp + 4 : Kp;
    const size = Mp * lda + Np * Kp + Mp * Np;
    this.ensure(products.length * size);
    const regions: Region[] = products.map((p, i) => ({ ...p, aOff: i * size, bOff: i * size + Mp * lda, cOff: i * size + Mp * lda + Np * Kp }));
    for (const r of regions) {
      this.packA(a, r, M, K, lda, Mp);
      this.packB(b, r, N, K, Kp, Np);
    }
    for (const r of regions) this.gemm(r.aOff * 4, r.bOff * 4, r.cOff * 4, Mp / 4, Np / 8, Kp, lda * 4);
    const m = this.f32;
    for (const r of regions) {
      if (Np === N) out.set(m.subarray(r.cOff, r.cOff + r.rows * N), r.at);
      else for (let i = 0; i < r.rows; i++) out.set(m.subarray(r.cOff + i * Np, r.cOff + i * Np + N), r.at + i * N);
    }
    return out;
  }

  /** op(A) of region r -> [Mp][lda], row-major, zero-padded (row i is batch bat + floor(i / M), row i % M). */
  private packA(a: Strided, r: Region, M: number, K: number, lda: number, Mp: number): void {
    const m = this.f32;
    const ad = a.data;
    const src0 = r.bat * a.sb;
    if (a.sk === 1 && a.si === K && lda === K && (r.rows <= M || a.sb === M * K)) {
      m.set(ad.subarray(src0, src0 + r.rows * K), r.aOff); // the rows are one block already
    } else {
      const sk = a.sk;
      for (let i = 0; i < r.rows; i++) {
        const dst = r.aOff + i * lda;
        const src = src0 + Math.floor(i / M) * a.sb + (i % M) * a.si;
        if (sk === 1 && K >= 32) m.set(ad.subarray(src, src + K), dst);
        else for (let k = 0; k < K; k++) m[dst + k] = ad[src + k * sk];
        if (lda > K) m.fill(0, dst + K, dst + lda);
      }
    }
    m.fill(0, r.aOff + r.rows * lda, r.aOff + Mp * lda);
  }

  /** op(B) of region r -> [Np/8][Kp][8] (b.si is the stride along k, b.sk along j); padding 0. */
  private packB(b: Strided, r: Region, N: number, K: number, Kp: number, Np: number): void {
    const m = this.f32;
    const bd = b.data;
    const base = r.bat * b.sb;
    const [sk, sj] = [b.si, b.sk];
    m.fill(0, r.bOff, r.bOff + Np * Kp);
    for (let j = 0; j < N; j++) {
      const dst = r.bOff + (j >> 3) * Kp * 8 + (j & 7);
      const src = base + j * sj;
      for (let k = 0; k < K; k++) m[dst + 8 * k] = bd[src + k * sk];
    }
  }
}

let shared: WasmGemm | null = null;

/** The process-wide micro-kernel instance (compiled on first use, ~1 ms). */
export function wasmGemm(): WasmGemm {
  shared ??= new WasmGemm();
  return shared;
}

