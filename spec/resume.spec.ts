/**
 * Resuming never loses or doubles data: metrics.jsonl is cut back to the checkpoint's step, a changed
 * config is refused unless allowed, temp files of a killed checkpoint write are removed, and a bad config
 * is refused before any file is touched.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manualSeed, setDevice } from '../core/index.js';
import { AdamW, TransformerLM } from '../nn/index.js';
import { train, type TrainConfig } from '../experiments/train/loop.js';

const dev = setDevice('webasm', 'resume tests');
const V = 17;
const data = Int32Array.from({ length: 400 }, (_, i) => (i * 5 + (i % 3)) % V);
const base: TrainConfig = { steps: 6, batchSize: 2, context: 8, lr: 1e-2, minLr: 1e-3, warmup: 1, clip: 1, evalEvery: 0, evalTokens: 0, ckptEvery: 0, seed: 4 };

function setup(runDir: string, o: { resume?: boolean; stopAt?: number; config?: Partial<TrainConfig>; allowConfigChange?: boolean } = {}) {
  manualSeed(1);
  const model = new TransformerLM({ vocabSize: V, contextLength: 8, dModel: 8, nHeads: 2, nLayers: 1, seed: 3 });
  const optimizer = new AdamW(model.namedParameters(), { lr: base.lr });
  return {
    runDir, model, optimizer, train: data, valid: data, config: { ...base, ...o.config }, device: dev, quiet: true,
    resume: o.resume, stopAt: o.stopAt, allowConfigChange: o.allowConfigChange,
  };
}
const rows = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number });

describe('resume', () => {
  it('metrics.jsonl is cut back to the checkpoint, so a crash and --resume leave exactly one row per step', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-resume-'));
    await train(setup(dir, { stopAt: 3 }));
    // a run killed at step 5, after its last checkpoint at step 3, had logged two more rows
    appendFileSync(join(dir, 'metrics.jsonl'), '{"step":4,"loss":1}\n{"step":5,"loss":1}\n{"step":6,"lo');
    const r = await train(setup(dir, { resume: true }));
    expect(r.steps).toBe(6);
    expect(rows(dir).map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a changed config is refused unless allowConfigChange', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-resume-cfg-'));
    await train(setup(dir, { stopAt: 2 }));
    await expect(train(setup(dir, { resume: true, config: { lr: 3e-2, steps: 8 } }))).rejects.toThrow(
      /was trained with other settings \(steps 6 -> 8, lr 0.01 -> 0.03\); run with the same flags, or add --allow-config-change/,
    );
    expect(rows(dir)).toHaveLength(2); // the refused resume touched nothing
    await expect(train(setup(dir, { resume: true, config: { seed: 9 } }))).rejects.toThrow(/seed 4 -> 9/);
    // checkpoint spacing is not a different run
    expect((await train(setup(dir, { resume: true, stopAt: 3, config: { ckptEvery: 1 } }))).steps).toBe(3);
    const r = await train(setup(dir, { resume: true, allowConfigChange: true, config: { steps: 8 } }));
    expect(r.steps).toBe(8);
    expect(rows(dir).map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('temp files of a checkpoint write killed by SIGKILL are removed at the next start; the lock is released', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgrad-resume-tmp-'));
    const stale = 'checkpoint.safetensors.tmp-999999999-0123456789ab';
    writeFileSync(join(dir, stale), Buffer.alloc(4096));
    await train(setup(dir, { stopAt: 1 }));
    expect(existsSync(join(dir, stale))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['checkpoint.safetensors', 'metrics.jsonl']);
  });

  it('a config the loop cannot run is refused before the run directory is touched', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tsgrad-resume-bad-')), 'never');
    await expect(train(setup(dir, { config: { steps: -3 } }))).rejects.toThrow(/config.steps must be a whole number >= 1, got -3/);
    await expect(train(setup(dir, { config: { ckptEvery: -1 } }))).rejects.toThrow(/config.ckptEvery/);
    await expect(train(setup(dir, { config: { seed: 1.5 } }))).rejects.toThrow(/config.seed/);
    expect(existsSync(dir)).toBe(false);
  });
});
