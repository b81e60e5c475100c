/**
 * VQ-Logits (ops/vq.ts, nn/heads/): gradients of every new op against finite differences (float64 reference)
 * and each CPU gpu.js device against the reference; the exact O(K) loss equals the naive V-sized softmax loss
 * in value and gradients; the faithful head equals the +bias head at b = 0; maps, k-means determinism, the
 * two-stage sampler, clear errors, and the heads inside TransformerLM.
 */
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { device, Generator, grad, gradcheck, randn, setDevice, tensor, type Tensor } from '../core/index.js';
import * as nn from '../nn/index.js';
import {
  checkMap, contiguousMap, frequencyMap, kmeans, mapSizes, randomMap, VQLogitsHead, vqLogitsHead, vqLoss, vqNaiveLoss,
} from '../nn/heads/index.js';
import { Sampler } from './op-table/index.js';
import { clusterLogsumexp, gatherByMap, vqCrossEntropy, vqNaiveCrossEntropy } from '../ops/vq.js';
import { vqOpTable } from './op-table/vq.js';
import { propagateFor } from './device-helpers.js';
import { build, expectClose } from './helpers.js';

const ints = (v: number[]): Tensor => tensor(v, [v.length], { dtype: 'int32' });
const close = async (a: Tensor, b: Tensor, tol = 1e-9): Promise<void> => {
  const [x, y] = [await a.toArray(), await b.toArray()];
  expect(x.length).toBe(y.length);
  x.forEach((v, i) => expect(Math.abs(v - y[i])).toBeLessThanOrEqual(tol * (1 + Math.abs(y[i]))));
};

beforeEach(() => {
  setDevice('reference', 'VQ-Logits tests');
});

describe('VQ ops: gradients match finite differences (float64 reference)', () => {
  for (const entry of vqOpTable.filter((e) => e.grad !== false)) {
    it(entry.name, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
          const c = entry.sample(new Sampler(seed));
          const r = gradcheck((...ts) => c.call(ts), build(c.inputs, 'reference'));
          if (!r.ok) throw new Error(`${entry.name} (seed ${seed}): ${r.message}`);
        }),
        { numRuns: 40 },
      );
    });
  }
});

describe('VQ ops: gpu.js CPU devices agree with the reference', () => {
  for (const dev of ['webasm', 'cpu']) {
    it(dev, async () => {
      for (const entry of vqOpTable) {
        for (let seed = 0; seed < 6; seed++) {
          const c = entry.sample(new Sampler(seed));
          const g = entry.grad !== false;
          const ref = build(c.inputs, 'reference', g);
          const got = build(c.inputs, dev, g);
          const [yr, yg] = [c.call(ref), c.call(got)];
          expectClose(await yg.toArray(), await yr.toArray(), { atol: 1e-5, rtol: 1e-4 }, `${entry.name} on ${dev} (seed ${seed}) forward`);
          if (!g || !yr.requiresGrad) continue;
          const w = new Sampler(seed + 1).values(yr.numel);
          const [gr, gg] = [propagateFor(yr, w, ref), propagateFor(yg, w, got)];
          for (let i = 0; i < gr.length; i++) {
            if (gr[i]) expectClose(await gg[i]!.toArray(), await gr[i]!.toArray(), { atol: 1e-4, rtol: 1e-3 }, `${entry.name} on ${dev} (seed ${seed}) gradient ${i}`);
          }
        }
      }
    });
  }
});

