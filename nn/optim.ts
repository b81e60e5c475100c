/**
 * Optimizers (SGD with momentum, AdamW) and global gradient-norm clipping, with torch.optim's update rules.
 *
 * A step computes each parameter's new value (SGD: tensor ops; AdamW: one kernel over all parameters at
 * once, see below) under noGrad, then swaps it into the parameter's storage (`p._data = next._data`): the
 * Tensor object stays the same, so modules keep their links. Optimizer state (moments, step counts) is kept
 * per parameter under its name (or index), so `stateDict()` / `loadStateDict()` resume a run exactly.
 *
 * Flat AdamW: when every parameter has a gradient and the same step count (every training step but odd
 * ones), and all of them together have at most 2^24 / 3 values (the kernel indexes in float32), AdamW updates all parameters and both moments in ONE kernel call over a flat buffer
 * [p | m | v] of 3N values (N = all parameters' values together). Parameters and moments are then views
 * of that buffer, which is the next step's input as it is (checked each step: a parameter or moment that
 * was replaced since, by loadStateDict or by hand, makes the step gather the buffer anew). Gradients are
 * gathered into one flat array (no copy when clipGradNorm left them as views of one already). Otherwise,
 * three kernels per parameter (the same arithmetic, bitwise the same results: spec/optim.spec.ts).
 * clipGradNorm likewise measures and scales all gradients as one flat tensor (a handful of kernel calls
 * instead of ~4 per parameter).
 *
 * @example
 * const opt = new AdamW(model.namedParameters(), { lr: 3e-4, weightDecay: 0.1 });
 * model.loss(ids, targets).backward();
 * clipGradNorm(model.parameters(), 1.0);
 * opt.step();
 * opt.zeroGrad();
 */
import { noGrad } from '../core/autograd.js';
import type { Data } from '../core/device.js';
import { kernel, type KernelThis } from '../core/kernel.js';
import { shapeStr } from '../core/shape.js';
import { outputArray, releaseArray, wrapperCount } from '../core/pool.js';
import { splitData } from '../ops/common.js';
import { copyValues, runKernel, Tensor } from '../core/tensor.js';

export type NamedParams = [string, Tensor][];
/** A set of parameters with its own weight decay (e.g. none for biases and norms). */
export interface ParamGroup {
  params: Tensor[] | NamedParams;
  weightDecay?: number;
}
export type ParamsInput = Tensor[] | NamedParams | ParamGroup[];

/** Everything needed to resume: tensors are stored under `${paramKey}.${slot}` (safetensors-friendly). */
export interface OptimizerState {
  /** Number of step() calls. */
  step: number;
  lr: number;
  /** Steps taken by each parameter (one that had no gradient skips a step, as in PyTorch). */
  paramSteps: Record<string, number>;
  tensors: Record<string, Tensor>;
}

interface Entry {
  key: string;
  p: Tensor;
  weightDecay: number;
}

interface ParamState {
  step: number;
  slots: Record<string, Tensor>;
}

function isGroup(x: unknown): x is ParamGroup {
  return typeof x === 'object' && x !== null && !(x instanceof Tensor) && !Array.isArray(x) && 'params' in x;
}

function entriesOf(op: string, params: ParamsInput, weightDecay: number): Entry[] {
  const groups: ParamGroup[] = params.length > 0 && isGroup(params[0]) ? (params as ParamGroup[]) : [{ params: params as Tensor[] | NamedParams }];
  const out: Entry[] = [];
  const seen = new Set<Tensor>();
  for (const g of groups) {
    for (const item of g.params) {
      const [key, p] = Array.isArray(item) ? item : [String(out.length), item];
      if (!(p instanceof Tensor)) throw new Error(`${op}: parameters must be Tensors (or [name, Tensor] pairs)`);
      if (!p.requiresGrad) throw new Error(`${op}: parameter '${key}' ${shapeStr(p.shape)} does not require grad`);
      if (seen.has(p)) throw new Error(`${op}: parameter '${key}' is listed twice`);
      if (out.some((e) => e.key === key)) throw new Error(`${op}: two parameters are named '${key}'`);
      seen.add(p);
      out.push({ key, p, weightDecay: g.weightDecay ?? weightDecay });
    }
  }
  if (out.length === 0) throw new Error(`${op}: got an empty parameter list`);
  return out;
}

