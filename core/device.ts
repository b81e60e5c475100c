/**
 * Devices: where kernels run.
 *
 * - gpu.js backends: `webgpu` (GPU, async readback), `webasm` (WebAssembly SIMD, the CPU default),
 *   `cpu` (transpiled JS), `headlessgl` (optional native `gl`).
 * - `reference`: float64; calls the very same kernel functions as plain JavaScript. Gradients are proved here.
 *
 * Every device runs a kernel over a flat output of length n (`this.thread.x` = 0..n-1). Kernels are compiled
 * once per (device, kernel name) with dynamic output and arguments, so a new shape never recompiles.
 */
import gpujs from 'gpu.js';
import type { GridKernelSpec, KernelArg, KernelSpec, KernelThis } from './kernel.js';

export type Data = Float32Array | Float64Array;
export type DeviceName = 'webgpu' | 'webasm' | 'cpu' | 'headlessgl' | 'reference';
export const DEVICE_NAMES: readonly DeviceName[] = ['webgpu', 'webasm', 'cpu', 'headlessgl', 'reference'];

export interface Device {
  readonly name: DeviceName;
  /** True when kernel results arrive as promises (webgpu). */
  readonly async: boolean;
  /** Float32Array on gpu.js devices, Float64Array on the reference device. */
  alloc(n: number): Data;
  fromValues(values: ArrayLike<number>): Data;
  run(spec: KernelSpec, n: number, args: KernelArg[]): Data | Promise<Data>;
  /**
   * Run `spec.fn` for every thread (x, y, z) of `grid` (x fastest); each returns `components` numbers,
   * given back flat: out[((z * ny + y) * nx + x) * components + c]. `threads: true` says the call is big
   * enough for WebAssembly threads to pay off; webasm then computes it on a worker pool (a promise).
   */
  runGrid(spec: GridKernelSpec, grid: [number, number, number], args: KernelArg[], opts?: { threads?: boolean }): Data | Promise<Data>;
  destroy(): Promise<void>;
}

/** gpu.js indexes with float32 arithmetic; past 2^24 elements indices stop being exact. */
export const MAX_GPUJS_ELEMENTS = 2 ** 24;

// ---------------------------------------------------------------------------------------------------------
// float64 reference: the kernel function called as plain JS

class ReferenceDevice implements Device {
  readonly name = 'reference' as const;
  readonly async = false;
  alloc(n: number): Data {
    return new Float64Array(n);
  }
  fromValues(values: ArrayLike<number>): Data {
    return Float64Array.from(values);
  }
  run(spec: KernelSpec, n: number, args: KernelArg[]): Data {
    const out = new Float64Array(n);
    const ctx: KernelThis = { thread: { x: 0, y: 0, z: 0 }, output: { x: n, y: 1, z: 1 }, constants: {} };
    const fn = spec.fn;
    for (let x = 0; x < n; x++) {
      ctx.thread.x = x;
      out[x] = fn.apply(ctx, args);
    }
    return out;
  }
  runGrid(spec: GridKernelSpec, grid: [number, number, number], args: KernelArg[]): Data {
    const [nx, ny, nz] = grid;
    const m = spec.components;
    const out = new Float64Array(nx * ny * nz * m);
    const ctx: KernelThis = { thread: { x: 0, y: 0, z: 0 }, output: { x: nx, y: ny, z: nz }, constants: {} };
    let o = 0;
    for (let z = 0; z < nz; z++) {
      for (let y = 0; y < ny; y++) {
        for (let x = 0; x < nx; x++) {
          ctx.thread.x = x;
          ctx.thread.y = y;
          ctx.thread.z = z;
          const r = spec.fn.apply(ctx, args);
          for (let c = 0; c < m; c++) out[o++] = r[c];
        }
      }
    }
    return out;
  }
  async destroy(): Promise<void> {}
}

// ---------------------------------------------------------------------------------------------------------
// gpu.js backends

type GpuKernel = ((...args: KernelArg[]) => unknown) & {
  setOutput(o: number[]): void;
  setLoopMaxIterations(n: number): void;
  kernel?: { moduleCacheLimit?: number; _shapeOutput?: (data: Float32Array, ...rest: unknown[]) => unknown };
  moduleCacheLimit?: number;
};

