/**
 * Reverse-mode autograd: graph recording, `backward`, `noGrad`, and the functional `grad`.
 *
 * Each op that involves a tensor needing a gradient records a Node: its inputs and a backward rule that
 * maps the output's gradient to one gradient per input, written with Tensor ops (so the result is itself
 * differentiable: grad of grad). Rules may return gradients in the broadcast output shape; the engine sums
 * them back to each input's shape here, in `sumTo` — the one place un-broadcasting happens.
 */
import { environmentVariable } from './environment.js';
import { isRecyclable, releaseArray, wrapperCount } from './pool.js';
import type { Tensor } from './tensor.js';

export interface Node {
  op: string;
  inputs: Tensor[];
  /** Gradient of the loss w.r.t. each input (null = none), given the output's gradient. */
  backward: (g: Tensor, out: Tensor) => (Tensor | null)[];
  /**
   * Tensors the rule keeps that are neither inputs nor the output (e.g. a fused op's saved statistics):
   * `backward({ freeGraph: true })` frees them with the graph.
   */
  saved?: Tensor[];
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Turn graph recording on or off; returns the previous setting. */
export function setGradEnabled(on: boolean): boolean {
  const prev = gradEnabled;
  gradEnabled = on;
  return prev;
}

/**
 * Run `fn` without recording a graph (as `torch.no_grad`). `fn` must be synchronous: for async work, use
 * `setGradEnabled(false)` around it.
 * @example const y = noGrad(() => w.mul(2)); // y.requiresGrad === false
 */
export function noGrad<T>(fn: () => T): T {
  const prev = setGradEnabled(false);
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error('noGrad: fn returned a Promise; noGrad only covers synchronous code (use setGradEnabled for async)');
    return r;
  } finally {
    setGradEnabled(prev);
  }
}

let fusedAllowed = environmentVariable('TSGRAD_FUSED_BACKWARD') !== '0';

/** Turn fused backward kernels off (every backward then runs as Tensor ops) or on; returns the previous setting. */
export function setFusedBackward(on: boolean): boolean {
  const prev = fusedAllowed;
  fusedAllowed = on;
  return prev;
}

/**
 * A backward rule that has a fused kernel. `fused` computes the gradient in a few kernels but records no
 * graph; `composed` computes the same with Tensor ops, which record one. While a backward pass builds a
 * graph (`createGraph`, `grad`: grad of grad) the composed rule runs, so higher derivatives keep working;
 * otherwise the fused one. The spec checks that both agree (spec/fused.spec.ts).
 */
export function fusedBackward<T>(fused: () => T, composed: () => T): T {
  return gradEnabled || !fusedAllowed ? composed() : fused();
}

/** Attach a backward rule to `out` when grad mode is on and an input needs a gradient. */
export function record(out: Tensor, op: string, inputs: Tensor[], backward: Node['backward'], saved?: Tensor[]): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out._node = saved ? { op, inputs, backward, saved } : { op, inputs, backward };
  }
  return out;
}

/** Sum a gradient that has the broadcast shape down to `shape` (the single un-broadcasting step). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.shape.length - shape.length;
  if (lead < 0) throw new Error(`sumTo: gradient shape [${g.shape}] has lower rank than input [${shape}]`);
  const dims: number[] = [];
  for (let i = 0; i < g.shape.length; i++) {
    if (i < lead) dims.push(i);
    else if (shape[i - lead] === 1 && g.shape[i] !== 1) dims.push(i);
    else if (shape[i - lead] !== g.shape[i]) throw new Error(`sumTo: gradient shape [${g.shape}] does not broadcast from [${shape}]`);
  }
  return g.sum(dims, true).reshape([...shape]);
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, done] = stack.pop()!;
    if (done) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const i of t._node?.inputs ?? []) if (i.requiresGrad && !seen.has(i)) stack.push([i, false]);
  }
  return order; // inputs before outputs
}

/**
 * Propagate `seed` from `root` through the graph; returns the gradient of every tensor reached (with
 * `recycle`, only the leaves' and inputs' gradients: see `GradientRecycler`).
 */
