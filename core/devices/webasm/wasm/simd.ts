/**
 * Kernels with exp inside as WebAssembly SIMD, four floats per instruction, generated from this file like
 * the gemm (no toolchain). They back webasm's overrides of softmax's `expShiftRows` and `expShiftCausal`
 * (core/devices/webasm/softmax-override.ts) and of `gelu` and `geluBackward_` (gelu-override.ts): gpu.js's
 * kernels spent ~8-11 ns per element on one scalar exp or tanh call each; these spend about 1.
 *
 *   expShift(X, M, O, rows, R):  O[r, j] = exp(X[r, j] - M[r])      rows of R >= 4 floats
 *   gelu(X, O, n4):              O = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
 *   geluBackward(G, X, O, n4):   O = g gelu'(x)                      n4 vectors (arrays padded to 4)
 *
 * Rows of any length R >= 4: each row is swept four floats at a time and its last four floats once more
 * (an overlapping tail, recomputed to the same values), so rows need no padding and no scalar loop.
 * GELU through e = exp(2u): 1 + tanh(u) = 2 e / (e + 1) and 1 - tanh(u)^2 = 4 e / (e + 1)^2, forms that
 * keep their relative accuracy where tanh(u) is near -1 or 1 (1 + tanh(u) itself would cancel there).
 *
 * exp in float32 (Cephes' expf): n = round(x log2 e), r = x - n ln 2 (ln 2 split in two so that n ln2_hi is
 * exact), exp(r) = 1 + r + r^2 p(r) with p of degree 5 (relative error ~1e-7, within 2 ulp of float32),
 * times 2^n built from exponent bits as 2^floor(n/2) 2^ceil(n/2), so that results down to float32's
 * denormals (and up to overflow) come out right. x is clamped to [-104, 89], past which float32's exp is
 * 0 or Infinity anyway; NaN stays NaN (f32x4.min/max propagate it).
 */
import { Emit, FuncBuilder, OP } from './builder.js';
import { KernelModule } from './worker.js';


