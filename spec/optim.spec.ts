/**
 * Optimizers against hand-computed float64 updates (reference device), gradient clipping, the warmup +
 * cosine schedule, and optimizer state dicts that resume a run exactly.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Generator, noGrad, setDevice, tensor, type Tensor } from '../core/index.js';
import { setKernelOverride } from '../core/devices/overrides.js';
import * as nn from '../nn/index.js';
import { expectClose, kernelsOf } from './helpers.js';

const leaf = (v: number[]): Tensor => tensor(v, [v.length], { requiresGrad: true });
const setGrad = (p: Tensor, g: number[]): void => {
  p.grad = tensor(g, [g.length]);
};
const expectAll = (got: ArrayLike<number>, want: number[], tol: number): void => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol)) throw new Error(`element ${i}: ${got[i]} vs hand-computed ${want[i]} (tol ${tol})`);
  }
};

beforeEach(() => {
  setDevice('reference', 'optim tests');
});

describe('AdamW', () => {
  it('matches torch.optim.AdamW by hand (decoupled decay, bias correction), float64, two steps', async () => {
    const p0 = [0.5, -1.2, 2.0, 0];
    const grads = [[0.3, -0.7, 1.5, 0], [-0.2, 0.4, 2.5, 1e-3]];
    const lr = 0.05, b1 = 0.9, b2 = 0.98, eps = 1e-6, wd = 0.1;
    const p = leaf(p0);
    const opt = new nn.AdamW([p], { lr, betas: [b1, b2], eps, weightDecay: wd });
    // hand computation, textbook form
    let want = [...p0];
    const m = [0, 0, 0, 0];
    const v = [0, 0, 0, 0];
    for (let t = 1; t <= 2; t++) {
      const g = grads[t - 1];
      want = want.map((w, i) => {
        const decayed = w * (1 - lr * wd);
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        const mhat = m[i] / (1 - b1 ** t);
        const vhat = v[i] / (1 - b2 ** t);
        return decayed - (lr * mhat) / (Math.sqrt(vhat) + eps);
      });
      setGrad(p, g);
      opt.step();
      expectAll(await p.toArray(), want, 1e-12);
    }
    expect(opt.stepCount).toBe(2);
    expect(p.requiresGrad).toBe(true);
  });

  it('its fused kernels on webasm and cpu follow the float64 reference over 5 steps', async () => {
    const g = new Generator(5);
    const p0 = Array.from({ length: 37 }, () => g.normal());
    const grads = Array.from({ length: 5 }, () => p0.map(() => g.normal()));
    const run = async (dev: string) => {
      setDevice(dev, 'optim device test');
      const p = leaf(p0);
      const opt = new nn.AdamW([p], { lr: 0.01, weightDecay: 0.1 });
      for (const gr of grads) {
        setGrad(p, gr);
        opt.step();
      }
      return p.toArray();
    };
    const want = await run('reference');
    for (const dev of ['webasm', 'cpu']) expectAll(await run(dev), want, 1e-6);
  });

  describe('fused: one kernel over all parameters', () => {
    /** Three parameters in two weight-decay groups on webasm; `steps` of (gradients, lr, clip, between). */
    async function train(fused: boolean, opts: { clipAt?: number[]; replaceAt?: number; skipAt?: number } = {}) {
      setDevice('webasm', 'flat AdamW test');
      const g = new Generator(11);
      const ps = [37, 5, 64].map((n) => leaf(Array.from({ length: n }, () => g.normal())));
      const opt = new nn.AdamW([{ params: [ps[0], ps[1]] }, { params: [ps[2]], weightDecay: 0 }], { lr: 0.01, weightDecay: 0.1, fused });
      const kernels: string[] = [];
      for (let t = 0; t < 5; t++) {
        ps.forEach((p, i) => (t === opts.skipAt && i === 1 ? (p.grad = null) : setGrad(p, Array.from({ length: p.numel }, () => g.normal()))));
        if (opts.clipAt?.includes(t)) nn.clipGradNorm(ps, 2);
        if (t === opts.replaceAt) noGrad(() => ps[2].assign_(tensor(Array.from({ length: 64 }, () => g.normal()), [64])));
        opt.lr = 0.01 * (1 + t);
        kernels.push(...(await kernelsOf(() => opt.step())));
        opt.zeroGrad();
      }
      const st = opt.stateDict();
      return {
        values: await Promise.all([...ps, ...Object.values(st.tensors)].map((t) => t.toArray())),
        steps: st.paramSteps,
        kernels,
      };
    }

    // float32 runs of the same arithmetic: the override rounds once per value, the kernels per operation
    // (about one ulp of values up to ~2 per step, measured: 1.2e-7 after one step, 9e-7 after five)
    const close = (a: number[][], b: number[][], what: string) => a.forEach((x, i) => expectClose(x, b[i], { atol: 2e-6, rtol: 4e-6 }, `${what}: tensor ${i}`));

    it('agrees with the per-parameter kernels over 5 steps (two decay groups, changing lr, clipped gradients)', async () => {
      const [a, b] = [await train(true, { clipAt: [1, 3] }), await train(false, { clipAt: [1, 3] })];
      expect(a.kernels).toContain('adamFlatLoop'); // webasm's override (core/devices/webasm/adam-override.ts)
      expect(a.kernels).not.toContain('adamStep');
      expect(b.kernels).not.toContain('adamFlatLoop');
      close(a.values, b.values, 'flat vs per parameter');
      // the kernel itself (one thread per output) and its override
      const prev = setKernelOverride('adamFlat', 'none');
      try {
        const c = await train(true, { clipAt: [1, 3] });
        expect(c.kernels).toContain('adamFlat');
        close(c.values, a.values, 'kernel vs override');
      } finally {
        setKernelOverride('adamFlat', prev);
      }
    });

    it('reads a parameter replaced between steps anew', async () => {
      const [a, b] = [await train(true, { replaceAt: 2 }), await train(false, { replaceAt: 2 })];
      close(a.values, b.values, 'flat vs per parameter');
    });

    it('a parameter without a gradient sends the step (and those after, whose step counts differ) per parameter', async () => {
      const [a, b] = [await train(true, { skipAt: 2 }), await train(false, { skipAt: 2 })];
      close(a.values, b.values, 'flat vs per parameter');
      expect(a.steps).toEqual({ 0: 5, 1: 4, 2: 5 });
      expect(a.kernels.filter((k) => k === 'adamFlatLoop')).toHaveLength(2);
    });
  });

  it('skips parameters without a gradient; groups set their own weight decay; lr is settable', async () => {
    const a = leaf([1, 2]);
    const b = leaf([3, 4]);
    const c = leaf([5]);
    const opt = new nn.AdamW([{ params: [a] }, { params: [b], weightDecay: 0 }, { params: [c] }], { lr: 0.1, weightDecay: 0.5 });
    setGrad(a, [0, 0]);
    setGrad(b, [0, 0]);
    opt.lr = 0.2;
    opt.step();
    expectAll(await a.toArray(), [0.9, 1.8], 1e-12); // zero gradient: only the decay p * (1 - 0.2 * 0.5)
    expectAll(await b.toArray(), [3, 4], 1e-12);
    expectAll(await c.toArray(), [5], 0); // no gradient, untouched
    expect(Object.keys(opt.stateDict().paramSteps)).toEqual(['0', '1']);
  });
});

