/**
 * The per-kernel profiler (core/profile.ts): it counts every kernel call of a known sequence of ops, times
 * nothing outside a profile, and leaves the devices exactly as it found them.
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

  it('wraps only the devices asked for', () => {
    const a = tensor([1, 2], [2], { device: webasm });
    const r = tensor([1, 2], [2], { device: ref });
    startProfile({ devices: ['reference'] });
    expect(ownKeys(webasm)).toEqual([]);
    a.add(a);
    r.add(r);
    expect(counts(stopProfile())).toEqual({ 'reference:addFlat': 1 });
  });

  it('restores the devices after stop: no own property left, the class methods back', () => {
    const proto = Object.getPrototypeOf(ref) as Device;
    const hasGrid = typeof (proto as Partial<Device>).runGrid === 'function';
    expect(ownKeys(ref)).toEqual([]);
    startProfile();
    expect(ownKeys(ref)).toEqual(hasGrid ? ['run', 'runGrid'] : ['run']);
    expect(ref.run).not.toBe(proto.run);
    stopProfile();
    expect(ownKeys(ref)).toEqual([]);
    expect(ownKeys(webasm)).toEqual([]);
    expect(ref.run).toBe(proto.run);
    expect(webasm.run).toBe((Object.getPrototypeOf(webasm) as Device).run);
    if (hasGrid) expect((ref as Partial<Device>).runGrid).toBe((proto as Partial<Device>).runGrid);
  });

  it('restores an own wrapper that was there before, and times a runGrid', () => {
    let seen = 0;
    const inner = ref.run;
    const mine: Device['run'] = (spec, n, args) => {
      seen++;
      return inner.call(ref, spec, n, args);
    };
    const grid = (spec: { name: string; components: number }, g: [number, number, number]) => new Float64Array(g[0] * g[1] * g[2] * spec.components);
    // a device may or may not have runGrid in its class; this test lends it an own one either way
    const target = ref as unknown as { runGrid?: typeof grid };
    const classGrid = target.runGrid;
    ref.run = mine;
    target.runGrid = grid;
    try {
      const a = tensor([1, 2, 3], [3], { device: ref });
      startProfile({ devices: ['reference'] });
      a.add(a);
      target.runGrid!({ name: 'gridThing', components: 4 }, [2, 3, 1]);
      const rows = stopProfile();
      expect(counts(rows)).toEqual({ 'reference:addFlat': 1, 'reference:gridThing': 1 });
      expect(rows.find((r) => r.kernel === 'gridThing')!.elements).toBe(24);
      expect(seen).toBe(1); // the earlier wrapper still ran underneath
      expect(ref.run).toBe(mine);
      expect(target.runGrid).toBe(grid);
    } finally {
      delete (ref as Partial<Device>).run;
      delete target.runGrid;
    }
    expect(ownKeys(ref)).toEqual([]);
    expect(target.runGrid).toBe(classGrid);
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
