/**
 * Tensor: a shape, a dtype, flat storage on a device, and (when it needs a gradient) the Node that made it.
 *
 * Building graphs is synchronous; reading values is async (`await t.toArray()`), because on WebGPU the
 * storage is still a promise when the op returns. On CPU devices it is already a plain typed array.
 */
import type * as OpsModule from '../ops/index.js';
import { backward, isGradEnabled, type Node } from './autograd.js';
import type { Data, Device } from './device.js';
import { device as deviceByName } from './device.js';
import { runResolved } from './devices/run.js';
import { noteWrapper, pinArray } from './pool.js';
import type { KernelArg, KernelSpec } from './kernel.js';
import { checkNewTensor, numel, shapeStr, type Shape } from './shape.js';

/*
 * Tensor methods (x.add(y), x.sum(1), ...) are thin calls into ops/, and every op builds on Tensor. So that
 * the dependency runs one way (ops -> core), Tensor does not import ops at run time: ops/index.ts hands
 * its namespace to `registerOps` when it loads. Importing 'tsgrad' (core/index.ts) loads ops/, so users
 * never see the difference; a method called before that says what to import.
 */
let ops: typeof OpsModule = new Proxy({} as typeof OpsModule, {
  get(_target, name) {
    throw new Error(`Tensor.${String(name)}: the ops are not loaded; import from 'tsgrad' (core/index.ts) or ops/index.ts first`);
  },
});

/** Called once by ops/index.ts: the ops the Tensor methods call. */
export function registerOps(module: typeof OpsModule): void {
  ops = module;
}

export type DType = 'float32' | 'int32';
export type TensorLike = Tensor | number;

export interface BackwardOpts {
  /** Record a graph of the gradients too, so they can be differentiated again (grad of grad). */
  createGraph?: boolean;
  /**
   * Free the graph afterwards: its intermediate tensors (everything between the inputs and this tensor)
   * give their memory back to the pool for the next step, and reading one of them afterwards throws. This
   * tensor, the leaves and their `.grad` stay. What a training step wants (most of the next step's outputs
   * then come from the pool); leave it off to read intermediates after backward or to call backward twice.
   */
  freeGraph?: boolean;
}

export class Tensor {
  readonly shape: number[];
  readonly dtype: DType;
  readonly device: Device;
  private values: Data | Promise<Data>;
  /**
   * Set by `backward({ freeGraph: true })` on the graph's intermediate tensors, whose memory may then be
   * reused (core/pool.ts): reading the values of one afterwards throws.
   */
  _freed = false;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** How this tensor was made (null for leaves and for tensors built without grad). */
  _node: Node | null = null;

  constructor(data: Data | Promise<Data>, shape: Shape, device: Device, dtype: DType = 'float32') {
    this.values = data;
    this.shape = [...shape];
    this.device = device;
    this.dtype = dtype;
    if (!(data instanceof Promise) && data.length !== numel(shape)) {
      throw new Error(`Tensor: ${data.length} values do not fill shape ${shapeStr(shape)} (${numel(shape)} elements)`);
    }
    noteWrapper(data);
  }

  /** Flat row-major values; a promise while an async device is still computing them. */
  get _data(): Data | Promise<Data> {
    if (this._freed) {
      throw new Error(
        `tensor ${shapeStr(this.shape)} was freed by backward({ freeGraph: true }) (an intermediate of that graph; its memory is reused): ` +
          `read what you need before that backward, or call backward() without freeGraph`,
      );
    }
    return this.values;
  }
  set _data(d: Data | Promise<Data>) {
    this.values = d;
    noteWrapper(d);
  }

  get numel(): number {
    return numel(this.shape);
  }
  get ndim(): number {
    return this.shape.length;
  }
  /** PyTorch's `size()`: the shape, or one dim of it. */
  size(dim?: number): number | number[] {
    return dim === undefined ? [...this.shape] : this.shape[dim < 0 ? dim + this.ndim : dim];
  }

