/**
 * Seeded parameter initialisers. `normal(shape, ...)` makes a new tensor; `normal_(t, ...)` refills an
 * existing one in place (its storage is replaced, the Tensor object stays, so modules keep their links).
 * Every random draw comes from a `Generator`, so a seed fixes a model's initial weights.
 *
 * @example
 * const g = new Generator(0);
 * const w = init.normal([4, 3], { std: 0.02, generator: g });
 * init.zeros_(bias);
 */
import { getDevice, type Device } from '../core/device.js';
import { Generator, globalGenerator } from '../core/rng.js';
import { checkNewTensor, numel, type Shape } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';

export interface InitOpts {
  /** Source of random numbers (default: the global generator). */
  generator?: Generator;
  /** Where the tensor lives (default: the current device). */
  device?: Device;
}

function make(op: string, shape: Shape, opts: InitOpts, fill: (i: number) => number): Tensor {
  const dev = opts.device ?? getDevice();
  checkNewTensor(`init.${op}`, shape, dev);
  const v = new Float64Array(numel(shape));
  for (let i = 0; i < v.length; i++) v[i] = fill(i);
  return Tensor.fromValues(v, shape, dev);
}

/** Samples of N(mean, std^2). */
export function normal(shape: Shape, opts: InitOpts & { mean?: number; std?: number } = {}): Tensor {
  const g = opts.generator ?? globalGenerator;
  const mean = opts.mean ?? 0;
  const std = opts.std ?? 1;
  return make('normal', shape, opts, () => mean + std * g.normal());
}

/** Samples of U[low, high). */
export function uniform(shape: Shape, opts: InitOpts & { low?: number; high?: number } = {}): Tensor {
  const g = opts.generator ?? globalGenerator;
  const low = opts.low ?? 0;
  const high = opts.high ?? 1;
  return make('uniform', shape, opts, () => low + (high - low) * g.random());
}

export function constant(shape: Shape, value: number, opts: InitOpts = {}): Tensor {
  return make('constant', shape, opts, () => value);
}
export const zeros = (shape: Shape, opts: InitOpts = {}): Tensor => make('zeros', shape, opts, () => 0);
export const ones = (shape: Shape, opts: InitOpts = {}): Tensor => make('ones', shape, opts, () => 1);

// ---- in place: replace t's storage with fresh values of the same shape, on t's device ---------------------

function refill(t: Tensor, fresh: Tensor): Tensor {
  t._data = fresh._data;
  return t;
}
export function normal_(t: Tensor, opts: Omit<InitOpts, 'device'> & { mean?: number; std?: number } = {}): Tensor {
  return refill(t, normal(t.shape, { ...opts, device: t.device }));
}
export function uniform_(t: Tensor, opts: Omit<InitOpts, 'device'> & { low?: number; high?: number } = {}): Tensor {
  return refill(t, uniform(t.shape, { ...opts, device: t.device }));
}
export function constant_(t: Tensor, value: number): Tensor {
  return refill(t, constant(t.shape, value, { device: t.device }));
}
export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);
