/**
 * The buffer pool (core/pool.ts) and the backward pass that feeds it (core/autograd.ts, GradientRecycler):
 * recycled arrays must never be ones anybody can still read. On webasm (the device whose outputs come from
 * the pool), training steps with the pool on give bitwise the same losses, gradients and parameters as with
 * it off; forward tensors the caller holds, leaves' gradients, the seed and cached constants keep their
 * values through backward passes; and the pool is used (arrays given back and handed out again).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { crossEntropy, destroyDevices, noGrad, setBufferPool, setDevice, tensor, Tensor } from '../core/index.js';
import { outputArray, pinArray, poolStats, releaseArray, resetPoolStats, splitArray } from '../core/pool.js';
import * as nn from '../nn/index.js';
import { expectClose } from './helpers.js';

afterAll(() => destroyDevices());
afterEach(() => setBufferPool(true));

const dev = setDevice('webasm', 'the pool serves webasm outputs');

/** Three AdamW steps of a small GPT on webasm; every loss, gradient and final parameter. */
async function train(pool: boolean, freeGraph = false) {
  const prev = setBufferPool(pool);
  try {
    const lm = new nn.TransformerLM({ vocabSize: 32, contextLength: 8, dModel: 16, nHeads: 2, nLayers: 2, mlp: 'gelu', norm: 'layernorm', positions: 'learned', seed: 3 });
    const opt = new nn.AdamW(lm.namedParameters(), { lr: 1e-2 });
    const ids = tensor(Array.from({ length: 32 }, (_, i) => (i * 7) % 32), [4, 8], { dtype: 'int32', device: dev });
    const out: number[][] = [];
    for (let s = 0; s < 3; s++) {
      const logits = lm.forward(ids);
      const before = freeGraph ? [] : Array.from(logits.dataSync());
      const loss = crossEntropy(logits.reshape([32, 32]), ids.reshape([32]));
      loss.backward({ freeGraph });
      // the forward output the caller holds is untouched by the backward pass's recycling
      if (!freeGraph) expect(Array.from(logits.dataSync())).toEqual(before);
      out.push([await loss.item()]);
      for (const p of lm.parameters()) out.push(Array.from(p.grad!.dataSync()));
      opt.step();
      opt.zeroGrad();
    }
    for (const p of lm.parameters()) out.push(Array.from(p.dataSync()));
    return out;
  } finally {
    setBufferPool(prev);
  }
}

