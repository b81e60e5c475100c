/**
 * Opt-in per-kernel profiler: where does the time of a forward/backward/optimizer step go?
 *
 *   startProfile();
 *   const loss = lm.loss(x, y); loss.backward(); opt.step();
 *   await loss.item();
 *   console.log(formatProfile(stopProfile(), { top: 15 }));
 *
 * How: every kernel call goes through one path (core/devices/run.ts), which hands the call to
 * `timeKernelCall` while a profile runs; device overrides (the WebAssembly gemm) are timed there under their
 * own name. Nothing is patched, and when no profile runs the path skips the profiler after one flag check.
 *
 * What is timed: on synchronous devices (webasm, cpu, reference, headlessgl) a kernel call does the whole
 * kernel before it returns, so a row's time is real kernel work, including gpu.js's per-call argument
 * copies and output allocation. Calls nested inside another timed call count only for their own share
 * (exclusive time). On asynchronous devices (webgpu, or a matmul that hands the work to a WebAssembly
 * worker pool and returns a promise) the time is DISPATCH ONLY: the call returns a promise long before the
 * work is done, and overlapping promises cannot be attributed to one kernel. Such rows count their
 * promise-returning calls in `asyncCalls`, and `formatProfile` marks them with `*`.
 *
 * Everything outside kernels (building the graph, host-side index grouping, allocations, garbage
 * collection) is not in any row: compare `kernelMs` with the wall time between start and stop
 * (`profileElapsed`) to see how much that is. One profile at a time.
 */
import { DEVICE_NAMES, type Device, type DeviceName } from './device.js';

export interface ProfileRow {
  /** Kernel name (`KernelSpec.name`). */
  kernel: string;
  /** Device it ran on. */
  device: DeviceName;
  calls: number;
  totalMs: number;
  meanMs: number;
  /** Fraction of all timed kernel milliseconds of this profile (0..1). */
  share: number;
  /** Calls that returned a promise: for those only the dispatch was timed. */
  asyncCalls: number;
  /** Output elements summed over all calls. */
  elements: number;
}

export interface ProfileOpts {
  /** Devices to time (default: all). */
  devices?: (DeviceName | string)[];
}

export interface ProfileTotals {
  /** Wall-clock milliseconds since startProfile. */
  wallMs: number;
  /** Timed kernel milliseconds so far. */
  kernelMs: number;
  calls: number;
}

interface Acc {
  kernel: string;
  device: DeviceName;
  calls: number;
  ms: number;
  asyncCalls: number;
  elements: number;
}

interface Session {
  /** The devices timed; null for all. */
  devices: ReadonlySet<string> | null;
  acc: Map<string, Acc>;
  t0: number;
  kernelMs: number;
  calls: number;
  /** Milliseconds spent in timed calls nested inside the current one, per nesting level. */
  childMs: number[];
}

let session: Session | null = null;

/** True while a profile is running. */
export function isProfiling(): boolean {
  return session !== null;
}

function checkDeviceNames(names: readonly string[]): void {
  for (const n of names) {
    if (!(DEVICE_NAMES as readonly string[]).includes(n)) throw new Error(`startProfile: unknown device "${n}"; choose among ${DEVICE_NAMES.join(', ')}`);
  }
}

function record(s: Session, dev: Device, kernel: string, ms: number, isAsync: boolean, elements: number): void {
  const key = `${dev.name}\u0000${kernel}`;
  let a = s.acc.get(key);
  if (!a) s.acc.set(key, (a = { kernel, device: dev.name, calls: 0, ms: 0, asyncCalls: 0, elements: 0 }));
  a.calls++;
  a.ms += ms;
  a.elements += elements;
  if (isAsync) a.asyncCalls++;
  s.kernelMs += ms;
  s.calls++;
}

/** Time `call` exclusively of nested timed calls, then record it. */
function timed<R>(s: Session, dev: Device, kernel: () => string, elements: number, call: () => R): R {
  s.childMs.push(0);
  const t0 = performance.now();
  let out: R;
  try {
    out = call();
  } finally {
    const total = performance.now() - t0;
    const nested = s.childMs.pop() ?? 0;
    if (s.childMs.length > 0) s.childMs[s.childMs.length - 1] += total;
    // recorded even when the call throws: the time was spent
    if (session === s) record(s, dev, kernel(), total - nested, false, elements);
  }
  if (out instanceof Promise) {
    const a = s.acc.get(`${dev.name}\u0000${kernel()}`);
    if (a) a.asyncCalls++;
  }
  return out;
}

/**
 * Time one kernel call while a profile runs (the kernel path, core/devices/run.ts, calls this);
 * `kernel` is asked after the call, when it is known whether an override ran.
 */
export function timeKernelCall<R>(dev: Device, kernel: () => string, elements: number, call: () => R): R {
  const s = session;
  if (!s || (s.devices && !s.devices.has(dev.name))) return call();
  return timed(s, dev, kernel, elements, call);
}

/**
 * Start timing every kernel call on the given devices (default: all).
 * Throws if a profile is already running.
 * @example
 * startProfile();
 * model.loss(x, y).backward();
 * console.log(formatProfile(stopProfile(), { top: 10 }));
 */