// SIMD opcodes used here beyond the builder's shared table (WebAssembly SIMD spec numbering)
export const V = {
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
  f32x4Div: 0xe7,
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

export function f32Splat(f: FuncBuilder, v: number): FuncBuilder {
  f.op(F32_CONST, ...new Uint8Array(Float32Array.of(v).buffer));
  return f.simd(V.f32x4Splat);
}

/** Replace the f32x4 in local `x` by exp(x), using the v128 locals in `t` as scratch. */
export function expInPlace(f: FuncBuilder, x: number, t: { n: number; r: number; p: number }): void {
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

function expShiftFunction(): FuncBuilder {
  let t: { n: number; r: number; p: number } | null = null;
  return rowFunction((f, v, s) => {
    t ??= { n: f.local('v128'), r: f.local('v128'), p: f.local('v128') };
    f.localGet(v).localGet(s).simd(V.f32x4Sub).localSet(v);
    expInPlace(f, v, t);
  });
}

const SQRT_2_OVER_PI = 0.7978845608028654;

/**
 * For the f32x4 in local `x`: e = exp(2u), u = sqrt(2/pi) (x + 0.044715 x^3) (2u capped at 80, where
 * tanh(u) = 1 in float32), q = 1 / (e + 1) into local `q`, and a = (1 + tanh(u)) / 2 = e q into local `a`.
 * Written without 1 + tanh(u) or 1 - tanh(u)^2 = 4 e q^2, which cancel where tanh is near -1 or 1.
 */
function geluParts(f: FuncBuilder, x: number, a: number, q: number, scratch: { n: number; r: number; p: number }): void {
  // a = 2u = x (2c + 2c 0.044715 x^2), capped; then e = exp(a) (kept in a)
  f.localGet(x).localGet(x).simd(V.f32x4Mul);
  f32Splat(f, 2 * SQRT_2_OVER_PI * 0.044715).simd(V.f32x4Mul);
  f32Splat(f, 2 * SQRT_2_OVER_PI).simd(V.f32x4Add).localGet(x).simd(V.f32x4Mul);
  f32Splat(f, 80).simd(V.f32x4Min).localSet(a);
  expInPlace(f, a, scratch);
  // q = 1 / (e + 1); a = e q
  f32Splat(f, 1).localGet(a);
  f32Splat(f, 1).simd(V.f32x4Add).simd(V.f32x4Div).localSet(q);
  f.localGet(a).localGet(q).simd(V.f32x4Mul).localSet(a);
}

/** A function (X..., O, n4) applying `body` to n4 vectors of its inputs (pointers in bytes). */
function mapFunction(inputs: number, body: (f: FuncBuilder, v: number[]) => void): FuncBuilder {
  const f = new FuncBuilder([...Array<'i32'>(inputs + 2).fill('i32')]);
  const O = inputs;
  const n4 = inputs + 1;
  const p = f.local('i32');
  const end = f.local('i32');
  const v = Array.from({ length: inputs }, () => f.local('v128'));
  f.localGet(n4).i32Const(16).op(OP.i32Mul).localSet(end);
  f.i32Const(0).localSet(p);
  f.blockLoop(() => {
    f.localGet(p).localGet(end).op(OP.i32GeU, OP.brIf, 1);
    for (let i = 0; i < inputs; i++) f.localGet(i).localGet(p).op(OP.i32Add).v128Load().localSet(v[i]);
    body(f, v);
    f.localGet(O).localGet(p).op(OP.i32Add).localGet(v[0]).v128Store();
    f.i32AddTo(p, 16).op(OP.br, 0);
  });
  return f;
}

function geluFunction(): FuncBuilder {
  let l: { a: number; q: number; s: { n: number; r: number; p: number } } | null = null;
  return mapFunction(1, (f, [x]) => {
    l ??= { a: f.local('v128'), q: f.local('v128'), s: { n: f.local('v128'), r: f.local('v128'), p: f.local('v128') } };
    geluParts(f, x, l.a, l.q, l.s);
    f.localGet(x).localGet(l.a).simd(V.f32x4Mul).localSet(x); // 0.5 x (1 + t) = x a
  });
}

function geluBackwardFunction(): FuncBuilder {
  let l: { a: number; q: number; s: { n: number; r: number; p: number } } | null = null;
  return mapFunction(2, (f, [g, x]) => {
    l ??= { a: f.local('v128'), q: f.local('v128'), s: { n: f.local('v128'), r: f.local('v128'), p: f.local('v128') } };
    geluParts(f, x, l.a, l.q, l.s);
    // gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) u' = a (1 + 2 x q u'),  u' = c (1 + 0.134145 x^2); times g
    f.localGet(x).localGet(x).simd(V.f32x4Mul);
    f32Splat(f, 2 * SQRT_2_OVER_PI * 0.134145).simd(V.f32x4Mul);
    f32Splat(f, 2 * SQRT_2_OVER_PI).simd(V.f32x4Add); // 2 u'
    f.localGet(x).simd(V.f32x4Mul).localGet(l.q).simd(V.f32x4Mul);
    f32Splat(f, 1).simd(V.f32x4Add).localGet(l.a).simd(V.f32x4Mul);
    f.localGet(g).simd(V.f32x4Mul).localSet(g);
  });
}

/** The first k values of a (no copy for typed arrays). */
const head = (a: ArrayLike<number>, k: number): ArrayLike<number> =>
  a.length === k ? a : ArrayBuffer.isView(a) ? (a as Float32Array).subarray(0, k) : Array.from({ length: k }, (_, i) => a[i]);


const F32_ADD = 0x92;
const F32_MUL = 0x94;
const F32_DIV = 0x95;
const F32_SQRT = 0x91;

/**
 * normForward(X, W, B, Y, ST, rows, R4, c, eps, invR): per row of R4 vectors, mean = c sum(x) / R,
 * rstd = 1 / sqrt(sum((x - mean)^2) / R + eps), y = (x - mean) rstd w + b; ST = [mean (rows) | rstd (rows)].
 */
function normForwardFunction(): FuncBuilder {
  const f = new FuncBuilder([...Array<'i32'>(7).fill('i32'), 'f32', 'f32', 'f32']);
  const [X, W, B, Y, ST, rows, R4, c, eps, invR] = Array.from({ length: 10 }, (_, i) => i);
  const e = new Emit(f);
  const [row, v, rowBytes, px, py] = [e.i32(), e.i32(), e.i32(), e.i32(), e.i32()];
  const [acc, d, vmu, vr] = [e.v128(), e.v128(), e.v128(), e.v128()];
  const [mu, r] = [f.local('f32'), f.local('f32')];
  f.localGet(R4).i32Const(16).op(OP.i32Mul).localSet(rowBytes);
  f.localGet(X).localSet(px);
  f.localGet(Y).localSet(py);
  e.loop(row, rows, () => {
    f.v128Zero().localSet(acc);
    e.loop(v, rowBytes, () => e.sum(px, v).f.v128Load().localGet(acc).simd(V.f32x4Add).localSet(acc), 16);
    e.reduce(acc, F32_ADD).f.localGet(c).op(F32_MUL).localGet(invR).op(F32_MUL).localSet(mu);
    f.localGet(mu).simd(V.f32x4Splat).localSet(vmu);
    f.v128Zero().localSet(acc);
    e.loop(v, rowBytes, () => {
      e.sum(px, v).f.v128Load().localGet(vmu).simd(V.f32x4Sub).localSet(d);
      f.localGet(d).localGet(d).simd(V.f32x4Mul).localGet(acc).simd(V.f32x4Add).localSet(acc);
    }, 16);
    f.op(0x43, ...new Uint8Array(Float32Array.of(1).buffer));
    e.reduce(acc, F32_ADD).f.localGet(invR).op(F32_MUL).localGet(eps).op(F32_ADD).op(F32_SQRT).op(F32_DIV).localSet(r);
    e.sum(ST, [row, { c: 4 }]).f.localGet(mu);
    e.f32Store();
    e.sum(ST, [rows, { c: 4 }], [row, { c: 4 }]).f.localGet(r);
    e.f32Store();
    f.localGet(r).simd(V.f32x4Splat).localSet(vr);
    e.loop(v, rowBytes, () => {
      e.sum(py, v);
      e.sum(px, v).f.v128Load().localGet(vmu).simd(V.f32x4Sub).localGet(vr).simd(V.f32x4Mul);
      e.sum(W, v).f.v128Load().simd(V.f32x4Mul);
      e.sum(B, v).f.v128Load().simd(V.f32x4Add).v128Store();
    }, 16);
    f.localGet(px).localGet(rowBytes).op(OP.i32Add).localSet(px);
    f.localGet(py).localGet(rowBytes).op(OP.i32Add).localSet(py);
  });
  return f;
}

/**
 * normBackward(G, X, ST, W, DX, DW, DB, rows, R4, c, invR): per row, with xhat = (x - mean) rstd,
 * dx = rstd (g w - c mean(g w) - xhat mean(g w xhat)); dw += g xhat and db += g over the rows (zeroed first).
 */
function normBackwardFunction(): FuncBuilder {
  const f = new FuncBuilder([...Array<'i32'>(9).fill('i32'), 'f32', 'f32']);
  const [G, X, ST, W, DX, DW, DB, rows, R4, c, invR] = Array.from({ length: 11 }, (_, i) => i);
  const e = new Emit(f);
  const [row, v, rowBytes, pg, px, pdx] = [e.i32(), e.i32(), e.i32(), e.i32(), e.i32(), e.i32()];
  const [a, bb, gw, vmu, vr, ca, cb, xhat, g] = Array.from({ length: 9 }, () => e.v128());
  f.localGet(R4).i32Const(16).op(OP.i32Mul).localSet(rowBytes);
  e.loop(v, rowBytes, () => {
    e.sum(DW, v).f.v128Zero().v128Store();
    e.sum(DB, v).f.v128Zero().v128Store();
  }, 16);
  f.localGet(G).localSet(pg);
  f.localGet(X).localSet(px);
  f.localGet(DX).localSet(pdx);
  e.loop(row, rows, () => {
    e.sum(ST, [row, { c: 4 }]).f32Load().f.simd(V.f32x4Splat).localSet(vmu);
    e.sum(ST, [rows, { c: 4 }], [row, { c: 4 }]).f32Load().f.simd(V.f32x4Splat).localSet(vr);
    f.v128Zero().localSet(a);
    f.v128Zero().localSet(bb);
    e.loop(v, rowBytes, () => {
      e.sum(pg, v).f.v128Load();
      e.sum(W, v).f.v128Load().simd(V.f32x4Mul).localSet(gw);
      f.localGet(a).localGet(gw).simd(V.f32x4Add).localSet(a);
      e.sum(px, v).f.v128Load().localGet(vmu).simd(V.f32x4Sub).localGet(vr).simd(V.f32x4Mul);
      f.localGet(gw).simd(V.f32x4Mul).localGet(bb).simd(V.f32x4Add).localSet(bb);
    }, 16);
    e.reduce(a, F32_ADD).f.localGet(c).op(F32_MUL).localGet(invR).op(F32_MUL).simd(V.f32x4Splat).localSet(ca);
    e.reduce(bb, F32_ADD).f.localGet(invR).op(F32_MUL).simd(V.f32x4Splat).localSet(cb);
    e.loop(v, rowBytes, () => {
      e.sum(pg, v).f.v128Load().localSet(g);
      e.sum(px, v).f.v128Load().localGet(vmu).simd(V.f32x4Sub).localGet(vr).simd(V.f32x4Mul).localSet(xhat);
      // dx = rstd ((g w - ca) - xhat cb)
      e.sum(pdx, v).f.localGet(vr).localGet(g);
      e.sum(W, v).f.v128Load().simd(V.f32x4Mul).localGet(ca).simd(V.f32x4Sub);
      f.localGet(xhat).localGet(cb).simd(V.f32x4Mul).simd(V.f32x4Sub).simd(V.f32x4Mul).v128Store();
      e.sum(DW, v).f.localGet(g).localGet(xhat).simd(V.f32x4Mul);
      e.sum(DW, v).f.v128Load().simd(V.f32x4Add).v128Store();
      e.sum(DB, v).f.localGet(g);
      e.sum(DB, v).f.v128Load().simd(V.f32x4Add).v128Store();
    }, 16);
    f.localGet(pg).localGet(rowBytes).op(OP.i32Add).localSet(pg);
    f.localGet(px).localGet(rowBytes).op(OP.i32Add).localSet(px);
    f.localGet(pdx).localGet(rowBytes).op(OP.i32Add).localSet(pdx);
  });
  return f;
}

/**
 * Calls over at least this many floats hand the second half of their vectors (or rows) to the worker
 * thread (wasm/worker.ts): the same instructions on each value, so bitwise the same results. Measured per
 * call in the profiles (`npx tsx bench/profile.ts`, fresh processes, with and without): the tiny GPT's
 * GELU (262,144 values) 0.90 -> 0.65 ms, its backward 1.1 -> 0.84 ms; the main job's softmax exp over
 * 512 x 13,189 logits 14.9 -> 9.5 ms (copying in and out stays on this thread).
 */
export const SIMD_WORKER_MIN_FLOATS = 2 ** 16;

/** The SIMD kernels with their own memory (one instance per process: `wasmSimd()`). */
export class WasmSimd {
  private readonly k: KernelModule;

  constructor(opts: { shared?: boolean } = {}) {
    const fns = [
      { name: 'expShift', fn: expShiftFunction() },
      { name: 'gelu', fn: geluFunction() },
      { name: 'geluBackward', fn: geluBackwardFunction() },
      { name: 'normForward', fn: normForwardFunction() },
      { name: 'normBackward', fn: normBackwardFunction() },
    ];
    this.k = new KernelModule(fns, { what: 'SIMD kernels (wasm)', label: 'the SIMD kernels' }, opts);
  }

  /** See KernelModule.startWorker. */
  startWorker(timeoutMs = 10_000): Promise<boolean> {
    return this.k.startWorker(timeoutMs);
  }

  close(): void {
    this.k.close();
  }

  /**
   * Run `fn` over `units` (vectors or rows): with the worker taking the second half when the call covers at
   * least SIMD_WORKER_MIN_FLOATS, by `args(from, count)` (byte pointers moved to unit `from`).
   */
  private split(fn: 'expShift' | 'gelu' | 'geluBackward', units: number, floats: number, args: (from: number, count: number) => number[]): void {
    const worker = this.k.worker(units >= 2 && floats >= SIMD_WORKER_MIN_FLOATS);
    const half = worker ? units >> 1 : units;
    const jobs = worker ? [this.k.job(fn, args(half, units - half))] : [];
    this.k.alongside(worker, jobs, () => this.k.fn[fn](...args(0, half)));
  }

  /** GELU (tanh form) of x's first n values. */
  gelu(x: ArrayLike<number>, n: number): Float32Array {
    return this.map('gelu', [x], n);
  }

  /** g * gelu'(x) for the first n values. */
  geluBackward(g: ArrayLike<number>, x: ArrayLike<number>, n: number): Float32Array {
    return this.map('geluBackward', [g, x], n);
  }

  /** exp(x[r, j] - m[r]) for x of rows x R (R >= 4), m of rows. */
  expShift(x: ArrayLike<number>, s: ArrayLike<number>, rows: number, R: number): Float32Array {
    if (R < 4) throw new Error(`expShift (wasm): rows need at least 4 floats, got ${R}`);
    const n = rows * R;
    if (x.length < n || s.length < rows) throw new Error(`expShift (wasm): ${rows} x ${R} needs ${n} values and ${rows} row values, got ${x.length} and ${s.length}`);
    // X, then O, then S (float offsets; each a multiple of 4 floats so vectors stay 16-byte aligned)
    const oOff = Math.ceil(n / 4) * 4;
    const sOff = oOff * 2;
    const m = this.k.ensure(sOff + rows);
    m.set(head(x, n), 0);
    m.set(head(s, rows), sOff);
    this.split('expShift', rows, n, (r, count) => [r * R * 4, (sOff + r) * 4, (oOff + r * R) * 4, count, R]);
    return this.k.copyOut(oOff, n);
  }

  /**
   * Layer norm (c = 1) or RMS norm (c = 0) over rows of R values (R a multiple of 4): [y | mean | rstd],
   * the output of ops/norm.ts's `normForward` kernel.
   */
  normForward(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, rows: number, R: number, c: number, eps: number): Float32Array {
    if (R % 4 !== 0) throw new Error(`normForward (wasm): rows need a multiple of 4 floats, got ${R}`);
    const n = rows * R;
    const lay = { x: 0, w: n, b: n + R, y: n + 2 * R, st: 2 * n + 2 * R }; // y and st adjoin: one copy out
    const m = this.k.ensure(lay.st + 2 * rows);
    m.set(head(x, n), lay.x);
    m.set(head(w, R), lay.w);
    m.set(head(b, R), lay.b);
    this.k.fn.normForward(lay.x * 4, lay.w * 4, lay.b * 4, lay.y * 4, lay.st * 4, rows, R / 4, c, eps, 1 / R);
    return this.k.copyOut(lay.y, n + 2 * rows);
  }

  /** ops/norm.ts's `normBackward` kernel: [dx | dw | db] (R a multiple of 4). */
  normBackward(g: ArrayLike<number>, x: ArrayLike<number>, stats: ArrayLike<number>, w: ArrayLike<number>, rows: number, R: number, c: number): Float32Array {
    if (R % 4 !== 0) throw new Error(`normBackward (wasm): rows need a multiple of 4 floats, got ${R}`);
    const n = rows * R;
    const st4 = Math.ceil((2 * rows) / 4) * 4;
    const lay = { g: 0, x: n, st: 2 * n, w: 2 * n + st4, dx: 2 * n + st4 + R }; // dx, dw, db adjoin
    const m = this.k.ensure(lay.dx + n + 2 * R);
    m.set(head(g, n), lay.g);
    m.set(head(x, n), lay.x);
    m.set(head(stats, 2 * rows), lay.st);
    m.set(head(w, R), lay.w);
    this.k.fn.normBackward(lay.g * 4, lay.x * 4, lay.st * 4, lay.w * 4, lay.dx * 4, (lay.dx + n) * 4, (lay.dx + n + R) * 4, rows, R / 4, c, 1 / R);
    return this.k.copyOut(lay.dx, n + 2 * R);
  }

  /** An element-wise function of the first n values of each input: inputs, then the output, each padded to 4. */
  private map(fn: 'gelu' | 'geluBackward', inputs: ArrayLike<number>[], n: number): Float32Array {
    if (inputs.some((a) => a.length < n)) throw new Error(`${fn} (wasm): needs ${n} values per input, got ${inputs.map((a) => a.length).join(', ')}`);
    const n4 = Math.ceil(n / 4) * 4;
    const m = this.k.ensure((inputs.length + 1) * n4);
    inputs.forEach((a, i) => {
      m.set(head(a, n), i * n4);
      m.fill(0, i * n4 + n, (i + 1) * n4);
    });
    const out = inputs.length * n4;
    // vector v of every array is at byte 16 v past the array's start
    if (fn === 'gelu') this.split('gelu', n4 / 4, n, (v, count) => [v * 16, out * 4 + v * 16, count]);
    else this.split('geluBackward', n4 / 4, n, (v, count) => [v * 16, n4 * 4 + v * 16, out * 4 + v * 16, count]);
    return this.k.copyOut(out, n);
  }
}

let shared: WasmSimd | null = null;

/** The process-wide SIMD kernels (compiled on first use). */
export function wasmSimd(): WasmSimd {
  shared ??= new WasmSimd();
  return shared;
}
