/**
 * The shared command line of the experiment scripts, in process: value checks, run names, --out, error
 * printing, run-directory locks, stale temp files, the free-space check and the one config type.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRunName, CliError, describeError, InterruptedError, publishReport, resolveInsideCwd, resolveRun } from '../experiments/cli/index.js';
import { parseCli } from '../experiments/report/cli.js';
import { sameSettings, trainConfig, withSteps } from '../experiments/train/config.js';
import { checkFreeSpace, LOCK_FILE, lockRunDir, removeStaleTemps, RunLockedError } from '../experiments/train/run-dir.js';

const tmp = (tag: string) => fs.mkdtempSync(path.join(tmpdir(), `tsgrad-cli-${tag}-`));
/** The pid of a process that has exited (its number is free, so no live process holds it right now). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}
function inDir<T>(dir: string, f: () => T): T {
  const before = process.cwd();
  process.chdir(dir);
  try {
    return f();
  } finally {
    process.chdir(before);
  }
}

describe('flag values', () => {
  const spec = { name: 'x', options: { steps: { type: 'number', integer: true, min: 1, description: 'steps' } } } as const;
  it('whole numbers and lower bounds are checked at parse time', () => {
    expect(parseCli(spec, ['--steps', '7']).steps).toBe(7);
    expect(() => parseCli(spec, ['--steps', '-3'])).toThrow(/--steps must be at least 1, got '-3'/);
    expect(() => parseCli(spec, ['--steps', '1.5'])).toThrow(/--steps expects a whole number, got '1.5'/);
    expect(() => parseCli(spec, ['--steps', '0'])).toThrow(CliError);
  });
});

describe('run names and output folders', () => {
  it('a run name is one safe folder name', () => {
    for (const ok of ['main-quick', 'backbone-lm', 'a.b_c-1', 'X']) expect(checkRunName('p', ok)).toBe(ok);
    for (const bad of ['../../x', '../../../proc/x', '..', '.', '.hidden', 'a/b', 'a\\b', '', '-x', 'x'.repeat(101), 'sp ace']) {
      expect(() => checkRunName('p', bad), bad).toThrow(CliError);
    }
  });

  it('--out must resolve inside the current directory, symbolic links included', () => {
    const dir = tmp('out');
    fs.symlinkSync(tmpdir(), path.join(dir, 'escape'));
    inDir(dir, () => {
      expect(resolveInsideCwd('p', 'findings/x', '--out')).toBe(path.join('findings', 'x'));
      expect(resolveInsideCwd('p', './runs/../report', '--out')).toBe('report');
      for (const bad of ['/tmp/elsewhere', '..', '.', '../x', 'escape/x', path.join(dir, '..', 'x')]) {
        expect(() => resolveInsideCwd('p', bad, '--out'), bad).toThrow(/must be a folder inside the current directory/);
      }
    });
  });

  it('resolveRun: --quick picks the quick preset, the name defaults from the preset, --out defaults to runs/<name>', () => {
    const r = resolveRun('p', { quick: true, preset: 'cpu', name: undefined, out: undefined }, (preset) => `main-${preset}`);
    expect(r).toEqual({ preset: 'quick', name: 'main-quick', runDir: path.join('runs', 'main-quick'), outDir: path.join('runs', 'main-quick') });
    expect(() => resolveRun('p', { quick: false, preset: 'cpu', name: '../x', out: undefined })).toThrow(CliError);
  });
});

describe('error printing', () => {
  it('usage errors: one line with the --help hint, exit 2; runtime errors: one line, exit 1; Ctrl-C: 130', () => {
    const usage = describeError('tsx experiments/main.ts', new CliError('main: option --steps must be at least 1'), false);
    expect(usage.code).toBe(2);
    expect(usage.text).toBe('main: option --steps must be at least 1; run tsx experiments/main.ts --help to list the options');
    const runtime = describeError('prog', new Error('--resume: no checkpoint at runs/x/checkpoint.safetensors'), false);
    expect(runtime).toEqual({ code: 1, text: 'prog: error: --resume: no checkpoint at runs/x/checkpoint.safetensors' });
    expect(describeError('prog', new Error('boom'), true).text).toMatch(/^prog: error: boom\nError: boom\n\s+at /);
    expect(describeError('prog', new InterruptedError('stopped at step 4'), false)).toEqual({ code: 130, text: 'prog: stopped at step 4' });
  });
});

describe('run directory lock', () => {
  it('a live holder is named and refused; a dead holder is taken over with a note; release removes the lock', () => {
    const dir = path.join(tmp('lock'), 'run');
    fs.mkdirSync(dir);
    const lock = path.join(dir, LOCK_FILE);
    fs.writeFileSync(lock, JSON.stringify({ pid: process.ppid, host: hostname(), started: 'earlier', command: 'x' }));
    expect(() => lockRunDir(dir)).toThrow(RunLockedError);
    expect(() => lockRunDir(dir)).toThrow(new RegExp(`in use by pid ${process.ppid}`));

    const dead = deadPid();
    fs.writeFileSync(lock, JSON.stringify({ pid: dead, host: hostname(), started: 'earlier', command: 'x' }));
    const notes: string[] = [];
    const release = lockRunDir(dir, (l) => notes.push(l));
    expect(notes.join('\n')).toMatch(new RegExp(`locked by pid ${dead}, which is no longer running; taking the lock over`));
    expect(JSON.parse(fs.readFileSync(lock, 'utf8')).pid).toBe(process.pid);
    // nested directories of a held run are not locked again (complexformer's runs/<name>/<variant>)
    const inner = lockRunDir(path.join(dir, 'variant-s0'));
    expect(fs.existsSync(path.join(dir, 'variant-s0', LOCK_FILE))).toBe(false);
    expect(fs.statSync(path.join(dir, 'variant-s0')).isDirectory()).toBe(true); // made, since the caller writes there next
    inner();
    release();
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('stale temp files of other processes are removed, this process\'s are kept', () => {
    const dir = tmp('temps');
    const stale = `checkpoint.safetensors.tmp-${deadPid()}-0a1b2c3d4e5f`;
    const own = `report.md.tmp-${process.pid}-abcdef`;
    for (const f of [stale, own, 'checkpoint.safetensors', 'notes.tmp']) fs.writeFileSync(path.join(dir, f), 'x');
    const notes: string[] = [];
    expect(removeStaleTemps(dir, (l) => notes.push(l))).toEqual([stale]);
    expect(fs.readdirSync(dir).sort()).toEqual(['checkpoint.safetensors', 'notes.tmp', own].sort());
    expect(notes[0]).toMatch(/left by a run killed while writing/);
  });

  it('a disk without room for a checkpoint is reported before training', () => {
    expect(() => checkFreeSpace('runs/x', 40 * 2 ** 20, () => 3 * 2 ** 20)).toThrow(/not enough free disk space in runs\/x: .* about 40.0 MB, 3.0 MB free/);
    expect(() => checkFreeSpace(tmpdir(), 1)).not.toThrow();
  });
});

describe('one config type', () => {
  it('withSteps shortens the warm-up to a tenth of a shorter run and keeps the key order', () => {
    const s = { maxVocab: 2000, steps: 1000, lr: 2e-3, warmup: 75, seeds: 5 };
    expect(withSteps(s, undefined)).toBe(s);
    const short = withSteps(s, 200);
    expect(short).toEqual({ maxVocab: 2000, steps: 200, lr: 2e-3, warmup: 20, seeds: 5 });
    expect(Object.keys(short)).toEqual(Object.keys(s));
    expect(withSteps(s, 5000).warmup).toBe(75);
  });

  it('trainConfig: cosine to lr / 10, clip 1, defaults 0', () => {
    const c = trainConfig({ steps: 400, lr: 3e-3, warmup: 20, batchSize: 8, context: 32 }, { seed: 2, ckptEvery: 100 });
    expect(c).toEqual({ steps: 400, batchSize: 8, context: 32, lr: 3e-3, minLr: 3e-3 / 10, warmup: 20, clip: 1, evalEvery: 0, evalTokens: 0, ckptEvery: 100, seed: 2 });
    expect(c.minLr).toBeCloseTo(3e-4, 12);
  });

  it('sameSettings ignores key order, not values', () => {
    expect(sameSettings({ a: 1, b: { c: [1, 2], d: 2 } }, { b: { d: 2, c: [1, 2] }, a: 1 })).toBe(true);
    expect(sameSettings({ a: 1, b: 2 }, { a: 1, b: 3 })).toBe(false);
  });
});

describe('--out', () => {
  it('copies the report, charts and summaries, not checkpoints or logs', () => {
    const root = tmp('publish');
    const from = path.join(root, 'runs', 'x');
    fs.mkdirSync(path.join(from, 'variant'), { recursive: true });
    for (const f of ['report.md', 'loss.svg', 'metrics.json', 'metrics.jsonl', 'checkpoint.safetensors', LOCK_FILE]) fs.writeFileSync(path.join(from, f), f);
    const out = path.join(root, 'findings', 'x');
    expect(publishReport(from, out).map((f) => path.basename(f)).sort()).toEqual(['loss.svg', 'metrics.json', 'report.md']);
    expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).toBe('report.md');
    expect(publishReport(from, from)).toEqual([]);
  });
});
