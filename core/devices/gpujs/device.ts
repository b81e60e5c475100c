/**
 * The gpu.js devices (webgpu, webasm, cpu, headlessgl): each kernel compiled once per device with dynamic
 * output and arguments, cached under its unique name. core/device.ts chooses among the devices; ops reach
 * them only through the kernel path (core/devices/run.ts), which also runs their overrides.
 */
import gpujs from 'gpu.js';
import type { Data, Device, DeviceName } from '../../device.js';
import type { GridKernelSpec, KernelArg, KernelSpec } from '../../kernel.js';
import { WebAsmFastPath, type InnerWebAsmKernel } from '../webasm/fast-path.js';
import { environmentVariable } from '../../environment.js';

/** gpu.js indexes with float32 arithmetic; past 2^24 elements indices stop being exact. */
export const MAX_GPUJS_ELEMENTS = 2 ** 24;

// ---------------------------------------------------------------------------------------------------------
// gpu.js backends

type GpuKernel = ((...args: KernelArg[]) => unknown) & {
  setOutput(o: number[]): void;
  setLoopMaxIterations(n: number): void;
  /** The kernel function it was compiled from: a different function under the same name is an error. */
  tsgradFn?: unknown;
  kernel?: InnerWebAsmKernel & { moduleCacheLimit?: number; _shapeOutput?: (data: Float32Array, ...rest: unknown[]) => unknown };
  moduleCacheLimit?: number;
  /** webasm only: runs gpu.js's compiled module without gpu.js's per-call overhead (core/devices/webasm/fast-path.ts). */
  fast?: WebAsmFastPath;
};

/** WebAssembly threads for big grid kernels (webasm); TSGRAD_THREADS=0 keeps everything on one thread. */
let threadsAllowed = environmentVariable('TSGRAD_THREADS') !== '0';

/** Allow or forbid WebAssembly worker threads for big kernels on webasm; returns the previous setting. */
export function setThreads(on: boolean): boolean {
  const prev = threadsAllowed;
  threadsAllowed = on;
  return prev;
}

export class GpuJsDevice implements Device {
  readonly async: boolean;
  readonly maxElements = MAX_GPUJS_ELEMENTS;
  private gpu: InstanceType<typeof gpujs.GPU>;
  private kernels = new Map<string, GpuKernel>();
  /** Threaded (async) runs still computing: destroy() waits for them. */
  private inFlight = new Set<Promise<unknown>>();

