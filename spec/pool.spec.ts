/**
 * The buffer pool (core/pool.ts) and the backward pass that feeds it (core/autograd.ts, GradientRecycler):
 * recycled arrays must never be ones anybody can still read. On webasm (the device whose outputs come from
 * the pool), training steps with the pool on give bitwise the same losses, gradients and parameters as with
 * it off; forward tensors the caller holds, leaves' gradients, the seed and cached constants keep their
 * values through backward passes; and the pool is used (arrays given back and handed out again).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { crossEntropy, destroyDevices, setBufferPool, setDevice, tensor, Tensor } from '../core/index.js';
import { outputArray, pinArray, poolStats, releaseArray, resetPoolStats } from '../core/pool.js';
import * as nn from '../nn/index.js';

afterAll(() => destroyDevices());
afterEach(() => setBufferPool(true));

const dev = setDevice('webasm', 'the pool serves webasm outputs');

/** Three AdamW steps of a small GPT on webasm; every loss, gradient and final parameter. */
async function train(pool: boolean) {
  const prev = setBufferPool(pool);
  try {
    const lm = new nn.TransformerLM({ vocabSize: 32, contextLength: 8, dModel: 16, nHeads: 2, nLayers: 2, mlp: 'gelu', norm: 'layernorm', positions: 'learned', seed: 3 });
    const opt = new nn.AdamW(lm.namedParameters(), { lr: 1e-2 });
    const ids = tensor(Array.from({ length: 32 }, (_, i) => (i * 7) % 32), [4, 8], { dtype: 'int32', device: dev });
    const out: number[][] = [];
    for (let s = 0; s < 3; s++) {
      const logits = lm.forward(ids);
      const before = Array.from(logits.dataSync());
      const loss = crossEntropy(logits.reshape([32, 32]), ids.reshape([32]));
      loss.backward();
      // the forward output the caller holds is untouched by the backward pass's recycling
      expect(Array.from(logits.dataSync())).toEqual(before);
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
