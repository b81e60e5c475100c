/**
 * exp, tanh, log, sin, cos and pow as WebAssembly functions, for gpu.js's webasm kernels (the fast path,
 * core/devices/webasm/fast-path.ts, links them in place of gpu.js's per-element calls into JavaScript).
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
 *   log, sin, cos, pow: see log64, trig64 and pow32 below; the arguments they leave to JavaScript are rare
 *             (log of x <= 0, sin/cos past 2^19, pow of a base <= 0), and imported as Math's own.
 * NaN in, NaN out. The float64 reference device keeps calling Math's functions.
 */
import { FuncBuilder, moduleBytes, OP, type FuncImport } from './builder.js';

/**
 * JavaScript's own functions, imported for the rare arguments the WebAssembly versions leave to them
 * (log of x <= 0 or Infinity, sin/cos of |x| >= 2^19, pow with a base <= 0 or non-finite arguments).
 */
const IMPORTS: FuncImport[] = [
  { name: 'js_log', params: ['f64'], results: ['f64'] },
  { name: 'js_sin', params: ['f64'], results: ['f64'] },
  { name: 'js_cos', params: ['f64'], results: ['f64'] },
  { name: 'js_pow', params: ['f64', 'f64'], results: ['f64'] },
];
/** Function indices for `call`: the imports first, then the module's own functions in `FUNCTIONS` order. */
const FN = { jsLog: 0, jsSin: 1, jsCos: 2, jsPow: 3, exp64: 4, exp: 5, tanh: 6, log64: 7, log: 8, trig64: 9, sin: 10, cos: 11, pow: 12 } as const;

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
  return f.localGet(0).op(OP.f64PromoteF32).op(OP.call, FN.exp64).op(OP.f32DemoteF64);
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
  f.localGet(y).op(OP.call, FN.exp64).f64Const(1).op(OP.f64Sub).localSet(m);
  f.op(OP.end);
  f.localGet(m).op(OP.f64Neg).f64Const(2).localGet(m).op(OP.f64Add).op(OP.f64Div);
  return f.localGet(xd).op(OP.f64Copysign).op(OP.f32DemoteF64);
}

/**
 * log64(x: f64) -> f64 for positive finite x: x = 2^e m with m in [sqrt(1/2), sqrt(2)), then
 * log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716, by its series to s^17 (truncation < 1e-15).
 * Subnormal float32 inputs are normal once promoted to float64, so the exponent bits are enough.
 */
function log64(): FuncBuilder {
  const f = new FuncBuilder(['f64'], ['f64']);
  const x = 0;
  const e = f.local('f64');
  const m = f.local('f64');
  const s = f.local('f64');
  const z = f.local('f64');
  const bits = f.local('i64');
  f.localGet(x).op(OP.i64ReinterpretF64).localSet(bits);
  f.localGet(bits).i64Const(52).op(OP.i64ShrU).i64Const(1023).op(OP.i64Sub).op(OP.f64ConvertI64S).localSet(e);
  // the mantissa bits with exponent 0: m in [1, 2)
  f.localGet(bits).i64Const(12).op(OP.i64Shl).i64Const(12).op(OP.i64ShrU).i64Const(1023).i64Const(52).op(OP.i64Shl).op(OP.i64Or).op(OP.f64ReinterpretI64).localSet(m);
  f.localGet(m).f64Const(Math.SQRT2).op(OP.f64Gt).ifThen();
  f.localGet(m).f64Const(0.5).op(OP.f64Mul).localSet(m);
  f.localGet(e).f64Const(1).op(OP.f64Add).localSet(e);
  f.op(OP.end);
  f.localGet(m).f64Const(1).op(OP.f64Sub).localGet(m).f64Const(1).op(OP.f64Add).op(OP.f64Div).localSet(s);
  f.localGet(s).localGet(s).op(OP.f64Mul).localSet(z);
  // 2 s (1 + z/3 + z^2/5 + ... + z^8/17), Horner from the top
  f.f64Const(1 / 17);
  for (const k of [15, 13, 11, 9, 7, 5, 3, 1]) f.localGet(z).op(OP.f64Mul).f64Const(1 / k).op(OP.f64Add);
  f.localGet(s).op(OP.f64Mul).f64Const(2).op(OP.f64Mul);
  f.localGet(e).f64Const(LN2_LO).op(OP.f64Mul).op(OP.f64Add);
  return f.localGet(e).f64Const(LN2_HI).op(OP.f64Mul).op(OP.f64Add);
}

