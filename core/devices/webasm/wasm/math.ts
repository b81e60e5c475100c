/**
 * exp and tanh as WebAssembly functions, for gpu.js's webasm kernels (core/webasm-run.ts links them in).
 *
 * gpu.js compiles `Math.exp(x)` in a kernel to a call of an imported JavaScript function, per element, per
 * SIMD lane: a WebAssembly -> JavaScript transition that made exp and tanh the costliest kernels of a
 * training step after matmul. Calls of these functions stay inside WebAssembly; measured over 262,144
 * elements on webasm: tanh 8.8 -> 4.5 ms, exp 6.2 -> 3.7 ms, gelu 9.1 -> 4.2 ms.
 *
 * They compute in float64 and round once to float32, so they agree with Math.exp / Math.tanh rounded to
 * float32 except, rarely, in the last bit (spec/kernels.spec.ts checks them against Math over a sweep):
 *   exp(x)  = 2^n p(r),  n = round(x / ln 2),  r = x - n ln 2 (|r| <= 0.347, ln 2 split in two parts so that
 *             n ln2hi is exact), p = Taylor polynomial of degree 7 (truncation < 5.2e-9 relative);
 *             2^n assembled from its exponent bits. Arguments are clamped to [-708, 709], where 2^n is a
 *             normal float64, which is far past float32's range (overflow to Infinity, underflow to 0).
 *   tanh(x) = sign(x) (-m) / (2 + m),  m = e^y - 1, y = -2|x| (a series for small |y|, else exp - 1);
 *             x itself for |x| < 1e-4 (the x^3/3 term is below float32 resolution there), sign(x) past
 *             |x| > 9 (1 - tanh < 2^-25).
 * NaN in, NaN out. The float64 reference device keeps calling Math.exp and Math.tanh.
 */
import { FuncBuilder, moduleBytes, OP } from './builder.js';

const LOG2E = 1.4426950408889634;
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;

/** 1/k! for k = 0..8. */
const INV_FACT = [1, 1, 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040, 1 / 40320];

/**
 * Push c[0] + c[1] r + ... + c[7] r^7 (Estrin's scheme: independent halves, so the CPU overlaps them
 * instead of waiting on a 7-deep multiply-add chain). `r2`, `r4` are locals to hold r^2 and r^4.
 */
function poly7(f: FuncBuilder, r: number, r2: number, r4: number, c: number[]): void {
  f.localGet(r).localGet(r).op(OP.f64Mul).localSet(r2);
  f.localGet(r2).localGet(r2).op(OP.f64Mul).localSet(r4);
  const pair = (k: number) => f.f64Const(c[k]).localGet(r).f64Const(c[k + 1]).op(OP.f64Mul).op(OP.f64Add); // c_k + c_k+1 r
  pair(0);
  pair(2).localGet(r2).op(OP.f64Mul).op(OP.f64Add);
  pair(4);
  pair(6).localGet(r2).op(OP.f64Mul).op(OP.f64Add);
  f.localGet(r4).op(OP.f64Mul).op(OP.f64Add);
}

/**
 * exp64(x: f64) -> f64, function index 0: 2^n p(r), p the degree-7 Taylor polynomial (relative error
 * < 5.2e-9 for |r| <= ln2 / 2: far enough below float32's 6e-8 for the callers, which round to float32).
 */
function exp64(): FuncBuilder {
  const f = new FuncBuilder(['f64'], ['f64']);
  const x = 0;
  const n = f.local('f64');
  const r = f.local('f64');
  const r2 = f.local('f64');
  const r4 = f.local('f64');
  // NaN: return it (the integer conversion below would trap on it)
  f.localGet(x).localGet(x).op(OP.f64Ne).ifThen().localGet(x).op(OP.return).op(OP.end);
  f.localGet(x).f64Const(-708).op(OP.f64Max).f64Const(709).op(OP.f64Min).localSet(x);
  f.localGet(x).f64Const(LOG2E).op(OP.f64Mul).op(OP.f64Nearest).localSet(n);
  f.localGet(x).localGet(n).f64Const(LN2_HI).op(OP.f64Mul).op(OP.f64Sub).localGet(n).f64Const(LN2_LO).op(OP.f64Mul).op(OP.f64Sub).localSet(r);
  poly7(f, r, r2, r4, INV_FACT.slice(0, 8));
  // times 2^n, whose bits are (n + 1023) << 52
  f.localGet(n).op(OP.i64TruncF64S).i64Const(1023).op(OP.i64Add).i64Const(52).op(OP.i64Shl).op(OP.f64ReinterpretI64);
  return f.op(OP.f64Mul);
}

/** exp(x: f32) -> f32. */
function exp32(): FuncBuilder {
  const f = new FuncBuilder(['f32'], ['f32']);
  return f.localGet(0).op(OP.f64PromoteF32).op(OP.call, 0).op(OP.f32DemoteF64);
}

/**
 * tanh(x: f32) -> f32 = sign(x) (-m) / (2 + m) with m = e^y - 1, y = -2|x|: for |y| < 0.35 from the series
 * m = y (1 + y/2! + ... + y^7/8!) (no cancellation near 0; relative error < 6e-10), else m = exp64(y) - 1.
 */
function tanh32(): FuncBuilder {
  const f = new FuncBuilder(['f32'], ['f32']);
  const xd = f.local('f64');
  const y = f.local('f64');
  const m = f.local('f64');
  const y2 = f.local('f64');
  const y4 = f.local('f64');
  f.localGet(0).op(OP.f64PromoteF32).localSet(xd);
  f.localGet(xd).op(OP.f64Abs).f64Const(-2).op(OP.f64Mul).localSet(y);
  f.localGet(y).f64Const(-2e-4).op(OP.f64Gt).ifThen().localGet(0).op(OP.return).op(OP.end); // |x| < 1e-4 (or NaN)
  f.localGet(y).f64Const(-18).op(OP.f64Lt).ifThen().f64Const(1).localGet(xd).op(OP.f64Copysign).op(OP.f32DemoteF64).op(OP.return).op(OP.end);
  f.localGet(y).f64Const(-0.35).op(OP.f64Gt).ifThen();
  poly7(f, y, y2, y4, INV_FACT.slice(1, 9));
  f.localGet(y).op(OP.f64Mul).localSet(m);
  f.op(OP.else);
  f.localGet(y).op(OP.call, 0).f64Const(1).op(OP.f64Sub).localSet(m);
  f.op(OP.end);
  f.localGet(m).op(OP.f64Neg).f64Const(2).localGet(m).op(OP.f64Add).op(OP.f64Div);
  return f.localGet(xd).op(OP.f64Copysign).op(OP.f32DemoteF64);
}

export interface WasmMath {
  exp: (x: number) => number;
  tanh: (x: number) => number;
}

let instance: WasmMath | null = null;

/** The compiled functions (one small module, compiled on first use). */
export function wasmMath(): WasmMath {
  if (!instance) {
    const bytes = moduleBytes([{ name: 'exp64', fn: exp64() }, { name: 'exp', fn: exp32() }, { name: 'tanh', fn: tanh32() }], false);
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
    instance = { exp: exports.exp as WasmMath['exp'], tanh: exports.tanh as WasmMath['tanh'] };
  }
  return instance;
}
