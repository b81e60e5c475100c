/**
 * Calling gpu.js's compiled WebAssembly kernels without its per-call overhead.
 *
 * gpu.js (webasm) compiles one module per kernel and size signature and keeps it in `kernel._active`
 * ({ layout, cells, f32, i32, run, runSimd }). Its `run()` then copies the arguments in, runs, and copies
 * the output out with `Float32Array.prototype.slice` on the module's memory, which V8 does slowly (0.74 ms
 * per MiB, against 0.1 ms for allocate-and-set), plus bookkeeping. Measured here for an add of 262,144
 * elements: 1.9 ms per call through gpu.js, of which the WebAssembly itself is 0.4 ms.
 *
 * `WebAsmFastPath` remembers each compiled entry under its own cheap signature after gpu.js made it, and
 * from then on does the same three steps itself: the very same compiled code runs on the very same
 * memory layout. Where the module calls Math.exp or Math.tanh (an import gpu.js calls per element, into
 * JavaScript), it runs a second instance of the same compiled module with WebAssembly versions of those two
 * linked in (core/devices/webasm/wasm/math.ts): exp-heavy kernels ran 2-3x faster. Anything it does not understand
 * (threads, random numbers, constant arrays, entries gpu.js has evicted, a gpu.js version without these
 * fields) goes through gpu.js's own `run()`. Pinned to gpu.js 2.24.1 (package.json); spec/kernels.spec.ts
 * checks that the fast path is taken and agrees with gpu.js's run().
 */
import { environmentVariable } from '../../environment.js';
import type { KernelArg } from '../../kernel.js';
import { outputArray } from '../../pool.js';
import { wasmMath } from './wasm/math.js';

interface ArrayRecord {
  index: number;
  offset: number;
  flatLength: number;
}
interface ScalarRecord {
  index: number;
  offset: number;
  type: string;
}
/** The fields of a gpu.js 2.24.1 WebAssemblyKernel module entry that are used here. */
interface Entry {
  shared: boolean;
  cells: number;
  sizeX: number;
  layout: { arrays: Record<string, ArrayRecord>; scalars: Record<string, ScalarRecord>; outputOffset: number; constantArrays: Record<string, unknown> };
  f32: Float32Array | null;
  i32: Int32Array | null;
  run: ((start: number, end: number, seed: number) => void) | null;
  runSimd: ((start: number, end: number, seed: number) => void) | null;
  module: WebAssembly.Module | null;
  memory: WebAssembly.Memory | null;
  /** Names of the Math functions the module imports as env.math_<name>. */
  mathImports: string[];
}
type RunFn = (start: number, end: number, seed: number) => void;
/** The inner gpu.js kernel object (`kernel.kernel`) as far as this file reads it. */
export interface InnerWebAsmKernel {
  _active?: Entry | null;
  usesRandom?: boolean;
  componentCount?: number;
  constructor: { dispatchSpans?: (run: Entry['run'], runSimd: Entry['runSimd'], cells: number, sizeX: number, seed: number) => string };
}

interface Plan {
  entry: Entry;
  arrays: ArrayRecord[];
  scalars: ScalarRecord[];
  /** The module's run functions: gpu.js's instance, or our own with WebAssembly exp/tanh linked in. */
  run: RunFn;
  runSimd: RunFn | null;
}

let enabled = environmentVariable('TSGRAD_WEBASM_FASTPATH') !== '0';

/** Turn the fast path off (gpu.js's own run() every time) or on; returns the previous setting. */
export function setWebAsmFastPath(on: boolean): boolean {
  const prev = enabled;
  enabled = on;
  return prev;
}

/** Calls that took the fast path, for tests. */
export const fastPathStats = { fast: 0, slow: 0 };

/** Plans kept per kernel, as many as gpu.js keeps modules (moduleCacheLimit, core/devices/gpujs/device.ts). */
const MAX_PLANS = 64;

export class WebAsmFastPath {
  /** By signature, least recently added first. */
  private plans = new Map<string, Plan>();

  /** Output dims and array lengths: what gpu.js's size signature is made of, for flat arrays. */
  private static signature(output: readonly number[], args: KernelArg[]): string {
    let s = output.join('x');
    for (const a of args) s += typeof a === 'number' ? '|n' : `|${a.length}`;
    return s;
  }

