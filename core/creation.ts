/**
 * Making tensors: from values, constants, ranges and seeded random numbers.
 */
import type { Device } from './device.js';
import { getDevice } from './device.js';
import { Generator, globalGenerator } from './rng.js';
import { checkNewTensor, numel, shapeStr, type Shape } from './shape.js';
import { Tensor, type DType } from './tensor.js';

export interface TensorOpts {
  requiresGrad?: boolean;
  dtype?: DType;
  device?: Device;
}

type Nested = number | Nested[];

function flattenNested(data: Nested, shape: number[], out: number[], depth: number): void {
  if (typeof data === 'number') {
    if (depth !== shape.length) throw new Error(`tensor: ragged nested array (a number at depth ${depth}, expected depth ${shape.length})`);
    out.push(data);
    return;
  }
  if (!Array.isArray(data)) throw new Error(`tensor: expected numbers or nested arrays, got ${typeof data}`);
  if (depth === shape.length) shape.push(data.length);
  else if (shape[depth] !== data.length) throw new Error(`tensor: ragged nested array (length ${data.length} at depth ${depth}, expected ${shape[depth]})`);
  for (const d of data) flattenNested(d, shape, out, depth + 1);
}

/** The device a new tensor goes to, after checking its shape fits there (before anything is allocated). */
function deviceFor(op: string, shape: Shape, opts: TensorOpts): Device {
  const dev = opts.device ?? getDevice();
  checkNewTensor(op, shape, dev);
  return dev;
}

function make(values: ArrayLike<number>, shape: Shape, opts: TensorOpts, dev: Device): Tensor {
  const dtype = opts.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'int32') throw new Error(`tensor: dtype must be 'float32' or 'int32', got ${String(dtype)}`);
  if (dtype === 'int32') {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isInteger(v) || Math.abs(v) > 2 ** 24) {
        throw new Error(`tensor: int32 values must be integers within ±2^24 (exact in float32 kernels); got ${v} at position ${i}`);
      }
    }
  }
  const t = Tensor.fromValues(values, shape, dev, dtype);
  if (opts.requiresGrad) {
    if (dtype !== 'float32') throw new Error('tensor: only float32 tensors can require gradients');
    t.requiresGrad = true;
  }
  return t;
}

/**
 * A tensor from a number, nested arrays, or flat values with a shape.
 * @example
 * const x = tensor([[1, 2], [3, 4]], undefined, { requiresGrad: true });
 * const ids = tensor([3, 1, 4], [3], { dtype: 'int32' });
 */
export function tensor(data: Nested | ArrayLike<number>, shape?: Shape, opts: TensorOpts = {}): Tensor {
  if (shape !== undefined) {
    const dev = deviceFor('tensor', shape, opts);
    const flat = typeof data === 'number' ? [data] : Array.isArray(data) ? (data as Nested[]).flat(Infinity as 1) as number[] : (data as ArrayLike<number>);
    if (flat.length !== numel(shape)) throw new Error(`tensor: ${flat.length} values do not fill shape ${shapeStr(shape)} (${numel(shape)} elements)`);
    return make(flat, shape, opts, dev);
  }
  if (ArrayBuffer.isView(data)) {
    const shape1 = [(data as ArrayLike<number>).length];
    return make(data as ArrayLike<number>, shape1, opts, deviceFor('tensor', shape1, opts));
  }
  const inferred: number[] = [];
  const out: number[] = [];
  flattenNested(data as Nested, inferred, out, 0);
  return make(out, inferred, opts, deviceFor('tensor', inferred, opts));
}

function filled(op: string, shape: Shape, value: number, opts: TensorOpts): Tensor {
  const dev = deviceFor(op, shape, opts);
  return make(new Float64Array(numel(shape)).fill(value), shape, opts, dev);
}

/**
 * A tensor of one value.
 * @example const c = full([2, 3], 0.5);
 */
export function full(shape: Shape, value: number, opts: TensorOpts = {}): Tensor {
  return filled('full', shape, value, opts);
}
/** @example const z = zeros([2, 3]); */
export const zeros = (shape: Shape, opts: TensorOpts = {}): Tensor => filled('zeros', shape, 0, opts);
/** @example const o = ones([3]); */
export const ones = (shape: Shape, opts: TensorOpts = {}): Tensor => filled('ones', shape, 1, opts);

/** start, start+step, ... < end (as torch.arange). */
export function arange(start: number, end?: number, step = 1, opts: TensorOpts = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (![start, end, step].every(Number.isFinite) || step === 0) {
    throw new Error(`arange: start, end and step must be finite numbers and step not 0; got start ${start}, end ${end}, step ${step}`);
  }
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dev = deviceFor('arange', [n], opts);
  const v = Array.from({ length: n }, (_, i) => start + i * step);
  return make(v, [n], opts, dev);
}

export interface RandomOpts extends TensorOpts {
  generator?: Generator;
}

/** Standard normal samples from the seeded generator (global unless given). */
export function randn(shape: Shape, opts: RandomOpts = {}): Tensor {
  const dev = deviceFor('randn', shape, opts);
  const g = opts.generator ?? globalGenerator;
  const v = new Float64Array(numel(shape));
  for (let i = 0; i < v.length; i++) v[i] = g.normal();
  return make(v, shape, opts, dev);
}

/** Uniform samples in [0, 1). */
export function rand(shape: Shape, opts: RandomOpts = {}): Tensor {
  const dev = deviceFor('rand', shape, opts);
  const g = opts.generator ?? globalGenerator;
  const v = new Float64Array(numel(shape));
  for (let i = 0; i < v.length; i++) v[i] = g.random();
  return make(v, shape, opts, dev);
}

/** Integers uniform in [low, high), dtype int32. */
export function randint(low: number, high: number, shape: Shape, opts: RandomOpts = {}): Tensor {
  const dev = deviceFor('randint', shape, opts);
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) throw new Error(`randint: need integers low < high, got ${low}, ${high}`);
  const g = opts.generator ?? globalGenerator;
  const v = new Float64Array(numel(shape));
  for (let i = 0; i < v.length; i++) v[i] = low + g.int(high - low);
  return make(v, shape, { ...opts, dtype: 'int32' }, dev);
}
