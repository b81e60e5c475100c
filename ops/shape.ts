/**
 * Shape ops: reshape (no copy), and the strided copies behind permute, expand and narrow, plus pad and cat.
 * One kernel, `stridedCopy`, reads any strided view of a tensor into a fresh contiguous array.
 */
import { record } from '../core/autograd.js';
import type { KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { checkNewTensor, normDim, numel, shapeStr, stridesOf, type Shape } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { checkRank, paddedDim, shapeArg, stridesArg } from './common.js';

// ---- the strided copy kernels -----------------------------------------------------------------------------
// Output element t (row-major over `shape`) reads x[offset + sum_d i_d * strides[d]]. A view is first
// collapsed to as few dims as possible (size-1 dims dropped, dims that are contiguous in x merged), so most
// views (transposes, head split/merge, broadcasts) need 1-4 dims; those kernels take sizes and strides as
// scalars, about 5x faster on webasm than reading them from arrays (a gpu.js array read is a clamped gather).

function stridedCopy(this: KernelThis, x: Float32Array, shape: Float32Array, strides: Float32Array, offset: number): number {
  let rem = this.thread.x;
  let idx = offset;
  for (let k = 0; k < 6; k++) {
    const d = 5 - k;
    const s = shape[d];
    const q = Math.floor(rem / s);
    idx += (rem - q * s) * strides[d];
    rem = q;
  }
  return x[idx];
}
function stridedCopy2(this: KernelThis, x: Float32Array, n1: number, s0: number, s1: number, offset: number): number {
  const i0 = Math.floor(this.thread.x / n1);
  return x[offset + i0 * s0 + (this.thread.x - i0 * n1) * s1];
}
function stridedCopy3(this: KernelThis, x: Float32Array, n1: number, n2: number, s0: number, s1: number, s2: number, offset: number): number {
  const q2 = Math.floor(this.thread.x / n2);
  const i0 = Math.floor(q2 / n1);
  return x[offset + i0 * s0 + (q2 - i0 * n1) * s1 + (this.thread.x - q2 * n2) * s2];
}
function stridedCopy4(
  this: KernelThis, x: Float32Array, n1: number, n2: number, n3: number, s0: number, s1: number, s2: number, s3: number, offset: number,
): number {
  const q3 = Math.floor(this.thread.x / n3);
  const q2 = Math.floor(q3 / n2);
  const i0 = Math.floor(q2 / n1);
  return x[offset + i0 * s0 + (q2 - i0 * n1) * s1 + (q3 - q2 * n2) * s2 + (this.thread.x - q3 * n3) * s3];
}
const stridedCopyKernel = kernel(stridedCopy);
const stridedCopy2Kernel = kernel(stridedCopy2);
const stridedCopy3Kernel = kernel(stridedCopy3);
const stridedCopy4Kernel = kernel(stridedCopy4);

/** The same view with size-1 dims dropped and dims merged where x's layout lets them run as one. */
export function collapseView(shape: Shape, strides: readonly number[]): { shape: number[]; strides: number[] } {
  const sh: number[] = [];
  const st: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = sh.length - 1;
    if (last >= 0 && st[last] === strides[i] * shape[i]) {
      sh[last] *= shape[i];
      st[last] = strides[i];
    } else {
      sh.push(shape[i]);
      st.push(strides[i]);
    }
  }
  return { shape: sh, strides: st };
}

/** A contiguous copy of the view (shape, strides, offset) of x — no graph. */
export function stridedView(x: Tensor, shape: Shape, strides: readonly number[], offset = 0): Tensor {
  checkRank('stridedView', shape);
  const n = numel(shape);
  const v = collapseView(shape, strides);
  const [, n1, n2, n3] = v.shape;
  const [s0, s1, s2, s3] = v.strides;
  let data;
  if (v.shape.length <= 1) data = x.run(stridedCopy2Kernel, n, [x, 1, s0 ?? 0, 0, offset]);
  else if (v.shape.length === 2) data = x.run(stridedCopy2Kernel, n, [x, n1, s0, s1, offset]);
  else if (v.shape.length === 3) data = x.run(stridedCopy3Kernel, n, [x, n1, n2, s0, s1, s2, offset]);
  else if (v.shape.length === 4) data = x.run(stridedCopy4Kernel, n, [x, n1, n2, n3, s0, s1, s2, s3, offset]);
  else data = x.run(stridedCopyKernel, n, [x, shapeArg(x, shape), stridesArg(x, strides), offset]);
  return new Tensor(data, shape, x.device, x.dtype);
}