export function propagate(root: Tensor, seed: Tensor, createGraph: boolean, recycle = false): Map<Tensor, Tensor> {
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  const order = topoOrder(root);
  const prev = setGradEnabled(createGraph);
  const rec = recycle && !createGraph ? new GradientRecycler(grads, seed) : null;
  try {
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      const g = grads.get(t);
      if (!g || !t._node) continue;
      const gs = t._node.backward(g, t);
      t._node.inputs.forEach((inp, i) => {
        const gi = gs[i];
        if (!gi || !inp.requiresGrad) return;
        const reduced = sumTo(gi, inp.shape);
        const acc = grads.get(inp);
        grads.set(inp, acc ? acc.add(reduced) : reduced);
        rec?.replaced(acc, reduced, gi);
      });
      rec?.consumed(t, g, gs);
    }
  } finally {
    setGradEnabled(prev);
  }
  return grads;
}

/**
 * Gives the backward pass's own gradients back to the buffer pool (core/pool.ts) once they are dead: a
 * non-leaf's gradient once its node has run; an accumulator replaced by its sum and a gradient added into
 * one once added. A buffer goes back when as many of the tensors ever made over it (the pool counts them)
 * are dead: so a view or a rule's temporary that still wraps it, a leaf's gradient (kept for `.grad`), the
 * seed and anything made before the pass keep it.
 */
class GradientRecycler {
  private readonly deadPerBuffer = new Map<unknown, number>();
  private readonly dead = new Set<Tensor>();

  /** The seed is the caller's: never counted dead, so its array never goes back. */
  constructor(private readonly grads: Map<Tensor, Tensor>, seed: Tensor) {
    this.dead.add(seed);
  }

  /** After `grads.set(inp, acc ? acc + reduced : reduced)`. */
  replaced(acc: Tensor | undefined, reduced: Tensor, gi: Tensor): void {
    if (!acc) return;
    this.maybeDead(acc);
    this.maybeDead(reduced);
    if (gi !== reduced) this.maybeDead(gi);
  }

  /** After node t (with gradient g and input gradients gs) has run: its own gradient is dead. */
  consumed(t: Tensor, g: Tensor, gs: (Tensor | null)[]): void {
    this.grads.delete(t);
    this.maybeDead(g);
    for (const x of gs) if (x) this.maybeDead(x);
  }

  /** Dead unless a table entry still holds it. */
  private maybeDead(x: Tensor): void {
    const d = x._data;
    if (this.dead.has(x) || !isRecyclable(d)) return;
    for (const v of this.grads.values()) if (v === x) return;
    this.dead.add(x);
    const n = (this.deadPerBuffer.get(d) ?? 0) + 1;
    if (n === wrapperCount(d)) {
      this.deadPerBuffer.delete(d); // its next life (the pool may hand it out again in this pass) counts afresh
      releaseArray(d);
    } else this.deadPerBuffer.set(d, n);
  }
}

/**
 * Free the graph below `root` (`backward({ freeGraph: true })`): every intermediate tensor (made by an op,
 * needing a gradient, not the root) is marked freed (reading it throws) and cut from the graph, and its
 * memory goes back to the pool when all the tensors ever made over it are among them. The root keeps its
 * values; a second backward through it throws.
 */
function freeGraph(root: Tensor): void {
  if (!root._node) return; // a leaf, or a graph an earlier freeGraph cut: nothing to free
  const nodes = topoOrder(root).filter((t) => t._node && t !== root);
  const inner = [...new Set([...nodes, ...[root, ...nodes].flatMap((t) => t._node?.saved ?? [])])];
  const perBuffer = new Map<unknown, number>();
  for (const t of inner) {
    const d = t._data;
    if (isRecyclable(d)) perBuffer.set(d, (perBuffer.get(d) ?? 0) + 1);
  }
  // every freed node (and the root's) throws if a later backward reaches it, e.g. through a second loss
  // that shares these intermediates: it would otherwise stop there as if at a leaf, silently
  for (const t of [root, ...nodes]) t._node = freedNode(t._node!.op);
  for (const t of inner) t._freed = true;
  for (const [d, n] of perBuffer) if (n === wrapperCount(d)) releaseArray(d);
}

