/**
 * gradcheck itself (it must be able to fail), and device selection.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { device, gradcheck, randn, setDevice, type KernelThis } from '../core/index.js';
import { unaryOp } from '../ops/index.js';

setDevice('reference', 'gradcheck tests');

function wrongExp_(this: KernelThis, x: Float32Array): number {
  return Math.exp(x[this.thread.x]);
}
// deliberately wrong backward (forgets the factor exp(x))
const wrongExp = unaryOp(wrongExp_, (g) => g);

describe('gradcheck', () => {
  it('passes a correct gradient with the full Jacobian on small inputs', () => {
    const r = gradcheck((x) => x.tanh().sum(), [randn([3, 4])]);
    expect(r.ok, r.message).toBe(true);
    expect(r.mode).toBe('jacobian');
  });
  it('uses random directions <t, J^T c> = <J t, c> on large inputs', () => {
    const r = gradcheck((x, w) => x.matmul(w).tanh(), [randn([20, 30]), randn([30, 20])], { maxJacobian: 1000 });
    expect(r.ok, r.message).toBe(true);
    expect(r.mode).toBe('directions');
  });
  it('fails a wrong gradient and names the worst element', () => {
    const r = gradcheck((x) => wrongExp(x).sum(), [randn([2, 2])]);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/gradcheck FAILED \(full Jacobian\): worst at input 0 \[2,2\], Jacobian entry \d+: analytic .* vs numeric/);
    const big = gradcheck((x) => wrongExp(x), [randn([40, 40])], { maxJacobian: 100 });
    expect(big.ok).toBe(false);
    expect(big.mode).toBe('directions');
  });
});

describe('device selection', () => {
  it('headlessgl is refused with the reason when the native gl module is absent', () => {
    expect(() => device('headlessgl')).toThrow(/headlessgl is unavailable: the native `gl` module is not installed/);
  });
  it('webgpu needs the async probe first', () => {
    expect(() => setDevice('webgpu')).toThrow(/webgpu needs `await initDevice\(\)` first/);
  });
  it('TSGRAD_DEVICE picks the device and the first use says which and why', () => {
    const script = "import { randn } from './core/index.js'; console.log(randn([2]).device.name);";
    const run = (env: Record<string, string>) => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        env: { ...process.env, TSGRAD_QUIET: '0', ...env },
        encoding: 'utf8',
      });
      return { out: r.stdout.trim(), err: r.stderr.trim() };
    };
    const chosen = run({ TSGRAD_DEVICE: 'cpu' });
    expect(chosen.out).toBe('cpu');
    expect(chosen.err).toBe('tsgrad: device cpu — chosen by TSGRAD_DEVICE');
    const auto = run({ TSGRAD_DEVICE: '' });
    expect(auto.out).toBe('webasm');
    expect(auto.err).toMatch(/^tsgrad: device webasm — default on CPU; webgpu not probed/);
    expect(run({ TSGRAD_DEVICE: 'tpu' }).err).toMatch(/unknown device "tpu"; choose one of webgpu, webasm, cpu, headlessgl, webgl2, reference/);
  });
});