/** The shared machinery: parameter bookkeeping, state dicts, zeroGrad; subclasses give `update`. */
export abstract class Optimizer {
  /** Learning rate; set it every step from a schedule. */
  lr: number;
  stepCount = 0;
  protected readonly entries: Entry[];
  protected readonly state = new Map<string, ParamState>();

  constructor(readonly name: string, params: ParamsInput, lr: number, weightDecay: number) {
    if (!(lr >= 0)) throw new Error(`${name}: lr must be >= 0, got ${lr}`);
    this.lr = lr;
    this.entries = entriesOf(name, params, weightDecay);
  }

  /** New value of one parameter (under noGrad); may replace `st.slots`. `st.step` is already incremented. */
  protected abstract update(p: Tensor, g: Tensor, st: ParamState, weightDecay: number): Tensor;

  step(): void {
    this.stepCount++;
    noGrad(() => {
      for (const e of this.entries) {
        const g = e.p.grad;
        if (!g) continue;
        let st = this.state.get(e.key);
        if (!st) this.state.set(e.key, (st = { step: 0, slots: {} }));
        st.step++;
        e.p._data = this.update(e.p, g, st, e.weightDecay)._data;
      }
    });
  }

  zeroGrad(): void {
    for (const e of this.entries) e.p.zeroGrad();
  }

  stateDict(): OptimizerState {
    // prototype-free, so a parameter named "__proto__" is stored like any other
    const tensors: Record<string, Tensor> = Object.create(null);
    const paramSteps: Record<string, number> = Object.create(null);
    for (const [key, st] of this.state) {
      paramSteps[key] = st.step;
      // copies: the moments are views of a buffer the next step reuses (flat AdamW, core/pool.ts)
      for (const [slot, t] of Object.entries(st.slots)) tensors[`${key}.${slot}`] = new Tensor(copyValues(t), t.shape, t.device);
    }
    return { step: this.stepCount, lr: this.lr, paramSteps, tensors };
  }

  /** Restore step counts, lr and moment tensors (copied onto each parameter's device). */
  loadStateDict(s: OptimizerState): void {
    const byKey = new Map(this.entries.map((e) => [e.key, e]));
    const unknown = Object.keys(s.paramSteps).filter((k) => !byKey.has(k));
    if (unknown.length) throw new Error(`${this.name}.loadStateDict: state for unknown parameters: ${unknown.join(', ')} (known: ${[...byKey.keys()].join(', ')})`);
    const state = new Map<string, ParamState>();
    for (const [key, step] of Object.entries(s.paramSteps)) state.set(key, { step, slots: {} });
    for (const [name, t] of Object.entries(s.tensors)) {
      const dot = name.lastIndexOf('.');
      const key = name.slice(0, dot);
      const e = byKey.get(key);
      const st = state.get(key);
      if (!e || !st) throw new Error(`${this.name}.loadStateDict: tensor '${name}' belongs to no parameter with a step count`);
      if (t.shape.length !== e.p.shape.length || t.shape.some((d, i) => d !== e.p.shape[i])) {
        throw new Error(`${this.name}.loadStateDict: '${name}' has shape ${shapeStr(t.shape)}, parameter '${key}' has ${shapeStr(e.p.shape)}`);
      }
      st.slots[name.slice(dot + 1)] = new Tensor(copyValues(t, e.p.device), t.shape, e.p.device);
    }
    this.state.clear();
    for (const [k, v] of state) this.state.set(k, v);
    this.stepCount = s.step;
    this.lr = s.lr;
  }
}

export interface SgdOpts {
  lr: number;
  momentum?: number;
  /** L2 penalty added to the gradient (coupled, as torch.optim.SGD). */
  weightDecay?: number;
  nesterov?: boolean;
}

