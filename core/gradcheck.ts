/**
 * gradcheck: compare autograd's gradients with central finite differences on the float64 reference device
 * (PyTorch's defaults: eps 1e-6, pass when |analytic - numeric| <= atol + rtol |numeric|, atol 1e-5, rtol 1e-3).
 *
 * Small problems compare the full Jacobian; large ones use random directions (as JAX's check_grads):
 * <t, J^T c> (autograd, one backward pass) must equal <J t, c> (finite differences along t).
 */
import { propagate, setGradEnabled } from './autograd.js';
import { device } from './device.js';
import { Generator } from './rng.js';
import { shapeStr } from './shape.js';
import { Tensor } from './tensor.js';

export interface GradcheckOpts {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Use the full Jacobian when inputs x outputs elements are at most this; else random directions. */
  maxJacobian?: number;
  /** Number of random directions when the Jacobian is too large. */
  directions?: number;
  seed?: number;
}

export interface GradcheckReport {
  ok: boolean;
  mode: 'jacobian' | 'directions';
  /** The worst comparison: which input and element (or direction), both values and the allowed error. */
  worst: { input: number; index: number; analytic: number; numeric: number; error: number; allowed: number };
  message: string;
}

type Fn = (...xs: Tensor[]) => Tensor;

function valuesOf(t: Tensor): Float64Array {
  const d = t.dataSync();
  return d instanceof Float64Array ? d : Float64Array.from(d);
}

/**
 * Check f's gradients at `inputs` (float tensors; moved to the reference device). Throws when there is
 * nothing to compare (no non-empty float32 input, or an output with no elements): that is never a pass.
 * @example
 * const r = gradcheck((x) => x.tanh().sum(), [randn([3, 4])]);
 * if (!r.ok) throw new Error(r.message);
 */
export function gradcheck(f: Fn, inputs: Tensor[], opts: GradcheckOpts = {}): GradcheckReport {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-3;
  const ref = device('reference');
  const base = inputs.map((x) => valuesOf(x.to('reference')));
  const leaf = (vals: Float64Array[], i: number, grad: boolean): Tensor => {
    const t = new Tensor(Float64Array.from(vals[i]), inputs[i].shape, ref, inputs[i].dtype);
    if (grad && inputs[i].dtype === 'float32') t.requiresGrad = true;
    return t;
  };
  const evalAt = (vals: Float64Array[]): Float64Array => {
    const prev = setGradEnabled(false);
    try {
      return valuesOf(f(...vals.map((_, i) => leaf(vals, i, false))));
    } finally {
      setGradEnabled(prev);
    }
  };
  const y0 = evalAt(base);
  const m = y0.length;
  const diffable = inputs.map((x) => x.dtype === 'float32');
  const n = base.reduce((p, v, i) => p + (diffable[i] ? v.length : 0), 0);
  const directions = opts.directions ?? 3;
  if (n === 0 || m === 0 || (n * m > (opts.maxJacobian ?? 4096) && directions < 1)) {
    const passed = inputs.map((x) => `${x.dtype} ${shapeStr(x.shape)}`).join(', ') || 'no inputs';
    const why =
      n === 0 ? 'no float32 input has an element to perturb' : m === 0 ? 'f returned a tensor with no elements' : `opts.directions is ${directions}`;
    throw new Error(
      `gradcheck: nothing to compare (${why}); got inputs [${passed}] and an output of ${m} elements. ` +
        `Pass at least one non-empty float32 input that f depends on, make f return at least one element, and use directions >= 1`,
    );
  }

  // one backward pass with seed c; returns d<c, y>/d(input) for every input
  const vjp = (c: Float64Array): Float64Array[] => {
    const xs = base.map((_, i) => leaf(base, i, true));
    const prev = setGradEnabled(true);
    let y: Tensor;
    try {
      y = f(...xs);
    } finally {
      setGradEnabled(prev);
    }
    if (!y.requiresGrad) return xs.map((x) => new Float64Array(x.numel));
    const grads = propagate(y, new Tensor(c, y.shape, ref), false);
    return xs.map((x) => {
      const g = grads.get(x);
      return g ? valuesOf(g) : new Float64Array(x.numel);
    });
  };
  // finite-difference derivative of y along direction t (per input)
  const jvpNumeric = (dir: Float64Array[]): Float64Array => {
    const plus = base.map((v, i) => v.map((x, k) => x + (diffable[i] ? eps * dir[i][k] : 0)));
    const minus = base.map((v, i) => v.map((x, k) => x - (diffable[i] ? eps * dir[i][k] : 0)));
    const yp = evalAt(plus);
    const ym = evalAt(minus);
    return yp.map((v, k) => (v - ym[k]) / (2 * eps));
  };

  let worst: GradcheckReport['worst'] | null = null;
  let worstRatio = -Infinity;
  const compare = (input: number, index: number, analytic: number, numeric: number) => {
    const error = Math.abs(analytic - numeric);
    const allowed = atol + rtol * Math.abs(numeric);
    const ratio = Number.isNaN(error) ? Infinity : error / allowed;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = { input, index, analytic, numeric, error, allowed };
    }
  };

  const useJacobian = n * m <= (opts.maxJacobian ?? 4096);
  if (useJacobian) {
    const rows: Float64Array[][] = [];
    for (let o = 0; o < m; o++) {
      const c = new Float64Array(m);
      c[o] = 1;
      rows.push(vjp(c));
    }
    base.forEach((v, i) => {
      if (!diffable[i]) return;
      for (let k = 0; k < v.length; k++) {
        const dir = base.map((b, j) => {
          const d = new Float64Array(b.length);
          if (j === i) d[k] = 1;
          return d;
        });
        const col = jvpNumeric(dir);
        for (let o = 0; o < m; o++) compare(i, o * v.length + k, rows[o][i][k], col[o]);
      }
    });
  } else {
    const g = new Generator(opts.seed ?? 0);
    for (let r = 0; r < directions; r++) {
      const c = Float64Array.from({ length: m }, () => g.normal());
      const dir = base.map((b) => Float64Array.from({ length: b.length }, () => g.normal()));
      const gr = vjp(c);
      let analytic = 0;
      gr.forEach((gi, i) => {
        if (diffable[i]) for (let k = 0; k < gi.length; k++) analytic += gi[k] * dir[i][k];
      });
      const jt = jvpNumeric(dir);
      let numeric = 0;
      for (let o = 0; o < m; o++) numeric += jt[o] * c[o];
      compare(-1, r, analytic, numeric);
    }
  }
  const w = worst as GradcheckReport['worst'] | null;
  if (!w) throw new Error('gradcheck: internal error: no comparison was made although inputs and output have elements');
  const ok = worstRatio <= 1;
  const where = w.input >= 0 ? `input ${w.input} ${shapeStr(inputs[w.input].shape)}, Jacobian entry ${w.index}` : `random direction ${w.index}`;
  const message =
    `gradcheck ${ok ? 'passed' : 'FAILED'} (${useJacobian ? 'full Jacobian' : 'random directions'}): worst at ${where}: ` +
    `analytic ${w.analytic.toPrecision(8)} vs numeric ${w.numeric.toPrecision(8)}, error ${w.error.toExponential(2)} (allowed ${w.allowed.toExponential(2)})`;
  return { ok, mode: useJacobian ? 'jacobian' : 'directions', worst: w, message };
}
