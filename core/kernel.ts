/**
 * What a kernel is here: a plain top-level `function` over `this.thread.x` that gpu.js compiles for its
 * backends and the float64 reference device calls directly as JavaScript.
 *
 * Rules for kernel bodies (gpu.js parses their source): top-level `function` declarations only; no arrow
 * functions, closures, methods, `continue`, `??` or default parameters; shape numbers are arguments, never
 * constants; helpers go in `functions` and take scalars only.
 */
export interface KernelThis {
  thread: { x: number; y: number; z: number };
  output: { x: number; y: number; z: number };
  constants: Record<string, number>;
}

/** A kernel argument: a flat array or a scalar. */
export type KernelArg = Float32Array | Float64Array | number;

// Kernel functions take typed arrays and numbers; `never[]` keeps any such signature assignable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KernelFn = (this: KernelThis, ...args: any[]) => number;

export interface KernelSpec {
  /** Unique name: the kernel cache key together with the device. */
  name: string;
  fn: KernelFn;
  /** Helper functions the kernel calls (scalars in, scalar out). */
  functions?: ((...args: number[]) => number)[];
  /** Optional gpu.js argument types, e.g. { n: 'Integer' }. */
  argumentTypes?: Record<string, string>;
}

/** Wrap a kernel function (its name is the cache key). */
export function kernel(fn: KernelFn, opts: Omit<KernelSpec, 'fn' | 'name'> & { name?: string } = {}): KernelSpec {
  const name = opts.name ?? fn.name;
  if (!name) throw new Error('kernel: the kernel function needs a name (use a named top-level function)');
  return { name, fn, functions: opts.functions, argumentTypes: opts.argumentTypes };
}

/**
 * A kernel whose threads each return `components` numbers, run over a 3-D grid (matmul's register-blocked
 * kernel: 4 rows per thread). See `Device.runGrid`.
 */
export interface GridKernelSpec {
  /** Unique name: the kernel cache key together with the device. */
  name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  fn: (this: KernelThis, ...args: any[]) => number[];
  components: 2 | 3 | 4;
  argumentTypes?: Record<string, string>;
}
