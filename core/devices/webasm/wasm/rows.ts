/**
 * Row kernels of softmax and cross-entropy as WebAssembly SIMD, four floats per instruction, generated from
 * this file like the gemm (no toolchain). They back webasm's overrides of `expShiftRows` and
 * `nllBackward_` (core/devices/webasm/softmax-override.ts): over a full-vocabulary head (512 rows x 13,189
 * classes) the gpu.js kernels spent ~8.5 ns per element on one exp call each; these spend about 1.
 *
 *   expShift(X, M, O, rows, R):  O[r, j] = exp(X[r, j] - M[r])
 *   scaleRows(X, S, O, rows, R): O[r, j] = X[r, j] * S[r]
 *
 * Rows of any length R >= 4: each row is swept four floats at a time and its last four floats once more
 * (an overlapping tail, recomputed to the same values), so rows need no padding and no scalar loop.
 *
 * exp in float32 (Cephes' expf): n = round(x log2 e), r = x - n ln 2 (ln 2 split in two so that n ln2_hi is
 * exact), exp(r) = 1 + r + r^2 p(r) with p of degree 5 (relative error ~1e-7, within 2 ulp of float32),
 * times 2^n built from exponent bits as 2^floor(n/2) 2^ceil(n/2), so that results down to float32's
 * denormals (and up to overflow) come out right. x is clamped to [-104, 89], past which float32's exp is
 * 0 or Infinity anyway; NaN stays NaN (f32x4.min/max propagate it).
 */
import { FuncBuilder, moduleBytes, OP } from './builder.js';

const PAGE = 65536;

// SIMD opcodes used here beyond the builder's shared table (WebAssembly SIMD spec numbering)
const V = {
  i32x4Splat: 0x11,
  f32x4Splat: 0x13,
  f32x4Nearest: 0x6a,
  i32x4Shl: 0xab,
  i32x4ShrS: 0xac,
  i32x4Add: 0xae,
  i32x4Sub: 0xb1,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4Min: 0xe8,
  f32x4Max: 0xe9,
  i32x4TruncSatF32x4S: 0xf8,
} as const;
const F32_CONST = 0x43;
const I32_SUB = 0x6b;

const LOG2E = 1.44269504088896341;
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;
/** Cephes expf: exp(r) ~ 1 + r + r^2 (P0 + P1 r + ... + P5 r^5) for |r| <= ln 2 / 2. */
const P = [5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2, 8.3334519073e-3, 1.3981999507e-3, 1.9875691500e-4];

function f32Splat(f: FuncBuilder, v: number): FuncBuilder {
  f.op(F32_CONST, ...new Uint8Array(Float32Array.of(v).buffer));
  return f.simd(V.f32x4Splat);
}

/** Replace the f32x4 in local `x` by exp(x), using the v128 locals in `t` as scratch. */
function expInPlace(f: FuncBuilder, x: number, t: { n: number; r: number; p: number }): void {
  // x = min(max(x, -104), 89)
  f.localGet(x);
  f32Splat(f, -104).simd(V.f32x4Max);
  f32Splat(f, 89).simd(V.f32x4Min).localSet(x);
  // n = nearest(x log2 e)
  f.localGet(x);
  f32Splat(f, LOG2E).simd(V.f32x4Mul).simd(V.f32x4Nearest).localSet(t.n);
  // r = x - n ln2_hi - n ln2_lo
  f.localGet(x).localGet(t.n);
  f32Splat(f, LN2_HI).simd(V.f32x4Mul).simd(V.f32x4Sub).localGet(t.n);
  f32Splat(f, LN2_LO).simd(V.f32x4Mul).simd(V.f32x4Sub).localSet(t.r);
  // p = ((((P5 r + P4) r + P3) r + P2) r + P1) r + P0  (Horner)
  f32Splat(f, P[5]);
  for (let k = 4; k >= 0; k--) {
    f.localGet(t.r).simd(V.f32x4Mul);
    f32Splat(f, P[k]).simd(V.f32x4Add);
  }
  // p = p r^2 + r + 1
  f.localGet(t.r).localGet(t.r).simd(V.f32x4Mul).simd(V.f32x4Mul).localGet(t.r).simd(V.f32x4Add);
  f32Splat(f, 1).simd(V.f32x4Add).localSet(t.p);
  // n as i32 (in [-150, 128] after the clamp): n1 = n >> 1, n2 = n - n1; 2^k = bits (k + 127) << 23
  f.localGet(t.n).simd(V.i32x4TruncSatF32x4S).localSet(t.n);
  const pow2 = (k: () => void) => {
    k();
    f.i32Const(127).simd(V.i32x4Splat).simd(V.i32x4Add).i32Const(23).simd(V.i32x4Shl);
  };
  f.localGet(t.p);
  pow2(() => f.localGet(t.n).i32Const(1).simd(V.i32x4ShrS));
  f.simd(V.f32x4Mul);
  pow2(() => f.localGet(t.n).localGet(t.n).i32Const(1).simd(V.i32x4ShrS).simd(V.i32x4Sub));
  f.simd(V.f32x4Mul).localSet(x);
}

/**
 * A function (X, S, O, rows, R) over rows of R >= 4 floats: for each row, s = splat(S[row]) and each
 * vector v of the row becomes `body(v, s)`, written to O at the same offset (byte pointers).
 */
