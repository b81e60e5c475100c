/**
 * The one kernel path (core/devices/run.ts) and the per-device override registry
 * (core/devices/overrides.ts):
 * - the NaN check catches matmul on every device and with every implementation of its kernel (a NaN
 *   coming in, and a NaN made inside: inf * 0), and nn.Linear blames matmul, not the bias add after it;
 * - kernel names are unique: declaring a taken name throws, and so does a device asked to compile a
 *   different function under a cached name;
 * - every registered override names a spec file that exists and tests it by name;
 * - ops/ never names a device.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { device, kernel, matmul, setCheckNaN, Tensor, type KernelThis } from '../core/index.js';
import { listOverrides, registerOverride, setKernelOverride } from '../core/devices/overrides.js';
import { Linear } from '../nn/index.js';

const root = join(import.meta.dirname, '..');

afterEach(() => {
  setCheckNaN(false);
  setKernelOverride('matmulStrided', 'auto');
});

const implementations: Record<string, string[]> = {
  reference: ['auto'],
  webasm: ['auto', 'none', 'matmulRows4'],
  cpu: ['auto', 'none', 'matmulWasm'],
};

describe('the NaN check sees every kernel call, device overrides included', () => {
  for (const [dev, choices] of Object.entries(implementations)) {
    for (const choice of choices) {
      it(`catches a NaN in and a NaN made inside matmul on ${dev} (${choice})`, () => {
        setKernelOverride('matmulStrided', choice);
        const d = device(dev);
        const ok = Tensor.fromValues([1, 2, 3, 4], [2, 2], d);
        const withNaN = Tensor.fromValues([1, NaN, 3, 4], [2, 2], d);
        const withInf = Tensor.fromValues([Infinity, 1, 1, 1], [2, 2], d);
        const zeros = Tensor.fromValues([0, 0, 0, 0], [2, 2], d);
        expect(() => matmul(withNaN, ok)).not.toThrow(); // off by default
        setCheckNaN(true);
        expect(() => matmul(withNaN, ok)).toThrow(/^matmulStrided.*: NaN in input 0 at element 1/);
        // inf * 0 = NaN: no NaN comes in, the kernel (or the override) makes it
        expect(() => matmul(withInf, zeros)).toThrow(/^matmulStrided.*: NaN in its output at element 0/);
        expect(Array.from(matmul(ok, ok).dataSync())).toEqual([7, 10, 15, 22]);
      });
    }
  }

  it('names the override that ran when the NaN is made inside it', () => {
    const d = device('webasm');
    setCheckNaN(true);
    const inf = Tensor.fromValues([Infinity, 1, 1, 1], [2, 2], d);
    expect(() => matmul(inf, Tensor.fromValues([0, 0, 0, 0], [2, 2], d))).toThrow(/matmulStrided \(run by matmulWasm on webasm\): NaN in its output/);
  });

  it('nn.Linear blames matmul (the NaN made there), not the bias add after it', () => {
    for (const dev of ['reference', 'webasm', 'cpu']) {
      const lin = new Linear(2, 2, { device: device(dev) });
      lin.weight.dataSync().set([0, 1, 1, 0]); // row 0 of x times row 0 of the weight: Infinity * 0 + 0 * 1
      const x = Tensor.fromValues([Infinity, 0], [1, 2], device(dev));
      setCheckNaN(true);
      expect(() => lin.forward(x), dev).toThrow(/^matmulStrided.*: NaN in its output at element 0/);
      setCheckNaN(false);
    }
  });

  it('checks output sizes: a negative or fractional size, or one past what the device indexes, throws naming the kernel', () => {
    const d = device('webasm');
    const x = Tensor.fromValues([1, 2], [2], d);
    const twice = kernel(twice_);
    expect(() => x.run(twice, -1, [x])).toThrow(/twice_: output size must be a whole number >= 0, got -1/);
    expect(() => x.run(twice, 1.5, [x])).toThrow(/whole number/);
    expect(() => x.run(twice, 2 ** 24 + 1, [x])).toThrow(/twice_: output of 16777217 elements exceeds 16777216 on webasm/);
    expect(Array.from(x.run(twice, 2, [x]) as Float32Array)).toEqual([2, 4]);
  });
});

function twice_(this: KernelThis, x: Float32Array): number {
  return 2 * x[this.thread.x];
}

function otherTwice(this: KernelThis, x: Float32Array): number {
  return x[this.thread.x] + x[this.thread.x];
}

describe('kernel names are unique', () => {
  it('declaring a second kernel function under a taken name throws; the same function again does not', () => {
    expect(() => kernel(otherTwice, { name: 'add' })).toThrow(/the name "add" is taken by kernel function add_/);
    expect(() => kernel(otherTwice, { name: 'matmulWasm' })).toThrow(/taken by the override matmulWasm of matmulStrided/);
    const spec = kernel(twice_);
    expect(kernel(twice_).name).toBe(spec.name);
  });

  it('a device refuses to run a different function under a name it has compiled', () => {
    const d = device('webasm');
    const x = Tensor.fromValues([1, 2], [2], d);
    x.run(kernel(twice_), 2, [x]);
    const impostor = { name: 'twice_', fn: otherTwice }; // built by hand, past kernel()'s check
    expect(() => x.run(impostor, 2, [x])).toThrow(/twice_: another kernel function was compiled under this name on webasm/);
  });

  it('registering an override under a taken name, or with default devices it cannot run on, throws', () => {
    const run = () => null;
    expect(() => registerOverride({ name: 'exp', replaces: 'exp', devices: ['webasm'], byDefault: [], testedBy: 'x', run })).toThrow(/"exp" is taken/);
    expect(() => registerOverride({ name: 'expFaster', replaces: 'exp', devices: ['webasm'], byDefault: ['cpu'], testedBy: 'x', run })).toThrow(
      /runs by default on cpu but lists only webasm/,
    );
    expect(() => setKernelOverride('matmulStrided', 'matmulNope')).toThrow(/"matmulNope" is not an override of matmulStrided \(its overrides: matmulRows4, matmulWasm\)/);
  });
});

describe('overrides are tested, and ops never name a device', () => {
  it('every registered override names a spec file that exists and mentions it', () => {
    const all = listOverrides();
    expect(all.map((o) => o.name).sort()).toEqual(['adamFlatLoop', 'attnBackwardWasm', 'attnForwardWasm', 'expShiftCausalWasm', 'expShiftRowsWasm', 'geluBackwardWasm', 'geluWasm', 'indexAddRows', 'matmulRows4', 'matmulWasm', 'nllBackwardRows', 'normBackwardRows', 'normForwardRows']);
    for (const o of all) {
      const file = join(root, o.testedBy);
      expect(existsSync(file), `${o.name}: ${o.testedBy}`).toBe(true);
      expect(readFileSync(file, 'utf8')).toContain(o.name);
    }
  });

  it('no file in ops/ mentions a device by name or imports from core/devices', () => {
    const names = /['"`](webgpu|webasm|cpu|headlessgl|reference)['"`]|\.name === |from '[./]*core\/devices\//;
    for (const f of readdirSync(join(root, 'ops'))) {
      const src = readFileSync(join(root, 'ops', f), 'utf8');
      expect(names.exec(src)?.[0], `ops/${f}`).toBeUndefined();
    }
  });
});