  // ---- reading values (async) -----------------------------------------------------------------------------
  /** The flat values as a typed array (a copy). */
  async data(): Promise<Data> {
    // copied now when the values are ready: the array may be recycled by a later step (core/pool.ts)
    const d = this._data;
    return d instanceof Promise ? (await d).slice() : d.slice();
  }
  /** The flat values in row-major order as a plain array. */
  async toArray(): Promise<number[]> {
    const d = this._data;
    return Array.from(d instanceof Promise ? await d : d);
  }
  /** The values as nested arrays (PyTorch's `tolist`). */
  async tolist(): Promise<unknown> {
    const flat = await this.toArray();
    const build = (dim: number, off: number): unknown => {
      if (dim === this.ndim) return flat[off];
      const stride = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, off + i * stride));
    };
    return build(0, 0);
  }
  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.numel !== 1) throw new Error(`item: tensor has ${this.numel} elements (shape ${shapeStr(this.shape)}); item() needs exactly 1`);
    const d = this._data;
    return (d instanceof Promise ? await d : d)[0];
  }
  /** Synchronous values when the device already has them (CPU devices); throws on pending async data. */
  dataSync(): Data {
    const d = this._data;
    if (d instanceof Promise) throw new Error(`dataSync: values on ${this.device.name} are not ready yet; use await t.data()`);
    pinArray(d); // the caller holds the array itself now: never recycled
    return d;
  }

  // ---- autograd -------------------------------------------------------------------------------------------
  /**
   * Accumulate gradients into every leaf's `.grad`. `gradient` (d loss / d this) must have this tensor's
   * shape; it defaults to 1 for one-element tensors, as in PyTorch. Options: `createGraph`, `freeGraph`.
   * @example x.mul(x).sum().backward(); y.backward(y.onesLike()); loss.backward({ freeGraph: true });
   */
  backward(opts?: BackwardOpts): void;
  backward(gradient: Tensor | undefined, opts?: BackwardOpts): void;
  backward(gradOrOpts?: Tensor | BackwardOpts, more: BackwardOpts = {}): void {
    // options: a plain object (anything else in first place is meant as the gradient, and checked as one)
    const proto = typeof gradOrOpts === 'object' && gradOrOpts !== null ? Object.getPrototypeOf(gradOrOpts) : undefined;
    const isOpts = proto === Object.prototype || proto === null;
    const gradient = isOpts ? undefined : (gradOrOpts as Tensor | undefined);
    const opts = isOpts ? (gradOrOpts as BackwardOpts) : more;
    const unknown = Object.keys(opts ?? {}).filter((k) => k !== 'createGraph' && k !== 'freeGraph');
    if (unknown.length) throw new Error(`backward: unknown option ${unknown.map((k) => `'${k}'`).join(', ')}; the options are createGraph and freeGraph`);
    if (gradient === undefined && this.numel !== 1) {
      throw new Error(
        `backward: grad can be implicitly created only for scalar outputs, and this tensor has shape ${shapeStr(this.shape)}; ` +
          `pass a gradient of shape ${shapeStr(this.shape)} or reduce to one element first (e.g. .sum())`,
      );
    }
    if (gradient !== undefined && !(gradient instanceof Tensor)) {
      throw new Error(`backward: the gradient must be a Tensor of shape ${shapeStr(this.shape)}, got ${typeof gradient}`);
    }
    if (opts.freeGraph && opts.createGraph) throw new Error('backward: freeGraph and createGraph exclude each other (a gradient graph needs the forward graph)');
    backward(this, gradient ?? this.onesLike(), opts.createGraph ?? false, opts.freeGraph ?? false);
  }
  /** Set requiresGrad in place (for leaves) and return this. */
  requiresGrad_(on = true): this {
    if (this._node && !on) throw new Error('requiresGrad_: cannot turn off gradients of a non-leaf tensor; use detach()');
    this.requiresGrad = on;
    return this;
  }
  /** Same values, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this._data, this.shape, this.device, this.dtype);
  }
  zeroGrad(): void {
    this.grad = null;
  }

  // ---- in-place updates (PyTorch's trailing underscore) -----------------------------------------------------
  /**
   * Replace this tensor's values with `value`'s (a tensor of the same shape, dtype and device, or a number
   * for every element) and return this: PyTorch's `copy_`. The Tensor object stays the same, so modules and
   * optimizers that hold it see the new values. A leaf that requires grad may be updated only inside
   * `noGrad` (an update is not part of the graph); a tensor made by an op never (its graph would be wrong).
   * The update swaps the storage rather than writing into it, so no other tensor changes.
   * @example
   * noGrad(() => w.assign_(w.sub(w.grad!.mul(0.1))));   // one SGD step; same as w.sub_(w.grad!.mul(0.1))
   */
  assign_(value: TensorLike): this {
    if (this._node) {
      throw new Error(`assign_: ${this} was made by an op; in-place updates would corrupt its graph. Update a leaf, or use detach() first`);
    }
    if (this.requiresGrad && isGradEnabled()) {
      throw new Error(`assign_: ${this} requires grad; update it inside noGrad(() => ...) (an in-place update is not recorded in the graph)`);
    }
    if (typeof value === 'number') {
      this._data = this.full(this.shape, value)._data;
      return this;
    }
    if (shapeStr(value.shape) !== shapeStr(this.shape)) {
      throw new Error(`assign_: shapes differ: ${shapeStr(this.shape)} <- ${shapeStr(value.shape)}; reshape or expand the value first`);
    }
    if (value.dtype !== this.dtype) throw new Error(`assign_: dtypes differ: ${this.dtype} <- ${value.dtype}`);
    if (value.device !== this.device) {
      throw new Error(`assign_: devices differ: ${this.device.name} <- ${value.device.name}; move the value with .to('${this.device.name}')`);
    }
    this._data = value._data;
    return this;
  }
  /** In place: this = this + o (see `assign_` for when in-place updates are allowed). */
  add_(o: TensorLike): this { return this.assign_(ops.add(this, o)); }
  /** In place: this = this - o; `noGrad(() => p.sub_(p.grad!.mul(lr)))` is an SGD step. */
  sub_(o: TensorLike): this { return this.assign_(ops.sub(this, o)); }
  /** In place: this = this * o (e.g. decoupled weight decay, `p.mul_(1 - lr * wd)`). */
  mul_(o: TensorLike): this { return this.assign_(ops.mul(this, o)); }

  // ---- making related tensors -----------------------------------------------------------------------------
  /** A new tensor on this tensor's device from host values. */
  static fromValues(values: ArrayLike<number>, shape: Shape, device: Device, dtype: DType = 'float32'): Tensor {
    checkNewTensor('Tensor.fromValues', shape, device);
    return new Tensor(device.fromValues(values), shape, device, dtype);
  }
  full(shape: Shape, value: number): Tensor {
    checkNewTensor('Tensor.full', shape, this.device);
    const d = this.device.alloc(numel(shape));
    d.fill(value);
    return new Tensor(d, shape, this.device);
  }
  zerosLike(): Tensor {
    return this.full(this.shape, 0);
  }
  onesLike(): Tensor {
    return this.full(this.shape, 1);
  }
  /** A scalar (shape []) on this device, for mixing numbers into ops. */
  scalar(v: number): Tensor {
    return this.full([], v);
  }
  /** Copy to another device (values read back through the host). */
  to(name: string): Tensor {
    const dev = deviceByName(name);
    if (dev === this.device) return this;
    return new Tensor(copyValues(this, dev), this.shape, dev, this.dtype);
  }
  /** Run a kernel on this tensor's device with tensors or scalars as arguments (the op layer's tool). */
  run(spec: KernelSpec, n: number, args: (Tensor | KernelArg)[]): Data | Promise<Data> {
    return runKernel(this.device, spec, n, args);
  }

  toString(): string {
    return `Tensor(shape=${shapeStr(this.shape)}, dtype=${this.dtype}, device=${this.device.name}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // ---- ops, named as in PyTorch (the functions live in ops/) ---------------------------------------------
  add(o: TensorLike): Tensor { return ops.add(this, o); }
  sub(o: TensorLike): Tensor { return ops.sub(this, o); }
  mul(o: TensorLike): Tensor { return ops.mul(this, o); }
  div(o: TensorLike): Tensor { return ops.div(this, o); }
  pow(o: TensorLike): Tensor { return ops.pow(this, o); }
  maximum(o: TensorLike): Tensor { return ops.maximum(this, o); }
  minimum(o: TensorLike): Tensor { return ops.minimum(this, o); }
  atan2(o: TensorLike): Tensor { return ops.atan2(this, o); }
  neg(): Tensor { return ops.neg(this); }
  exp(): Tensor { return ops.exp(this); }
  log(): Tensor { return ops.log(this); }
  sqrt(): Tensor { return ops.sqrt(this); }
  rsqrt(): Tensor { return ops.rsqrt(this); }
  abs(): Tensor { return ops.abs(this); }
  sin(): Tensor { return ops.sin(this); }
  cos(): Tensor { return ops.cos(this); }
  tanh(): Tensor { return ops.tanh(this); }
  sigmoid(): Tensor { return ops.sigmoid(this); }
  relu(): Tensor { return ops.relu(this); }
  gelu(): Tensor { return ops.gelu(this); }
  silu(): Tensor { return ops.silu(this); }
  square(): Tensor { return ops.square(this); }
  reciprocal(): Tensor { return ops.reciprocal(this); }
  sign(): Tensor { return ops.sign(this); }
  gt(o: TensorLike): Tensor { return ops.gt(this, o); }
  ge(o: TensorLike): Tensor { return ops.ge(this, o); }
  lt(o: TensorLike): Tensor { return ops.lt(this, o); }
  le(o: TensorLike): Tensor { return ops.le(this, o); }
  eq(o: TensorLike): Tensor { return ops.eq(this, o); }
  ne(o: TensorLike): Tensor { return ops.ne(this, o); }
  sum(dim?: number | number[], keepdim = false): Tensor { return ops.sum(this, dim, keepdim); }
  mean(dim?: number | number[], keepdim = false): Tensor { return ops.mean(this, dim, keepdim); }
  max(dim?: number | number[], keepdim = false): Tensor { return ops.max(this, dim, keepdim); }
  min(dim?: number | number[], keepdim = false): Tensor { return ops.min(this, dim, keepdim); }
  logsumexp(dim?: number | number[], keepdim = false): Tensor { return ops.logsumexp(this, dim, keepdim); }
  var(dim?: number | number[], opts: { keepdim?: boolean; correction?: number } = {}): Tensor { return ops.variance(this, dim, opts); }
  matmul(o: Tensor): Tensor { return ops.matmul(this, o); }
  reshape(shape: number[]): Tensor { return ops.reshape(this, shape); }
  view(shape: number[]): Tensor { return ops.reshape(this, shape); }
  flatten(startDim = 0, endDim = -1): Tensor { return ops.flatten(this, startDim, endDim); }
  permute(dims: number[]): Tensor { return ops.permute(this, dims); }
  transpose(d0: number, d1: number): Tensor { return ops.transpose(this, d0, d1); }
  get T(): Tensor { return ops.transpose(this, -2, -1); }
  narrow(dim: number, start: number, length: number): Tensor { return ops.narrow(this, dim, start, length); }
  split(sizes: number | number[], dim = 0): Tensor[] { return ops.split(this, sizes, dim); }
  expand(shape: number[]): Tensor { return ops.expand(this, shape); }
  squeeze(dim?: number): Tensor { return ops.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return ops.unsqueeze(this, dim); }
  gather(dim: number, index: Tensor): Tensor { return ops.gather(this, dim, index); }
  indexSelect(dim: number, index: Tensor): Tensor { return ops.indexSelect(this, dim, index); }
  softmax(dim = -1): Tensor { return ops.softmax(this, dim); }
  logSoftmax(dim = -1): Tensor { return ops.logSoftmax(this, dim); }
  maskedFill(mask: Tensor, value: number): Tensor { return ops.maskedFill(this, mask, value); }
}

export { setCheckNaN } from './devices/run.js';

/**
 * Run a kernel with tensors or scalars as arguments; waits for pending async inputs first. Every kernel
 * call of every op goes this way into the one kernel path (core/devices/run.ts: device overrides, NaN
 * check, profiler, size checks).
 */
export function runKernel(dev: Device, spec: KernelSpec, n: number, args: (Tensor | KernelArg)[]): Data | Promise<Data> {
  const vals = args.map((a) => (a instanceof Tensor ? a._data : a));
  if (vals.some((v) => v instanceof Promise)) return Promise.all(vals).then((vs) => runResolved(dev, spec, n, vs));
  return runResolved(dev, spec, n, vals as KernelArg[]);
}

/** A copy of t's values on `dev` (its own array; pending values are copied when they arrive). */
export function copyValues(t: Tensor, dev: Device = t.device): Data | Promise<Data> {
  const d = t._data;
  return d instanceof Promise ? d.then((x) => dev.fromValues(x)) : dev.fromValues(d);
}

/** Apply a host-side function to a tensor's values, now if they are ready, else when they arrive. */
export function withData<T>(t: Tensor, fn: (d: Data) => T): T | Promise<T> {
  return t._data instanceof Promise ? t._data.then(fn) : fn(t._data);
}