describe('the exact O(K) loss equals the naive V-sized softmax loss', () => {
  it('values and gradients, random K, V, maps, bias, weights, ignoreIndex and reductions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 - 1 }), async (seed) => {
        const r = new Sampler(seed);
        const K = r.int(1, 6);
        const V = r.int(K, 14);
        const N = r.int(1, 6);
        const map = ints(Array.from(randomMap(V, K, seed)));
        const x = tensor(r.values(N * K), [N, K]);
        const b = tensor(r.values(V).map((v) => 3 * v), [V]); // b in (-6, 6): codes with very uneven members
        const tv = Array.from({ length: N }, () => r.int(0, V - 1));
        const withBias = r.g.random() < 0.7;
        const opts = {
          reduction: r.pick(['mean', 'sum', 'none'] as const),
          ignoreIndex: N > 1 && r.g.random() < 0.3 ? -100 : undefined,
          weights: r.g.random() < 0.3 ? tensor(r.values(N, 'positive'), [N]) : undefined,
        };
        if (opts.ignoreIndex !== undefined) tv[0] = -100;
        const t = ints(tv);
        const f = (fast: boolean) => (xx: Tensor, bb: Tensor) => {
          const o = { ...opts, bias: withBias ? bb : null };
          const y = fast ? vqCrossEntropy(xx, t, map, o) : vqNaiveCrossEntropy(xx, t, map, o);
          return y.sum();
        };
        await close(f(true)(x, b), f(false)(x, b));
        const [gxF, gbF] = grad(f(true))(x, b);
        const [gxN, gbN] = grad(f(false))(x, b);
        await close(gxF, gxN);
        await close(gbF, gbN);
      }),
      { numRuns: 80 },
    );
  });

  it('per position: fast nll equals -logSoftmax(L_v)[y] with V = 1000, K = 7', async () => {
    const V = 1000;
    const K = 7;
    const map = ints(Array.from(frequencyMap(Array.from({ length: V }, (_, i) => 1000 / (i + 1)), K)));
    const x = randn([5, K], { generator: new Generator(1) });
    const b = randn([V], { generator: new Generator(2) }).mul(4);
    const t = ints([0, 1, 999, 500, 3]);
    await close(vqCrossEntropy(x, t, map, { bias: b, reduction: 'none' }), vqNaiveCrossEntropy(x, t, map, { bias: b, reduction: 'none' }));
  });
});

