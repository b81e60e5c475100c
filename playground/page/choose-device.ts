/**
 * Which device the page trains on, and why. The browser's order: WebGPU when it offers an adapter, else
 * WebGL2, else WebAssembly (SIMD), else plain JavaScript ("cpu"). A GPU that is a CPU emulation (SwiftShader,
 * llvmpipe: what headless Chromium has without a GPU) is skipped by the automatic choice, as `initDevice()`
 * does in Node, because WebAssembly is faster on the same cores; the switch still offers it.
 * Every device is checked with a known-answer kernel before it is offered, and a missing one only says why.
 * @example
 * const survey = await surveyDevices();
 * const choice = chooseDevice(survey, new URLSearchParams(location.search).get('device'));
 * setDevice(choice.name, choice.why);
 */
import { device, probeWebGpu, tensor } from '../../core/index.js';

export type PageDeviceName = 'webgpu' | 'webgl2' | 'webasm' | 'cpu';
export const PAGE_DEVICES: readonly PageDeviceName[] = ['webgpu', 'webgl2', 'webasm', 'cpu'];

export interface DeviceReport {
  name: PageDeviceName;
  available: boolean;
  /** A GPU device that runs on the CPU (SwiftShader, llvmpipe). */
  emulated: boolean;
  /** What was found (the adapter or renderer), or why it is unavailable. */
  detail: string;
}

const EMULATION = /swiftshader|llvmpipe|lavapipe|software/i;

/** The WebGL2 renderer string (unmasked where the browser allows), or null when no WebGL2 context is made. */
function webgl2Renderer(): string | null {
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl2');
  if (!gl) return null;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return renderer;
}

/** 2 x [1, 2, 3, 4] + 1 on the device; throws when it does not give [3, 5, 7, 9]. */
async function knownAnswer(name: PageDeviceName): Promise<void> {
  const got = Array.from(await tensor([1, 2, 3, 4], [4], { device: device(name) }).mul(2).add(1).toArray());
  if (got.join() !== '3,5,7,9') throw new Error(`known-answer kernel gave [${got}] instead of [3,5,7,9]`);
}

async function check(name: PageDeviceName, detail: string, emulated = false): Promise<DeviceReport> {
  try {
    await knownAnswer(name);
    return { name, available: true, emulated, detail };
  } catch (e) {
    return { name, available: false, emulated, detail: (e as Error).message.split('\n')[0] };
  }
}

/** Look at every device the page can use; never throws. */
export async function surveyDevices(): Promise<DeviceReport[]> {
  const reports: DeviceReport[] = [];
  const gpu = await probeWebGpu();
  reports.push({
    name: 'webgpu',
    available: gpu.ok,
    emulated: Boolean(gpu.adapter?.fallback),
    detail: gpu.ok ? gpu.reason : gpu.reason.replace(/^webgpu unavailable: /, ''),
  });
  let renderer: string | null = null;
  try {
    renderer = webgl2Renderer();
  } catch (e) {
    renderer = null;
  }
  if (renderer === null) reports.push({ name: 'webgl2', available: false, emulated: false, detail: 'this browser gives no WebGL2 context' });
  else reports.push(await check('webgl2', `renderer ${renderer}`, EMULATION.test(renderer)));
  reports.push(await check('webasm', 'WebAssembly SIMD on the CPU, with the SIMD matmul micro-kernel'));
  reports.push(await check('cpu', 'gpu.js kernels transpiled to plain JavaScript'));
  return reports;
}

export interface DeviceChoice {
  name: PageDeviceName;
  why: string;
}

/**
 * The device to use: `asked` (from the URL or the switch) when it is available, else the first available of
 * webgpu, webgl2, webasm, cpu that is not a CPU emulation. `why` says what was skipped and for what reason.
 */
export function chooseDevice(reports: DeviceReport[], asked?: string | null): DeviceChoice {
  const byName = new Map(reports.map((r) => [r.name, r]));
  const skipped: string[] = [];
  if (asked) {
    const r = byName.get(asked as PageDeviceName);
    if (r?.available) return { name: r.name, why: `asked for (${r.detail})` };
    skipped.push(`${asked} was asked for but ${r ? `is unavailable: ${r.detail}` : `is not one of ${PAGE_DEVICES.join(', ')}`}`);
  }
  for (const name of PAGE_DEVICES) {
    const r = byName.get(name);
    if (!r) continue;
    if (!r.available) skipped.push(`${name} unavailable: ${r.detail}`);
    else if (r.emulated) skipped.push(`${name} skipped: ${r.detail} is a CPU emulation, slower than WebAssembly`);
    else return { name, why: [`best available: ${r.detail}`, ...skipped].join('; ') };
  }
  const fallback = reports.find((r) => r.available);
  if (!fallback) throw new Error(`no device works in this browser: ${skipped.join('; ')}`);
  return { name: fallback.name, why: [`only emulated devices: ${fallback.detail}`, ...skipped].join('; ') };
}