/**
 * torch.optim.SGD without dampening: g += wd p; buf = momentum buf + g (buf = g at the first step);
 * p -= lr (nesterov ? g + momentum buf : buf).
 * @example
 * const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
 */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly nesterov: boolean;
  constructor(params: ParamsInput, opts: SgdOpts) {
    super('SGD', params, opts.lr, opts.weightDecay ?? 0);
    this.momentum = opts.momentum ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (!(this.momentum >= 0)) throw new Error(`SGD: momentum must be >= 0, got ${this.momentum}`);
    if (this.nesterov && this.momentum === 0) throw new Error('SGD: nesterov needs momentum > 0');
  }
  protected update(p: Tensor, g: Tensor, st: ParamState, wd: number): Tensor {
    let d = wd ? g.add(p.mul(wd)) : g;
    if (this.momentum) {
      const prev = st.slots.momentumBuffer;
      const buf = prev ? prev.mul(this.momentum).add(d) : d;
      st.slots.momentumBuffer = buf;
      d = this.nesterov ? d.add(buf.mul(this.momentum)) : buf;
    }
    return p.sub(d.mul(this.lr));
  }
}

export interface AdamWOpts {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  /** Decoupled weight decay: p *= 1 - lr wd before the Adam step (default 0.01, as PyTorch). */
  weightDecay?: number;
  /**
   * Update every parameter in one kernel call over a flat [p | m | v] buffer when all have gradients and
   * step counts alike (default true, as PyTorch's `fused`); false: three kernels per parameter. The two
   * give bitwise the same values.
   */
  fused?: boolean;
}

/**
 * torch.optim.AdamW: p *= 1 - lr wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * @example
 * const opt = new AdamW(model.namedParameters(), { lr: 1e-3, betas: [0.9, 0.95], weightDecay: 0.1 });
 */
export class AdamW extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly fused: boolean;
  constructor(params: ParamsInput, opts: AdamWOpts = {}) {
    super('AdamW', params, opts.lr ?? 1e-3, opts.weightDecay ?? 0.01);
    this.fused = opts.fused ?? true;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    const [b1, b2] = this.betas;
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) throw new Error(`AdamW: betas must be in [0, 1), got [${b1}, ${b2}]`);
  }
  /** One kernel for every parameter when they all have gradients and step counts alike; else per parameter. */
  override step(): void {
    const first = this.entries[0];
    const steps = this.state.get(first.key)?.step ?? 0;
    // the flat buffer's 3N values must be indexable by the device's kernels (float32 indices: 2^24 at most)
    const N = this.entries.reduce((a, e) => a + e.p.numel, 0);
    const fits = 3 * N <= Math.min(2 ** 24, first.p.device.maxElements);
    const flat = this.fused && fits && this.entries.every((e) => e.p.grad && e.p.device === first.p.device && (this.state.get(e.key)?.step ?? 0) === steps);
    if (!flat) return super.step();
    this.stepCount++;
    noGrad(() => this.flatStep(steps + 1));
  }

  private flatBuffer: { pmv: Data | Promise<Data>; views: (Data | Promise<Data>)[]; bounds: Tensor; decays: number[] } | null = null;

  private flatStep(t: number): void {
    const es = this.entries;
    const dev = es[0].p.device;
    const sizes = es.map((e) => e.p.numel);
    const N = sizes.reduce((a, b) => a + b, 0);
    const [b1, b2] = this.betas;
    for (const e of es) {
      let st = this.state.get(e.key);
      if (!st) this.state.set(e.key, (st = { step: 0, slots: {} }));
      st.step = t;
    }
    // [p | m | v]: last step's output when nothing was replaced since, else gathered anew
    const slots = es.map((e) => this.state.get(e.key)!.slots);
    const now = [...es.map((e) => e.p._data), ...slots.map((s) => s.expAvg?._data), ...slots.map((s) => s.expAvgSq?._data)];
    let fb = this.flatBuffer;
    if (!fb || fb.views.length !== now.length || fb.views.some((v, i) => v !== now[i])) {
      const zeros = (e: Entry) => e.p.full([e.p.numel], 0);
      const parts = [...es.map((e) => e.p), ...slots.map((s, i) => s.expAvg ?? zeros(es[i])), ...slots.map((s, i) => s.expAvgSq ?? zeros(es[i]))];
      // runs of parameters with the same weight decay (each group's parameters lie together): where each ends
      const ends: number[] = [];
      const decays: number[] = [];
      let at = 0;
      es.forEach((e, i) => {
        at += sizes[i];
        if (decays.length && decays[decays.length - 1] === e.weightDecay) ends[ends.length - 1] = at;
        else (ends.push(at), decays.push(e.weightDecay));
      });
      fb = { pmv: concatData(parts), views: [], bounds: Tensor.fromValues(ends, [ends.length], dev), decays };
    }
    const gathered = flatGrads(es.map((e) => e.p.grad!));
    const g = gathered.data;
    const bc1 = 1 - Math.pow(b1, t);
    const bc2 = 1 - Math.pow(b2, t);
    const decay = Tensor.fromValues(fb.decays.map((wd) => (wd ? 1 - this.lr * wd : 1)), [fb.decays.length], dev);
    const args = [new Tensor(fb.pmv, [3 * N], dev), new Tensor(g, [N], dev), fb.bounds, decay, fb.decays.length];
    const out = runKernel(dev, adamFlatKernel, 3 * N, [...args, N, b1, b2, this.lr / bc1, Math.sqrt(bc2), this.eps]);
    // parameters, then first and second moments: views of the output (pool-aware: core/pool.ts)
    const all = [...sizes, ...sizes, ...sizes];
    const views = splitData(out, all);
    es.forEach((e, i) => {
      e.p._data = views[i];
      slots[i].expAvg = new Tensor(views[es.length + i], e.p.shape, dev);
      slots[i].expAvgSq = new Tensor(views[2 * es.length + i], e.p.shape, dev);
    });
    // the last step's buffer: each view back to the pool unless something besides its parameter or
    // moment was made over it (a detach, a copy in flight); the gathered inputs were this step's own
    for (const v of fb.views) if (wrapperCount(v) === 1) releaseArray(v);
    if (fb.views.length === 0) releaseArray(fb.pmv);
    if (gathered.copy) releaseArray(g);
    this.flatBuffer = { ...fb, pmv: out, views };
  }

  protected update(p: Tensor, g: Tensor, st: ParamState, wd: number): Tensor {
    const [b1, b2] = this.betas;
    const { expAvg, expAvgSq } = st.slots;
    const n = p.numel;
    const m = new Tensor(p.run(adamMomentKernel, n, [expAvg ?? g.zerosLike(), g, b1]), p.shape, p.device);
    const v = new Tensor(p.run(adamSquareKernel, n, [expAvgSq ?? g.zerosLike(), g, b2]), p.shape, p.device);
    st.slots.expAvg = m;
    st.slots.expAvgSq = v;
    const bc1 = 1 - Math.pow(b1, st.step);
    const bc2 = 1 - Math.pow(b2, st.step);
    return new Tensor(p.run(adamStepKernel, n, [p, m, v, wd ? 1 - this.lr * wd : 1, this.lr / bc1, Math.sqrt(bc2), this.eps]), p.shape, p.device);
  }
}

