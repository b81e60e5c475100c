/**
 * Module: the base class of every layer. It keeps a module's parameters, buffers and child modules in
 * registration order, so names and orders are deterministic, and gives PyTorch's housekeeping on top:
 * `namedParameters()`, `train()`/`eval()`, `zeroGrad()`, `stateDict()`/`loadStateDict()`.
 *
 * Registration is explicit (no field discovery): a layer calls `this.param(name, tensor)`,
 * `this.buffer(name, tensor)` and `this.child(name, module)` in its constructor, each of which returns
 * its argument so it can be kept in a typed field. Names are joined with dots: `blocks.0.attn.q.weight`.
 *
 * @example
 * class Affine extends Module {
 *   readonly w = this.param('w', init.ones([3]));
 *   forward(x: Tensor): Tensor { return x.mul(this.w); }
 * }
 * new Affine().namedParameters(); // [['w', Tensor([3])]]
 */
import { shapeStr } from '../core/shape.js';
import { copyValues, Tensor } from '../core/tensor.js';

/** What `loadStateDict` did not find or did not use (only non-strict loads return non-empty lists). */
export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export class Module {
  /** True in training mode (dropout active); set through `train()` / `eval()`, which reach every child. */
  training = true;
  private readonly _params = new Map<string, Tensor>();
  private readonly _buffers = new Map<string, Tensor>();
  private readonly _children = new Map<string, Module>();

  // ---- registration ---------------------------------------------------------------------------------------
  private checkName(kind: string, name: string): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw new Error(`${this.constructor.name}.${kind}: name must be a non-empty string without dots, got ${JSON.stringify(name)}`);
    }
    if (this._params.has(name) || this._buffers.has(name) || this._children.has(name)) {
      throw new Error(`${this.constructor.name}.${kind}: '${name}' is already registered on this module`);
    }
  }

  /** Register a trainable tensor (sets requiresGrad) and return it. */
  param(name: string, t: Tensor): Tensor {
    this.checkName('param', name);
    if (!(t instanceof Tensor)) throw new Error(`${this.constructor.name}.param('${name}'): expected a Tensor`);
    if (t._node) throw new Error(`${this.constructor.name}.param('${name}'): a parameter must be a leaf tensor; pass t.detach()`);
    if (t.dtype !== 'float32') throw new Error(`${this.constructor.name}.param('${name}'): parameters must be float32, got ${t.dtype}`);
    t.requiresGrad_(true);
    this._params.set(name, t);
    return t;
  }

  /** Register a non-trainable tensor that is saved in the state dict (e.g. a fixed token -> code map). */
  buffer(name: string, t: Tensor): Tensor {
    this.checkName('buffer', name);
    this._buffers.set(name, t);
    return t;
  }

  /** Register a child module and return it. */
  child<M extends Module>(name: string, m: M): M {
    this.checkName('child', name);
    if (!(m instanceof Module)) throw new Error(`${this.constructor.name}.child('${name}'): expected a Module`);
    this._children.set(name, m);
    return m;
  }

  // ---- traversal ------------------------------------------------------------------------------------------
  /** This module and every descendant with its dotted path ('' for this one), parents before children. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, m] of this._children) out.push(...m.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Direct children with their names, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this._children];
  }

  /**
   * Every parameter with its dotted name: own parameters first (registration order), then each child's.
   * A tensor registered twice (shared weights) is listed once, under its first name.
   */
  namedParameters(): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [n, p] of m._params) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([prefix ? `${prefix}.${n}` : n, p]);
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) for (const [n, b] of m._buffers) out.push([prefix ? `${prefix}.${n}` : n, b]);
    return out;
  }

  /** Total number of trainable scalars (shared tensors counted once). */
  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.numel, 0);
  }

  // ---- modes and gradients --------------------------------------------------------------------------------
  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  // ---- state ----------------------------------------------------------------------------------------------
  /** Parameters and buffers by dotted name, as detached tensors (values, not live links); a prototype-free map. */
  stateDict(): Record<string, Tensor> {
    const sd: Record<string, Tensor> = Object.create(null);
    for (const [n, t] of [...this.namedParameters(), ...this.namedBuffers()]) sd[n] = t.detach();
    return sd;
  }

  /**
   * Copy values into this module's parameters and buffers (onto their devices). Shape mismatches always
   * throw; missing and unexpected keys throw when `strict` (the default), else they are returned.
   */
  loadStateDict(sd: Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const own = new Map<string, Tensor>([...this.namedParameters(), ...this.namedBuffers()]);
    // own keys only: a name like "constructor" must not resolve through Object.prototype
    const given = (k: string): Tensor | undefined => (Object.hasOwn(sd, k) ? sd[k] : undefined);
    const missingKeys = [...own.keys()].filter((k) => !Object.hasOwn(sd, k));
    const unexpectedKeys = Object.keys(sd).filter((k) => !own.has(k));
    const misshaped: string[] = [];
    for (const [k, t] of own) {
      const src = given(k);
      if (!src) continue;
      if (!(src instanceof Tensor)) throw new Error(`loadStateDict: value for '${k}' is not a Tensor`);
      if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
        misshaped.push(`${k} (expected ${shapeStr(t.shape)}, got ${shapeStr(src.shape)})`);
      }
    }
    const problems: string[] = [];
    if (misshaped.length) problems.push(`mis-shaped keys: ${misshaped.join(', ')}`);
    if (strict && missingKeys.length) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    if (problems.length) {
      const hint = strict && misshaped.length === 0 ? ' (pass { strict: false } to load a subset)' : '';
      throw new Error(`${this.constructor.name}.loadStateDict: ${problems.join('; ')}${hint}`);
    }
    for (const [k, t] of own) {
      const src = given(k);
      if (src) t._data = copyValues(src, t.device); // a copy: the caller's tensor never aliases a parameter
    }
    return { missingKeys, unexpectedKeys };
  }
}

/**
 * An ordered list of modules, registered under '0', '1', ... (as torch.nn.ModuleList).
 * @example
 * const blocks = new ModuleList([new Linear(4, 4), new Linear(4, 4)]);
 * for (const b of blocks) x = b.forward(x);
 */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];
  constructor(modules: M[] = []) {
    super();
    for (const m of modules) this.push(m);
  }
  push(m: M): M {
    this.child(String(this.items.length), m);
    this.items.push(m);
    return m;
  }
  get(i: number): M {
    const m = this.items[i];
    if (!m) throw new Error(`ModuleList.get: index ${i} out of range (length ${this.items.length})`);
    return m;
  }
  get length(): number {
    return this.items.length;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