describe('SGD', () => {
  it('with momentum and weight decay matches hand computation over 3 steps', async () => {
    const p0 = [1, -2, 0.5];
    const grads = [[0.1, 0.2, -0.3], [0.5, -0.5, 0.0], [-1, 0.25, 2]];
    const lr = 0.1, mu = 0.9, wd = 0.01;
    const p = leaf(p0);
    const opt = new nn.SGD([p], { lr, momentum: mu, weightDecay: wd });
    let want = [...p0];
    let buf: number[] | null = null;
    for (const g of grads) {
      const d = g.map((gi, i) => gi + wd * want[i]);
      buf = buf ? buf.map((bi, i) => mu * bi + d[i]) : d;
      want = want.map((w, i) => w - lr * buf![i]);
      setGrad(p, g);
      opt.step();
      expectAll(await p.toArray(), want, 1e-12);
    }
  });

  it('takes gradients from backward', async () => {
    const p = leaf([1, 2]);
    const opt = new nn.optim.SGD([p], { lr: 0.5 });
    p.square().sum().backward(); // grad 2p
    opt.step();
    opt.zeroGrad();
    expect(p.grad).toBeNull();
    expectAll(await p.toArray(), [0, 0], 1e-15);
  });
});

describe('clipGradNorm', () => {
  it('returns the global L2 norm and scales every gradient by min(1, max / (norm + 1e-6))', async () => {
    const a = leaf([0, 0]);
    const b = leaf([0]);
    const none = leaf([7]);
    setGrad(a, [3, 4]);
    setGrad(b, [12]);
    const norm = nn.clipGradNorm([a, b, none], 6.5);
    expect(await norm.item()).toBeCloseTo(13, 12);
    const f = 6.5 / (13 + 1e-6);
    expectAll(await a.grad!.toArray(), [3 * f, 4 * f], 1e-12);
    expectAll(await b.grad!.toArray(), [12 * f], 1e-12);
    expect(none.grad).toBeNull();
    // under the limit: unchanged
    setGrad(a, [3, 4]);
    expect(await nn.clipGradNorm([a], 100).item()).toBeCloseTo(5, 12);
    expectAll(await a.grad!.toArray(), [3, 4], 0);
  });
});