describe('buffer pool', () => {
  it('training steps on webasm are bitwise the same with the pool on and off, and the pool is used', async () => {
    const off = await train(false);
    resetPoolStats();
    const on = await train(true);
    expect(poolStats.released).toBeGreaterThan(0);
    expect(poolStats.reused).toBeGreaterThan(0);
    expect(on).toEqual(off);
  });

  it('with backward({ freeGraph: true }) too, and then a warm step takes almost every output from the pool', async () => {
    const off = await train(false);
    resetPoolStats();
    const on = await train(true, true);
    expect(on).toEqual(off);
    // the third step: recycled outputs outnumber new ones (new: leaf gradients, optimizer state, per-row stats)
    expect(poolStats.reused).toBeGreaterThan(poolStats.fresh / 3);
  });

  it('backward({ freeGraph: true }) frees the intermediates: reading one throws, the loss, leaves and their gradients stay', async () => {
    const x = tensor([0.5, -1, 2, 0.25], [4], { requiresGrad: true });
    // once first: a kernel's first call at a size returns gpu.js's own array (not the pool's)
    for (let i = 0; i < 2; i++) (x.mul(x).add(1).log().sum().backward(), x.mul(3).add(2).sum());
    x.zeroGrad();
    const h = x.mul(x).add(1);
    const loss = h.log().sum();
    const held = h.detach(); // made before backward, outside the graph: keeps its own values
    const heldValues = await held.toArray(); // a copy (dataSync would pin the array: never recycled)
    resetPoolStats();
    loss.backward({ freeGraph: true });
    expect(poolStats.released).toBeGreaterThan(0);
    expect(() => h.dataSync()).toThrow(/tensor \[4\] was freed by backward\(\{ freeGraph: true \}\)/);
    expect(() => h.add(1)).toThrow(/was freed by backward/);
    await expect(h.toArray()).rejects.toThrow(/was freed by backward/);
    expect(await loss.item()).toBeCloseTo([0.5, -1, 2, 0.25].reduce((a, v) => a + Math.log(v * v + 1), 0), 5);
    expectClose(await x.grad!.toArray(), [0.5, -1, 2, 0.25].map((v) => (2 * v) / (v * v + 1)), { atol: 1e-6, rtol: 1e-6 }, 'd/dx sum log(x^2 + 1)');
    // outputs made after backward may reuse h's memory; the detached view keeps its values all the same
    for (let i = 0; i < 3; i++) x.mul(3).add(2).sum();
    expect(await held.toArray()).toEqual(heldValues);
    expect(() => loss.backward()).toThrow(/the graph through this sum output was freed by an earlier backward\(\{ freeGraph: true \}\)/);
    expect(() => x.mul(2).sum().backward({ freeGraph: true, createGraph: true })).toThrow(/freeGraph and createGraph exclude each other/);
  });

  it('a gradient that reaches a leaf and an intermediate keeps the leaf gradient intact', async () => {
    // y = (x + w) * 3: add hands the same gradient to x and to w (a leaf), mul's gradient is recycled
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 8], [8], { device: dev, requiresGrad: true });
    const w = tensor([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [8], { device: dev, requiresGrad: true });
    const h = x.add(w);
    const y = h.mul(h).mul(3).sum();
    y.backward();
    const gx = Array.from(x.grad!.dataSync());
    const gw = Array.from(w.grad!.dataSync());
    const expected = [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5].map((v) => 6 * v);
    expect(gx).toEqual(expected);
    expect(gw).toEqual(expected);
    // more passes that draw from the pool leave those gradients alone
    for (let i = 0; i < 3; i++) h.mul(h).sum().backward();
    expect(Array.from(x.grad!.dataSync())).toEqual(expected.map((v) => v + 3 * (v / 3)));
    expect(Array.from(h.dataSync())).toEqual([1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5]);
  });

  it('backward twice on one graph gives the same gradients (its forward buffers are never recycled)', async () => {
    const lm = new nn.TransformerLM({ vocabSize: 16, contextLength: 4, dModel: 8, nHeads: 2, nLayers: 1, mlp: 'gelu', norm: 'layernorm', positions: 'learned', seed: 1 });
    const ids = tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 4], { dtype: 'int32', device: dev });
    const loss = crossEntropy(lm.forward(ids).reshape([8, 16]), ids.reshape([8]));
    loss.backward();
    const first = lm.parameters().map((p) => Array.from(p.grad!.dataSync()));
    lm.zeroGrad();
    loss.backward();
    expect(lm.parameters().map((p) => Array.from(p.grad!.dataSync()))).toEqual(first);
  });

  it('hands an array back only once, and never a pinned one or one it did not make', () => {
    resetPoolStats();
    const a = outputArray(12345);
    releaseArray(a);
    releaseArray(a);
    releaseArray(new Float32Array(12345));
    const b = outputArray(12345);
    const c = outputArray(12345);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    pinArray(c);
    releaseArray(c);
    expect(outputArray(12345)).not.toBe(c);
    expect(poolStats.released).toBe(1);
  });

  it('with the pool off nothing is handed back', () => {
    setBufferPool(false);
    const a = outputArray(777);
    releaseArray(a);
    expect(outputArray(777)).not.toBe(a);
    expect(Tensor).toBeDefined();
  });
});

