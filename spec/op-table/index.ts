/**
 * The op table: one entry per op, saying how to draw a random test case for it. The spec suite walks this
 * table, so registering an op here enrols it in every test: gradients against finite differences (float64
 * reference), and each gpu.js device's forward and backward against the reference with the tolerances below.
 *
 * An entry's `sample` draws shapes and values from a seeded Sampler and returns the inputs plus how to
 * call the op on them. Values are kept away from kinks and poles by the domain of each input. Draw every random choice in
 * `sample`, never inside `call` (gradcheck calls it many times).
 */
import { Generator } from '../../core/rng.js';
import { numel } from '../../core/shape.js';
import type { Tensor } from '../../core/tensor.js';
import * as ops from '../../ops/index.js';
import { complexOpTable } from './complex.js';
import { vqOpTable } from './vq.js';

/**
 * any: (-2, 2); positive: (0.5, 2.5); nonzero: ±(0.3, 2); unit: (-0.9, 0.9); distinct: well-separated values;
 * wide: (-100, 100), half of them past ±89, where e^x overflows float32 (catches a naive softplus).
 */
export type Domain = 'any' | 'positive' | 'nonzero' | 'unit' | 'distinct' | 'wide';

export interface InputCase {
  shape: number[];
  values: number[];
  dtype?: 'float32' | 'int32';
}

export interface OpCase {
  inputs: InputCase[];
  call: (xs: Tensor[]) => Tensor;
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface OpEntry {
  name: string;
  sample: (r: Sampler) => OpCase;
  /** false for ops with no gradient (comparisons, oneHot, causalMask). */
  grad?: boolean;
  /** Allowed float32-device vs float64-reference difference (forward, backward). */
  tol?: { fwd?: Tolerance; bwd?: Tolerance };
  /** Exported ops this entry tests besides the one its name starts with (spec/op-coverage.spec.ts). */
  covers?: string[];
}

export const DEFAULT_TOL = { fwd: { atol: 1e-5, rtol: 1e-4 }, bwd: { atol: 1e-4, rtol: 1e-3 } };

/** Seeded drawing of shapes, dims and values for test cases. */
export class Sampler {
  readonly g: Generator;
  constructor(seed: number, readonly maxDim = 4) {
    this.g = new Generator(seed);
  }
  int(lo: number, hi: number): number {
    return lo + this.g.int(hi - lo + 1);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.g.int(xs.length)];
  }
  /** A shape of rank minRank..maxRank with dims 1..maxDim (size-1 axes included). */
  shape(minRank = 0, maxRank = 3): number[] {
    return Array.from({ length: this.int(minRank, maxRank) }, () => this.int(1, this.maxDim));
  }
  /** A shape that broadcasts to `s`: some leading dims dropped, some dims set to 1. */
  broadcastOf(s: number[]): number[] {
    const drop = this.int(0, s.length);
    return s.slice(drop).map((d) => (this.g.random() < 0.3 ? 1 : d));
  }
  dim(rank: number): number {
    return this.int(0, rank - 1) - (this.g.random() < 0.5 ? rank : 0);
  }
  values(n: number, domain: Domain = 'any'): number[] {
    const u = () => this.g.random();
    switch (domain) {
      case 'positive':
        return Array.from({ length: n }, () => 0.5 + 2 * u());
      case 'nonzero':
        return Array.from({ length: n }, () => (u() < 0.5 ? -1 : 1) * (0.3 + 1.7 * u()));
      case 'unit':
        return Array.from({ length: n }, () => 1.8 * u() - 0.9);
      case 'wide':
        return Array.from({ length: n }, () => (u() < 0.5 ? -1 : 1) * (u() < 0.5 ? 89 + 11 * u() : 89 * u()));
      case 'distinct': {
        const v = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.25 + 0.05 * u());
        for (let i = n - 1; i > 0; i--) {
          const j = this.g.int(i + 1);
          [v[i], v[j]] = [v[j], v[i]];
        }
        return v;
      }
      default:
        return Array.from({ length: n }, () => 4 * u() - 2);
    }
  }
  floats(shape: number[], domain: Domain = 'any'): InputCase {
    return { shape, values: this.values(numel(shape), domain) };
  }
  ints(shape: number[], lo: number, hi: number): InputCase {
    return { shape, values: Array.from({ length: numel(shape) }, () => this.int(lo, hi)), dtype: 'int32' };
  }
}

