/**
 * Public in-place updates (assign_, add_, sub_, mul_): the way user code changes a parameter without
 * touching storage, and the errors that keep them out of recorded graphs.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { crossEntropy, device, manualSeed, noGrad, randn, setDevice, tensor } from '../core/index.js';

beforeEach(() => {
  setDevice('reference', 'in-place tests');
});

describe('in-place updates', () => {
  it('sub_ under noGrad is one SGD step: same object, still a leaf, new values', async () => {
    const w = tensor([1, -2, 3], [3], { requiresGrad: true });
    w.sum().mul(2).backward();                                  // dw = 2 everywhere
    const same = noGrad(() => w.sub_(w.grad!.mul(0.25)));
    expect(same).toBe(w);
    expect(w._node).toBeNull();
    expect(w.requiresGrad).toBe(true);
    expect(await w.toArray()).toEqual([0.5, -2.5, 2.5]);
  });

  it('assign_, add_ and mul_ compute what they say; a number fills every element', async () => {
    const t = tensor([1, 2, 3, 4], [2, 2]);
    t.add_(1);
    expect(await t.toArray()).toEqual([2, 3, 4, 5]);
    t.mul_(tensor([10, 100], [2]));                             // broadcasting like the out-of-place op
    expect(await t.toArray()).toEqual([20, 300, 40, 500]);
    t.assign_(tensor([[9, 8], [7, 6]]));
    expect(await t.tolist()).toEqual([[9, 8], [7, 6]]);
    t.assign_(0.5);
    expect(await t.toArray()).toEqual([0.5, 0.5, 0.5, 0.5]);
    expect(t.shape).toEqual([2, 2]);
  });

  it('swaps storage: a detached view made before the update keeps the old values', async () => {
    const a = tensor([1, 2, 3], [3]);
    const before = a.detach();
    a.assign_(tensor([7, 8, 9], [3]));
    expect(await before.toArray()).toEqual([1, 2, 3]);
    expect(await a.toArray()).toEqual([7, 8, 9]);
  });

  it('refuses to update a leaf that requires grad while the graph is being recorded, naming noGrad', () => {
    const w = tensor([1, 2], [2], { requiresGrad: true });
    expect(() => w.sub_(1)).toThrow(/requires grad; update it inside noGrad/);
  });

  it('refuses to update a tensor made by an op (its graph would be wrong)', () => {
    const w = tensor([1, 2], [2], { requiresGrad: true });
    const y = w.mul(2);
    expect(() => noGrad(() => y.assign_(0))).toThrow(/made by an op/);
  });

  it('names the mismatch: shape, dtype, device', () => {
    const t = tensor([1, 2, 3, 4], [2, 2]);
    expect(() => t.assign_(tensor([1, 2, 3, 4], [4]))).toThrow('assign_: shapes differ: [2,2] <- [4]');
    expect(() => t.assign_(tensor([1, 2, 3, 4], [2, 2], { dtype: 'int32' }))).toThrow('assign_: dtypes differ: float32 <- int32');
    const other = tensor([1, 2, 3, 4], [2, 2], { device: device('cpu') });
    expect(() => t.assign_(other)).toThrow(/devices differ: reference <- cpu; move the value with \.to\('reference'\)/);
  });

  it('trains: plain SGD with sub_ lowers a cross-entropy loss (the README example)', async () => {
    manualSeed(0);
    const x = randn([8, 3]);
    const y = tensor([0, 2, 1, 2, 0, 1, 1, 0], [8], { dtype: 'int32' });
    const w = randn([3, 3]).mul(0.1).requiresGrad_();
    const b = tensor([0, 0, 0], [3], { requiresGrad: true });
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      const loss = crossEntropy(x.matmul(w).add(b), y);
      loss.backward();
      losses.push(await loss.item());
      noGrad(() => {
        for (const p of [w, b]) {
          p.sub_(p.grad!.mul(0.5));
          p.zeroGrad();
        }
      });
    }
    expect(losses[29]).toBeLessThan(losses[0] * 0.8);
  });
});