/** log(x: f32) -> f32; x <= 0, Infinity and NaN go to Math.log. */
function log32(): FuncBuilder {
  const f = new FuncBuilder(['f32'], ['f32']);
  const xd = f.local('f64');
  f.localGet(0).op(OP.f64PromoteF32).localSet(xd);
  f.localGet(xd).f64Const(0).op(OP.f64Gt).localGet(xd).f64Const(Infinity).op(OP.f64Lt).op(OP.i32And).ifThen();
  f.localGet(xd).op(OP.call, FN.log64).op(OP.f32DemoteF64).op(OP.return);
  f.op(OP.end);
  return f.localGet(xd).op(OP.call, FN.jsLog).op(OP.f32DemoteF64);
}

// pi/2 in three parts of 33 bits each (fdlibm's pio2_1..3): n * PIO2_1 is exact for |n| < 2^20
const PIO2_1 = 1.57079632673412561417e0;
const PIO2_2 = 6.07710050650619224932e-11;
const PIO2_3 = 2.02226624879595063154e-21;

/** Push p(z) = c0 + c1 z + ... (Horner); z is a local. */
function horner(f: FuncBuilder, z: number, c: number[]): void {
  f.f64Const(c[c.length - 1]);
  for (let k = c.length - 2; k >= 0; k--) f.localGet(z).op(OP.f64Mul).f64Const(c[k]).op(OP.f64Add);
}

/**
 * trig64(x: f64, quarter: i32) -> f64: sin(x + quarter pi/2) for |x| < 2^19. x = n pi/2 + r, |r| <= pi/4
 * (Cody-Waite with three parts of pi/2), then sin or cos of r by Taylor series to r^15 / r^16 (truncation
 * < 3e-14 relative), the quadrant (n + quarter) mod 4 choosing which and its sign.
 */
function trig64(): FuncBuilder {
  const f = new FuncBuilder(['f64', 'i32'], ['f64']);
  const [x, quarter] = [0, 1];
  const n = f.local('f64');
  const r = f.local('f64');
  const z = f.local('f64');
  const v = f.local('f64');
  const k = f.local('i32');
  f.localGet(x).f64Const(2 / Math.PI).op(OP.f64Mul).op(OP.f64Nearest).localSet(n);
  f.localGet(x).localGet(n).f64Const(PIO2_1).op(OP.f64Mul).op(OP.f64Sub);
  f.localGet(n).f64Const(PIO2_2).op(OP.f64Mul).op(OP.f64Sub);
  f.localGet(n).f64Const(PIO2_3).op(OP.f64Mul).op(OP.f64Sub).localSet(r);
  f.localGet(r).localGet(r).op(OP.f64Mul).localSet(z);
  f.localGet(n).op(OP.i64TruncF64S).op(OP.i32WrapI64).localGet(quarter).op(OP.i32Add).i32Const(3).op(OP.i32And).localSet(k);
  const sinC = [1, -1 / 6, 1 / 120, -1 / 5040, 1 / 362880, -1 / 39916800, 1 / 6227020800, -1 / 1307674368000];
  const cosC = [1, -1 / 2, 1 / 24, -1 / 720, 1 / 40320, -1 / 3628800, 1 / 479001600, -1 / 87178291200, 1 / 20922789888000];
  f.localGet(k).i32Const(1).op(OP.i32And).ifThen();
  horner(f, z, cosC);
  f.localSet(v);
  f.op(OP.else);
  horner(f, z, sinC);
  f.localGet(r).op(OP.f64Mul).localSet(v);
  f.op(OP.end);
  f.localGet(k).i32Const(2).op(OP.i32And).ifThen().localGet(v).op(OP.f64Neg).localSet(v).op(OP.end);
  return f.localGet(v);
}

