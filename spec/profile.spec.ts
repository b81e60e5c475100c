/**
 * The per-kernel profiler (core/profile.ts): it counts every kernel call of a known sequence of ops, times
 * nothing outside a profile, times device overrides under their own name, and never patches a device.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { device, tensor, type Device } from '../core/index.js';
import { formatProfile, isProfiling, profile, profileElapsed, startProfile, stopProfile, type ProfileRow } from '../core/profile.js';

const ref = device('reference');
const webasm = device('webasm');

function counts(rows: ProfileRow[]): Record<string, number> {
  return Object.fromEntries(rows.map((r) => [`${r.device}:${r.kernel}`, r.calls]));
}

function ownKeys(d: Device): string[] {
  return Object.getOwnPropertyNames(d).filter((k) => k === 'run' || k === 'runGrid');
}

afterEach(() => {
  if (isProfiling()) stopProfile();
});

describe('profiler', () => {
  it('counts each kernel call of a known sequence of ops', async () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3], { device: ref });
    const b = tensor([0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [2, 3], { device: ref });
    a.add(b); // warm path outside the profile: must not be counted
    startProfile();
    let x = a.add(b); // add
    x = x.mul(b); // mul
    x = x.add(a); // add
    x = x.exp(); // exp
    x = x.mul(x); // mul
    x = x.add(b); // add
    const rows = stopProfile();
    a.add(b); // after stop: not counted
    expect(counts(rows)).toEqual({ 'reference:addFlat': 3, 'reference:mulFlat': 2, 'reference:exp': 1 });
    const total = rows.reduce((s, r) => s + r.share, 0);
    expect(total).toBeCloseTo(1, 9);
    for (const r of rows) {
      expect(r.totalMs).toBeGreaterThanOrEqual(0);
      expect(r.meanMs).toBeCloseTo(r.totalMs / r.calls, 12);
      expect(r.asyncCalls).toBe(0);
      expect(r.elements).toBe(6 * r.calls);
    }
    expect(rows.map((r) => r.totalMs)).toEqual([...rows.map((r) => r.totalMs)].sort((p, q) => q - p));
    expect((await x.toArray()).every(Number.isFinite)).toBe(true);
  });

  it('keeps devices apart and counts a gpu.js device too', () => {
    const a = tensor([1, 2, 3, 4], [4], { device: webasm });
    const r = tensor([1, 2, 3, 4], [4], { device: ref });
    startProfile({ devices: ['webasm', 'reference'] });
    a.add(a);
    a.add(a);
    r.add(r);
    const rows = stopProfile();
    expect(counts(rows)).toEqual({ 'webasm:addFlat': 2, 'reference:addFlat': 1 });
    expect(formatProfile(rows)).toContain('| device');
  });

  it('times only the devices asked for', () => {
    const a = tensor([1, 2], [2], { device: webasm });
    const r = tensor([1, 2], [2], { device: ref });
    startProfile({ devices: ['reference'] });
    expect(ownKeys(webasm)).toEqual([]);
    a.add(a);
    r.add(r);
    expect(counts(stopProfile())).toEqual({ 'reference:addFlat': 1 });
  });

  it('leaves the device objects untouched: the kernel path times calls, nothing is patched', () => {
    startProfile();
    expect(ownKeys(ref)).toEqual([]);
    expect(ownKeys(webasm)).toEqual([]);
    tensor([1, 2], [2], { device: ref }).exp();
    stopProfile();
    expect(ref.run).toBe((Object.getPrototypeOf(ref) as Device).run);
    expect(webasm.run).toBe((Object.getPrototypeOf(webasm) as Device).run);
  });

  it('times a device override as one row under its own name (matmul on webasm and cpu), nothing inside it twice', () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3], { device: webasm });
    const b = tensor([1, 0, 0, 1, 1, 1], [3, 2], { device: webasm });
    const [ac, bc] = [a.to('cpu'), b.to('cpu')];
    startProfile({ devices: ['webasm', 'cpu'] });
    a.matmul(b);
    ac.matmul(bc); // the matmulRows4 override, which runs its grid kernel inside: one row, not two
    const rows = stopProfile();
    expect(counts(rows)).toEqual({ 'webasm:matmulWasm': 1, 'cpu:matmulRows4': 1 });
    expect(rows.find((r) => r.kernel === 'matmulWasm')!.elements).toBe(4);
  });

  it('marks calls that return a promise as dispatch-only', async () => {
    const inner = ref.run;
    ref.run = (spec, n, args) => Promise.resolve(inner.call(ref, spec, n, args));
    try {
      const a = tensor([1, 2, 3], [3], { device: ref });
      const { rows, result } = await profile(() => a.add(a).toArray(), { devices: ['reference'] });
      expect(result).toEqual([2, 4, 6]);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ kernel: 'addFlat', calls: 1, asyncCalls: 1 });
      expect(formatProfile(rows)).toContain('addFlat*');
    } finally {
      delete (ref as Partial<Device>).run;
    }
  });

  it('refuses a second start and a stop without start; live totals while running', () => {
    expect(() => stopProfile()).toThrow(/no profile is running/);
    expect(() => profileElapsed()).toThrow(/no profile is running/);
    startProfile();
    expect(() => startProfile()).toThrow(/already running/);
    const a = tensor([1, 2], [2], { device: ref });
    a.add(a).exp();
    const t = profileElapsed();
    expect(t.calls).toBe(2);
    expect(t.wallMs).toBeGreaterThanOrEqual(t.kernelMs);
    stopProfile();
    expect(isProfiling()).toBe(false);
    expect(() => startProfile({ devices: ['nope'] })).toThrow(/unknown device/);
    expect(isProfiling()).toBe(false);
  });

  it('formats a markdown table with top-n folding, per-step division and a total row', () => {
    const rows: ProfileRow[] = [
      { kernel: 'matmulStrided', device: 'webasm', calls: 40, totalMs: 600, meanMs: 15, share: 0.6, asyncCalls: 0, elements: 0 },
      { kernel: 'add', device: 'webasm', calls: 100, totalMs: 300, meanMs: 3, share: 0.3, asyncCalls: 0, elements: 0 },
      { kernel: 'exp', device: 'webasm', calls: 20, totalMs: 100, meanMs: 5, share: 0.1, asyncCalls: 0, elements: 0 },
    ];
    const md = formatProfile(rows, { top: 2, per: 2 });
    const lines = md.split('\n');
    expect(lines[0]).toMatch(/^\| kernel +\| calls\/step \| ms\/step \| mean ms \| share \|$/);
    expect(lines).toHaveLength(6);
    expect(lines[2]).toMatch(/matmulStrided +\| +20 \| +300 \| +15.0 \| +60.0% \|/);
    expect(lines[4]).toMatch(/\(1 other kernels\) +\| +10 \| +50.0 \| +5.00 \| +10.0% \|/);
    expect(lines[5]).toMatch(/\*\*all kernels\*\* +\| +80 \| +500 \| +6.25 \| +100% \|/);
    expect(md).not.toContain('device');
  });
});
