/**
 * The engine's edges: expand's size checks, size limits at tensor creation, backward's gradient shape,
 * gradcheck with nothing to compare, and checkpoint maps that keep names like "__proto__" as plain data.
 * Each error case checks what the message says, not only that something throws.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  arange, device, full, grad, gradcheck, ones, rand, randint, randn, setDevice, tensor, Tensor, zeros,
} from '../core/index.js';
import { checkNewTensor } from '../core/shape.js';
import * as init from '../nn/init.js';
import { Module } from '../nn/module.js';
import { AdamW } from '../nn/optim.js';
import { loadCheckpoint, packState, saveCheckpoint, stripPrefix, unpackState, withPrefix } from '../experiments/train/checkpoint.js';

setDevice('reference', 'edge-case tests');

/** The message of the error `fn` throws (fails the test when it does not throw). */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error, but the call returned');
}

describe('expand checks the target sizes', () => {
  it('expands size-1 dims and new leading dims; -1 keeps a dim; the gradient sums back', async () => {
    const x = tensor([[1], [2]], undefined, { requiresGrad: true });
    const y = x.expand([3, -1, 4]);
    expect(y.shape).toEqual([3, 2, 4]);
    expect(await y.toArray()).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2]);
    y.sum().backward();
    expect(await x.grad!.toArray()).toEqual([12, 12]);
  });
  it('a non-1 dim expanded to another size names both shapes, the dim and the fix (as PyTorch)', () => {
    const msg = errorOf(() => zeros([2, 3]).expand([2, 4]));
    expect(msg).toContain('expand: cannot expand a tensor of shape [2,3] to [2,4]');
    expect(msg).toContain('the expanded size 4 must match the existing size 3 at non-singleton dim 1');
    expect(msg).toContain('only size-1 dims expand');
  });
  it('a target of lower rank', () => {
    const msg = errorOf(() => zeros([2, 3]).expand([3]));
    expect(msg).toContain('expand: cannot expand a tensor of shape [2,3] to [3]');
    expect(msg).toContain('the target has 1 dims, fewer than the tensor\'s 2');
  });
  it('negative, fractional and NaN sizes', () => {
    expect(errorOf(() => zeros([1, 3]).expand([-2, 3]))).toContain('to [-2,3]: size -2 at dim 0 is not a non-negative integer');
    expect(errorOf(() => zeros([1, 3]).expand([2.5, 3]))).toContain('size 2.5 at dim 0 is not a non-negative integer');
    expect(errorOf(() => zeros([1, 3]).expand([NaN, 3]))).toContain('to [NaN,3]: size NaN at dim 0');
  });
  it('-1 in a new leading dim has nothing to keep', () => {
    expect(errorOf(() => zeros([3]).expand([-1, 3]))).toContain('-1 at dim 0 is a new leading dim, which has no size to keep; give the new dim a size');
  });
  it('an expansion past the device limit is refused by expand, before the kernel', () => {
    const x = zeros([1, 1], { device: device('webasm') });
    expect(errorOf(() => x.expand([4097, 4096]))).toMatch(/^expand: shape \[4097,4096\] has 16781312 elements, over the 2\^24 = 16777216 elements .* on device webasm/);
  });
});