/** WebAssembly threads for big grid kernels (webasm); TSGRAD_THREADS=0 keeps everything on one thread. */
let threadsAllowed = process.env.TSGRAD_THREADS !== '0';

/** Allow or forbid WebAssembly worker threads for big kernels on webasm; returns the previous setting. */
export function setThreads(on: boolean): boolean {
  const prev = threadsAllowed;
  threadsAllowed = on;
  return prev;
}

class GpuJsDevice implements Device {
  readonly async: boolean;
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
    if (!k) {
      const settings: Record<string, unknown> = {
        dynamicOutput: true,
        dynamicArguments: true,
        output: grid ? [1, 1, 1] : [1],
        precision: 'single',
      };
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
      this.kernels.set(key, k);
    }
    return k;
  }
  run(spec: KernelSpec, n: number, args: KernelArg[]): Data | Promise<Data> {
    if (n > MAX_GPUJS_ELEMENTS) {
      throw new Error(
        `${spec.name}: output of ${n} elements exceeds ${MAX_GPUJS_ELEMENTS} (2^24), where gpu.js's float32 ` +
          `index arithmetic stops being exact; split the work into smaller tensors`,
      );
    }
    if (n === 0) return new Float32Array(0);
    const k = this.kernelFor(spec);
    k.setOutput([n]);
    const r = k(...args);
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
    const threads = threadsAllowed && this.name === 'webasm' && (opts.threads ?? false);
    const k = this.kernelFor(spec, { components: spec.components, threads });
    k.setOutput([...grid]);
    const r = k(...args);
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

// ---------------------------------------------------------------------------------------------------------
// selection

let current: Device | null = null;
const made = new Map<DeviceName, Device>();
let webgpuReady = false;

function make(name: DeviceName): Device {
  let d = made.get(name);
  if (!d) {
    d = name === 'reference' ? new ReferenceDevice() : new GpuJsDevice(name);
    made.set(name, d);
  }
  return d;
}

function isDeviceName(s: string): s is DeviceName {
  return (DEVICE_NAMES as readonly string[]).includes(s);
}

function checkName(name: string, from: string): DeviceName {
  if (!isDeviceName(name)) throw new Error(`${from}: unknown device "${name}"; choose one of ${DEVICE_NAMES.join(', ')}`);
  return name;
}

function announce(d: Device, why: string): void {
  if (process.env.TSGRAD_QUIET !== '1') process.stderr.write(`tsgrad: device ${d.name} — ${why}\n`);
}

function syncAvailable(name: DeviceName): string | null {
  const G = gpujs as unknown as Record<string, { isSupported?: boolean }>;
  if (name === 'reference') return null;
  if (name === 'webgpu') return webgpuReady ? null : 'webgpu needs `await initDevice()` first (finding a GPU adapter is async)';
  if (name === 'webasm') return G.WebAssemblyKernel?.isSupported ? null : 'WebAssembly SIMD is not supported by this runtime';
  if (name === 'headlessgl') return G.HeadlessGLKernel?.isSupported ? null : 'the native `gl` module is not installed (tsgrad ships a stub)';
  return null;
}

/** Switch the device for new tensors. Tensors already made stay where they are (use `t.to(name)`). */
export function setDevice(name: DeviceName | string, why = 'chosen by setDevice'): Device {
  const n = checkName(name, 'setDevice');
  const problem = syncAvailable(n);
  if (problem) throw new Error(`setDevice: device ${n} is unavailable: ${problem}`);
  current = make(n);
  announce(current, why);
  return current;
}

/** The device new tensors go to; on first use picks TSGRAD_DEVICE or the best synchronous device and says so. */
export function getDevice(): Device {
  if (current) return current;
  const env = process.env.TSGRAD_DEVICE;
  if (env) return setDevice(checkName(env, 'TSGRAD_DEVICE'), 'chosen by TSGRAD_DEVICE');
  if (!syncAvailable('webasm')) {
    return setDevice('webasm', 'default on CPU; webgpu not probed (call `await initDevice()` to look for a GPU), headlessgl only on request');
  }
  return setDevice('cpu', `webasm unavailable (${syncAvailable('webasm')}); webgpu not probed`);
}

/** Look up a device by name without making it the default. */
export function device(name: DeviceName | string): Device {
  const n = checkName(name, 'device');
  const problem = syncAvailable(n);
  if (problem) throw new Error(`device: ${n} is unavailable: ${problem}`);
  return make(n);
}

export interface WebGpuProbe {
  ok: boolean;
  reason: string;
  adapter?: { vendor: string; architecture: string; description: string; fallback: boolean };
}

/**
 * Try to bring up WebGPU through the optional npm package `webgpu` (Dawn): find an adapter and run a
 * known-answer kernel. Never throws; says why when it fails.
 */
export async function probeWebGpu(): Promise<WebGpuProbe> {
  const g = globalThis as unknown as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } };
  try {
    if (!g.navigator?.gpu) {
      const vkDir = process.env.TSGRAD_VK_DIR;
      if (vkDir && !process.env.VK_ICD_FILENAMES) process.env.VK_ICD_FILENAMES = `${vkDir}/vk_swiftshader_icd.json`;
      const mod = (await import('webgpu')) as unknown as { create(o: string[]): unknown; globals: object };
      Object.assign(globalThis, mod.globals);
      Object.defineProperty(globalThis, 'navigator', {
        value: { ...(g.navigator ?? {}), gpu: mod.create([]) },
        configurable: true,
        writable: true,
      });
    }
    const adapter = (await g.navigator!.gpu!.requestAdapter()) as {
      info: { vendor: string; architecture: string; description: string; isFallbackAdapter?: boolean };
    } | null;
    if (!adapter) return { ok: false, reason: 'no WebGPU adapter answered (no Vulkan driver found)' };
    const i = adapter.info;
    const info = {
      vendor: i.vendor,
      architecture: i.architecture,
      description: i.description,
      fallback: Boolean(i.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe/i.test(`${i.architecture} ${i.description}`),
    };
    webgpuReady = true;
    const dev = make('webgpu');
    const known = await dev.run(KNOWN_ANSWER, 4, [Float32Array.from([1, 2, 3, 4]), Float32Array.from([10, 20, 30, 40])]);
    const want = [21, 42, 63, 84];
    if (!want.every((w, k) => known[k] === w)) {
      webgpuReady = false;
      return { ok: false, reason: `known-answer kernel gave ${Array.from(known)} instead of ${want}`, adapter: info };
    }
    return { ok: true, reason: `adapter ${info.vendor} ${info.architecture} (${info.description})`, adapter: info };
  } catch (e) {
    webgpuReady = false;
    return { ok: false, reason: `webgpu unavailable: ${(e as Error).message.split('\n')[0]}` };
  }
}

