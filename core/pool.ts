/**
 * Recycled kernel outputs on the CPU devices: a pool of Float32Arrays keyed by length.
 *
 * Every kernel call returns a new array. A fresh array costs far more than its values: measured here
 * (Node 20, 2-core EPYC), a new 1 MiB Float32Array filled from another took 0.17 ms, against 0.019 ms to
 * fill one that was used a moment ago (the fresh one is zeroed, its pages are faulted in, and it evicts
 * cache lines; a recycled one is still in cache). A training step made ~300 outputs, ~47 MB.
 *
 * When is an output free? JavaScript has no reference counts, so the engine only recycles what it can prove
 * nobody else holds: the gradients that `backward()` passes between the nodes of the graph (core/autograd.ts,
 * `propagate` with recycling on). Each of them is made during the backward pass, lives in the pass's own
 * table, and is dead once its node has handed it on; a buffer goes back to the pool only when every tensor
 * made during the pass that wraps it is one of those dead gradients (a view or a temporary still wrapping
 * it keeps it out, as do leaves' `.grad`s, the seed, and anything made before the pass). The next kernel
 * call of the same length, in this backward or the next forward, gets it back.
 *
 * Who takes from the pool: the kernel outputs that the webasm device writes itself (gpu.js's WebAssembly
 * kernels through core/devices/webasm/fast-path.ts, and its WebAssembly/JavaScript overrides). A recycled
 * array is NOT zeroed: `outputArray` is for callers that write every value. Other devices are untouched
 * (gpu.js makes their outputs), so their outputs never come back here. `setBufferPool(false)` (or
 * TSGRAD_POOL=0) turns recycling off.
 */
import { environmentVariable } from './environment.js';

let enabled = environmentVariable('TSGRAD_POOL') !== '0';
/** Free arrays by length. */
const free = new Map<number, Float32Array[]>();
/** Arrays made by `outputArray` (only those may be given back). */
const owned = new WeakSet<Float32Array>();
/** Arrays now in `free` (guards against giving one back twice). */
const idle = new WeakSet<Float32Array>();
/** At most this many floats wait in the pool (256 MiB); beyond it, given-back arrays are left to the GC. */
const MAX_IDLE_FLOATS = 64 * 2 ** 20;
let idleFloats = 0;
/** Arrays handed out while a capture is on (`captureOutputs`). */
let captured: Set<Float32Array> | null = null;

/** Called with every Tensor made while set (the backward pass watches which tensors wrap which buffers). */
export const tensorBirths: { watch: ((t: { _data: unknown }) => void) | null } = { watch: null };

/** Counters since the last `resetPoolStats()`. */
export const poolStats = { fresh: 0, freshFloats: 0, reused: 0, reusedFloats: 0, released: 0 };

export function resetPoolStats(): void {
  poolStats.fresh = poolStats.freshFloats = poolStats.reused = poolStats.reusedFloats = poolStats.released = 0;
}

/** Turn recycling on (default) or off; off also empties the pool. Returns the previous setting. */
export function setBufferPool(on: boolean): boolean {
  const prev = enabled;
  enabled = on;
  if (!on) {
    free.clear();
    idleFloats = 0;
  }
  return prev;
}

/**
 * An array of n floats for a kernel output that the caller fills completely: a recycled one of that length
 * when the pool has one (its old values are still there), else a new one.
 */
export function outputArray(n: number): Float32Array {
  const list = enabled ? free.get(n) : undefined;
  const a = list?.pop();
  if (a) {
    idle.delete(a);
    idleFloats -= n;
    poolStats.reused++;
    poolStats.reusedFloats += n;
    captured?.add(a);
    return a;
  }
  const b = new Float32Array(n);
  owned.add(b);
  poolStats.fresh++;
  poolStats.freshFloats += n;
  captured?.add(b);
  return b;
}

/**
 * Record which `outputArray`s are handed out until `stop()` is called; `has(d)` answers whether d is one
 * of them. Captures do not nest (the backward pass is the only user).
 */
export function captureOutputs(): { has: (d: unknown) => boolean; stop: () => void } {
  const prev = captured;
  const mine = new Set<Float32Array>();
  captured = mine;
  return { has: (d) => mine.has(d as Float32Array), stop: () => (captured = prev) };
}

/** Never recycle d (e.g. a cached constant made by a kernel): it may be read for the life of the process. */
export function pinArray(d: unknown): void {
  if (d instanceof Float32Array) owned.delete(d);
}

/**
 * Give an array back for reuse. Only for arrays nothing can read any more; ignores arrays not made by
 * `outputArray` and arrays already given back.
 */
export function releaseArray(d: unknown): void {
  if (!enabled || !(d instanceof Float32Array) || !owned.has(d) || idle.has(d)) return;
  if (idleFloats + d.length > MAX_IDLE_FLOATS) return;
  let list = free.get(d.length);
  if (!list) free.set(d.length, (list = []));
  list.push(d);
  idle.add(d);
  idleFloats += d.length;
  poolStats.released++;
}