describe('tensor creation refuses bad shapes and sizes past the device limit, before allocating', () => {
  const webasm = device('webasm');
  const tooBig = [4097, 4096]; // 2^24 + 4096 elements: past gpu.js's exact float32 index range
  const limitOnWebasm = /has 16781312 elements, over the 2\^24 = 16777216 elements one tensor may hold on device webasm; split it/;
  it('the limit is the device\'s: 2^24 on gpu.js devices, 2^32 (V8 typed arrays) on the reference device', () => {
    expect(webasm.maxElements).toBe(2 ** 24);
    expect(device('cpu').maxElements).toBe(2 ** 24);
    expect(device('reference').maxElements).toBe(2 ** 32);
    expect(() => checkNewTensor('zeros', [4096, 4096], webasm)).not.toThrow(); // exactly 2^24 is allowed
    expect(() => checkNewTensor('zeros', [4096, 4096], device('reference'))).not.toThrow();
  });
  it('every creation function names itself, the shape and the limit', () => {
    const cases: [string, () => unknown][] = [
      ['zeros', () => zeros(tooBig, { device: webasm })],
      ['ones', () => ones(tooBig, { device: webasm })],
      ['full', () => full(tooBig, 7, { device: webasm })],
      ['randn', () => randn(tooBig, { device: webasm })],
      ['rand', () => rand(tooBig, { device: webasm })],
      ['randint', () => randint(0, 5, tooBig, { device: webasm })],
      ['tensor', () => tensor([1], tooBig, { device: webasm })],
      ['Tensor.fromValues', () => Tensor.fromValues([1], tooBig, webasm)],
      ['Tensor.full', () => zeros([1], { device: webasm }).full(tooBig, 0)],
      ['init.normal', () => init.normal(tooBig, { device: webasm })],
      ['init.zeros', () => init.zeros(tooBig, { device: webasm })],
    ];
    for (const [op, make] of cases) {
      const msg = errorOf(make);
      expect(msg, op).toMatch(new RegExp(`^${op.replace('.', '\\.')}: shape \\[4097,4096\\] `));
      expect(msg, op).toMatch(limitOnWebasm);
    }
    expect(errorOf(() => arange(0, 2 ** 24 + 1, 1, { device: webasm }))).toMatch(/^arange: shape \[16777217\] has 16777217 elements, over the 2\^24/);
  });
  it('a size past the reference device\'s typed-array limit is refused before a RangeError could occur', () => {
    expect(errorOf(() => zeros([2 ** 17, 2 ** 16]))).toBe(
      'zeros: shape [131072,65536] has 8589934592 elements, over the 2^32 = 4294967296 elements one tensor may hold on device reference; ' +
        'split it into smaller tensors (or use a device with a higher limit)',
    );
  });
  it('negative, fractional, NaN and infinite dims', () => {
    expect(errorOf(() => zeros([2, -1]))).toBe('zeros: a shape must be a list of non-negative integers, got [2,-1]');
    expect(errorOf(() => randn([2.5]))).toBe('randn: a shape must be a list of non-negative integers, got [2.5]');
    expect(errorOf(() => ones([NaN, 2]))).toBe('ones: a shape must be a list of non-negative integers, got [NaN,2]');
    expect(errorOf(() => full([Infinity], 1))).toBe('full: a shape must be a list of non-negative integers, got [Infinity]');
    expect(errorOf(() => Tensor.fromValues([1], [-1, -1], device('reference')))).toBe(
      'Tensor.fromValues: a shape must be a list of non-negative integers, got [-1,-1]',
    );
  });
  it('arange refuses NaN, infinite bounds and a zero step instead of making an empty or endless tensor', () => {
    expect(errorOf(() => arange(0, NaN))).toBe('arange: start, end and step must be finite numbers and step not 0; got start 0, end NaN, step 1');
    expect(errorOf(() => arange(0, Infinity))).toContain('got start 0, end Infinity, step 1');
    expect(errorOf(() => arange(0, 5, 0))).toContain('step not 0; got start 0, end 5, step 0');
    expect(arange(0, 0).shape).toEqual([0]); // an empty range is fine
  });
});

