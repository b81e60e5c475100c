/**
 * Devices: where kernels run.
 *
 * - gpu.js backends: `webgpu` (GPU, async readback), `webasm` (WebAssembly SIMD, the CPU default),
 *   `cpu` (transpiled JS), `headlessgl` (optional native `gl`), `webgl2` (browsers only).
 * - `reference`: float64; calls the very same kernel functions as plain JavaScript. Gradients are proved here.
 *
 * Every device runs a kernel over a flat output of length n (`this.thread.x` = 0..n-1). Kernels are compiled
 * once per (device, kernel name) with dynamic output and arguments, so a new shape never recompiles.
 *
 * Layout: core/devices/<device>/ holds each implementation (reference, gpujs, webasm with its WebAssembly
 * builder and kernels) and the overrides a device registers for ops' kernels (core/devices/overrides.ts);
 * core/devices/run.ts is the one path every kernel call takes. This file picks the device.
 */
import gpujs from 'gpu.js';
import { GpuJsDevice } from './devices/gpujs/device.js';
import { ReferenceDevice } from './devices/reference/device.js';
import './devices/gpujs/matmul-rows4.js';
import './devices/webasm/gemm-override.js';
import './devices/webasm/softmax-override.js';
import './devices/webasm/index-add-override.js';
import './devices/webasm/gelu-override.js';
import './devices/webasm/attention-override.js';
import './devices/webasm/adam-override.js';
import './devices/webasm/norm-override.js';
import { kernel, type GridKernelSpec, type KernelArg, type KernelSpec, type KernelThis } from './kernel.js';
import { describeAdapter, findWebGpuAdapter, type AdapterInfo } from './webgpu-probe.js';
import { environmentVariable, isNode, notice } from './environment.js';

export { MAX_GPUJS_ELEMENTS, setThreads } from './devices/gpujs/device.js';
export { setKernelOverride } from './devices/overrides.js';
export { setGemmWorker } from './devices/webasm/wasm/gemm.js';

export type Data = Float32Array | Float64Array;
export type DeviceName = 'webgpu' | 'webasm' | 'cpu' | 'headlessgl' | 'webgl2' | 'reference';
export const DEVICE_NAMES: readonly DeviceName[] = ['webgpu', 'webasm', 'cpu', 'headlessgl', 'webgl2', 'reference'];

export interface Device {
  readonly name: DeviceName;
  /** True when kernel results arrive as promises (webgpu). */
  readonly async: boolean;
  /** The most elements one tensor may hold here; creation refuses more, naming this limit. */
  readonly maxElements: number;
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
  if (environmentVariable('TSGRAD_QUIET') !== '1') notice(`tsgrad: device ${d.name} — ${why}`);
}

function syncAvailable(name: DeviceName): string | null {
  const G = gpujs as unknown as Record<string, { isSupported?: boolean }>;
  if (name === 'reference') return null;
  if (name === 'webgpu') return webgpuReady ? null : 'webgpu needs `await initDevice()` first (finding a GPU adapter is async)';
  if (name === 'webasm') return G.WebAssemblyKernel?.isSupported ? null : 'WebAssembly SIMD is not supported by this runtime';
  if (name === 'headlessgl') return G.HeadlessGLKernel?.isSupported ? null : 'the native `gl` module is not installed (tsgrad ships a stub)';
  if (name === 'webgl2') return G.WebGL2Kernel?.isSupported ? null : 'no WebGL2 context can be made here (browsers only)';
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
  const env = environmentVariable('TSGRAD_DEVICE');
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
  adapter?: AdapterInfo;
}

/**
 * Try to bring up WebGPU through the optional npm package `webgpu` (Dawn): find an adapter and run a
 * known-answer kernel. Never throws; says why when it fails. Dawn is loaded into this process only after
 * a child process found an adapter (core/webgpu-probe.ts), so a machine without one sees no Dawn warning.
 */
export function probeWebGpu(): Promise<WebGpuProbe> {
  return probe(false);
}

/** `skipEmulated`: when the child finds only a CPU emulation, report it without loading Dawn here. */
async function probe(skipEmulated: boolean): Promise<WebGpuProbe> {
  const g = globalThis as unknown as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } };
  try {
    if (!g.navigator?.gpu) {
      if (!isNode()) return { ok: false, reason: 'this browser offers no WebGPU (navigator.gpu is undefined)' };
      const vkDir = process.env.TSGRAD_VK_DIR;
      if (vkDir && !process.env.VK_ICD_FILENAMES) process.env.VK_ICD_FILENAMES = `${vkDir}/vk_swiftshader_icd.json`;
      const look = await findWebGpuAdapter();
      if (!look.found) return { ok: false, reason: look.reason };
      if (skipEmulated && look.adapter.fallback) return { ok: true, reason: adapterReason(look.adapter), adapter: look.adapter };
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
    const info = describeAdapter(adapter.info);
    webgpuReady = true;
    const dev = make('webgpu');
    const known = await dev.run(KNOWN_ANSWER, 4, [Float32Array.from([1, 2, 3, 4]), Float32Array.from([10, 20, 30, 40])]);
    const want = [21, 42, 63, 84];
    if (!want.every((w, k) => known[k] === w)) {
      webgpuReady = false;
      return { ok: false, reason: `known-answer kernel gave ${Array.from(known)} instead of ${want}`, adapter: info };
    }
    return { ok: true, reason: adapterReason(info), adapter: info };
  } catch (e) {
    webgpuReady = false;
    return { ok: false, reason: `webgpu unavailable: ${(e as Error).message.split('\n')[0]}` };
  }
}

function adapterReason(a: AdapterInfo): string {
  return `adapter ${a.vendor} ${a.architecture} (${a.description})`;
}

function knownAnswer(this: KernelThis, a: Float32Array, b: Float32Array): number {
  return a[this.thread.x] * 1 + b[this.thread.x] * 2;
}
const KNOWN_ANSWER: KernelSpec = kernel(knownAnswer);

/**
 * Pick the device asynchronously: `opts.device`, else TSGRAD_DEVICE, else webgpu when a real GPU adapter
 * answers and passes a known-answer kernel, else webasm. Prints one line saying which and why.
 */
export async function initDevice(opts: { device?: DeviceName | string } = {}): Promise<Device> {
  const asked = opts.device ?? environmentVariable('TSGRAD_DEVICE');
  if (asked) {
    const n = checkName(asked, opts.device ? 'initDevice' : 'TSGRAD_DEVICE');
    if (n === 'webgpu') {
      const p = await probeWebGpu();
      if (!p.ok) throw new Error(`initDevice: webgpu was asked for but ${p.reason}`);
      return setDevice('webgpu', `asked for; ${p.reason}`);
    }
    return setDevice(n, opts.device ? 'asked for by initDevice' : 'chosen by TSGRAD_DEVICE');
  }
  const p = await probe(true);
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
