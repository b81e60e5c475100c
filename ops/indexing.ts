/**
 * Indexing: gather along a dim and its adjoint scatter-add; indexSelect (rows by id, e.g. embeddings) and
 * its adjoint indexAdd; one-hot.
 *
 * gpu.js cannot scatter (a thread writes only its own output), so the adjoints are written as gathers:
 * scatterAdd loops over the index positions that could land on each output; indexAdd groups positions by
 * index on the host first (counting sort, O(n)) so each output row reads exactly the rows that hit it.
 */
import { record } from '../core/autograd.js';
import type { Data } from '../core/device.js';
import type { KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { normDim, numel, shapeStr } from '../core/shape.js';
import { Tensor, runKernel, withData } from '../core/tensor.js';
import { after, checkIndexDtype, checkIndexRange, contiguousStridesArg, paddedDim, shapeArg } from './common.js';

// ---- gather / scatterAdd -----------------------------------------------------------------------------------

function gather_(this: KernelThis, x: Float32Array, idx: Float32Array, shape: Float32Array, xStrides: Float32Array, dim: number): number {
  let rem = this.thread.x;
  let off = 0;
  for (let k = 0; k < 6; k++) {
    const d = 5 - k;
    const s = shape[d];
    const q = Math.floor(rem / s);
    let c = rem - q * s;
    rem = q;
    if (d === dim) c = idx[this.thread.x];
    off += c * xStrides[d];
  }
  return x[off];
}
const gatherKernel = kernel(gather_);

/** out[..i..] = x[.. index[..i..] ..] along dim (torch.gather); index has x's rank and fits inside x. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  checkIndexDtype('gather', index);
  const d = normDim('gather', dim, x.ndim);
  if (index.ndim !== x.ndim || index.shape.some((s, i) => i !== d && s > x.shape[i])) {
    throw new Error(`gather: index shape ${shapeStr(index.shape)} must have the rank of x ${shapeStr(x.shape)} and fit inside it outside dim ${dim}`);
  }
  const check = checkIndexRange('gather', index, x.shape[d], `dim ${dim} of x ${shapeStr(x.shape)}`);
  const data = after(check, () =>
    runKernel(x.device, gatherKernel, index.numel, [x, index, shapeArg(x, index.shape), contiguousStridesArg(x, x.shape), paddedDim(d, x.ndim)]),
  );
  const y = new Tensor(data, index.shape, x.device);
  return record(y, 'gather', [x], (g) => [scatterAdd(g, d, index, x.shape)]);
}

function scatterAdd_(
  this: KernelThis, src: Float32Array, idx: Float32Array, outShape: Float32Array, idxShape: Float32Array,
  idxStrides: Float32Array, dim: number, K: number,
): number {
  let rem = this.thread.x;
  let base = 0;
  let target = 0;
  let inside = 1;
  for (let k = 0; k < 6; k++) {
    const d = 5 - k;
    const s = outShape[d];
    const q = Math.floor(rem / s);
    const c = rem - q * s;
    rem = q;
    if (d === dim) {
      target = c;
    } else {
      if (c >= idxShape[d]) inside = 0;
      base += c * idxStrides[d];
    }
  }
  let sum = 0;
  if (inside === 1) {
    const step = idxStrides[dim];
    for (let j = 0; j < K; j++) {
      if (idx[base + j * step] === target) sum += src[base + j * step];
    }
  }
  return sum;
}
const scatterAddKernel = kernel(scatterAdd_);

/** A zero tensor of `shape` into which src[..k..] is added at position index[..k..] along dim. */
export function scatterAdd(src: Tensor, dim: number, index: Tensor, shape: number[]): Tensor {
  checkIndexDtype('scatterAdd', index);
  const d = normDim('scatterAdd', dim, shape.length);
  if (src.ndim !== shape.length || src.shape.some((s, i) => s !== index.shape[i])) {
    throw new Error(`scatterAdd: src ${shapeStr(src.shape)} and index ${shapeStr(index.shape)} must have the same shape, of the rank of the output ${shapeStr(shape)}`);
  }
  const check = checkIndexRange('scatterAdd', index, shape[d], `dim ${dim} of the output ${shapeStr(shape)}`);
  const data = after(check, () =>
    runKernel(src.device, scatterAddKernel, numel(shape), [
      src, index, shapeArg(src, shape), shapeArg(src, index.shape), contiguousStridesArg(src, index.shape), paddedDim(d, shape.length), index.shape[d],
    ]),
  );
  const y = new Tensor(data, shape, src.device);
  return record(y, 'scatterAdd', [src], (g) => [gather(g, d, index)]);
}

// ---- indexSelect / indexAdd --------------------------------------------------------------------------------

function indexSelect_(this: KernelThis, x: Float32Array, idx: Float32Array, shape: Float32Array, xStrides: Float32Array, dim: number): number {
  let rem = this.thread.x;
  let off = 0;
  for (let k = 0; k < 6; k++) {
    const d = 5 - k;
    const s = shape[d];
    const q = Math.floor(rem / s);
    let c = rem - q * s;
    rem = q;
    if (d === dim) c = idx[c];
    off += c * xStrides[d];
  }
  return x[off];
}
const indexSelectKernel = kernel(indexSelect_);

/** Pick entries index[0..n) along dim (torch.index_select); index is 1-D int32. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  checkIndexDtype('indexSelect', index);
  if (index.ndim !== 1) throw new Error(`indexSelect: index must be 1-D, got shape ${shapeStr(index.shape)}`);
  const d = normDim('indexSelect', dim, x.ndim);
  const shape = x.shape.map((s, i) => (i === d ? index.numel : s));
  const check = checkIndexRange('indexSelect', index, x.shape[d], `dim ${dim} of x ${shapeStr(x.shape)}`);
  const data = after(check, () =>
    runKernel(x.device, indexSelectKernel, numel(shape), [x, index, shapeArg(x, shape), contiguousStridesArg(x, x.shape), paddedDim(d, x.ndim)]),
  );
  const y = new Tensor(data, shape, x.device);
  return record(y, 'indexSelect', [x], (g) => [indexAdd(g, d, index, x.shape[d])]);
}

function indexAdd_(
  this: KernelThis, src: Float32Array, offsets: Float32Array, perm: Float32Array, outShape: Float32Array,
  srcStrides: Float32Array, dim: number,
): number {
  let rem = this.thread.x;
  let base = 0;
  let v = 0;
  for (let k = 0; k < 6; k++) {
    const d = 5 - k;
    const s = outShape[d];
    const q = Math.floor(rem / s);
    const c = rem - q * s;
    rem = q;
    if (d === dim) v = c;
    else base += c * srcStrides[d];
  }
  const start = offsets[v];
  const end = offsets[v + 1];
  const step = srcStrides[dim];
  let sum = 0;
  // counted from 0: WGSL only increments integer loop variables
  for (let j = 0; j < end - start; j++) sum += src[base + perm[start + j] * step];
  return sum;
}
const indexAddKernel = kernel(indexAdd_);

/** Group positions by index (counting sort): offsets[v]..offsets[v+1] index into perm. */
function groupByIndex(ids: Data, size: number): { offsets: number[]; perm: number[] } {
  const offsets = new Array<number>(size + 1).fill(0);
  for (let i = 0; i < ids.length; i++) offsets[ids[i] + 1]++;
  for (let v = 0; v < size; v++) offsets[v + 1] += offsets[v];
  const fill = offsets.slice(0, size);
  const perm = new Array<number>(ids.length);
  for (let i = 0; i < ids.length; i++) perm[fill[ids[i]]++] = i;
  return { offsets, perm };
}

/** A zero tensor with `size` entries along dim, into which src's entry i is added at index[i]. */
export function indexAdd(src: Tensor, dim: number, index: Tensor, size: number): Tensor {
  checkIndexDtype('indexAdd', index);
  const d = normDim('indexAdd', dim, src.ndim);
  if (index.ndim !== 1 || index.numel !== src.shape[d]) {
    throw new Error(`indexAdd: index ${shapeStr(index.shape)} must be 1-D with one entry per slice of src ${shapeStr(src.shape)} along dim ${dim}`);
  }
  const shape = src.shape.map((s, i) => (i === d ? size : s));
  const check = checkIndexRange('indexAdd', index, size, `an output dim of size ${size}`);
  const data = after(check, () =>
    // a promise resolving to a promise flattens at run time
    withData(index, (ids) => {
      const { offsets, perm } = groupByIndex(ids, size);
      const dev = src.device;
      return runKernel(dev, indexAddKernel, numel(shape), [
        src, dev.fromValues(offsets), dev.fromValues(perm.length ? perm : [0]), shapeArg(src, shape), contiguousStridesArg(src, src.shape), paddedDim(d, src.ndim),
      ]);
    }) as Data | Promise<Data>,
  );
  const y = new Tensor(data, shape, src.device);
  return record(y, 'indexAdd', [src], (g) => [indexSelect(g, d, index)]);
}

/** Rows of `weight` ([V, D]) for integer ids of any shape: result [...ids.shape, D]. */
export function embedding(ids: Tensor, weight: Tensor): Tensor {
  if (weight.ndim !== 2) throw new Error(`embedding: weight must be [V, D], got ${shapeStr(weight.shape)}`);
  return indexSelect(weight, 0, ids.reshape([ids.numel])).reshape([...ids.shape, weight.shape[1]]);
}

// ---- oneHot ------------------------------------------------------------------------------------------------

function oneHot_(this: KernelThis, idx: Float32Array, C: number): number {
  const row = Math.floor(this.thread.x / C);
  const c = this.thread.x - row * C;
  return idx[row] === c ? 1 : 0;
}
const oneHotKernel = kernel(oneHot_);

/** [..., C] float tensor with a 1 at each index (no gradient). */
export function oneHot(index: Tensor, numClasses: number): Tensor {
  checkIndexDtype('oneHot', index);
  if (!Number.isInteger(numClasses) || numClasses <= 0) throw new Error(`oneHot: numClasses must be a positive integer, got ${numClasses}`);
  const check = checkIndexRange('oneHot', index, numClasses, `${numClasses} classes`);
  const data = after(check, () => runKernel(index.device, oneHotKernel, index.numel * numClasses, [index, numClasses]));
  return new Tensor(data, [...index.shape, numClasses], index.device);
}