function knownAnswer(this: KernelThis, a: Float32Array, b: Float32Array): number {
  return a[this.thread.x] * 1 + b[this.thread.x] * 2;
}
const KNOWN_ANSWER: KernelSpec = { name: 'knownAnswer', fn: knownAnswer };

/**
 * Pick the device asynchronously: `opts.device`, else TSGRAD_DEVICE, else webgpu when a real GPU adapter
 * answers and passes a known-answer kernel, else webasm. Prints one line saying which and why.
 */
export async function initDevice(opts: { device?: DeviceName | string } = {}): Promise<Device> {
  const asked = opts.device ?? process.env.TSGRAD_DEVICE;
  if (asked) {
    const n = checkName(asked, opts.device ? 'initDevice' : 'TSGRAD_DEVICE');
    if (n === 'webgpu') {
      const p = await probeWebGpu();
      if (!p.ok) throw new Error(`initDevice: webgpu was asked for but ${p.reason}`);
      return setDevice('webgpu', `asked for; ${p.reason}`);
    }
    return setDevice(n, opts.device ? 'asked for by initDevice' : 'chosen by TSGRAD_DEVICE');
  }
  const p = await probeWebGpu();
  if (p.ok && !p.adapter?.fallback) return setDevice('webgpu', `best available: ${p.reason}`);
  const skip = p.ok ? `webgpu skipped: its adapter is a CPU emulation (${p.reason}), slower than webasm` : `webgpu skipped: ${p.reason}`;
  if (!syncAvailable('webasm')) return setDevice('webasm', `${skip}; headlessgl only on request`);
  return setDevice('cpu', `${skip}; webasm unavailable`);
}

/** Release every device's kernels (and WebGPU's context, without which Node may hang at exit). */
export async function destroyDevices(): Promise<void> {
  for (const d of made.values()) await d.destroy();
  made.clear();
  current = null;
  webgpuReady = false;
}