function freedNode(op: string): Node {
  return {
    op,
    inputs: [],
    backward: () => {
      throw new Error(`backward: the graph through this ${op} output was freed by an earlier backward({ freeGraph: true }); build it again (run the forward pass) or drop freeGraph`);
    },
  };
}

/**
 * `loss.backward()`: accumulate d(root)/d(leaf) into every leaf's `.grad` (leaves: requiresGrad tensors no
 * op made). The graph is kept, so calling backward again on the same graph adds the same gradients again
 * (PyTorch's `retain_graph=True` behaviour); call `zeroGrad` between steps. With `free`
 * (`loss.backward({ freeGraph: true })`) the graph's intermediate tensors are freed afterwards and their
 * memory reused (see `freeGraph`): what a training step wants.
 */
export function backward(root: Tensor, seed: Tensor, createGraph = false, free = false): void {
  if (!root.requiresGrad) {
    throw new Error(`backward: the tensor does not require grad (shape [${root.shape}]); no input had requiresGrad: true, or it was built under noGrad`);
  }
  if (seed.shape.length !== root.shape.length || seed.shape.some((d, i) => d !== root.shape[i])) {
    throw new Error(
      `backward: the gradient has shape [${seed.shape}] but the output has shape [${root.shape}]; ` +
        `pass a gradient of exactly the output's shape (it is not broadcast)`,
    );
  }
  if (seed.device !== root.device) {
    throw new Error(`backward: the gradient is on device ${seed.device.name} but the output is on ${root.device.name}; move it with .to('${root.device.name}')`);
  }
  const grads = propagate(root, seed, createGraph, true);
  for (const [t, g] of grads) {
    if (t._node) continue; // only leaves keep .grad
    const acc = t.grad ? t.grad.add(g) : g;
    t.grad = createGraph ? acc : acc.detach();
  }
  if (free && !createGraph) freeGraph(root);
}

/**
 * Functional gradient (as `jax.grad`): `grad(f)(x, y)` returns [df/dx, df/dy] as tensors that carry their
 * own graph, so they can be differentiated again. `f` must return a tensor with one element.
 * @example
 * const [dx] = grad((x) => x.tanh().sum())(x);       // 1 - tanh(x)^2
 * const [ddx] = grad((x) => grad((x) => x.tanh().sum())(x)[0].sum())(x);
 */
export function grad(f: (...xs: Tensor[]) => Tensor): (...inputs: Tensor[]) => Tensor[] {
  return (...inputs: Tensor[]) => {
    const xs = inputs.map((x) => (x.requiresGrad ? x : x.detach().requiresGrad_(true)));
    const prev = setGradEnabled(true);
    let y: Tensor;
    try {
      y = f(...xs);
    } finally {
      setGradEnabled(prev);
    }
    if (typeof y !== 'object' || y === null || !Array.isArray((y as Partial<Tensor>).shape)) {
      throw new Error(`grad: f must return a Tensor with one element, got ${y === null ? 'null' : typeof y}`);
    }
    if (y.numel !== 1) {
      throw new Error(
        `grad: grad can be implicitly created only for scalar outputs, and f returned shape [${y.shape}]; ` +
          `make f return a one-element tensor (e.g. end it with .sum())`,
      );
    }
    if (!y.requiresGrad) return xs.map((x) => x.zerosLike());
    const grads = propagate(y, y.onesLike(), true);
    return xs.map((x) => grads.get(x) ?? x.zerosLike());
  };
}