describe('VQLogitsHead', () => {
  const V = 12;
  const d = 5;
  const K = 4;
  const map = randomMap(V, K, 3);

  it('faithful == +bias head at b = 0 (logits, loss, codebook gradient)', async () => {
    const faithful = new VQLogitsHead(V, d, { numCodes: K, map, seed: 7 });
    const biased = new VQLogitsHead(V, d, { numCodes: K, map, seed: 7, bias: true });
    await close(faithful.codebook, biased.codebook, 0);
    expect(await biased.bias!.toArray()).toEqual(new Array(V).fill(0));
    const h = randn([2, 3, d], { generator: new Generator(0) });
    const t = tensor([1, 5, 11, 0, 7, 7], [2, 3], { dtype: 'int32' });
    await close(faithful.logits(h), biased.logits(h));
    const lf = faithful.loss(faithful.forward(h), t);
    const lb = biased.loss(biased.forward(h), t);
    await close(lf, lb);
    lf.backward();
    lb.backward();
    await close(faithful.codebook.grad!, biased.codebook.grad!);
    expect(faithful.numParameters()).toBe(K * d);
    expect(biased.numParameters()).toBe(K * d + V);
  });

  it('a loaded state dict brings its map: ops, sizes and sampling follow it', async () => {
    const a = new VQLogitsHead(V, d, { numCodes: K, map, seed: 1 });
    const b = new VQLogitsHead(V, d, { numCodes: K, map: contiguousMap(V, K), seed: 2 });
    b.loadStateDict(a.stateDict());
    expect(b.sizes).toEqual(a.sizes);
    expect(await b.members()).toEqual(await a.members());
    const h = randn([2, d], { generator: new Generator(3) });
    await close(b.logits(h), a.logits(h));
  });

  it('the faithful head gives tokens of one code the same probability p(code) / n_code', async () => {
    const head = new VQLogitsHead(V, d, { numCodes: K, map, seed: 1 });
    const p = await head.logits(randn([1, d], { generator: new Generator(4) })).softmax(-1).toArray();
    const sizes = mapSizes(map, K);
    const perCode = new Array<number>(K).fill(0);
    map.forEach((c, i) => (perCode[c] += p[i]));
    map.forEach((c, i) => expect(p[i]).toBeCloseTo(perCode[c] / sizes[c], 12));
  });

  it('gradients of the head through the exact loss match finite differences', () => {
    const head = new VQLogitsHead(V, d, { numCodes: K, map, bias: true, biasInit: Array.from({ length: V }, (_, i) => Math.sin(i)) });
    const t = tensor([3, 9, 0], [3], { dtype: 'int32' });
    const h = randn([3, d], { generator: new Generator(5) });
    const r = gradcheck((hh, C, b) => vqCrossEntropy(hh.matmul(C.T), t, head.map, { bias: b }), [h, head.codebook.detach(), head.bias!.detach()]);
    expect(r.ok, r.message).toBe(true);
  });

  it('two-stage sampling (code, then token) draws from softmax(L_v)', async () => {
    const head = new VQLogitsHead(6, 3, { numCodes: 3, map: [0, 0, 1, 1, 1, 2], bias: true, biasInit: [0.5, -1, 0, 1, -0.5, 0], codebookInit: [1, 0, 0, 0, 1, 0, 0, 0, 1] });
    const h = tensor([0.3, -0.2, 0.8], [1, 3]);
    for (const temperature of [1, 0.5]) {
      const p = await head.logits(h).div(temperature).softmax(-1).toArray();
      const g = new Generator(11);
      const counts = new Array<number>(6).fill(0);
      const draws = 20000;
      for (let s = 0; s < draws / 1000; s++) {
        const hs = tensor(Array.from({ length: 1000 }, () => [0.3, -0.2, 0.8]).flat(), [1000, 3]);
        for (const tok of await head.sample(hs, { temperature, generator: g })) counts[tok]++;
      }
      counts.forEach((c, i) => expect(Math.abs(c / draws - p[i])).toBeLessThan(0.015));
    }
    const greedy = await head.sample(h, { greedy: true });
    const lv = await head.logits(h).toArray();
    expect(greedy).toEqual([lv.indexOf(Math.max(...lv))]);
  });

  it('clear errors: out-of-range codes, K > V, empty codes, wrong lengths, foreign outputs', () => {
    expect(() => new VQLogitsHead(4, 2, { numCodes: 2, map: [0, 1, 2, 0] })).toThrow(/token 2 maps to code 2, out of range for K = 2/);
    expect(() => new VQLogitsHead(4, 2, { numCodes: 2, map: [0, 1, -1, 0] })).toThrow(/out of range/);
    expect(() => new VQLogitsHead(3, 2, { numCodes: 5, map: [0, 1, 2] })).toThrow(/K = 5 codes is larger than the vocabulary V = 3/);
    expect(() => new VQLogitsHead(4, 2, { numCodes: 3, map: [0, 0, 1, 1] })).toThrow(/code 2 has no tokens/);
    expect(() => new VQLogitsHead(4, 2, { numCodes: 2, map: [0, 1, 1] })).toThrow(/3 entries but the vocabulary has V = 4/);
    expect(() => new VQLogitsHead(4, 2, { numCodes: 2, map: [0, 1, 1, 0], bias: true, biasInit: [0] })).toThrow(/biasInit has 1 values/);
    expect(() => randomMap(3, 4)).toThrow(/larger than the vocabulary/);
    expect(() => frequencyMap([3, 2, 1], 4)).toThrow(/larger than the vocabulary/);
    expect(() => checkMap([0, 1, 2.5], 3, 3)).toThrow(/token 2 maps to code 2.5/);
    expect(() => gatherByMap(tensor([1, 2], [1, 2]), ints([0, 2]))).toThrow(/gatherByMap: token 1 maps to code 2, out of range for K = 2/);
    expect(() => clusterLogsumexp(tensor([1, 2, 3], [3]), ints([0, 1, 3]), 3)).toThrow(/clusterLogsumexp: token 2 maps to code 3/);
    expect(() => vqLoss(tensor([1, 2], [1, 2]), ints([0]), {})).toThrow(/was not made by a VQLogitsHead/);
  });
});