  constructor(readonly name: Exclude<DeviceName, 'reference'>) {
    this.gpu = new gpujs.GPU({ mode: name });
    this.async = name === 'webgpu';
  }
  alloc(n: number): Data {
    return new Float32Array(n);
  }
  fromValues(values: ArrayLike<number>): Data {
    return Float32Array.from(values);
  }
  private kernelFor(spec: KernelSpec | GridKernelSpec, grid?: { components: number; threads: boolean }): GpuKernel {
    const key = grid?.threads ? `${spec.name} (threads)` : spec.name;
    let k = this.kernels.get(key);
    if (k && k.tsgradFn !== spec.fn) {
      throw new Error(`${spec.name}: another kernel function was compiled under this name on ${this.name}; kernel names must be unique (declare kernels with kernel())`);
    }
    if (!k) {
      const settings: Record<string, unknown> = {
        dynamicOutput: true,
        dynamicArguments: true,
        output: grid ? [1, 1, 1] : [1],
        precision: 'single',
      };
      // WebGL: always highp. gpu.js picks lowp/mediump from the output's texture size, and when a dynamic
      // output grows past that range it switches kernels and returns the old size's result (measured, 2.24.1)
      if (this.name === 'webgl2' || this.name === 'headlessgl') settings.tactic = 'precision';
      if ('functions' in spec && spec.functions) settings.functions = spec.functions;
      if (spec.argumentTypes) settings.argumentTypes = spec.argumentTypes;
      if (grid) settings.returnType = `Array(${grid.components})`;
      if (grid?.threads) settings.asyncMode = true;
      k = this.gpu.createKernel(spec.fn as never, settings as never) as unknown as GpuKernel;
      k.setLoopMaxIterations(2 ** 30); // the default (1000) silently truncates loops
      k.moduleCacheLimit = 64; // webasm recompiles per size signature and caches 8 by default
      const inner = k.kernel;
      if (inner) {
        inner.moduleCacheLimit = 64;
        // webasm: skip gpu.js's per-cell shaping of Array(n) outputs (~15% of a 512^3 matmul); keep it flat
        if (grid && typeof inner._shapeOutput === 'function') inner._shapeOutput = (data: Float32Array) => data;
      }
      if (this.name === 'webasm' && !grid?.threads) k.fast = new WebAsmFastPath();
      k.tsgradFn = spec.fn;
      this.kernels.set(key, k);
    }
    return k;
  }
  run(spec: KernelSpec, n: number, args: KernelArg[]): Data | Promise<Data> {
    // n is checked against maxElements by the kernel path (core/devices/run.ts)
    if (n === 0) return new Float32Array(0);
    args = withoutEmptyArrays(args);
    const k = this.kernelFor(spec);
    const r = k.fast ? k.fast.run(k.kernel, [n], args, () => (k.setOutput([n]), k(...args))) : (k.setOutput([n]), k(...args));
    if (r instanceof Promise) return this.track(r.then((v) => asFlat(spec.name, v, n)));
    return asFlat(spec.name, r, n);
  }
  runGrid(spec: GridKernelSpec, grid: [number, number, number], args: KernelArg[], opts: { threads?: boolean } = {}): Data | Promise<Data> {
    const cells = grid[0] * grid[1] * grid[2];
    const n = cells * spec.components;
    if (n > MAX_GPUJS_ELEMENTS) {
      throw new Error(`${spec.name}: grid output of ${n} values exceeds 2^24, where gpu.js's float32 index arithmetic stops being exact`);
    }
    if (cells === 0) return new Float32Array(0);
    args = withoutEmptyArrays(args);
    const threads = threadsAllowed && this.name === 'webasm' && (opts.threads ?? false);
    const k = this.kernelFor(spec, { components: spec.components, threads });
    const call = () => (k.setOutput([...grid]), k(...args));
    const r = k.fast ? k.fast.run(k.kernel, grid, args, call) : call();
    if (r instanceof Promise) return this.track(r.then((v) => flatCells(spec, v, grid)));
    return flatCells(spec, r, grid);
  }
  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }
  async destroy(): Promise<void> {
    await Promise.allSettled([...this.inFlight]); // destroying a kernel mid-run would reject its result
    for (const k of this.kernels.values()) {
      const d = (k as unknown as { destroy?: () => unknown }).destroy;
      if (d) await d.call(k);
    }
    this.kernels.clear();
    if (this.name === 'webgpu') {
      const ctx = (gpujs as unknown as { WebGPUContext?: { destroy(): Promise<void> } }).WebGPUContext;
      if (ctx) await ctx.destroy();
    }
  }
}

/**
 * gpu.js cannot take a zero-length array argument (it reads element 0 to find the array's shape). A kernel
 * never reads an empty array (it has no valid index; e.g. a sum over an empty dim), so one zero stands in.
 */
function withoutEmptyArrays(args: KernelArg[]): KernelArg[] {
  return args.some((a) => typeof a !== 'number' && a.length === 0) ? args.map((a) => (typeof a !== 'number' && a.length === 0 ? new Float32Array(1) : a)) : args;
}

/** A gpu.js Array(n) grid result as one flat Float32Array: as is when already flat, else copied from [z][y][x]. */
function flatCells(spec: GridKernelSpec, v: unknown, grid: [number, number, number]): Float32Array {
  const n = grid[0] * grid[1] * grid[2] * spec.components;
  if (v instanceof Float32Array && v.length === n) return v;
  const out = new Float32Array(n);
  let o = 0;
  for (const plane of v as ArrayLike<ArrayLike<ArrayLike<number>>>[]) {
    for (let y = 0; y < plane.length; y++) {
      const row = plane[y];
      for (let x = 0; x < row.length; x++) {
        const cell = row[x];
        for (let c = 0; c < spec.components; c++) out[o++] = cell[c];
      }
    }
  }
  if (o !== n) throw new Error(`${spec.name}: the kernel returned ${o} values instead of ${n}`);
  return out;
}

function asFlat(name: string, v: unknown, n: number): Float32Array {
  if (v instanceof Float32Array && v.length === n) return v;
  throw new Error(`${name}: the kernel returned ${Object.prototype.toString.call(v)} instead of a flat Float32Array(${n})`);
}