const unary = (name: string, f: (x: Tensor) => Tensor, domain: Domain = 'any', tol?: OpEntry['tol']): OpEntry => ({
  name,
  sample: (r) => ({ inputs: [r.floats(r.shape(), domain)], call: ([x]) => f(x) }),
  tol,
});

const binary = (name: string, f: (a: Tensor, b: Tensor) => Tensor, da: Domain = 'any', db: Domain = 'any', grad = true): OpEntry => ({
  name,
  grad,
  sample: (r) => {
    const s = r.shape();
    const [sa, sb] = r.g.random() < 0.5 ? [s, r.broadcastOf(s)] : [r.broadcastOf(s), s];
    return { inputs: [r.floats(sa, da), r.floats(sb, db)], call: ([a, b]) => f(a, b) };
  },
});

const reduction = (name: string, f: (x: Tensor, dim: number[] | undefined, keep: boolean) => Tensor, domain: Domain = 'any', minDim = 1): OpEntry => ({
  name,
  sample: (r) => {
    const s = r.shape(1, 4).map((d) => Math.max(d, minDim));
    const all = r.g.random() < 0.2;
    const dims = all ? undefined : [...new Set(Array.from({ length: r.int(1, s.length) }, () => r.dim(s.length)).map((d) => (d + s.length) % s.length))];
    const keep = r.g.random() < 0.5;
    return { inputs: [r.floats(s, domain)], call: ([x]) => f(x, dims, keep) };
  },
});

