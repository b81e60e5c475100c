/**
 * Recycled kernel outputs on the CPU devices: a pool of Float32Arrays keyed by length.
 *
 * Every kernel call returns a new array. A fresh array costs far more than its values: measured here
 * (Node 20, 2-core EPYC), a new 1 MiB Float32Array filled from another took 0.17 ms, against 0.019 ms to
 * fill one that was used a moment ago (the fresh one is zeroed, its pages are faulted in, and it evicts
 * cache lines; a recycled one is still in cache). A training step made ~300 outputs, ~47 MB.
 *
 * When is an output free? JavaScript has no reference counts, so the engine counts, per pool array, the
 * Tensors ever made over it (`noteWrapper`), and gives an array back only when it knows that many of them
 * are dead:
 *   - the gradients that `backward()` passes between the nodes of the graph (core/autograd.ts,
 *     GradientRecycler): each lives in the pass's own table and is dead once its node has handed it on;
 *   - with `backward({ freeGraph: true })`, the graph's intermediate tensors (everything between the
 *     inputs and the loss): the call marks them freed, and reading one afterwards throws, naming the option.
 * A view or a temporary still wrapping an array keeps it out (its count is higher), as does `dataSync()`
 * (the caller holds the raw array), and leaves, their `.grad`s and the loss are never given back. The next
 * kernel call of the same length gets it back. A kernel that computes several results in one output
 * (fused attention, the norms, AdamW's [p | m | v]) hands them out as views (`splitArray`): each view is
 * counted like an array, and the output goes back with its last view. With freeGraph, a warm tiny-GPT
 * step takes 98% of its kernels' output bytes from the pool; what is new each step is the leaves'
 * gradients, which backward hands to the caller as `.grad` (bench/profile.ts prints the split).
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
/** How many Tensors were ever made over each array (while it is one of ours); reset when it is reused. */
const wrappers = new WeakMap<Float32Array, number>();
/** Views made by `splitArray`: each view's parent, and per parent how many views it has and how many are back. */
const parentOf = new WeakMap<Float32Array, Float32Array>();
const splits = new WeakMap<Float32Array, { views: number; back: number }>();

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
    wrappers.delete(a); // every tensor over its last use is dead or freed
    splits.delete(a);
    return a;
  }
  const b = new Float32Array(n);
  owned.add(b);
  poolStats.fresh++;
  poolStats.freshFloats += n;
  return b;
}

/** Count a Tensor made over d (core/tensor.ts calls this for every new Tensor). */
export function noteWrapper(d: unknown): void {
  if (d instanceof Float32Array && owned.has(d)) wrappers.set(d, (wrappers.get(d) ?? 0) + 1);
}

/** How many Tensors were made over d since it was handed out (0 for arrays not from the pool). */
export function wrapperCount(d: unknown): number {
  return d instanceof Float32Array ? (wrappers.get(d) ?? 0) : 0;
}

/** Whether d is a pool array (or a view made by splitArray) that may still be given back (not pinned). */
export function isRecyclable(d: unknown): boolean {
  if (!(d instanceof Float32Array) || !owned.has(d)) return false;
  const p = parentOf.get(d);
  return !p || owned.has(p);
}

/**
 * Consecutive views of a pool array, of the given sizes, for a kernel that computes several results in
 * one output (fused attention, the norms, AdamW's [p | m | v]). Each view is counted and given back like an
 * array of its own; the array goes back to the pool once every view has been given back. Views of other
 * arrays are plain subarrays.
 */
export function splitArray(parent: Float32Array, sizes: number[]): Float32Array[] {
  let at = 0;
  const views = sizes.map((n) => parent.subarray(at, (at += n)));
  if (owned.has(parent)) {
    for (const v of views) {
      owned.add(v);
      parentOf.set(v, parent);
    }
    splits.set(parent, { views: views.length, back: 0 });
  }
  return views;
}

/**
 * Never recycle d: a cached constant made by a kernel, or an array handed to the caller by `dataSync()`;
 * it may be read for as long as anybody holds it.
 */
export function pinArray(d: unknown): void {
  if (!(d instanceof Float32Array)) return;
  owned.delete(d);
  const p = parentOf.get(d);
  if (p) owned.delete(p); // a view pins the array it is part of
}

/**
 * Give an array back for reuse. Only for arrays nothing can read any more; ignores arrays not made by
 * `outputArray` and arrays already given back.
 */
export function releaseArray(d: unknown): void {
  if (!enabled || !(d instanceof Float32Array) || !owned.has(d) || idle.has(d)) return;
  const p = parentOf.get(d);
  if (p) {
    // a view: the whole array goes back with its last view
    idle.add(d);
    const sp = splits.get(p);
    if (sp && ++sp.back === sp.views) {
      splits.delete(p);
      releaseArray(p);
    }
    return;
  }
  if (idleFloats + d.length > MAX_IDLE_FLOATS) return;
  let list = free.get(d.length);
  if (!list) free.set(d.length, (list = []));
  list.push(d);
  idle.add(d);
  idleFloats += d.length;
  poolStats.released++;
}
