/**
 * The one kernel path. Every kernel call of every op comes here (through `runKernel` in core/tensor.ts),
 * device overrides included, so these checks hold everywhere:
 *   - size: n is a whole number within what the device can index (`Device.maxElements`);
 *   - override: a device's faster implementation of the kernel, if one is registered (overrides.ts);
 *   - NaN check (opt-in, `setCheckNaN`): inputs and output scanned, the first kernel that meets a NaN throws;
 *   - profiling (opt-in, core/profile.ts): the call timed as one row, under the override's name when one ran;
 *   - result: a synchronous result has exactly n values.
 * With the NaN check and the profiler off (the default) a call costs two flag checks, one map lookup (once
 * any override is registered) and a length compare more than calling the device directly.
 */
import { environmentVariable } from '../environment.js';
import type { Data, Device } from '../device.js';
import type { KernelArg, KernelSpec } from '../kernel.js';
import { isProfiling, timeKernelCall } from '../profile.js';
import { anyOverride, overrideFor } from './overrides.js';

let checkNaN = environmentVariable('TSGRAD_CHECK_NAN') === '1';

/**
 * Opt-in debugging check (also TSGRAD_CHECK_NAN=1): every kernel's inputs and output are scanned for NaN,
 * and the first kernel that meets one throws, naming itself and where the NaN is. Costs a pass over each
 * array. Returns the previous setting.
 * @example
 * const prev = setCheckNaN(true);
 * try { model.loss(x, y).backward(); } finally { setCheckNaN(prev); }
 */
export function setCheckNaN(on: boolean): boolean {
  const prev = checkNaN;
  checkNaN = on;
  return prev;
}

function scanNaN(kernel: string, what: string, d: KernelArg): void {
  if (typeof d === 'number') {
    if (Number.isNaN(d)) throw new Error(`${kernel}: NaN in ${what} (NaN check is on)`);
    return;
  }
  for (let i = 0; i < d.length; i++) {
    if (Number.isNaN(d[i])) throw new Error(`${kernel}: NaN in ${what} at element ${i} of ${d.length} (NaN check is on; find where it came from upstream)`);
  }
}

/**
 * Run `spec` for n outputs on `dev` with resolved arguments (arrays and numbers), through every check above.
 * Ops call `runKernel` (core/tensor.ts), which resolves tensors and pending data, then comes here.
 */
export function runResolved(dev: Device, spec: KernelSpec, n: number, args: KernelArg[]): Data | Promise<Data> {
  if (!(n >= 0 && Number.isInteger(n))) throw new Error(`${spec.name}: output size must be a whole number >= 0, got ${n}`);
  if (n > dev.maxElements) {
    throw new Error(
      `${spec.name}: output of ${n} elements exceeds ${dev.maxElements} on ${dev.name}, where gpu.js's float32 ` +
        `index arithmetic stops being exact; split the work into smaller tensors`,
    );
  }
  if (checkNaN || isProfiling()) return runWatched(dev, spec, n, args);
  const o = anyOverride ? overrideFor(dev.name, spec.name) : null;
  const out = (o ? o.run(dev, n, args) : null) ?? dev.run(spec, n, args);
  if (!(out instanceof Promise) && out.length !== n) lengthError(o && o.name, spec, dev, out, n);
  return out;
}

/** What ran, for messages: the kernel, or the kernel and the override that ran it. */
function label(spec: KernelSpec, ran: string | null, dev: Device): string {
  return ran && ran !== spec.name ? `${spec.name} (run by ${ran} on ${dev.name})` : spec.name;
}

function lengthError(ran: string | null, spec: KernelSpec, dev: Device, out: Data, n: number): never {
  throw new Error(`${label(spec, ran, dev)}: the kernel returned ${out.length} values instead of ${n}`);
}

/** The same call with the NaN check and/or the profiler on. */
function runWatched(dev: Device, spec: KernelSpec, n: number, args: KernelArg[]): Data | Promise<Data> {
  if (checkNaN) args.forEach((v, i) => scanNaN(spec.name, `input ${i}`, v));
  let ran: string = spec.name;
  const call = (): Data | Promise<Data> => {
    const o = anyOverride ? overrideFor(dev.name, spec.name) : null;
    const r = o ? o.run(dev, n, args) : null;
    if (r !== null) {
      ran = o!.name;
      return r;
    }
    return dev.run(spec, n, args);
  };
  const out = isProfiling() ? timeKernelCall(dev, () => ran, n, call) : call();
  const finish = (o: Data): Data => {
    if (o.length !== n) lengthError(ran, spec, dev, o, n);
    if (checkNaN) scanNaN(label(spec, ran, dev), 'its output', o);
    return o;
  };
  return out instanceof Promise ? out.then(finish) : finish(out);
}