describe('token -> code maps and k-means', () => {
  it('random: seeded, balanced; contiguous: id blocks', () => {
    expect(Array.from(randomMap(10, 3, 5))).toEqual(Array.from(randomMap(10, 3, 5)));
    expect(Array.from(randomMap(10, 3, 5))).not.toEqual(Array.from(randomMap(10, 3, 6)));
    expect(mapSizes(randomMap(10, 3, 5), 3).sort()).toEqual([3, 3, 4]);
    expect(Array.from(contiguousMap(6, 3))).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it('frequency: sorted by count, buckets of about equal mass, every code used', () => {
    expect(Array.from(frequencyMap([50, 30, 10, 5, 5], 3))).toEqual([0, 1, 2, 2, 2]);
    const counts = Array.from({ length: 2000 }, (_, i) => Math.round(1e5 / (i + 1))); // Zipf
    const K = 50;
    const map = frequencyMap(counts, K);
    checkMap(map, 2000, K);
    const mass = new Array<number>(K).fill(0);
    map.forEach((c, i) => (mass[c] += counts[i]));
    const total = counts.reduce((a, b) => a + b, 0);
    // multi-token codes hold at most about twice an even share; frequent tokens sit alone in earlier codes
    mass.forEach((m, j) => {
      if (mapSizes(map, K)[j] > 1) expect(m).toBeLessThan((2.2 * total) / K);
    });
    for (let i = 1; i < 2000; i++) expect(map[i]).toBeGreaterThanOrEqual(map[i - 1]);
  });

  it('k-means is deterministic for a seed and finds well-separated clusters', () => {
    const g = new Generator(3);
    const centres = [[5, 0], [-5, 0], [0, 5]];
    const pts = Array.from({ length: 60 }, (_, i) => centres[i % 3].map((c) => c + 0.3 * g.normal())).flat();
    const a = kmeans(pts, 60, 2, 3, { seed: 1 });
    const b = kmeans(pts, 60, 2, 3, { seed: 1 });
    expect(Array.from(a.assign)).toEqual(Array.from(b.assign));
    expect(Array.from(a.centroids)).toEqual(Array.from(b.centroids));
    for (let i = 3; i < 60; i++) expect(a.assign[i]).toBe(a.assign[i % 3]);
    expect(new Set(Array.from(a.assign.slice(0, 3))).size).toBe(3);
    const many = kmeans(randn([40, 4], { generator: new Generator(9) }).dataSync(), 40, 4, 12, { seed: 2 });
    checkMap(many.assign, 40, 12); // every code used
    expect(() => kmeans(pts, 60, 2, 61)).toThrow(/K must be an integer in 1..n = 60/);
  });
});

describe('VQ heads inside TransformerLM', () => {
  it('trains through the loss seam, evaluates with weights, generates through logits', async () => {
    const V = 16;
    const cfg = { vocabSize: V, contextLength: 4, dModel: 8, nHeads: 2, nLayers: 1, seed: 0 };
    const map = randomMap(V, 4, 0);
    const fast = new nn.TransformerLM({ ...cfg, head: vqLogitsHead({ numCodes: 4, map, bias: true }), loss: vqLoss });
    const naive = new nn.TransformerLM({ ...cfg, head: vqLogitsHead({ numCodes: 4, map, bias: true }), loss: vqNaiveLoss });
    const other = new nn.TransformerLM({ ...cfg, head: vqLogitsHead({ numCodes: 8, map: contiguousMap(V, 8) }), loss: vqLoss });
    // the head draws from its own generator: the backbone starts the same whatever the head
    for (const [n, p] of other.namedParameters()) if (!n.startsWith('head.')) await close(p, fast.namedParameters().find(([m]) => m === n)![1], 0);
    const ids = tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 4], { dtype: 'int32' });
    const tg = tensor([2, 3, 4, 5, 6, 7, 8, 9], [2, 4], { dtype: 'int32' });
    const w = tensor([1, 1, 0, 1, 1, 0, 1, 1], [2, 4]);
    await close(fast.loss(ids, tg, { weights: w, reduction: 'sum' }), naive.loss(ids, tg, { weights: w, reduction: 'sum' }));
    const lf = fast.loss(ids, tg);
    lf.backward();
    const ln = naive.loss(ids, tg);
    ln.backward();
    for (const [[n, p], [, q]] of fast.namedParameters().map((e, i) => [e, naive.namedParameters()[i]] as const)) {
      expect(n).toBeTruthy();
      await close(p.grad!, q.grad!);
    }
    const out = await fast.generate([[1, 2]], { maxNewTokens: 3, generator: new Generator(0) });
    expect(out.shape).toEqual([1, 5]);
    expect(Object.keys(fast.stateDict())).toContain('head.map');
  });

  it('runs on webasm', async () => {
    setDevice('webasm', 'VQ head on webasm');
    const head = new VQLogitsHead(50, 8, { numCodes: 5, map: randomMap(50, 5, 1), bias: true });
    const h = randn([6, 8], { generator: new Generator(0), device: device('webasm') });
    const t = tensor([0, 10, 20, 30, 40, 49], [6], { dtype: 'int32' });
    const a = await head.loss(head.forward(h), t).item();
    const b = await head.naiveLoss(head.forward(h), t).item();
    expect(Math.abs(a - b)).toBeLessThan(1e-4);
  });
});
