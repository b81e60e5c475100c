/**
 * Small helpers every op file uses: scalar operands, device checks, and the fixed-rank shape/stride
 * arrays that strided kernels take as arguments.
 */
import type { Data, Device } from '../core/device.js';
import { MAX_RANK, numel, padShape, shapeStr, stridesOf, type Shape } from '../core/shape.js';
import { splitArray } from '../core/pool.js';
import { Tensor, type TensorLike } from '../core/tensor.js';

/** Numbers become scalar tensors on `like`'s device; tensors must share its device. */
export function asTensor(op: string, x: TensorLike, like: Tensor): Tensor {
  if (typeof x === 'number') return like.scalar(x);
  if (!(x instanceof Tensor)) throw new Error(`${op}: expected a Tensor or a number, got ${typeof x}`);
  if (x.device !== like.device) {
    throw new Error(`${op}: tensors are on different devices (${like.device.name} and ${x.device.name}); move one with .to('${like.device.name}')`);
  }
  return x;
}

export function checkRank(op: string, shape: Shape): void {
  if (shape.length > MAX_RANK) {
    throw new Error(`${op}: rank ${shape.length} (shape ${shapeStr(shape)}) is above the supported ${MAX_RANK}; reshape to fewer dims`);
  }
}

/** A shape padded to MAX_RANK with leading ones, as a device array (kernel argument). */
export function shapeArg(t: Tensor, shape: Shape): Data {
  checkRank('kernel', shape);
  return t.device.fromValues(padShape(shape, MAX_RANK));
}

/** Strides padded to MAX_RANK with leading zeros, as a device array. */
export function stridesArg(t: Tensor, strides: readonly number[]): Data {
  return t.device.fromValues([...new Array<number>(MAX_RANK - strides.length).fill(0), ...strides]);
}

/** Contiguous strides of a shape, as a device array. */
export function contiguousStridesArg(t: Tensor, shape: Shape): Data {
  return stridesArg(t, stridesOf(shape));
}

/** Position of a dim of a rank-r shape once padded to MAX_RANK. */
export function paddedDim(dim: number, rank: number): number {
  return dim + MAX_RANK - rank;
}

/** Make sure an index tensor holds integers. */
export function checkIndexDtype(op: string, index: Tensor): void {
  if (!(index instanceof Tensor)) throw new Error(`${op}: index must be a Tensor of dtype int32`);
  if (index.dtype !== 'int32') {
    throw new Error(`${op}: index must have dtype int32, got ${index.dtype} (shape ${shapeStr(index.shape)}); make it with tensor(ids, shape, { dtype: 'int32' })`);
  }
}

/**
 * Check that every index lies in [0, size): at once when values are on the host, else when they arrive
 * (then the error surfaces when the result is read).
 */
export function checkIndexRange(op: string, index: Tensor, size: number, what: string): void | Promise<void> {
  const check = (d: Data): void => {
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (!(v >= 0 && v < size) || v !== Math.floor(v)) {
        throw new Error(`${op}: index ${v} at position ${i} is out of range for ${what} of size ${size} (valid: 0..${size - 1})`);
      }
    }
  };
  if (index._data instanceof Promise) return index._data.then(check);
  check(index._data);
}

/** Run after an optional async check, so a failed check shows up when the result is read. */
export function after(check: void | Promise<void>, run: () => Data | Promise<Data>): Data | Promise<Data> {
  return check instanceof Promise ? check.then(run) : run();
}

/**
 * Consecutive parts of one kernel's flat output, of the given sizes (views: no copy; pool-aware, so the
 * output goes back to the pool with its last part: core/pool.ts `splitArray`). Pending data gives pending
 * parts.
 */
export function splitData(data: Data | Promise<Data>, sizes: number[]): (Data | Promise<Data>)[] {
  const views = (d: Data): Data[] => {
    if (d instanceof Float32Array) return splitArray(d, sizes);
    let at = 0;
    return sizes.map((n) => d.subarray(at, (at += n)) as Data);
  };
  if (!(data instanceof Promise)) return views(data);
  const all = data.then(views);
  return sizes.map((_, i) => all.then((v) => v[i]));
}

/**
 * Consecutive parts of one kernel's flat output as tensors of the given shapes (`splitData`), for kernels
 * that compute several results in one call (fusedAttention, the norms).
 */
export function splitOutput(data: Data | Promise<Data>, shapes: Shape[], dev: Device): Tensor[] {
  const parts = splitData(data, shapes.map((s) => numel(s)));
  return shapes.map((s, i) => new Tensor(parts[i], s, dev));
}