describe('backward(gradient) takes a gradient of exactly the output\'s shape', () => {
  it('no gradient on a non-scalar output: PyTorch\'s message, the shape and the fix', () => {
    const y = randn([2, 3], { requiresGrad: true }).mul(2);
    const msg = errorOf(() => y.backward());
    expect(msg).toContain('backward: grad can be implicitly created only for scalar outputs');
    expect(msg).toContain('has shape [2,3]; pass a gradient of shape [2,3] or reduce to one element first (e.g. .sum())');
  });
  it('a gradient of another shape names both shapes, even one that would broadcast', () => {
    const y = randn([2, 3], { requiresGrad: true }).mul(2);
    expect(errorOf(() => y.backward(ones([3])))).toBe(
      'backward: the gradient has shape [3] but the output has shape [2,3]; pass a gradient of exactly the output\'s shape (it is not broadcast)',
    );
    expect(errorOf(() => y.backward(ones([3, 2])))).toContain('the gradient has shape [3,2] but the output has shape [2,3]');
    const s = randn([1], { requiresGrad: true }).mul(2);
    expect(errorOf(() => s.backward(ones([])))).toContain('the gradient has shape [] but the output has shape [1]');
  });
  it('a gradient on another device or not a tensor', () => {
    const y = randn([2], { requiresGrad: true }).mul(2);
    expect(errorOf(() => y.backward(ones([2], { device: device('webasm') })))).toBe(
      'backward: the gradient is on device webasm but the output is on reference; move it with .to(\'reference\')',
    );
    expect(errorOf(() => y.backward(2 as unknown as Tensor))).toBe('backward: the gradient must be a Tensor of shape [2], got number');
  });
  it('a gradient of the right shape weights the vector-Jacobian product', async () => {
    const x = tensor([1, 2, 3], undefined, { requiresGrad: true });
    x.mul(x).backward(tensor([1, 10, 100]));
    expect(await x.grad!.toArray()).toEqual([2, 40, 600]);
  });
  it('grad(f) says the same when f does not return one element', () => {
    const msg = errorOf(() => grad((x) => x.mul(2))(randn([2, 3])));
    expect(msg).toBe('grad: grad can be implicitly created only for scalar outputs, and f returned shape [2,3]; make f return a one-element tensor (e.g. end it with .sum())');
    expect(errorOf(() => grad(() => 3 as unknown as Tensor)(randn([2])))).toBe('grad: f must return a Tensor with one element, got number');
  });
});

describe('gradcheck with nothing to compare is an error, never a pass', () => {
  it('no inputs', () => {
    const msg = errorOf(() => gradcheck(() => randn([2]), []));
    expect(msg).toContain('gradcheck: nothing to compare (no float32 input has an element to perturb); got inputs [no inputs]');
    expect(msg).toContain('Pass at least one non-empty float32 input that f depends on');
  });
  it('only int32 inputs', () => {
    const ids = tensor([1, 2], [2], { dtype: 'int32' });
    expect(errorOf(() => gradcheck((i) => i.add(1), [ids]))).toContain('(no float32 input has an element to perturb); got inputs [int32 [2]]');
  });
  it('zero-element inputs', () => {
    expect(errorOf(() => gradcheck((x) => x.sum(), [zeros([0, 3])]))).toContain('(no float32 input has an element to perturb); got inputs [float32 [0,3]] and an output of 1 elements');
  });
  it('an output with no elements', () => {
    expect(errorOf(() => gradcheck((x) => x.narrow(0, 0, 0), [randn([3])]))).toContain('(f returned a tensor with no elements); got inputs [float32 [3]] and an output of 0 elements');
  });
  it('zero random directions', () => {
    expect(errorOf(() => gradcheck((x) => x.tanh(), [randn([5])], { maxJacobian: 1, directions: 0 }))).toContain('(opts.directions is 0)');
  });
});

// ---- checkpoints: names are data, lookups are own keys ---------------------------------------------------

const TRICKY = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

class Tricky extends Module {
  readonly ws = TRICKY.map((n, i) => this.param(n, tensor([i + 1, -(i + 1)], [2])));
  forward(x: Tensor): Tensor {
    return this.ws.reduce((acc, w) => acc.add(w.mul(x)), zeros([2]));
  }
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-edges-'));
}