export const opTable: OpEntry[] = [
  // elementwise (ops/elementwise.ts)
  unary('neg', ops.neg),
  unary('exp', ops.exp),
  unary('log', ops.log, 'positive'),
  unary('sqrt', ops.sqrt, 'positive'),
  unary('rsqrt', ops.rsqrt, 'positive'),
  unary('abs', ops.abs, 'nonzero'),
  unary('sin', ops.sin),
  unary('cos', ops.cos),
  unary('tanh', ops.tanh),
  unary('sigmoid', ops.sigmoid),
  unary('relu', ops.relu, 'nonzero'),
  unary('gelu', ops.gelu),
  unary('silu', ops.silu),
  unary('softplus', ops.softplus, 'wide'),
  { ...unary('sign', ops.sign, 'nonzero'), grad: false },
  unary('square', ops.square),
  unary('reciprocal', ops.reciprocal, 'nonzero'),
  unary('powScalar', (x) => ops.powScalar(x, 2.5), 'positive'),
  // binary with broadcasting (ops/binary.ts)
  binary('add', ops.add),
  binary('sub', ops.sub),
  binary('mul', ops.mul),
  binary('div', ops.div, 'any', 'nonzero'),
  binary('maximum', ops.maximum, 'distinct', 'distinct'),
  binary('minimum', ops.minimum, 'distinct', 'distinct'),
  binary('atan2', ops.atan2, 'nonzero', 'nonzero'),
  binary('powTensor', ops.powTensor, 'positive', 'any'),
  // complex numbers as (re, im) pairs, for complex attention (ops/complex.ts)
  ...complexOpTable,
  // comparisons and where (ops/compare.ts)
  binary('gt', ops.gt, 'distinct', 'distinct', false),
  binary('ge', ops.ge, 'distinct', 'distinct', false),
  binary('lt', ops.lt, 'distinct', 'distinct', false),
  binary('le', ops.le, 'distinct', 'distinct', false),
  binary('eq', (a, b) => ops.eq(a.gt(0), b.gt(0)), 'nonzero', 'nonzero', false),
  binary('ne', (a, b) => ops.ne(a.gt(0), b.gt(0)), 'nonzero', 'nonzero', false),
  {
    name: 'where',
    sample: (r) => {
      const s = r.shape();
      return { inputs: [r.floats(r.broadcastOf(s), 'nonzero'), r.floats(s), r.floats(r.broadcastOf(s))], call: ([c, a, b]) => ops.where(c.gt(0), a, b) };
    },
  },
  // reductions (ops/reduce.ts)
  reduction('sum', (x, d, k) => ops.sum(x, d, k)),
  reduction('mean', (x, d, k) => ops.mean(x, d, k)),
  reduction('max', (x, d, k) => ops.max(x, d, k), 'distinct'),
  reduction('min', (x, d, k) => ops.min(x, d, k), 'distinct'),
  reduction('logsumexp', (x, d, k) => ops.logsumexp(x, d, k)),
  // dims of at least 2: var over one element divides by zero (NaN, as in PyTorch)
  { ...reduction('var', (x, d, k) => ops.variance(x, d, { keepdim: k }), 'any', 2), covers: ['variance'] },
  {
    name: 'sum (long rows, two passes)',
    sample: (r) => ({ inputs: [r.floats([2, 2100 + r.int(0, 50)])], call: ([x]) => ops.sum(x, -1) }),
  },
  // matmul (ops/matmul.ts)
  {
    name: 'matmul',
    sample: (r) => {
      const [M, K, N] = [r.int(1, 5), r.int(1, 5), r.int(1, 5)];
      const batch = r.shape(0, 2);
      const bb = r.broadcastOf(batch);
      const [ba, bbb] = r.g.random() < 0.5 ? [batch, bb] : [bb, batch];
      return { inputs: [r.floats([...ba, M, K]), r.floats([...bbb, K, N])], call: ([a, b]) => ops.matmul(a, b) };
    },
  },
  {
    name: 'matmul (transposed operands)',
    sample: (r) => {
      const [M, K, N] = [r.int(1, 5), r.int(1, 5), r.int(1, 5)];
      const tA = r.g.random() < 0.5;
      const tB = r.g.random() < 0.5;
      const B = r.int(1, 3);
      return {
        inputs: [r.floats([B, ...(tA ? [K, M] : [M, K])]), r.floats(tB ? [N, K] : [K, N])],
        call: ([a, b]) => ops.matmul(a, b, { transA: tA, transB: tB }),
      };
    },
  },
  {
    name: 'linear',
    sample: (r) => {
      const [inF, out] = [r.int(1, 5), r.int(1, 5)];
      const withBias = r.g.random() < 0.7;
      const lead = r.shape(1, 2);
      return {
        inputs: [r.floats([...lead, inF]), r.floats([out, inF]), ...(withBias ? [r.floats([out])] : [])],
        call: ([x, w, b]) => ops.linear(x, w, b ?? null),
      };
    },
  },
  {
    name: 'matmul (vectors)',
    sample: (r) => {
      const K = r.int(1, 5);
      return { inputs: [r.floats([K]), r.floats([K, r.int(1, 4)])], call: ([a, b]) => ops.matmul(a, b) };
    },
  },
  // shape ops (ops/shape.ts)
  {
    name: 'reshape',
    sample: (r) => ({ inputs: [r.floats([2, 3, r.int(1, 3)])], call: ([x]) => ops.reshape(x, [3, -1]) }),
  },
  {
    name: 'permute',
    sample: (r) => {
      const s = r.shape(1, 4);
      const p = s.map((_, i) => i);
      for (let i = p.length - 1; i > 0; i--) {
        const j = r.g.int(i + 1);
        [p[i], p[j]] = [p[j], p[i]];
      }
      return { inputs: [r.floats(s)], call: ([x]) => ops.permute(x, p) };
    },
  },
  { name: 'transpose', sample: (r) => ({ inputs: [r.floats(r.shape(2, 4))], call: ([x]) => ops.transpose(x, 0, -1) }) },
  {
    name: 'narrow',
    sample: (r) => {
      const s = r.shape(1, 3).map((d) => d + 1);
      const d = r.int(0, s.length - 1);
      const start = r.int(0, s[d] - 1);
      const len = r.int(1, s[d] - start);
      return { inputs: [r.floats(s)], call: ([x]) => ops.narrow(x, d, start, len) };
    },
  },
  {
    name: 'pad',
    sample: (r) => {
      const s = r.shape(1, 3);
      const d = r.int(0, s.length - 1);
      const [before, after] = [r.int(0, 2), r.int(0, 2)];
      return { inputs: [r.floats(s)], call: ([x]) => ops.pad(x, d, before, after) };
    },
  },
  {
    name: 'cat',
    sample: (r) => {
      const s = r.shape(1, 3);
      const d = r.int(0, s.length - 1);
      const s2 = s.map((v, i) => (i === d ? r.int(1, 3) : v));
      return { inputs: [r.floats(s), r.floats(s2)], call: ([a, b]) => ops.cat([a, b, a], d) };
    },
  },
  {
    name: 'split',
    sample: (r) => {
      const s = r.shape(1, 3).map((d) => d + 1);
      const d = r.int(0, s.length - 1);
      return { inputs: [r.floats(s)], call: ([x]) => { const parts = ops.split(x, 1, d); return parts[parts.length - 1].mul(parts[0]); } };
    },
  },
  {
    name: 'expand',
    sample: (r) => {
      const s = r.shape(1, 3);
      const b = r.broadcastOf(s);
      return { inputs: [r.floats(b)], call: ([x]) => ops.expand(x, s) };
    },
  },
  { name: 'squeeze/unsqueeze', sample: (r) => ({ inputs: [r.floats([2, 1, 3])], call: ([x]) => ops.unsqueeze(ops.squeeze(x, 1), -1) }) },
  { name: 'flatten', sample: (r) => ({ inputs: [r.floats(r.shape(1, 4))], call: ([x]) => ops.flatten(x, 0, -1) }) },
  // indexing (ops/indexing.ts)
  {
    name: 'gather',
    sample: (r) => {
      const s = r.shape(1, 3);
      const d = r.int(0, s.length - 1);
      const is = s.map((v, i) => (i === d ? r.int(1, 4) : r.int(1, v)));
      return { inputs: [r.floats(s), r.ints(is, 0, s[d] - 1)], call: ([x, i]) => ops.gather(x, d, i) };
    },
  },
  {
    name: 'scatterAdd',
    sample: (r) => {
      const s = r.shape(1, 3);
      const d = r.int(0, s.length - 1);
      const is = s.map((v, i) => (i === d ? r.int(1, 4) : v));
      return { inputs: [r.floats(is), r.ints(is, 0, s[d] - 1)], call: ([src, i]) => ops.scatterAdd(src, d, i, s) };
    },
  },
  {
    name: 'indexSelect',
    sample: (r) => {
      const s = r.shape(1, 3);
      const d = r.int(0, s.length - 1);
      return { inputs: [r.floats(s), r.ints([r.int(1, 5)], 0, s[d] - 1)], call: ([x, i]) => ops.indexSelect(x, d, i) };
    },
  },
  {
    name: 'indexAdd',
    sample: (r) => {
      const s = r.shape(1, 3);
      const d = r.int(0, s.length - 1);
      const size = r.int(1, 4);
      return { inputs: [r.floats(s), r.ints([s[d]], 0, size - 1)], call: ([x, i]) => ops.indexAdd(x, d, i, size) };
    },
  },
  {
    name: 'embedding',
    sample: (r) => {
      const V = r.int(1, 6);
      return { inputs: [r.ints(r.shape(1, 2), 0, V - 1), r.floats([V, r.int(1, 4)])], call: ([ids, w]) => ops.embedding(ids, w) };
    },
  },
  {
    name: 'oneHot',
    grad: false,
    sample: (r) => ({ inputs: [r.ints(r.shape(1, 2), 0, 4)], call: ([i]) => ops.oneHot(i, 5) }),
  },
  // softmax family (ops/softmax.ts)
  { name: 'softmax', sample: (r) => { const s = r.shape(1, 3); const d = r.dim(s.length); return { inputs: [r.floats(s)], call: ([x]) => ops.softmax(x, d) }; } },
  // norms (ops/norm.ts)
  {
    name: 'layerNorm',
    sample: (r) => {
      const s = [...r.shape(0, 2), r.int(1, 5)];
      const d = s[s.length - 1];
      const affine = r.g.random() < 0.7;
      return {
        inputs: [r.floats(s), ...(affine ? [r.floats([d]), r.floats([d])] : [])],
        call: ([x, w, b]) => ops.layerNorm(x, w ?? null, b ?? null, 1e-5),
      };
    },
  },
  {
    name: 'rmsNorm',
    sample: (r) => {
      const s = [...r.shape(0, 2), r.int(1, 5)];
      const affine = r.g.random() < 0.7;
      return { inputs: [r.floats(s), ...(affine ? [r.floats([s[s.length - 1]])] : [])], call: ([x, w]) => ops.rmsNorm(x, w ?? null, 1e-5) };
    },
  },
  {
    name: 'causalSoftmax',
    sample: (r) => {
      const [Tq, Tk] = [r.int(1, 4), r.int(1, 5)];
      const offset = r.int(0, Tk); // 0: query i sees keys 0..i; >= Tk - 1: nothing masked
      const s = [...r.shape(0, 2), Tq, Tk];
      return { inputs: [r.floats(s)], call: ([x]) => ops.causalSoftmax(x, offset) };
    },
  },
  {
    // heads side by side in the last dim; keys past the last query's position (never seen) get 0 gradients
    name: 'fusedAttention',
    sample: (r) => {
      const [B, Tq, H, D, Dv] = [r.int(1, 2), r.int(1, 4), r.int(1, 2), r.int(1, 3), r.int(1, 3)];
      const offset = r.int(0, 2);
      const Tk = Tq + offset + r.int(0, 1);
      const scale = r.pick([undefined, 0.7]);
      return {
        inputs: [r.floats([B, Tq, H * D]), r.floats([B, Tk, H * D]), r.floats([B, Tk, H * Dv])],
        call: ([q, k, v]) => ops.fusedAttention(q, k, v, { heads: H, offset, scale }),
      };
    },
  },
  { name: 'logSoftmax', sample: (r) => { const s = r.shape(1, 3); const d = r.dim(s.length); return { inputs: [r.floats(s)], call: ([x]) => ops.logSoftmax(x, d) }; } },
  {
    name: 'crossEntropy',
    sample: (r) => {
      const [N, C] = [r.int(1, 5), r.int(2, 5)];
      const withIgnore = N > 1 && r.g.random() < 0.5; // all positions ignored gives 0/0 (NaN, as in PyTorch)
      const withWeights = r.g.random() < 0.5;
      const t = r.ints([N], 0, C - 1);
      if (withIgnore) t.values[0] = -100;
      const inputs = [r.floats([N, C]), t, ...(withWeights ? [r.floats([N], 'positive')] : [])];
      const reduction = r.pick(['mean', 'sum', 'none'] as const);
      return {
        inputs,
        call: ([x, tt, w]) => ops.crossEntropy(x, tt, { ignoreIndex: withIgnore ? -100 : undefined, weights: w, reduction }),
      };
    },
  },
  // masks and dropout (ops/mask.ts)
  {
    name: 'maskedFill',
    sample: (r) => {
      const s = r.shape(1, 3);
      return { inputs: [r.floats(s), r.floats(r.broadcastOf(s), 'nonzero')], call: ([x, m]) => ops.maskedFill(x, m.gt(0), -3) };
    },
  },
  {
    name: 'causalMask',
    grad: false,
    sample: (r) => ({ inputs: [r.floats([r.int(1, 5)])], call: ([x]) => ops.causalMask(x.numel, x) }),
  },
  {
    name: 'dropout',
    sample: (r) => {
      const seed = r.int(0, 1000);
      return { inputs: [r.floats(r.shape(1, 3))], call: ([x]) => ops.dropout(x, 0.3, true, new Generator(seed)) };
    },
  },
  // codebook output heads (ops/vq.ts)
  ...vqOpTable,
];
