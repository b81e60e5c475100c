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
 * computed, then unpacked.
 *
 * Two threads for big products: when the machine has a second core and a product has at least
 * `GEMM_WORKER_MIN_MACS` multiply-adds, a worker thread computes half of C's row blocks while this thread
 * computes the other half. Both run the same compiled module over one shared WebAssembly memory, so the
 * packed operands are not copied: the worker (worker.ts) gets eight integers (pointers and sizes) through
 * a shared control block and answers through it (Atomics.wait / notify; the caller blocks until both
 * halves are done, so `run` stays synchronous). Each output element is computed by the same instructions either way,
 * so results are bitwise the same with and without the worker. Where the threshold sits was measured twice.
 * Before the buffer pool (core/pool.ts), the garbage collector's threads kept the second core busy during
 * a step and splitting the tiny GPT's products (2^18..2^23 multiply-adds) made it slower (70-79 ms against
 * 68-69 with 2^25). With the pool (the step's CPU time now equals its wall time), the same split made it
 * faster: 24.7-27.5k tokens/s with the threshold at 2^20 against 23.1-24.8k at 2^25 (`bench/train-step.ts`
 * runs alternating, three each; 2^18 was no better than 2^20). The fused attention (wasm/attention.ts)
 * hands half of its heads to a worker of its own, the SIMD kernels (wasm/simd.ts) half of their values.
 * `setGemmWorker(false)` turns all three workers off.
 */
import { outputArray } from '../../../pool.js';
import { FuncBuilder, OP, SIMD } from './builder.js';
import { KernelModule, setWorkers } from './worker.js';

const UNROLL = 4;
/** Rows packed together from a transposed (strided) A. */
const TILE = 32;
/** A transposed A whose source spans at most this many floats (4 MiB) is packed four rows at a time. */
const SMALL_TRANSPOSE = 1 << 20;

/**
 * gemm(A, B, C, MB, NP, Kp, lda, bias): C[Mp][Np] = A[Mp][Kp] B[Kp][Np] + bias[Np] on every row (byte
 * pointers; A row-major with rows lda bytes apart, B packed in panels, bias zeros for a plain product);
 * MB = Mp / 4 row blocks, NP = Np / 8 panels, Kp a multiple of UNROLL.
 *
 * With `panels` (the function gemmP), A is packed in panels of 4 rows instead, k-major: [MB][Kp][4], and lda
 * is ignored. Per k it loads the 4 rows' values as one vector and splats each lane (a shuffle) where gemm
 * splat-loads them one by one: the same products and sums in the same order, so bitwise the same C. It is
 * what a transposed A packs into cheaply (`packAT`: each k of a panel is 4 neighbouring floats of the source).
 */
function gemmFunction(panels = false): FuncBuilder {
  const f = new FuncBuilder(['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [A, B, C, MB, NP, Kp, lda, bias] = [0, 1, 2, 3, 4, 5, 6, 7];
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
  const va = f.local('v128');

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
      if (panels) f.localGet(rowA).localSet(pa[0]);
      else for (let r = 0; r < 4; r++) f.localGet(rowA).localGet(lda).i32Const(r).op(OP.i32Mul).op(OP.i32Add).localSet(pa[r]);
      // the accumulators start from the panel's 8 bias values (the same for the 4 rows)
      for (let r = 0; r < 4; r++) {
        f.localGet(bias).v128Load(0).localSet(acc[2 * r]);
        f.localGet(bias).v128Load(16).localSet(acc[2 * r + 1]);
      }
      f.localGet(bPanel).localSet(pb);
      f.localGet(rowA).localGet(Kp).i32Const(panels ? 16 : 4).op(OP.i32Mul).op(OP.i32Add).localSet(kEnd);
      f.blockLoop(() => {
        // for k in steps of UNROLL
        f.localGet(pa[0]).localGet(kEnd).op(OP.i32GeU, OP.brIf, 1);
        for (let u = 0; u < UNROLL; u++) {
          f.localGet(pb).v128Load(u * 32).localSet(vb0);
          f.localGet(pb).v128Load(u * 32 + 16).localSet(vb1);
          if (panels) f.localGet(pa[0]).v128Load(u * 16).localSet(va);
          for (let r = 0; r < 4; r++) {
            // lane r of the panel's vector at this k, or row r's value loaded and splat
            if (panels) f.localGet(va).localGet(va).simd(I8X16_SHUFFLE, ...LANE_SPLAT[r]).localSet(s);
            else f.localGet(pa[r]).v128Load32Splat(u * 4).localSet(s);
            f.localGet(acc[2 * r]).localGet(s).localGet(vb0).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).localSet(acc[2 * r]);
            f.localGet(acc[2 * r + 1]).localGet(s).localGet(vb1).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).localSet(acc[2 * r + 1]);
          }
        }
        if (panels) f.i32AddTo(pa[0], UNROLL * 16);
        else for (const p of pa) f.i32AddTo(p, UNROLL * 4);
        f.i32AddTo(pb, UNROLL * 32);
        f.op(OP.br, 0);
      });
      // store the 4x8 tile
      for (let r = 0; r < 4; r++) {
        f.localGet(cRow).localGet(ldc).i32Const(r).op(OP.i32Mul).op(OP.i32Add).localGet(acc[2 * r]).v128Store(0);
        f.localGet(cRow).localGet(ldc).i32Const(r).op(OP.i32Mul).op(OP.i32Add).localGet(acc[2 * r + 1]).v128Store(16);
      }
      f.localGet(cRow).localGet(ldc).i32Const(4).op(OP.i32Mul).op(OP.i32Add).localSet(cRow);
      if (panels) f.localGet(rowA).localGet(Kp).i32Const(16).op(OP.i32Mul).op(OP.i32Add).localSet(rowA);
      else f.localGet(rowA).localGet(lda).i32Const(4).op(OP.i32Mul).op(OP.i32Add).localSet(rowA);
      f.i32AddTo(rb, 1);
      f.op(OP.br, 0);
    });
    f.localGet(bPanel).localGet(Kp).i32Const(32).op(OP.i32Mul).op(OP.i32Add).localSet(bPanel);
    f.i32AddTo(cCol, 32);
    f.i32AddTo(bias, 32);
    f.op(OP.br, 0);
  });
  return f;
}