function rowFunction(body: (f: FuncBuilder, v: number, s: number) => void): FuncBuilder {
  const f = new FuncBuilder(['i32', 'i32', 'i32', 'i32', 'i32']);
  const [X, S, O, rows, R] = [0, 1, 2, 3, 4];
  const row = f.local('i32');
  const p = f.local('i32'); // byte offset of the vector within the arrays (X and O share it)
  const rowEnd = f.local('i32'); // byte offset of the row's last vector
  const rowBytes = f.local('i32');
  const s = f.local('v128');
  const v = f.local('v128');
  f.localGet(R).i32Const(4).op(OP.i32Mul).localSet(rowBytes);
  f.i32Const(0).localSet(row);
  f.i32Const(0).localSet(p);
  const one = () => {
    // O[p] = body(X[p], s)
    f.localGet(X).localGet(p).op(OP.i32Add).v128Load().localSet(v);
    body(f, v, s);
    f.localGet(O).localGet(p).op(OP.i32Add).localGet(v).v128Store();
  };
  f.blockLoop(() => {
    f.localGet(row).localGet(rows).op(OP.i32GeU, OP.brIf, 1);
    f.localGet(S).localGet(row).i32Const(4).op(OP.i32Mul).op(OP.i32Add).v128Load32Splat().localSet(s);
    f.localGet(p).localGet(rowBytes).op(OP.i32Add).i32Const(16).op(I32_SUB).localSet(rowEnd);
    f.blockLoop(() => {
      f.localGet(p).localGet(rowEnd).op(OP.i32GeU, OP.brIf, 1);
      one();
      f.i32AddTo(p, 16).op(OP.br, 0);
    });
    // the row's last four floats (overlapping the previous vector when R is not a multiple of 4)
    f.localGet(rowEnd).localSet(p);
    one();
    f.i32AddTo(p, 16).i32AddTo(row, 1).op(OP.br, 0);
  });
  return f;
}

export function expShiftFunction(): FuncBuilder {
  let t: { n: number; r: number; p: number } | null = null;
  return rowFunction((f, v, s) => {
    t ??= { n: f.local('v128'), r: f.local('v128'), p: f.local('v128') };
    f.localGet(v).localGet(s).simd(V.f32x4Sub).localSet(v);
    expInPlace(f, v, t);
  });
}

export function scaleRowsFunction(): FuncBuilder {
  return rowFunction((f, v, s) => {
    f.localGet(v).localGet(s).simd(V.f32x4Mul).localSet(v);
  });
}

/** The first k values of a (no copy for typed arrays). */
const head = (a: ArrayLike<number>, k: number): ArrayLike<number> =>
  a.length === k ? a : ArrayBuffer.isView(a) ? (a as Float32Array).subarray(0, k) : Array.from({ length: k }, (_, i) => a[i]);

type RowFn = (X: number, S: number, O: number, rows: number, R: number) => void;

/** The row kernels with their own memory (one instance per process: `wasmRows()`). */
export class WasmRows {
  private readonly memory = new WebAssembly.Memory({ initial: 1 });
  private f32 = new Float32Array(this.memory.buffer);
  private readonly fns: { expShift: RowFn; scaleRows: RowFn };

  constructor() {
    const mod = new WebAssembly.Module(moduleBytes([
      { name: 'expShift', fn: expShiftFunction() },
      { name: 'scaleRows', fn: scaleRowsFunction() },
    ]));
    const ex = new WebAssembly.Instance(mod, { env: { memory: this.memory } }).exports;
    this.fns = { expShift: ex.expShift as RowFn, scaleRows: ex.scaleRows as RowFn };
  }

  /** exp(x[r, j] - m[r]) for x of rows x R (R >= 4), m of rows. */
  expShift(x: ArrayLike<number>, m: ArrayLike<number>, rows: number, R: number): Float32Array {
    return this.run('expShift', x, m, rows, R);
  }

  /** x[r, j] * s[r] for x of rows x R (R >= 4), s of rows. */
  scaleRows(x: ArrayLike<number>, s: ArrayLike<number>, rows: number, R: number): Float32Array {
    return this.run('scaleRows', x, s, rows, R);
  }

  private run(fn: keyof WasmRows['fns'], x: ArrayLike<number>, s: ArrayLike<number>, rows: number, R: number): Float32Array {
    if (R < 4) throw new Error(`wasm rows: rows need at least 4 floats, got ${R}`);
    const n = rows * R;
    if (x.length < n || s.length < rows) throw new Error(`wasm rows: ${rows} x ${R} needs ${n} values and ${rows} row values, got ${x.length} and ${s.length}`);
    // X, then O, then S (float offsets; each a multiple of 4 floats so vectors stay 16-byte aligned)
    const oOff = Math.ceil(n / 4) * 4;
    const sOff = oOff * 2;
    this.ensure(sOff + rows);
    const m = this.f32;
    m.set(head(x, n), 0);
    m.set(head(s, rows), sOff);
    this.fns[fn](0, sOff * 4, oOff * 4, rows, R);
    return m.slice(oOff, oOff + n);
  }

  private ensure(floats: number): void {
    const need = floats * 4 - this.memory.buffer.byteLength;
    if (need > 0) {
      try {
        this.memory.grow(Math.ceil(need / PAGE));
      } catch (e) {
        throw new Error(`softmax rows (wasm): cannot grow WebAssembly memory to ${(floats * 4 / 2 ** 20).toFixed(0)} MiB (${(e as Error).message})`);
      }
      this.f32 = new Float32Array(this.memory.buffer);
    }
  }
}

let shared: WasmRows | null = null;

/** The process-wide row kernels (compiled on first use). */
export function wasmRows(): WasmRows {
  shared ??= new WasmRows();
  return shared;
}