/** sin (quarter 0) or cos (quarter 1) of x: f32 -> f32; |x| >= 2^19, Infinity and NaN go to Math.sin/cos. */
function trig32(quarter: 0 | 1): FuncBuilder {
  const f = new FuncBuilder(['f32'], ['f32']);
  const xd = f.local('f64');
  f.localGet(0).op(OP.f64PromoteF32).localSet(xd);
  // sin x = x in float32 below 2^-12 (x^3/6 is under half an ulp); this also keeps sin(-0) = -0
  if (quarter === 0) f.localGet(xd).op(OP.f64Abs).f64Const(2 ** -12).op(OP.f64Lt).ifThen().localGet(0).op(OP.return).op(OP.end);
  f.localGet(xd).op(OP.f64Abs).f64Const(2 ** 19).op(OP.f64Lt).ifThen();
  f.localGet(xd).i32Const(quarter).op(OP.call, FN.trig64).op(OP.f32DemoteF64).op(OP.return);
  f.op(OP.end);
  return f.localGet(xd).op(OP.call, quarter ? FN.jsCos : FN.jsSin).op(OP.f32DemoteF64);
}

/**
 * pow(x: f32, p: f32) -> f32 = exp(p log x) in float64 for a positive finite base and a finite exponent
 * (relative error below 1e-10 for every result float32 can hold); anything else goes to Math.pow.
 */
function pow32(): FuncBuilder {
  const f = new FuncBuilder(['f32', 'f32'], ['f32']);
  const xd = f.local('f64');
  const pd = f.local('f64');
  f.localGet(0).op(OP.f64PromoteF32).localSet(xd);
  f.localGet(1).op(OP.f64PromoteF32).localSet(pd);
  f.localGet(xd).f64Const(0).op(OP.f64Gt).localGet(xd).f64Const(Infinity).op(OP.f64Lt).op(OP.i32And);
  f.localGet(pd).op(OP.f64Abs).f64Const(Infinity).op(OP.f64Lt).op(OP.i32And).ifThen();
  f.localGet(xd).op(OP.call, FN.log64).localGet(pd).op(OP.f64Mul).op(OP.call, FN.exp64).op(OP.f32DemoteF64).op(OP.return);
  f.op(OP.end);
  return f.localGet(xd).localGet(pd).op(OP.call, FN.jsPow).op(OP.f32DemoteF64);
}

export interface WasmMath {
  exp: (x: number) => number;
  tanh: (x: number) => number;
  log: (x: number) => number;
  sin: (x: number) => number;
  cos: (x: number) => number;
  pow: (x: number, p: number) => number;
}

let instance: WasmMath | null = null;

/** The compiled functions (one small module, compiled on first use). */
export function wasmMath(): WasmMath {
  if (!instance) {
    const fns = [
      { name: 'exp64', fn: exp64() }, { name: 'exp', fn: exp32() }, { name: 'tanh', fn: tanh32() },
      { name: 'log64', fn: log64() }, { name: 'log', fn: log32() },
      { name: 'trig64', fn: trig64() }, { name: 'sin', fn: trig32(0) }, { name: 'cos', fn: trig32(1) }, { name: 'pow', fn: pow32() },
    ];
    fns.forEach((x, i) => {
      if (FN[x.name as keyof typeof FN] !== IMPORTS.length + i) throw new Error(`wasmMath: function ${x.name} is not at index ${IMPORTS.length + i}`);
    });
    const env = { js_log: Math.log, js_sin: Math.sin, js_cos: Math.cos, js_pow: Math.pow };
    const exports = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes(fns, false, IMPORTS)), { env }).exports;
    const get = <K extends keyof WasmMath>(k: K) => exports[k] as WasmMath[K];
    instance = { exp: get('exp'), tanh: get('tanh'), log: get('log'), sin: get('sin'), cos: get('cos'), pow: get('pow') };
  }
  return instance;
}