/** i8x16.shuffle, and its 16 lane bytes that splat float lane r of the first operand. */
const I8X16_SHUFFLE = 0x0d;
const LANE_SPLAT = [0, 1, 2, 3].map((r) => Array.from({ length: 16 }, (_, i) => 4 * r + (i % 4)));

/**
 * Panel packers from a source whose row k holds the panel values side by side (rowBytes apart):
 * dst[p][k][0..w-1] = src[k][w p .. w p + w - 1] for K rows, zeros for K <= k < Kp, w floats as w / 4
 * vectors. packAT (w = 4): A's panels for gemmP from a transposed A (row k of the source is column k of
 * op(A)); packB (w = 8): B's panels from a B with dense rows. The last panel may read up to w - 1 floats
 * past a row: they land in rows (A) or columns (B) past M or N, which C drops.
 * (src, dst, panels, K, Kp, rowBytes)
 */
function packPanelsFunction(w: 4 | 8): FuncBuilder {
  const f = new FuncBuilder(['i32', 'i32', 'i32', 'i32', 'i32', 'i32']);
  const [src, dst, panels, K, Kp, rowBytes] = [0, 1, 2, 3, 4, 5];
  const b = f.local('i32');
  const k = f.local('i32');
  const from = f.local('i32');
  const to = f.local('i32');
  f.i32Const(0).localSet(b);
  f.localGet(dst).localSet(to);
  f.blockLoop(() => {
    f.localGet(b).localGet(panels).op(OP.i32GeU, OP.brIf, 1);
    f.localGet(src).localGet(b).i32Const(w * 4).op(OP.i32Mul).op(OP.i32Add).localSet(from);
    f.i32Const(0).localSet(k);
    f.blockLoop(() => {
      f.localGet(k).localGet(Kp).op(OP.i32GeU, OP.brIf, 1);
      for (let v = 0; v < w / 4; v++) {
        // k < K: the source's 4 floats; else zeros
        f.localGet(to);
        f.localGet(k).localGet(K).op(OP.i32GeU).op(OP.if, 0x7b /* v128 */).v128Zero().op(OP.else).localGet(from).v128Load(v * 16).op(OP.end);
        f.v128Store(v * 16);
      }
      f.i32AddTo(to, w * 4);
      f.localGet(from).localGet(rowBytes).op(OP.i32Add).localSet(from);
      f.i32AddTo(k, 1).op(OP.br, 0);
    });
    f.i32AddTo(b, 1).op(OP.br, 0);
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

/**
 * Products with at least this many multiply-adds (M N K) are split between this thread and the worker:
 * 2^20 (~1M), which takes in every matmul of the tiny GPT (4.2M to 16.8M) and leaves out small batched
 * ones such as attention's per-head products (65K each); see the file comment for the measurements. A
 * full-vocabulary head (512 x 128 x 13,189 = 864M) split this way ran its three products 1.5-1.7x faster.
 */
export const GEMM_WORKER_MIN_MACS = 2 ** 20;
let minMacs = GEMM_WORKER_MIN_MACS;

/**
 * Use a second thread on webasm (default: on when the machine has more than one core and worker threads
 * exist) for matmuls of at least `minMacs` multiply-adds (default GEMM_WORKER_MIN_MACS), and likewise for
 * big fused-attention and SIMD (GELU, softmax exp) calls: `false` keeps all of them on one thread.
 * Returns the previous setting.
 * @example
 * const prev = setGemmWorker(false); // one thread, e.g. beside another job on a 2-core machine
 */
export function setGemmWorker(on: boolean, opts: { minMacs?: number } = {}): boolean {
  if (opts.minMacs !== undefined && !(opts.minMacs >= 0)) throw new Error(`setGemmWorker: minMacs must be >= 0, got ${opts.minMacs}`);
  if (opts.minMacs !== undefined) minMacs = opts.minMacs;
  return setWorkers(on);
}

/** One instance of the micro-kernel with its own memory (shared with its worker thread when it has one). */
export class WasmGemm {
  private readonly k: KernelModule;

  constructor(opts: { shared?: boolean } = {}) {
    const fns = [
      { name: 'gemm', fn: gemmFunction() }, { name: 'gemmP', fn: gemmFunction(true) },
      { name: 'packAT', fn: packPanelsFunction(4) }, { name: 'packB', fn: packPanelsFunction(8) },
    ];
    this.k = new KernelModule(fns, { what: 'matmul (wasm)', label: 'matmul', growHint: '; use smaller matrices or a batch loop' }, opts);
  }

  private get f32(): Float32Array {
    return this.k.f32;
  }

  /** See KernelModule.startWorker. */
  startWorker(timeoutMs = 10_000): Promise<boolean> {
    return this.k.startWorker(timeoutMs);
  }

  /** Stop the worker thread, if one was started (it also ends with the process). */
  close(): void {
    this.k.close();
  }

  /**
   * out[bat, i, j] = sum_k A(bat, i, k) B(bat, k, j) (+ bias[j] when given) for bat < nb, i < M, j < N,
   * k < K, written row-major into a kernel output array (core/pool.ts). A batch that shares B (b.sb = 0)
   * is computed as one tall product.
   */
  run(a: Strided, b: Strided, nb: number, M: number, N: number, K: number, bias: ArrayLike<number> | null = null): Float32Array {
    const out = outputArray(nb * M * N);
    if (out.length === 0) return out;
    if (K === 0) {
      // an empty sum is 0
      for (let r = 0; r < nb * M; r++) for (let j = 0; j < N; j++) out[r * N + j] = bias ? bias[j] : 0;
      return out;
    }
    const products = b.sb === 0 ? [{ bat: 0, rows: nb * M, at: 0 }] : Array.from({ length: nb }, (_, bat) => ({ bat, rows: M, at: bat * M * N }));
    const Mp = roundUp(products[0].rows, 4);
    const Np = roundUp(N, 8);
    const Kp = roundUp(K, UNROLL);
    // A's row stride: Kp, plus 4 floats when that is a multiple of 256 floats (1 KiB), so that the 4 rows
    // read together do not fall into the same L1 cache sets (measured: 1024^3 ran at 17 instead of 25 GFLOP/s)
    const lda = Kp % 256 === 0 ? Kp + 4 : Kp;
    const size = Mp * lda + Np * Kp + Mp * Np;
    // a transposed A whose source rows lie one after another (a plain transpose, one batch per product):
    // copied in as one block, then packed into panels by packAT in WebAssembly (gemmP reads those)
    const panels = a.si === 1 && a.sk === M && M > 1 && products[0].rows === M;
    // likewise a B with dense rows (row k is B's k-th row): one block copy, packed by packB
    const denseB = b.sk === 1 && b.si === N && N > 1;
    const stage = Np + products.length * size;
    const stageB = stage + (panels ? K * M + 4 : 0);
    // the bias row (zeros for a plain product) first, at byte 0 (gemm's last argument), then each
    // product's A, B and C, then the staged sources of A (panels) and B (denseB)
    this.k.ensure(stageB + (denseB ? K * N + 8 : 0));
    const m0 = this.f32;
    if (bias) {
      for (let j = 0; j < N; j++) m0[j] = bias[j];
      m0.fill(0, N, Np);
    } else m0.fill(0, 0, Np);
    const regions: Region[] = products.map((p, i) => ({ ...p, aOff: Np + i * size, bOff: Np + i * size + Mp * lda, cOff: Np + i * size + Mp * lda + Np * Kp }));
    const MB = Mp / 4;
    for (const r of regions) {
      if (panels) {
        const src0 = r.bat * a.sb;
        this.f32.set(a.data.subarray(src0, src0 + K * M), stage);
        this.f32.fill(0, stage + K * M, stage + K * M + 4);
        this.k.fn.packAT(stage * 4, r.aOff * 4, MB, K, Kp, M * 4);
      } else this.packA(a, r, M, K, lda, Mp);
      if (denseB) {
        const src0 = r.bat * b.sb;
        this.f32.set(b.data.subarray(src0, src0 + K * N), stageB);
        this.f32.fill(0, stageB + K * N, stageB + K * N + 8);
        this.k.fn.packB(stageB * 4, r.bOff * 4, Np / 8, K, Kp, N * 4);
      } else this.packB(b, r, N, K, Kp, Np);
    }
    // big products: the worker takes row blocks [half, MB), this thread [0, half)
    const worker = this.k.worker(products[0].rows * N * K >= minMacs && MB >= 2);
    const half = worker ? MB >> 1 : MB;
    // gemm or gemmP; the bytes from one block of 4 rows of A to the next
    const [fn, blockBytes] = panels ? ['gemmP', Kp * 16] : ['gemm', lda * 16];
    for (const r of regions) {
      const jobs = worker ? [this.k.job(fn, [r.aOff * 4 + half * blockBytes, r.bOff * 4, (r.cOff + half * 4 * Np) * 4, MB - half, Np / 8, Kp, lda * 4, 0])] : [];
      this.k.alongside(worker, jobs, () => this.k.fn[fn](r.aOff * 4, r.bOff * 4, r.cOff * 4, half, Np / 8, Kp, lda * 4, 0));
    }
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
    } else if (a.sk === 1) {
      for (let i = 0; i < r.rows; i++) {
        const dst = r.aOff + i * lda;
        const src = src0 + Math.floor(i / M) * a.sb + (i % M) * a.si;
        if (K >= 32) m.set(ad.subarray(src, src + K), dst);
        else for (let k = 0; k < K; k++) m[dst + k] = ad[src + k];
        if (lda > K) m.fill(0, dst + K, dst + lda);
      }
    } else if (a.si === 1 && (r.rows <= M || a.sb === M) && K * a.sk <= SMALL_TRANSPOSE) {
      // a plain transpose of a source that fits in cache: four rows at a time, each k reads four
      // neighbouring floats and appends one to each row (0.16 ms for 256 x 1024 against 1.5 in tiles)
      const sk = a.sk;
      let i = 0;
      for (; i + 4 <= r.rows; i += 4) {
        let src = src0 + i;
        const d0 = r.aOff + i * lda;
        const [d1, d2, d3] = [d0 + lda, d0 + 2 * lda, d0 + 3 * lda];
        for (let k = 0; k < K; k++, src += sk) {
          m[d0 + k] = ad[src];
          m[d1 + k] = ad[src + 1];
          m[d2 + k] = ad[src + 2];
          m[d3 + k] = ad[src + 3];
        }
      }
      for (; i < r.rows; i++) {
        let src = src0 + i;
        const dst = r.aOff + i * lda;
        for (let k = 0; k < K; k++, src += sk) m[dst + k] = ad[src];
      }
      if (lda > K) for (let i = 0; i < r.rows; i++) m.fill(0, r.aOff + i * lda + K, r.aOff + (i + 1) * lda);
    } else {
      // strided rows (a transposed operand: row i of op(A) is a column): tiles of TILE rows, so that each k
      // reads TILE neighbouring floats of the source instead of one float per cache line (40 -> 15 ms for
      // the 13,189 x 512 weight gradient of a full-vocabulary head)
      const sk = a.sk;
      const src = new Float64Array(TILE);
      for (let i0 = 0; i0 < r.rows; i0 += TILE) {
        const i1 = Math.min(i0 + TILE, r.rows);
        for (let i = i0; i < i1; i++) src[i - i0] = src0 + Math.floor(i / M) * a.sb + (i % M) * a.si;
        const n = i1 - i0;
        if (a.si === 1 && src[n - 1] === src[0] + n - 1) {
          // the tile's rows are neighbouring columns of the source (a plain transpose): no per-row lookup
          const s0 = src[0];
          for (let k = 0; k < K; k++) {
            const from = s0 + k * sk;
            let dst = r.aOff + i0 * lda + k;
            for (let j = 0; j < n; j++, dst += lda) m[dst] = ad[from + j];
          }
        } else {
          for (let k = 0; k < K; k++) {
            const ks = k * sk;
            let dst = r.aOff + i0 * lda + k;
            for (let i = i0; i < i1; i++, dst += lda) m[dst] = ad[src[i - i0] + ks];
          }
        }
        if (lda > K) for (let i = i0; i < i1; i++) m.fill(0, r.aOff + i * lda + K, r.aOff + (i + 1) * lda);
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

