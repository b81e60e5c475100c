/** Library-level checkpoints (tsgrad/nn): a module's state saved to safetensors and loaded into a fresh one. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { loadSafetensors, manualSeed, randn, setDevice } from '../core/index.js';
import * as nn from '../nn/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tsgrad-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  setDevice('cpu', 'checkpoint tests');
});

describe('saveModule / loadModule', () => {
  it('round-trips a module: the loaded copy computes the same outputs, and meta comes back', async () => {
    manualSeed(1);
    const a = new nn.MLP(4, 8);
    manualSeed(2);
    const b = new nn.MLP(4, 8);
    const x = randn([2, 4]);
    const before = await b.forward(x).toArray();
    const path = join(dir, 'mlp.safetensors');
    await nn.saveModule(path, a, { note: 'hello', step: 7 });
    const { meta, missingKeys, unexpectedKeys } = nn.loadModule(path, b);
    expect(meta).toEqual({ note: 'hello', step: 7 });
    expect([missingKeys, unexpectedKeys]).toEqual([[], []]);
    const want = await a.forward(x).toArray();
    expect(await b.forward(x).toArray()).toEqual(want);
    expect(await b.forward(x).toArray()).not.toEqual(before);
    // a plain safetensors file: every parameter under its dotted name
    expect(Object.keys(loadSafetensors(path).tensors).sort()).toEqual(Object.keys(a.stateDict()).sort());
  });

  it('names the keys that do not fit a different module', async () => {
    const path = join(dir, 'linear.safetensors');
    await nn.saveModule(path, new nn.Linear(4, 3));
    expect(() => nn.loadModule(path, new nn.Linear(4, 5))).toThrow(/mis-shaped keys: weight \(expected \[5,4\], got \[3,4\]\)/);
    expect(() => nn.loadModule(join(dir, 'absent.safetensors'), new nn.Linear(4, 3))).toThrow(/no checkpoint at .*absent\.safetensors/);
  });
});