/** Broadcast x's values to `shape` as a fresh array — no graph (binary ops use it before their kernel). */
export function broadcastRaw(x: Tensor, shape: Shape): Tensor {
  if (x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
  const lead = shape.length - x.shape.length;
  const xs = stridesOf(x.shape);
  const strides = shape.map((d, i) => (i < lead || x.shape[i - lead] === 1 ? 0 : xs[i - lead]));
  return stridedView(x, shape, strides);
}

// ---- reshape family (no copy) ------------------------------------------------------------------------------

/** Same values, new shape; one dim may be -1 (inferred). */
export function reshape(x: Tensor, shape: number[]): Tensor {
  const n = x.numel;
  const free = shape.filter((d) => d === -1).length;
  if (free > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new Error(`reshape: invalid target shape ${shapeStr(shape)} (integers >= 0, at most one -1)`);
  }
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const out = free ? shape.map((d) => (d === -1 ? (known === 0 ? 0 : n / known) : d)) : [...shape];
  if (numel(out) !== n || out.some((d) => !Number.isInteger(d))) {
    throw new Error(`reshape: cannot reshape ${shapeStr(x.shape)} (${n} elements) to ${shapeStr(shape)}`);
  }
  const y = new Tensor(x._data, out, x.device, x.dtype);
  return record(y, 'reshape', [x], (g) => [g.reshape(x.shape)]);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normDim('flatten', startDim, x.ndim);
  const e = normDim('flatten', endDim, x.ndim);
  if (e < s) throw new Error(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  return reshape(x, [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Remove a size-1 dim (or all of them). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const d = normDim('squeeze', dim, x.ndim);
  if (x.shape[d] !== 1) return x;
  return reshape(x, x.shape.filter((_, i) => i !== d));
}

/** Insert a size-1 dim at `dim` (negative counts from the end of the result). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim('unsqueeze', dim, x.ndim + 1);
  return reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

// ---- strided copies ----------------------------------------------------------------------------------------

/** Reorder dims. */
export function permute(x: Tensor, dims: number[]): Tensor {
  if (dims.length !== x.ndim) throw new Error(`permute: got ${dims.length} dims ${JSON.stringify(dims)} for a tensor of rank ${x.ndim}`);
  const p = dims.map((d) => normDim('permute', d, x.ndim));
  if (new Set(p).size !== p.length) throw new Error(`permute: dims ${JSON.stringify(dims)} repeat a dim`);
  if (p.every((d, i) => d === i)) return x;
  const st = stridesOf(x.shape);
  const y = stridedView(x, p.map((d) => x.shape[d]), p.map((d) => st[d]));
  const inv = new Array<number>(p.length);
  p.forEach((d, i) => (inv[d] = i));
  return record(y, 'permute', [x], (g) => [g.permute(inv)]);
}

export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const a = normDim('transpose', d0, x.ndim);
  const b = normDim('transpose', d1, x.ndim);
  const dims = x.shape.map((_, i) => i);
  [dims[a], dims[b]] = [dims[b], dims[a]];
  return permute(x, dims);
}

/**
 * Broadcast to a larger shape (numpy rules; -1 keeps a dim). Its gradient sums back (in the engine).
 * @example tensor([[1], [2]]).expand([2, 3]); // [[1, 1, 1], [2, 2, 2]]
 */
export function expand(x: Tensor, shape: number[]): Tensor {
  const fail = (why: string, fix: string): never => {
    const target = Array.isArray(shape) ? `[${shape.map((d) => String(d)).join(',')}]` : String(shape);
    throw new Error(`expand: cannot expand a tensor of shape ${shapeStr(x.shape)} to ${target}: ${why}; ${fix}`);
  };
  if (!Array.isArray(shape)) fail('the target is not a list of sizes', 'pass the sizes as an array, e.g. [2, 3]');
  const lead = shape.length - x.ndim;
  if (lead < 0) fail(`the target has ${shape.length} dims, fewer than the tensor's ${x.ndim}`, 'give every existing dim (-1 keeps one), or squeeze/reshape first');
  shape.forEach((d, i) => {
    if (!Number.isInteger(d) || d < -1) fail(`size ${d} at dim ${i} is not a non-negative integer`, 'use sizes >= 0, or -1 to keep an existing dim');
    if (d === -1 && i < lead) fail(`-1 at dim ${i} is a new leading dim, which has no size to keep`, 'give the new dim a size');
  });
  const target = shape.map((d, i) => (d === -1 ? x.shape[i - lead] : d));
  target.forEach((d, i) => {
    const s = i < lead ? 1 : x.shape[i - lead];
    if (s !== 1 && s !== d) {
      fail(
        `the expanded size ${d} must match the existing size ${s} at non-singleton dim ${i}`,
        'only size-1 dims expand: reshape or unsqueeze so the dim to grow has size 1, or keep it with -1',
      );
    }
  });
  checkNewTensor('expand', target, x.device);
  const y = broadcastRaw(x, target);
  if (y === x) return x;
  return record(y, 'expand', [x], (g) => [g]);
}

/** Elements start..start+length-1 along dim (PyTorch's narrow). */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normDim('narrow', dim, x.ndim);
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > x.shape[d]) {
    throw new Error(`narrow: [${start}, ${start}+${length}) is outside dim ${dim} of size ${x.shape[d]} (shape ${shapeStr(x.shape)})`);
  }
  if (start === 0 && length === x.shape[d]) return x;
  const st = stridesOf(x.shape);
  const shape = x.shape.map((s, i) => (i === d ? length : s));
  const y = stridedView(x, shape, st, start * st[d]);
  return record(y, 'narrow', [x], (g) => [pad(g, d, start, x.shape[d] - start - length)]);
}

// ---- zero padding along one dim (narrow's gradient) --------------------------------------------------------

function padDim(this: KernelThis, x: Float32Array, shape: Float32Array, inStrides: Float32Array, dim: number, before: number, len: number): number {
  let rem = this.thread.x;
  let idx = 0;
  let inside = 1;
  for (let k = 0; k < 6; k++) {
    const d = 5 - k;
    const s = shape[d];
    const q = Math.floor(rem / s);
    let c = rem - q * s;
    rem = q;
    if (d === dim) {
      c = c - before;
      if (c < 0 || c >= len) inside = 0;
    }
    idx += c * inStrides[d];
  }
  if (inside === 0) return 0;
  return x[idx];
}
const padDimKernel = kernel(padDim);

/** Add `before` and `after` zeros along dim. */
export function pad(x: Tensor, dim: number, before: number, after: number): Tensor {
  const d = normDim('pad', dim, x.ndim);
  if (!Number.isInteger(before) || !Number.isInteger(after) || before < 0 || after < 0) {
    throw new Error(`pad: before/after must be non-negative integers, got ${before}, ${after}`);
  }
  const shape = x.shape.map((s, i) => (i === d ? s + before + after : s));
  const data = x.run(padDimKernel, numel(shape), [x, shapeArg(x, shape), stridesArg(x, stridesOf(x.shape)), paddedDim(d, x.ndim), before, x.shape[d]]);
  const y = new Tensor(data, shape, x.device);
  return record(y, 'pad', [x], (g) => [g.narrow(d, before, x.shape[d])]);
}

// ---- cat and split -----------------------------------------------------------------------------------------

/** Join tensors along dim; every other dim must match. */
export function cat(xs: Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new Error('cat: needs at least one tensor');
  const d = normDim('cat', dim, xs[0].ndim);
  for (const t of xs) {
    if (t.ndim !== xs[0].ndim || t.shape.some((s, i) => i !== d && s !== xs[0].shape[i])) {
      throw new Error(`cat: shapes ${xs.map((u) => shapeStr(u.shape)).join(', ')} differ outside dim ${dim}`);
    }
    if (t.device !== xs[0].device) throw new Error(`cat: tensors on different devices (${xs[0].device.name}, ${t.device.name})`);
  }
  const total = xs.reduce((p, t) => p + t.shape[d], 0);
  let out: Tensor | null = null;
  let before = 0;
  for (const t of xs) {
    const padded = pad(t, d, before, total - before - t.shape[d]);
    out = out ? out.add(padded) : padded;
    before += t.shape[d];
  }
  return out!;
}

/** Split into chunks of `sizes` (a number = equal chunks, the last may be smaller) along dim. */
export function split(x: Tensor, sizes: number | number[], dim = 0): Tensor[] {
  const d = normDim('split', dim, x.ndim);
  const n = x.shape[d];
  let list: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0) throw new Error(`split: chunk size must be a positive integer, got ${sizes}`);
    list = [];
    for (let s = 0; s < n; s += sizes) list.push(Math.min(sizes, n - s));
  } else {
    list = sizes;
    if (list.reduce((p, s) => p + s, 0) !== n) throw new Error(`split: sizes ${JSON.stringify(sizes)} do not add up to dim ${dim} of size ${n}`);
  }
  let start = 0;
  return list.map((len) => {
    const part = narrow(x, d, start, len);
    start += len;
    return part;
  });
}
