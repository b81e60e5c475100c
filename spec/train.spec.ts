/**
 * The training loop: checkpoints round-trip, resuming reproduces the next losses bit for bit, and a
 * corrupt or truncated checkpoint gives a clear error.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manualSeed, setDevice } from '../core/index.js';
import { AdamW, TransformerLM } from '../nn/index.js';
import { loadCheckpoint } from '../experiments/train/checkpoint.js';
import { train, type TrainConfig } from '../experiments/train/loop.js';

const dev = setDevice('webasm', 'training-loop tests');
const V = 23;
const data = Int32Array.from({ length: 600 }, (_, i) => (i * 7 + (i % 5) * 3) % V);
const config: TrainConfig = {
  steps: 6, batchSize: 2, context: 8, lr: 1e-2, minLr: 1e-3, warmup: 2, clip: 1, evalEvery: 3, evalTokens: 64, ckptEvery: 3, seed: 5,
};

function setup(runDir: string, resume = false, stopAt?: number) {
  manualSeed(1);
  const model = new TransformerLM({ vocabSize: V, contextLength: 8, dModel: 16, nHeads: 2, nLayers: 1, dropout: 0.1, seed: 3 });
  const optimizer = new AdamW(model.namedParameters(), { lr: config.lr });
  return { runDir, model, optimizer, train: data, valid: data.subarray(0, 200), config, device: dev, resume, stopAt, quiet: true };
}

describe('training loop', () => {
  it('resuming from a checkpoint reproduces the next losses bit for bit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-train-'));
    const straight = await train(setup(join(dir, 'a')));
    const first = await train(setup(join(dir, 'b'), false, 3));
    expect(first.steps).toBe(3);
    const resumed = await train(setup(join(dir, 'b'), true));
    expect(resumed.steps).toBe(6);
    expect(resumed.history.map((h) => h.loss)).toEqual(straight.history.map((h) => h.loss));
    expect(resumed.history.map((h) => h.valPerplexity)).toEqual(straight.history.map((h) => h.valPerplexity));
    expect(straight.history[5].loss).toBeLessThan(straight.history[0].loss);
  });

  it('a checkpoint holds parameters, optimizer state, step, RNG states and config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-ckpt-'));
    const s = setup(dir, false, 2);
    await train(s);
    const ck = loadCheckpoint(join(dir, 'checkpoint.safetensors'), dev);
    expect(ck.meta.step).toBe(2);
    expect(Object.keys(ck.tensors).filter((k) => k.startsWith('model.')).length).toBe(s.model.namedParameters().length);
    expect(Object.keys(ck.tensors).some((k) => k.startsWith('optim.') && k.endsWith('expAvgSq'))).toBe(true);
    for (const key of ['dataRng', 'globalRng', 'dropoutRng', 'config', 'history']) expect(ck.meta[key]).toBeDefined();
    const w = ck.tensors['model.tokEmb.weight'];
    expect(await w.toArray()).toEqual(Array.from(await s.model.tokEmb.weight.toArray()).map(Math.fround));
  });

  it('a truncated or corrupt checkpoint gives a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-bad-'));
    await train(setup(dir, false, 1));
    const path = join(dir, 'checkpoint.safetensors');
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.length - 10));
    expect(() => loadCheckpoint(path, dev)).toThrow(/safetensors:.*(truncated|corrupt)/);
    writeFileSync(path, Buffer.from('not a checkpoint at all'));
    expect(() => loadCheckpoint(path, dev)).toThrow(/safetensors:/);
    expect(() => loadCheckpoint(join(dir, 'missing.safetensors'), dev)).toThrow(/no checkpoint at/);
    await expect(train(setup(join(dir, 'none'), true))).rejects.toThrow(/--resume: no checkpoint/);
  });
});

describe('Ctrl-C', () => {
  it('finishes the step, saves a checkpoint and exits with 130', async () => {
    const { spawn } = await import('node:child_process');
    const { existsSync } = await import('node:fs');
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-sigint-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'spec/fixtures/train-until-interrupted.ts', dir], { env: { ...process.env, TSGRAD_QUIET: '1' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    // wait until a few steps are logged, then interrupt
    const metrics = join(dir, 'metrics.jsonl');
    for (let i = 0; i < 300 && !(existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 4); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(out).toMatch(/Ctrl-C: finishing this step, saving a checkpoint/);
    expect(out).toMatch(/interrupted at step \d+; checkpoint saved/);
    expect(code).toBe(130);
    const ck = loadCheckpoint(join(dir, 'checkpoint.safetensors'), dev);
    expect(ck.meta.step as number).toBeGreaterThan(3);
    expect(ck.meta.step as number).toBeLessThan(100000);
  });
});
