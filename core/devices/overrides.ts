/**
 * Per-device kernel overrides: the seam between an op's math and how a device runs it.
 *
 * An op declares one gpu.js kernel (ops/*.ts) and never names a device. A device may register a faster
 * implementation of that kernel here, with the same arguments and the same result: the WebAssembly gemm
 * for `matmulStrided` on webasm, the 4-rows-per-thread gpu.js kernel on cpu and webgpu. Each override names
 * the spec file that proves it matches the kernel it replaces; spec/overrides.spec.ts checks that file
 * exists and tests it by name.
 *
 * The one kernel path (core/devices/run.ts) asks `overrideFor` on every call, so the NaN check, the
 * profiler and the size checks see overrides exactly as they see plain kernels.
 */
import { claimKernelName, isKernelName } from '../kernel.js';
import type { KernelArg } from '../kernel.js';
import type { Data, Device, DeviceName } from '../device.js';

export interface KernelOverride {
  /** Unique among kernel names: the profiler's row (e.g. 'matmulWasm'). */
  name: string;
  /** The kernel it replaces (e.g. 'matmulStrided'); it takes that kernel's arguments. */
  replaces: string;
  /** Devices it can run on. */
  devices: readonly DeviceName[];
  /** Devices where it runs unless `setKernelOverride` says otherwise (a subset of `devices`). */
  byDefault: readonly DeviceName[];
  /** The spec file that tests it against the kernel it replaces (e.g. 'spec/matmul.spec.ts'). */
  testedBy: string;
  /**
   * Compute the replaced kernel's n outputs from its arguments (arrays already resolved), or return null
   * to let the kernel itself run (a size or shape this override does not handle).
   */
  run(dev: Device, n: number, args: KernelArg[]): Data | Promise<Data> | null;
}

const registered = new Map<string, KernelOverride[]>();
/** Per kernel: 'auto', 'none', or an override's name. */
const choices = new Map<string, string>();
/** Resolved lookups, `${device}\0${kernel}` -> override or null; cleared when anything above changes. */
const resolved = new Map<string, KernelOverride | null>();

/** True once any override is registered (the kernel path skips the lookup before that). */
export let anyOverride = false;

/**
 * Register a device's faster implementation of a declared kernel. Throws when its name is taken or the
 * devices it runs by default are not among its devices.
 * @example
 * registerOverride({ name: 'matmulWasm', replaces: 'matmulStrided', devices: ['webasm'], byDefault: ['webasm'],
 *   testedBy: 'spec/matmul.spec.ts', run: (dev, n, args) => gemm(args) });
 */
export function registerOverride(o: KernelOverride): void {
  const stray = o.byDefault.filter((d) => !o.devices.includes(d));
  if (stray.length) throw new Error(`registerOverride: ${o.name} runs by default on ${stray.join(', ')} but lists only ${o.devices.join(', ')} as its devices`);
  claimKernelName(o.name, o.run, `the override ${o.name} of ${o.replaces}`);
  const list = registered.get(o.replaces) ?? [];
  if (!list.includes(o)) list.push(o);
  registered.set(o.replaces, list);
  resolved.clear();
  anyOverride = true;
}

/** Every registered override (for tests and docs). */
export function listOverrides(): KernelOverride[] {
  return [...registered.values()].flat();
}

/**
 * Which implementation of `kernel` runs: 'auto' (each device's default override, else the kernel), 'none'
 * (the kernel itself everywhere), or one override's name (on the devices it lists; the kernel elsewhere).
 * Tests and benchmarks compare implementations with it. Returns the previous choice.
 * @example
 * const prev = setKernelOverride('matmulStrided', 'matmulRows4'); // the gpu.js 4-row kernel on webasm too
 * setKernelOverride('matmulStrided', prev);
 */
export function setKernelOverride(kernel: string, choice: string): string {
  const names = (registered.get(kernel) ?? []).map((o) => o.name);
  if (choice !== 'auto' && choice !== 'none' && !names.includes(choice)) {
    const known = isKernelName(kernel) ? `its overrides: ${names.join(', ') || '(none)'}` : `no kernel of that name was declared`;
    throw new Error(`setKernelOverride: "${choice}" is not an override of ${kernel} (${known}); use 'auto', 'none' or an override's name`);
  }
  const prev = choices.get(kernel) ?? 'auto';
  choices.set(kernel, choice);
  resolved.clear();
  return prev;
}

/** The override that runs `kernel` on `device` now, or null for the kernel itself. */
export function overrideFor(device: DeviceName, kernel: string): KernelOverride | null {
  const key = `${device}\u0000${kernel}`;
  let o = resolved.get(key);
  if (o === undefined) {
    const choice = choices.get(kernel) ?? 'auto';
    const list = registered.get(kernel) ?? [];
    if (choice === 'none') o = null;
    else if (choice === 'auto') o = list.find((x) => x.byDefault.includes(device)) ?? null;
    else o = list.find((x) => x.name === choice && x.devices.includes(device)) ?? null;
    resolved.set(key, o);
  }
  return o;
}
