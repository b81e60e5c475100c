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

/**
 * Every kernel name declared so far, with what it names: a kernel function, or a device override
 * (core/devices/overrides.ts). Devices cache compiled kernels by name, so two kernels sharing a name would
 * silently share one compiled kernel: declaring a taken name throws instead.
 */
const declared = new Map<string, { fn: unknown; what: string }>();

/**
 * Reserve `name` for `fn` (a kernel function, or an override's run function). Declaring the same function
 * under its own name again is allowed (a module evaluated twice); anything else under a taken name throws.
 */
export function claimKernelName(name: string, fn: unknown, what: string): void {
  const had = declared.get(name);
  if (had && had.fn !== fn) {
    throw new Error(`kernel: the name "${name}" is taken by ${had.what}; ${what} needs a name of its own (rename its function or pass { name })`);
  }
  declared.set(name, { fn, what });
}

/** True when a kernel (or override) of this name was declared. */
export function isKernelName(name: string): boolean {
  return declared.has(name);
}

/**
 * Declare a kernel: a top-level function over `this.thread.x`. Its name (the function's, or `opts.name`) is
 * the device's cache key and the profiler's row, and must be unique.
 * @example
 * function double_(this: KernelThis, x: Float32Array): number { return 2 * x[this.thread.x]; }
 * const doubleKernel = kernel(double_, { name: 'double' });
 */
export function kernel(fn: KernelFn, opts: Omit<KernelSpec, 'fn' | 'name'> & { name?: string } = {}): KernelSpec {
  const name = opts.name ?? fn.name;
  if (!name) throw new Error('kernel: the kernel function needs a name (use a named top-level function)');
  claimKernelName(name, fn, `kernel function ${fn.name || '(anonymous)'}`);
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

/**
 * Declare a grid kernel (see `GridKernelSpec`); its name must be unique among all kernels.
 * @example
 * const spec = gridKernel({ name: 'pairs', fn: pairs_, components: 2 });
 */
export function gridKernel(spec: GridKernelSpec): GridKernelSpec {
  claimKernelName(spec.name, spec.fn, `grid kernel ${spec.fn.name || spec.name}`);
  return spec;
}