describe('lrAt (warmup + cosine)', () => {
  it('ramps up linearly, peaks at the end of warmup, ends at minLr', () => {
    const o = { lr: 1e-3, warmup: 10, total: 110, minLr: 1e-4 };
    expect(nn.lrAt(0, o)).toBeCloseTo(1e-4, 15);
    expect(nn.lrAt(4, o)).toBeCloseTo(5e-4, 15);
    expect(nn.lrAt(9, o)).toBeCloseTo(1e-3, 15);
    expect(nn.lrAt(10, o)).toBeCloseTo(1e-3, 15);
    expect(nn.lrAt(60, o)).toBeCloseTo(5.5e-4, 15);
    expect(nn.lrAt(110, o)).toBeCloseTo(1e-4, 15);
    expect(nn.lrAt(500, o)).toBeCloseTo(1e-4, 15);
    expect(nn.lrAt(0, { lr: 1, warmup: 0, total: 10 })).toBe(1);
    expect(() => nn.lrAt(0, { lr: 1, warmup: 20, total: 10 })).toThrow(/warmup <= total/);
  });
});

describe('optimizer state dicts', () => {
  const cfg = { vocabSize: 13, contextLength: 6, dModel: 8, nHeads: 2, nLayers: 1 };
  const g = new Generator(2);
  const rows = Array.from({ length: 2 }, () => Array.from({ length: 7 }, () => g.int(13)));
  const ids = () => tensor(rows.map((r) => r.slice(0, 6)).flat(), [2, 6], { dtype: 'int32' });
  const targets = () => tensor(rows.map((r) => r.slice(1)).flat(), [2, 6], { dtype: 'int32' });
  const train = (lm: nn.TransformerLM, opt: nn.Optimizer, steps: number) => {
    for (let s = 0; s < steps; s++) {
      lm.loss(ids(), targets()).backward();
      opt.step();
      opt.zeroGrad();
    }
  };
  const makers: [string, (lm: nn.TransformerLM) => nn.Optimizer][] = [
    ['AdamW', (lm) => new nn.AdamW(lm.namedParameters(), { lr: 1e-2, weightDecay: 0.1 })],
    ['SGD', (lm) => new nn.SGD(lm.namedParameters(), { lr: 0.1, momentum: 0.9 })],
  ];
  for (const [name, make] of makers) {
    it(`${name}: a run resumed from model + optimizer state continues identically`, async () => {
      const a = new nn.TransformerLM({ ...cfg, seed: 1 });
      const optA = make(a);
      train(a, optA, 2);
      const modelState = a.stateDict();
      const optState = optA.stateDict();
      expect(optState.step).toBe(2);
      train(a, optA, 2);

      const b = new nn.TransformerLM({ ...cfg, seed: 99 });
      b.loadStateDict(modelState);
      const optB = make(b);
      optB.lr = 123; // restored from the state
      optB.loadStateDict(optState);
      expect(optB.lr).toBe(optA.lr);
      train(b, optB, 2);
      const pa = a.namedParameters();
      const pb = b.namedParameters();
      for (let i = 0; i < pa.length; i++) expect([pb[i][0], await pb[i][1].toArray()]).toEqual([pa[i][0], await pa[i][1].toArray()]);
      expect(optB.stepCount).toBe(4);
    });
  }

  it('loadStateDict names unknown parameters and mis-shaped moments', () => {
    const p = leaf([1, 2]);
    const opt = new nn.AdamW([['w', p]]);
    setGrad(p, [1, 1]);
    opt.step();
    const s = opt.stateDict();
    expect(Object.keys(s.tensors).sort()).toEqual(['w.expAvg', 'w.expAvgSq']);
    const other = new nn.AdamW([['v', leaf([1, 2])]]);
    expect(() => other.loadStateDict(s)).toThrow(/unknown parameters: w \(known: v\)/);
    const small = new nn.AdamW([['w', leaf([1])]]);
    expect(() => small.loadStateDict(s)).toThrow(/'w.expAvg' has shape \[2\], parameter 'w' has \[1\]/);
  });
});
