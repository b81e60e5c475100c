/**
 * (e) 500 small forward/backward/update steps: once warm, memory stays flat (no graph, tensor or buffer
 * kept alive from one step to the next). Needs --expose-gc (set in vitest.config.ts).
 */
import { describe, expect, it } from 'vitest';
import { crossEntropy, noGrad, randint, randn, setDevice, type Tensor } from '../core/index.js';

const gc = (globalThis as { gc?: () => void }).gc;

function measure(): { heap: number; buffers: number } {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers + m.external };
}

describe('memory stays flat over a training loop', () => {
  it.each(['webasm', 'cpu'])('%s: 500 steps', async (dev) => {
    expect(gc, 'run vitest with --expose-gc (vitest.config.ts sets it)').toBeTypeOf('function');
    setDevice(dev, 'memory test');
    const w1 = randn([16, 32]).mul(0.1).requiresGrad_();
    const w2 = randn([32, 4]).mul(0.1).requiresGrad_();
    const step = async () => {
      const x = randn([8, 16]);
      const y = randint(0, 4, [8]);
      const loss = crossEntropy(x.matmul(w1).tanh().matmul(w2), y);
      loss.backward();
      noGrad(() => {
        for (const p of [w1, w2] as Tensor[]) {
          p._data = p.sub(p.grad!.mul(0.1))._data;
          p.zeroGrad();
        }
      });
      return loss.item();
    };
    for (let i = 0; i < 100; i++) await step();
    const before = measure();
    let last = 0;
    for (let i = 0; i < 400; i++) last = await step();
    const after = measure();
    expect(Number.isFinite(last)).toBe(true);
    const growHeap = (after.heap - before.heap) / 2 ** 20;
    const growBuf = (after.buffers - before.buffers) / 2 ** 20;
    expect(growHeap, `heap grew ${growHeap.toFixed(2)} MiB over 400 steps`).toBeLessThan(1);
    expect(growBuf, `buffers grew ${growBuf.toFixed(2)} MiB over 400 steps`).toBeLessThan(1);
  });
});