  /**
   * Run `inner` over `output` with `args`: through a remembered entry when there is one, else through
   * `slow` (gpu.js's own call), whose entry is remembered for next time. Returns the flat output.
   */
  run(inner: InnerWebAsmKernel | undefined, output: readonly number[], args: KernelArg[], slow: () => unknown): unknown {
    if (!enabled || !inner || inner.usesRandom) {
      fastPathStats.slow++;
      return slow();
    }
    const sig = WebAsmFastPath.signature(output, args);
    const plan = this.plans.get(sig);
    const dispatch = inner.constructor.dispatchSpans;
    if (plan && plan.entry.f32 && plan.entry.run && dispatch) {
      fastPathStats.fast++;
      return this.runPlan(plan, args, dispatch, inner.componentCount ?? 1);
    }
    if (plan) this.plans.delete(sig); // gpu.js evicted its module: drop our instance of it too
    fastPathStats.slow++;
    const out = slow();
    const e = inner._active;
    if (e && !e.shared && e.f32 && e.i32 && e.run && Object.keys(e.layout.constantArrays).length === 0 && !(out instanceof Promise)) {
      const linked = relink(e);
      const p: Plan = { entry: e, arrays: Object.values(e.layout.arrays), scalars: Object.values(e.layout.scalars), ...(linked ?? { run: e.run, runSimd: e.runSimd }) };
      this.plans.set(sig, p);
      if (this.plans.size > MAX_PLANS) this.plans.delete(this.plans.keys().next().value!);
      // with our exp/tanh linked in, compute this first call the way every later one is (same bits each time)
      if (linked && dispatch) return this.runPlan(p, args, dispatch, inner.componentCount ?? 1);
    }
    return out;
  }

  private runPlan(plan: Plan, args: KernelArg[], dispatch: NonNullable<InnerWebAsmKernel['constructor']['dispatchSpans']>, components: number): Float32Array {
    const e = plan.entry;
    const f32 = e.f32!;
    const i32 = e.i32!;
    for (const r of plan.arrays) f32.set(args[r.index] as Float32Array, r.offset / 4);
    for (const r of plan.scalars) {
      const v = args[r.index] as number;
      if (r.type === 'Integer') i32[r.offset / 4] = v | 0;
      else if (r.type === 'Boolean') i32[r.offset / 4] = v ? 1 : 0;
      else f32[r.offset / 4] = v;
    }
    dispatch(plan.run, plan.runSimd, e.cells, e.sizeX, 0);
    const base = e.layout.outputOffset / 4;
    const out = outputArray(e.cells * components);
    out.set(f32.subarray(base, base + out.length));
    return out;
  }

  clear(): void {
    this.plans.clear();
  }
}

let mathLinking = environmentVariable('TSGRAD_WASM_MATH') !== '0';

/** Link WebAssembly exp, tanh, log, sin, cos and pow into webasm kernels (default) or keep gpu.js's calls into Math. */
export function setWasmMath(on: boolean): boolean {
  const prev = mathLinking;
  mathLinking = on;
  return prev;
}

/**
 * A second instance of the entry's compiled module over the same memory, whose env.math_exp and
 * env.math_tanh imports are core/devices/webasm/wasm/math.ts's WebAssembly functions instead of Math.exp and Math.tanh
 * (the others stay Math's). Null when the module imports neither, or linking is off.
 */
function relink(e: Entry): { run: RunFn; runSimd: RunFn | null } | null {
  const ours = wasmMath() as unknown as Record<string, unknown>;
  if (!mathLinking || !e.module || !e.memory || !e.mathImports?.some((n) => n in ours)) return null;
  const env: Record<string, unknown> = { memory: e.memory };
  for (const n of e.mathImports) env[`math_${n}`] = ours[n] ?? (Math as unknown as Record<string, unknown>)[n];
  const ex = new WebAssembly.Instance(e.module, { env: env as WebAssembly.ModuleImports }).exports;
  return { run: ex.run as RunFn, runSimd: (ex.run_simd as RunFn | undefined) ?? null };
}
