/**
 * A minimal WebAssembly bytecode writer: enough to emit one module with an imported memory and a few
 * exported functions whose bodies are written instruction by instruction (core/devices/webasm/wasm/gemm.ts uses it for
 * the matmul micro-kernel). Opcode numbers follow the WebAssembly 2.0 spec (SIMD: prefix 0xfd, then a
 * LEB128 u32 opcode).
 *
 * @example
 * const f = new FuncBuilder(['i32', 'i32'], ['i32']);
 * f.localGet(0).localGet(1).op(OP.i32Add);
 * const inst = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes([{ name: 'add', fn: f }], false)));
 * (inst.exports.add as (a: number, b: number) => number)(2, 3); // 5
 */

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128';
const VALTYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** One-byte opcodes used here. */
export const OP = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Mul: 0x6c,
  if: 0x04,
  else: 0x05,
  return: 0x0f,
  call: 0x10,
  f64Ne: 0x62,
  f64Lt: 0x63,
  f64Gt: 0x64,
  i64Add: 0x7c,
  i64Shl: 0x86,
  f64Abs: 0x99,
  f64Neg: 0x9a,
  f64Nearest: 0x9e,
  f64Add: 0xa0,
  f64Sub: 0xa1,
  f64Mul: 0xa2,
  f64Div: 0xa3,
  f64Min: 0xa4,
  f64Max: 0xa5,
  f64Copysign: 0xa6,
  i64TruncF64S: 0xb0,
  f32DemoteF64: 0xb6,
  f64PromoteF32: 0xbb,
  f64ReinterpretI64: 0xbf,
  f64Le: 0x65,
  f64Ge: 0x66,
  i32And: 0x71,
  i64And: 0x83,
  i64Or: 0x84,
  i64ShrU: 0x88,
  i64Sub: 0x7d,
  i32WrapI64: 0xa7,
  f64ConvertI64S: 0xb9,
  i64ReinterpretF64: 0xbd,
} as const;

/** SIMD opcodes (after the 0xfd prefix). */
export const SIMD = {
  v128Load: 0x00,
  v128Load32Splat: 0x09,
  v128Store: 0x0b,
  f32x4Add: 0xe4,
  f32x4Mul: 0xe6,
} as const;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

/** A function body: parameters, extra locals, and code appended by the chained methods. */
export class FuncBuilder {
  readonly code: number[] = [];
  private readonly locals: ValType[] = [];
  constructor(readonly params: ValType[], readonly results: ValType[] = []) {}

  /** Declare a local; returns its index (parameters come first). */
  local(t: ValType): number {
    this.locals.push(t);
    return this.params.length + this.locals.length - 1;
  }
  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }
  simd(op: number, ...imm: number[]): this {
    this.code.push(0xfd, ...uleb(op), ...imm);
    return this;
  }
  localGet(i: number): this {
    return this.op(0x20, ...uleb(i));
  }
  localSet(i: number): this {
    return this.op(0x21, ...uleb(i));
  }
  i32Const(v: number): this {
    return this.op(0x41, ...sleb(v | 0));
  }
  i64Const(v: number): this {
    return this.op(0x42, ...sleb(v));
  }
  f64Const(v: number): this {
    return this.op(0x44, ...new Uint8Array(Float64Array.of(v).buffer));
  }
  /** `if` with no result; close it with `op(OP.end)`. */
  ifThen(): this {
    return this.op(OP.if, 0x40);
  }
  /** local[i] += v (i32). */
  i32AddTo(i: number, v: number): this {
    return this.localGet(i).i32Const(v).op(OP.i32Add).localSet(i);
  }
  /** v128.load with a byte offset from the address on the stack. */
  v128Load(offset = 0): this {
    return this.simd(SIMD.v128Load, 2, ...uleb(offset));
  }
  v128Load32Splat(offset = 0): this {
    return this.simd(SIMD.v128Load32Splat, 2, ...uleb(offset));
  }
  v128Store(offset = 0): this {
    return this.simd(SIMD.v128Store, 2, ...uleb(offset));
  }
  /** A v128 of zeros. */
  v128Zero(): this {
    return this.op(0xfd, ...uleb(0x0c), ...new Array<number>(16).fill(0));
  }
  /** `block { loop { ...body... } }`: `body` branches to depth 1 to leave and 0 to repeat. */
  blockLoop(body: (f: this) => void): this {
    this.op(OP.block, 0x40, OP.loop, 0x40);
    body(this);
    return this.op(OP.end, OP.end);
  }

  encode(): number[] {
    const groups: number[][] = this.locals.map((t) => [...uleb(1), VALTYPE[t]]);
    const body = [...vec(groups), ...this.code, OP.end];
    return [...uleb(body.length), ...body];
  }
}