// AdamW in three kernels per parameter (it was 12 tensor ops):
//   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2,   p = p (1 - lr wd) - lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
function adamMoment(this: KernelThis, m: Float32Array, g: Float32Array, b1: number): number {
  return m[this.thread.x] * b1 + g[this.thread.x] * (1 - b1);
}
function adamSquare(this: KernelThis, v: Float32Array, g: Float32Array, b2: number): number {
  const gi = g[this.thread.x];
  return v[this.thread.x] * b2 + gi * gi * (1 - b2);
}
function adamStep(
  this: KernelThis, p: Float32Array, m: Float32Array, v: Float32Array, decay: number, stepSize: number, sqrtBc2: number, eps: number,
): number {
  return p[this.thread.x] * decay - (m[this.thread.x] / (Math.sqrt(v[this.thread.x]) / sqrtBc2 + eps)) * stepSize;
}
// All parameters at once over [p | m | v] (3N values) and the flat gradient g (N): thread t < N gives p,
// t < 2N gives m, else v, each from the same m and v arithmetic as above. Values before bounds[0] decay by
// decay[0] (1 - lr wd, computed in float64 per run of parameters with the same wd), then up to bounds[1]
// by decay[1], and so on for the G runs.
function adamFlat(
  this: KernelThis, pmv: Float32Array, g: Float32Array, bounds: Float32Array, decay: Float32Array, G: number,
  N: number, b1: number, b2: number, stepSize: number, sqrtBc2: number, eps: number,
): number {
  const t = this.thread.x;
  const part = Math.floor(t / N);
  const i = t - part * N;
  const gi = g[i];
  const m = pmv[N + i] * b1 + gi * (1 - b1);
  const v = pmv[2 * N + i] * b2 + gi * gi * (1 - b2);
  if (part === 1) return m;
  if (part === 2) return v;
  let d = decay[0];
  for (let k = 1; k < G; k++) {
    if (i >= bounds[k - 1]) d = decay[k];
  }
  return pmv[i] * d - (m / (Math.sqrt(v) / sqrtBc2 + eps)) * stepSize;
}
const adamFlatKernel = kernel(adamFlat);
const adamMomentKernel = kernel(adamMoment);
const adamSquareKernel = kernel(adamSquare);
const adamStepKernel = kernel(adamStep);