describe('checkpoint maps have no prototype and resolve only own keys', () => {
  it('a model with parameters named __proto__, constructor, toString, ... round-trips through a checkpoint file', async () => {
    const a = new Tricky();
    const opt = new AdamW(a.namedParameters(), { lr: 0.1 });
    a.forward(ones([2])).sum().backward();
    opt.step();
    const sd = a.stateDict();
    expect(Object.getPrototypeOf(sd)).toBeNull();
    expect(Object.keys(sd)).toEqual(TRICKY);
    const optState = opt.stateDict();
    expect(Object.keys(optState.paramSteps)).toEqual(TRICKY);

    const tensors = withPrefix('model', sd);
    const packed = packState('optim', optState, tensors);
    const dir = tmpDir();
    const file = path.join(dir, 'checkpoint.safetensors');
    await saveCheckpoint(file, { tensors, meta: { optimizer: packed } });

    const ck = loadCheckpoint(file, device('reference'));
    expect(Object.getPrototypeOf(ck.tensors)).toBeNull();
    expect(Object.keys(ck.tensors)).toContain('model.__proto__');
    const b = new Tricky();
    const restored = stripPrefix('model', ck.tensors);
    expect(Object.keys(restored).sort()).toEqual([...TRICKY].sort());
    expect(b.loadStateDict(restored)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    // the checkpoint stores float32; the reference device computed in float64
    for (const [name, w] of b.namedParameters()) expect(await w.toArray(), name).toEqual(Array.from(Float32Array.from(await sd[name].toArray())));

    const optB = new AdamW(b.namedParameters(), { lr: 0.1 });
    optB.loadStateDict(unpackState(ck.meta.optimizer, ck.tensors) as ReturnType<AdamW['stateDict']>);
    const back = optB.stateDict();
    expect(Object.keys(back.paramSteps)).toEqual(TRICKY);
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(optState.tensors).sort());
    fs.rmSync(dir, { recursive: true });
  });
  it('loadStateDict does not find "constructor" through Object.prototype: it is a missing key', () => {
    const partial: Record<string, Tensor> = {};
    for (const [n, t] of new Tricky().namedParameters()) if (n !== 'constructor') Object.defineProperty(partial, n, { value: t, enumerable: true });
    expect(errorOf(() => new Tricky().loadStateDict(partial))).toBe('Tricky.loadStateDict: missing keys: constructor (pass { strict: false } to load a subset)');
    expect(new Tricky().loadStateDict(partial, { strict: false })).toEqual({ missingKeys: ['constructor'], unexpectedKeys: [] });
  });
  it('unpackState: a $tensor reference to "constructor" or "toString" is an error, not Object.prototype\'s', () => {
    const tensors = { w: zeros([1]) };
    for (const ref of ['constructor', 'toString', '__proto__']) {
      expect(errorOf(() => unpackState({ m: { $tensor: ref } }, tensors))).toBe(
        `loadCheckpoint: the checkpoint refers to tensor "${ref}" but does not contain it; the file is corrupt`,
      );
    }
    expect(unpackState({ m: { $tensor: 'w' } }, tensors)).toEqual({ m: tensors.w });
  });
  it('withPrefix, stripPrefix and packState keep a __proto__ key as data', () => {
    const t = zeros([1]);
    const named = JSON.parse('{"__proto__": 1}') as Record<string, unknown>; // own key, as JSON.parse makes it
    named.__proto__ = t; // assigning an own data property: still data
    const prefixed = withPrefix('model', named as Record<string, Tensor>);
    expect(Object.keys(prefixed)).toEqual(['model.__proto__']);
    const stripped = stripPrefix('model', prefixed);
    expect(Object.getPrototypeOf(stripped)).toBeNull();
    expect(Object.keys(stripped)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(stripped, '__proto__')?.value).toBe(t);

    const store: Record<string, Tensor> = Object.create(null);
    const packed = packState('optim', named, store) as Record<string, unknown>;
    expect(Object.keys(packed)).toEqual(['__proto__']);
    expect(Object.keys(store)).toEqual(['optim.__proto__']);
    const json = JSON.parse(JSON.stringify(packed)) as unknown;
    const unpacked = unpackState(json, store) as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(unpacked, '__proto__')?.value).toBe(t);
  });
});