function section(id: number, payload: number[]): number[] {
  return [id, ...uleb(payload.length), ...payload];
}

/** A function the module imports from `env` (it takes the function indices before the module's own). */
export interface FuncImport {
  name: string;
  params: ValType[];
  results: ValType[];
}

/**
 * The bytes of a module exporting `fns` (function i is index funcImports.length + i, for `call`), importing
 * `env.memory` (at least one page; `{ sharedMaxPages }` for a memory shared with worker threads) unless
 * `memory` is false, and the functions `funcImports` from `env`.
 */
export function moduleBytes(
  fns: { name: string; fn: FuncBuilder }[], memory: boolean | { sharedMaxPages: number } = true, funcImports: FuncImport[] = [],
): Uint8Array<ArrayBuffer> {
  // memory limits: 0x00 min (private), or 0x03 min max (shared between threads, which needs a maximum)
  const limits = typeof memory === 'object' ? [0x03, ...uleb(1), ...uleb(memory.sharedMaxPages)] : [0x00, ...uleb(1)];
  const sig = (params: ValType[], results: ValType[]) => [0x60, ...vec(params.map((t) => [VALTYPE[t]])), ...vec(results.map((t) => [VALTYPE[t]]))];
  const types = [...funcImports.map((f) => sig(f.params, f.results)), ...fns.map(({ fn }) => sig(fn.params, fn.results))];
  const m = funcImports.length;
  const imports = vec([
    ...(memory ? [[...name('env'), ...name('memory'), 0x02, ...limits]] : []),
    ...funcImports.map((f, i) => [...name('env'), ...name(f.name), 0x00, ...uleb(i)]),
  ]);
  const funcs = vec(fns.map((_, i) => uleb(m + i)));
  const exports = vec(fns.map(({ name: n }, i) => [...name(n), 0x00, ...uleb(m + i)]));
  const code = vec(fns.map(({ fn }) => fn.encode()));
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

/**
 * Grow `memory` to hold at least `floats` float32 values; true when it grew (Float32Array views of the old
 * buffer are then stale). `what` and `hint` name the caller in the error when it cannot grow.
 */
export function growFor(memory: WebAssembly.Memory, floats: number, what: string, hint = ''): boolean {
  const need = floats * 4 - memory.buffer.byteLength;
  if (need <= 0) return false;
  try {
    memory.grow(Math.ceil(need / 65536));
  } catch (e) {
    throw new Error(`${what}: cannot grow WebAssembly memory to ${(floats * 4 / 2 ** 20).toFixed(0)} MiB (${(e as Error).message})${hint}`);
  }
  return true;
}

const F32_LOAD = 0x2a;
const F32_STORE = 0x38;
const EXTRACT_LANE = 0x1f;

/**
 * Emitting helpers over one FuncBuilder: locals, sums of products of locals (addresses), counted loops,
 * scalar f32 loads and stores, horizontal reductions of a v128.
 */
export class Emit {
  constructor(readonly f: FuncBuilder) {}
  i32(): number {
    return this.f.local('i32');
  }
  v128(): number {
    return this.f.local('v128');
  }
  /** Push the sum of terms: a local, or [local, local] for a product, or [local, constant]. */
  sum(...terms: (number | [number, number | { c: number }])[]): this {
    terms.forEach((t, k) => {
      if (typeof t === 'number') this.f.localGet(t);
      else {
        this.f.localGet(t[0]);
        if (typeof t[1] === 'number') this.f.localGet(t[1]);
        else this.f.i32Const(t[1].c);
        this.f.op(OP.i32Mul);
      }
      if (k > 0) this.f.op(OP.i32Add);
    });
    return this;
  }
  /** for (i = start (local or 0); i < end; i += step) body() */
  loop(i: number, end: number, body: () => void, step = 1, start: number | null = null): void {
    if (start === null) this.f.i32Const(0);
    else this.f.localGet(start);
    this.f.localSet(i);
    this.f.blockLoop(() => {
      this.f.localGet(i).localGet(end).op(OP.i32GeU, OP.brIf, 1);
      body();
      this.f.i32AddTo(i, step).op(OP.br, 0);
    });
  }
  f32Load(): this {
    this.f.op(F32_LOAD, 2, 0);
    return this;
  }
  f32Store(): this {
    this.f.op(F32_STORE, 2, 0);
    return this;
  }
  /** Horizontal reduction of the v128 local x with f32 op `op` (add or max), left on the stack. */
  reduce(x: number, op: number): this {
    this.f.localGet(x).simd(EXTRACT_LANE, 0).localGet(x).simd(EXTRACT_LANE, 1).op(op);
    this.f.localGet(x).simd(EXTRACT_LANE, 2).localGet(x).simd(EXTRACT_LANE, 3).op(op).op(op);
    return this;
  }
}
