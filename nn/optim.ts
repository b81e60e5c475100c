/**
 * Optimizers (SGD with momentum, AdamW) and global gradient-norm clipping, with torch.optim's update rules.
 *
 * A step computes each parameter's new value (SGD: tensor ops; AdamW: three fused kernels) under noGrad,
 * then swaps it into the parameter's storage (`p._data = next._data`): the Tensor object stays the same, so
 * modules keep their links. Optimizer state (moments, step counts) is kept per parameter under its name
 * (or index), so `stateDict()` / `loadStateDict()` resume a run exactly.
 *
 * @example
 * const opt = new AdamW(model.namedParameters(), { lr: 3e-4, weightDecay: 0.1 });
 * model.loss(ids, targets).backward();
 * clipGradNorm(model.parameters(), 1.0);
 * opt.step();
 * opt.zeroGrad();
 */
import { noGrad } from '../core/autograd.js';
import { kernel, type KernelThis } from '../core/kernel.js';
import { shapeStr } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';

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
      for (const [slot, t] of Object.entries(st.slots)) tensors[`${key}.${slot}`] = t;
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
      const dev = e.p.device;
      const data = t._data instanceof Promise ? t._data.then((d) => dev.fromValues(d)) : dev.fromValues(t._data);
      st.slots[name.slice(dot + 1)] = new Tensor(data, t.shape, dev);
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
  constructor(params: ParamsInput, opts: AdamWOpts = {}) {
    super('AdamW', params, opts.lr ?? 1e-3, opts.weightDecay ?? 0.01);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    const [b1, b2] = this.betas;
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) throw new Error(`AdamW: betas must be in [0, 1), got [${b1}, ${b2}]`);
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
    let sq: Tensor | null = null;
    for (const p of withGrad) {
      const s = p.grad!.square().sum();
      sq = sq ? sq.add(s) : s;
    }
    const total = sq!.sqrt();
    const coef = total.add(1e-6).reciprocal().mul(maxNorm).minimum(1);
    for (const p of withGrad) p.grad = p.grad!.mul(coef);
    return total;
  });
}