describe('buffer pool: views of one output, AdamW state, reads in flight', () => {
  it('an array split into views goes back with its last view; pinning a view pins the array', () => {
    const a = outputArray(30);
    const [x, y, z] = splitArray(a, [10, 15, 5]);
    expect([x.length, y.length, z.length]).toEqual([10, 15, 5]);
    releaseArray(x);
    releaseArray(y);
    releaseArray(x); // again: ignored
    expect(outputArray(30)).not.toBe(a); // z is still out
    releaseArray(z);
    expect(outputArray(30)).toBe(a);
    const b = outputArray(31);
    const [u, v] = splitArray(b, [1, 30]);
    pinArray(v); // e.g. dataSync() on it
    releaseArray(u);
    releaseArray(v);
    expect(outputArray(31)).not.toBe(b);
  });

  async function adamSteps(hold: 'nothing' | 'detach' | 'stateDict') {
    const p = tensor([0.5, -1, 2, 0.25, 3, -2, 1, 0], [8], { requiresGrad: true });
    const opt = new nn.AdamW([p], { lr: 0.1 });
    const step = () => {
      p.mul(p).sum().backward({ freeGraph: true });
      opt.step();
      opt.zeroGrad();
    };
    for (let i = 0; i < 3; i++) step(); // past the first calls at each size
    const held = hold === 'detach' ? p.detach() : hold === 'stateDict' ? opt.stateDict().tensors['0.expAvg'] : null;
    const before = held ? await held.toArray() : [];
    for (let i = 0; i < 3; i++) step();
    return { held: held ? await held.toArray() : [], before, p: await p.toArray() };
  }

  it("AdamW's last buffer is recycled, but not under a detach() of a parameter or a stateDict() moment", async () => {
    const plain = await adamSteps('nothing');
    const detached = await adamSteps('detach');
    const sd = await adamSteps('stateDict');
    expect(detached.held).toEqual(detached.before);
    expect(sd.held).toEqual(sd.before);
    expect(detached.p).toEqual(plain.p);
    expect(sd.p).toEqual(plain.p);
  });

  it('data() and toArray() read the values when called, before a later step can reuse the array', async () => {
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 8], [8], { requiresGrad: true });
    for (let i = 0; i < 3; i++) x.mul(2).add(1).sum().backward({ freeGraph: true });
    const h = x.mul(2).add(1);
    const pending = [h.data(), h.toArray()];
    h.sum().backward({ freeGraph: true }); // frees h; its array may be handed out again now
    for (let i = 0; i < 3; i++) x.mul(5).add(7).sum();
    const [d, arr] = await Promise.all(pending);
    expect(Array.from(d as Float32Array)).toEqual([3, 5, 7, 9, 11, 13, 15, 17]);
    expect(arr).toEqual([3, 5, 7, 9, 11, 13, 15, 17]);
  });
});

describe('backward with the pool: edges', () => {
  /** Kernels at these sizes called before, so that their outputs come from the pool. */
  function warm(x: Tensor): void {
    for (let i = 0; i < 3; i++) (x.mul(2).sum().backward(), x.mul(0).add(1), x.add(100).mul(1));
    x.zeroGrad();
  }

  it('a gradient passed to backward() is the caller\'s: never recycled', async () => {
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 8], [8], { requiresGrad: true });
    warm(x);
    const seed = noGrad(() => x.mul(0).add(1)); // a pool array
    x.mul(2).backward(seed);
    for (let i = 0; i < 3; i++) x.add(100).mul(1);
    expect(await seed.toArray()).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    expect(await x.grad!.toArray()).toEqual([2, 2, 2, 2, 2, 2, 2, 2]);
  });

  it('a second loss through intermediates a freeGraph backward freed throws instead of stopping there', () => {
    const x = tensor([1, 2, 3, 4], [4], { requiresGrad: true });
    const h = x.mul(2);
    const l1 = h.sum();
    const l2 = h.add(1).sum(); // add and sum never read h's values
    l1.backward({ freeGraph: true });
    x.zeroGrad();
    expect(() => l2.backward()).toThrow(/the graph through this mul output was freed by an earlier backward\(\{ freeGraph: true \}\)/);
  });

  it('freeGraph on a leaf, or twice, frees nothing and does not throw', async () => {
    const w = tensor([3], [1], { requiresGrad: true });
    w.backward({ freeGraph: true });
    w.backward({ freeGraph: true });
    expect(await w.grad!.toArray()).toEqual([2]);
  });

  it('backward names a gradient that is not a Tensor, and unknown options', () => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    expect(() => x.mul(2).sum().backward([5] as unknown as Tensor)).toThrow(/backward: the gradient must be a Tensor of shape \[\], got object/);
    expect(() => x.mul(2).backward(new Float32Array(3) as unknown as Tensor)).toThrow(/the gradient must be a Tensor/);
    expect(() => x.mul(2).sum().backward({ retainGraph: false } as never)).toThrow(/backward: unknown option 'retainGraph'; the options are createGraph and freeGraph/);
  });
});