export function startProfile(opts: ProfileOpts = {}): void {
  if (session) throw new Error('startProfile: a profile is already running; call stopProfile() first');
  if (opts.devices) checkDeviceNames(opts.devices);
  session = { devices: opts.devices ? new Set(opts.devices) : null, acc: new Map(), t0: performance.now(), kernelMs: 0, calls: 0, childMs: [] };
}

/** Live totals of the running profile (for timing phases of a step); throws if none runs. */
export function profileElapsed(): ProfileTotals {
  if (!session) throw new Error('profileElapsed: no profile is running; call startProfile() first');
  return { wallMs: performance.now() - session.t0, kernelMs: session.kernelMs, calls: session.calls };
}

/**
 * Stop the profile, restore the devices, and return one row per (device, kernel), most total time first.
 * Throws if no profile is running.
 */
export function stopProfile(): ProfileRow[] {
  const s = session;
  if (!s) throw new Error('stopProfile: no profile is running; call startProfile() first');
  session = null;
  const total = s.kernelMs;
  return [...s.acc.values()]
    .map((a) => ({
      kernel: a.kernel,
      device: a.device,
      calls: a.calls,
      totalMs: a.ms,
      meanMs: a.calls ? a.ms / a.calls : 0,
      share: total > 0 ? a.ms / total : 0,
      asyncCalls: a.asyncCalls,
      elements: a.elements,
    }))
    .sort((a, b) => b.totalMs - a.totalMs || b.calls - a.calls || a.kernel.localeCompare(b.kernel));
}

/** Run `fn` under a profile (stopped even if it throws); returns its result, the rows and the wall time. */
export async function profile<T>(fn: () => T | Promise<T>, opts: ProfileOpts = {}): Promise<{ result: T; rows: ProfileRow[]; wallMs: number }> {
  startProfile(opts);
  let wallMs = 0;
  try {
    const result = await fn();
    wallMs = profileElapsed().wallMs;
    return { result, rows: stopProfile(), wallMs };
  } finally {
    if (session) stopProfile();
  }
}

export interface FormatProfileOpts {
  /** Show the first `top` rows and fold the rest into one "(n other kernels)" row. */
  top?: number;
  /** Divide calls and milliseconds by this (e.g. the number of profiled steps) to show per-step numbers. */
  per?: number;
}

/**
 * The rows as a GitHub markdown table: kernel, calls, total ms, mean ms, share, and a total row.
 * A device column appears when the rows span several devices; `*` marks dispatch-only (async) timings.
 */
export function formatProfile(rows: ProfileRow[], opts: FormatProfileOpts = {}): string {
  const per = opts.per ?? 1;
  if (!(per > 0)) throw new Error(`formatProfile: per must be positive, got ${per}`);
  const devices = new Set(rows.map((r) => r.device));
  const showDevice = devices.size > 1;
  const top = opts.top ?? rows.length;
  const shown = rows.slice(0, top);
  const rest = rows.slice(top);
  const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toFixed(3));
  const num = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const header = ['kernel', ...(showDevice ? ['device'] : []), per === 1 ? 'calls' : 'calls/step', per === 1 ? 'total ms' : 'ms/step', 'mean ms', 'share'];
  const align = ['l', ...(showDevice ? ['l'] : []), 'r', 'r', 'r', 'r'];
  const body: string[][] = shown.map((r) => [
    `${r.kernel}${r.asyncCalls > 0 ? '*' : ''}`,
    ...(showDevice ? [r.device] : []),
    num(r.calls / per),
    ms(r.totalMs / per),
    ms(r.meanMs),
    pct(r.share),
  ]);
  const sum = (rs: ProfileRow[], f: (r: ProfileRow) => number) => rs.reduce((s, r) => s + f(r), 0);
  if (rest.length > 0) {
    const c = sum(rest, (r) => r.calls);
    const t = sum(rest, (r) => r.totalMs);
    body.push([`(${rest.length} other kernels)`, ...(showDevice ? [''] : []), num(c / per), ms(t / per), ms(c ? t / c : 0), pct(sum(rest, (r) => r.share))]);
  }
  const calls = sum(rows, (r) => r.calls);
  const total = sum(rows, (r) => r.totalMs);
  body.push(['**all kernels**', ...(showDevice ? [''] : []), num(calls / per), ms(total / per), ms(calls ? total / calls : 0), rows.length ? '100%' : '0%']);
  const widths = header.map((h, c) => Math.max(3, h.length, ...body.map((r) => r[c].length)));
  const cell = (s: string, c: number) => (align[c] === 'r' ? s.padStart(widths[c]) : s.padEnd(widths[c]));
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `| ${widths.map((w, c) => (align[c] === 'r' ? `${'-'.repeat(w - 1)}:` : `:${'-'.repeat(w - 1)}`)).join(' | ')} |`;
  const lines = [line(header), rule, ...body.map(line)];
  if (rows.some((r) => r.asyncCalls > 0)) lines.push('', '`*` asynchronous calls: dispatch time only, not the kernel work.');
  return lines.join('\n');
}
