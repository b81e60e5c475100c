/**
 * Autograd semantics: grad of grad (c), backward accumulation and repetition, noGrad/detach, bad inputs
 * with clear errors (d), and a training loop whose memory stays flat (e).
 */
import { describe, expect, it } from 'vitest';
import {
  crossEntropy, gradcheck, grad, matmul, noGrad, randn, setCheckNaN, setDevice, tensor, type Tensor,
} from '../core/index.js';

setDevice('reference', 'autograd tests');

describe('grad of grad matches finite differences of the first derivative', () => {
  const x = randn([2, 3]);
  const y = randn([2, 3]);
  const w = randn([3, 2]);
  const cases: [string, (x: Tensor) => Tensor][] = [
    ['tanh', (v) => v.tanh().sum()],
    ['exp', (v) => v.exp().sum()],
    ['mul', (v) => v.mul(v).mul(y).sum()],
    ['matmul', (v) => matmul(v, w).square().sum()],
    ['softmax', (v) => v.softmax(-1).mul(y).sum()],
    ['logSoftmax', (v) => v.logSoftmax(-1).mul(y).sum()],
    ['gelu', (v) => v.gelu().sum()],
  ];
  for (const [name, f] of cases) {
    it(name, () => {
      // d/dx of (first derivative . y) checked against finite differences: a true second-order check
      const r = gradcheck((v) => grad(f)(v)[0].mul(y).sum(), [x]);
      expect(r.ok, r.message).toBe(true);
      expect(r.worst!.analytic).not.toBe(0);
    });
  }
  it('tanh second derivative equals the closed form -2 tanh (1 - tanh^2)', async () => {
    const [d2] = grad((v) => grad((u) => u.tanh().sum())(v)[0].sum())(x);
    const t = (await x.toArray()).map(Math.tanh);
    const want = t.map((v) => -2 * v * (1 - v * v));
    const got = await d2.toArray();
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 12));
  });
});

describe('backward', () => {
  it('accumulates into .grad across calls and zeroGrad clears it', async () => {
    const a = tensor([1, 2, 3], [3], { requiresGrad: true });
    a.mul(a).sum().backward();
    expect(await a.grad!.toArray()).toEqual([2, 4, 6]);
    a.mul(3).sum().backward();
    expect(await a.grad!.toArray()).toEqual([5, 7, 9]);
    a.zeroGrad();
    expect(a.grad).toBeNull();
  });
  it('called twice on the same graph adds the same gradient again (retain-graph semantics)', async () => {
    const a = tensor([1, 2], [2], { requiresGrad: true });
    const loss = a.exp().sum();
    loss.backward();
    const once = await a.grad!.toArray();
    loss.backward();
    const twice = await a.grad!.toArray();
    twice.forEach((v, i) => expect(v).toBeCloseTo(2 * once[i], 12));
  });
  it('a shared input gets the sum of both paths', async () => {
    const a = tensor([2], [1], { requiresGrad: true });
    a.mul(a).add(a).sum().backward(); // d/da (a^2 + a) = 2a + 1
    expect(await a.grad!.item()).toBe(5);
  });
  it('broadcast gradients are summed back to the input shape', async () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]], undefined, { requiresGrad: true });
    const b = tensor([1, 1, 1], [3], { requiresGrad: true });
    a.mul(b).sum().backward();
    expect(b.grad!.shape).toEqual([3]);
    expect(await b.grad!.toArray()).toEqual([5, 7, 9]);
  });
  it('noGrad records nothing and detach cuts the graph', () => {
    const a = tensor([1, 2], [2], { requiresGrad: true });
    expect(noGrad(() => a.mul(2)).requiresGrad).toBe(false);
    expect(a.detach().mul(2).requiresGrad).toBe(false);
    expect(() => a.detach().sum().backward()).toThrow(/does not require grad/);
  });
  it('backward of a non-scalar needs an explicit gradient', () => {
    const a = tensor([1, 2], [2], { requiresGrad: true });
    expect(() => a.mul(2).backward()).toThrow(/grad can be implicitly created only for scalar outputs.*pass a gradient of shape \[2\]/);
  });
});

describe('bad inputs give clear errors', () => {
  it('shape mismatch names the op and both shapes', () => {
    expect(() => tensor([[1, 2, 3]]).add(tensor([1, 2], [2]))).toThrow(/add: shapes \[1,3\] and \[2\] cannot broadcast/);
    expect(() => matmul(randn([2, 3]), randn([4, 5]))).toThrow(/matmul: inner dims differ: \[2,3\] x \[4,5\]/);
    expect(() => randn([2, 3]).reshape([4, 2])).toThrow(/reshape: cannot reshape \[2,3\] \(6 elements\) to \[4,2\]/);
    expect(() => randn([2, 3]).sum(2)).toThrow(/sum: dim 2 is out of range for a tensor of rank 2/);
  });
  it('out-of-range index names the op, the index and the valid range', () => {
    const x = randn([3, 4]);
    expect(() => x.indexSelect(0, tensor([0, 3], [2], { dtype: 'int32' }))).toThrow(/indexSelect: index 3 at position 1 is out of range .* size 3/);
    expect(() => crossEntropy(x, tensor([0, 1, 4], [3], { dtype: 'int32' }))).toThrow(/crossEntropy: index 4 at position 2 is out of range for classes/);
  });
  it('wrong dtype for an index says how to make one', () => {
    const x = randn([3, 4]);
    expect(() => x.gather(1, tensor([[0], [1], [2]]))).toThrow(/gather: index must have dtype int32, got float32.*dtype: 'int32'/);
    expect(() => tensor([1.5], [1], { dtype: 'int32' })).toThrow(/int32 values must be integers/);
  });
  it('NaN in an input is caught by the opt-in check, naming the op', () => {
    const bad = tensor([1, NaN, 3], [3]);
    expect(() => bad.exp()).not.toThrow();
    const prev = setCheckNaN(true);
    try {
      expect(() => bad.exp()).toThrow(/exp: NaN in input 0 at element 1/);
      expect(() => tensor([-1], [1]).log()).toThrow(/log: NaN in its output at element 0/);
    } finally {
      setCheckNaN(prev);
    }
  });
  it('unknown device and device mixing are refused', () => {
    expect(() => setDevice('tpu')).toThrow(/unknown device "tpu"/);
    expect(() => randn([2]).add(randn([2]).to('cpu'))).toThrow(/different devices \(reference and cpu\)/);
  });
});