/**
 * Scale all gradients together so their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_:
 * factor min(1, maxNorm / (norm + 1e-6))). Returns the norm before clipping as a scalar tensor (read it with
 * `await norm.item()`); nothing is read back here, so it does not stall an async device.
 * @example
 * const norm = clipGradNorm(model.parameters(), 1.0);
 */
export function clipGradNorm(params: Tensor[] | NamedParams, maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const ps = params.map((x) => (Array.isArray(x) ? x[1] : x));
  const withGrad = ps.filter((p) => p.grad);
  if (withGrad.length === 0) {
    if (ps.length === 0) throw new Error('clipGradNorm: got an empty parameter list');
    return ps[0].scalar(0);
  }
  return noGrad(() => {
    // every gradient as one flat tensor: its norm, then all of them scaled in one kernel
    const dev = withGrad[0].device;
    if (withGrad.some((p) => p.device !== dev)) throw new Error(`clipGradNorm: parameters on different devices (${[...new Set(withGrad.map((p) => p.device.name))].join(', ')})`);
    const gathered = flatGrads(withGrad.map((p) => p.grad!));
    const g = new Tensor(gathered.data, [withGrad.reduce((a, p) => a + p.numel, 0)], dev);
    const sq = g.square();
    const total = sq.sum().sqrt();
    const coef = total.add(1e-6).reciprocal().mul(maxNorm).minimum(1);
    const scaled = g.mul(coef)._data;
    // this function's own temporaries go back to the pool
    releaseArray(sq._data);
    if (gathered.copy) releaseArray(gathered.data);
    let at = 0;
    for (const p of withGrad) {
      p.grad = new Tensor(viewData(scaled, at, p.numel), p.shape, dev);
      at += p.numel;
    }
    return total;
  });
}

/** n values of `d` from `from` on, as a view (no copy); waits for pending data. */
function viewData(d: Data | Promise<Data>, from: number, n: number): Data | Promise<Data> {
  const cut = (x: Data) => x.subarray(from, from + n) as Data;
  return d instanceof Promise ? d.then(cut) : cut(d);
}

/** The tensors' values one after another in one array (a copy: host memory, as every device's data is). */
function concatData(ts: Tensor[]): Data | Promise<Data> {
  const join = (ds: Data[]): Data => {
    const n = ds.reduce((a, d) => a + d.length, 0);
    const out = ds[0] instanceof Float32Array ? outputArray(n) : new Float64Array(n);
    let at = 0;
    for (const d of ds) {
      out.set(d, at);
      at += d.length;
    }
    return out;
  };
  const ds = ts.map((t) => t._data);
  return ds.some((d) => d instanceof Promise) ? Promise.all(ds).then(join) : join(ds as Data[]);
}

/**
 * Gradients as one flat array: the array they are views of when they already lie one after another in it
 * in this order (as clipGradNorm leaves them), else a copy.
 */
function flatGrads(gs: Tensor[]): { data: Data | Promise<Data>; copy: boolean } {
  const ds = gs.map((g) => g._data);
  if (ds.every((d) => !(d instanceof Promise))) {
    const arrs = ds as Data[];
    const buf = arrs[0].buffer;
    let next = arrs[0].byteOffset;
    let whole = true;
    for (const d of arrs) {
      if (d.buffer !== buf || d.byteOffset !== next || d.constructor !== arrs[0].constructor) {
        whole = false;
        break;
      }
      next += d.byteLength;
    }
    if (whole) {
      const n = arrs.reduce((a, d) => a + d.length, 0);
      const all = new (arrs[0].constructor as Float32ArrayConstructor)(buf, arrs[0].byteOffset, n);
      return { data: all, copy: false };
    }
  }
  return { data: concatData(gs), copy: true };
}
