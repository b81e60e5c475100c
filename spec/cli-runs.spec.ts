/**
 * The experiment scripts as a user runs them: spawned processes in a fresh current directory. Usage errors
 * exit 2 with one line and touch nothing; runtime errors exit 1 with one line; a locked run is refused with
 * the holder's pid; a stale lock and stale temp files are cleaned up; --out copies the report; a resumed
 * run with other flags is refused; Ctrl-C exits 130 and says the report was skipped. Runs are tiny
 * (--quick --steps 3 --max-vocab 200).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = path.resolve('.');
const tsx = pathToFileURL(path.join(repo, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const script = (name: string) => path.join(repo, 'experiments', name);
const TINY = ['--quick', '--steps', '3', '--max-vocab', '200'];

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run an experiment script; `poll` is called every 100 ms with a function that sends Ctrl-C. */
function run(cwd: string, file: string, args: string[], poll?: (interrupt: () => void) => void): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', tsx, script(file), ...args], { cwd, env: { ...process.env, TSGRAD_QUIET: '1', DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = poll ? setInterval(() => poll(() => child.kill('SIGINT')), 100) : undefined;
    child.on('exit', (code) => {
      clearInterval(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
const fresh = () => fs.mkdtempSync(path.join(tmpdir(), 'tsgrad-runs-'));
const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');
/** Spawned runs: a few seconds each on an idle 2-core machine; the margin is for a loaded one. */
const SLOW = { timeout: 300_000 };

describe('usage errors', () => {
  it('every script: exit 2, one line naming the flag and the --help hint, no stack, no file opened', SLOW, async () => {
    const cwd = fresh();
    const old = path.join(cwd, 'runs', 'main-quick');
    fs.mkdirSync(old, { recursive: true });
    fs.writeFileSync(path.join(old, 'metrics.jsonl'), '{"step":1,"loss":3}\n');
    const cases: [string, string[], RegExp][] = [
      ['main.ts', ['--steps', '-3'], /--steps must be at least 1, got '-3'/],
      ['main.ts', ['--name', '../../x'], /--name '..\/..\/x' must be one folder name/],
      ['main.ts', ['--out', '/tmp/elsewhere'], /--out '\/tmp\/elsewhere' must be a folder inside the current directory/],
      ['complexformer.ts', ['--quick', '--seeds', '0'], /--seeds must be at least 1/],
      ['vq-logits.ts', ['--seed', '1.5'], /--seed expects a whole number, got '1.5'/],
      ['pdl.ts', ['--alphas', '0,x'], /--alphas expects positive numbers/],
      ['kneser-ney.ts', ['--min-count', '0'], /--min-count must be at least 1/],
      ['findings/pdl.ts', ['--pretrain-steps', '0'], /--pretrain-steps must be at least 1, got '0'/],
      ['findings/vq-logits.ts', ['--name', '../../x'], /--name '..\/..\/x' must be one folder name/],
      ['findings/vq-speed.ts', ['--rounds', '1'], /--rounds must be at least 2, got '1'/],
    ];
    const results = await Promise.all(cases.map(([file, args]) => run(cwd, file, args)));
    results.forEach((r, i) => {
      const [file, args, want] = cases[i];
      expect(r.code, `${file} ${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(lines(r.stderr), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(want);
      expect(r.stderr).toMatch(/--help/);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    });
    expect(fs.readFileSync(path.join(old, 'metrics.jsonl'), 'utf8')).toBe('{"step":1,"loss":3}\n');
    expect(fs.readdirSync(path.join(cwd, 'runs'))).toEqual(['main-quick']);
    expect(fs.existsSync(path.join(cwd, '..', 'x'))).toBe(false);
  });

  it('--help lists the same flags in every training script', SLOW, async () => {
    const cwd = fresh();
    const helps = await Promise.all(['main.ts', 'complexformer.ts', 'vq-logits.ts', 'pdl.ts'].map((f) => run(cwd, f, ['--help'])));
    for (const h of helps) {
      expect(h.code).toBe(0);
      for (const flag of ['--preset', '--quick', '--steps', '--device', '--name', '--resume', '--out', '--max-vocab', '--verbose', '-h, --help']) expect(h.stdout).toContain(flag);
      expect(h.stdout).toMatch(/--seeds? <number>/);
    }
  });
});

describe('runtime errors and the run lock', () => {
  it('a missing checkpoint is one line, exit 1; --verbose adds the stack; a live lock names its pid', SLOW, async () => {
    const cwd = fresh();
    fs.mkdirSync(path.join(cwd, 'runs', 'held'), { recursive: true });
    fs.writeFileSync(path.join(cwd, 'runs', 'held', '.lock'), JSON.stringify({ pid: process.pid, host: hostname(), started: 'now', command: 'test' }));
    const [missing, verbose, held] = await Promise.all([
      run(cwd, 'main.ts', ['--resume', '--name', 'nothing-here']),
      run(cwd, 'main.ts', ['--resume', '--name', 'nothing-here', '--verbose']),
      run(cwd, 'main.ts', [...TINY, '--name', 'held']),
    ]);
    expect(missing.code).toBe(1);
    expect(lines(missing.stderr)).toEqual(['tsx experiments/main.ts: error: --resume: no checkpoint at runs/nothing-here/checkpoint.safetensors; start without --resume']);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/^\s+at /m);
    expect(held.code).toBe(1);
    expect(lines(held.stderr)).toHaveLength(1);
    expect(held.stderr).toMatch(new RegExp(`runs/held is in use by pid ${process.pid}`));
    expect(fs.existsSync(path.join(cwd, 'runs', 'nothing-here'))).toBe(false);
  });

  it('a tiny run takes over a stale lock, removes stale temp files, copies its report to --out; --resume with other flags is refused', SLOW, async () => {
    const cwd = fresh();
    const dir = path.join(cwd, 'runs', 'tiny');
    fs.mkdirSync(dir, { recursive: true });
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    fs.writeFileSync(path.join(dir, '.lock'), JSON.stringify({ pid: dead, host: hostname(), started: 'earlier', command: 'killed' }));
    fs.writeFileSync(path.join(dir, `checkpoint.safetensors.tmp-${dead}-0123456789ab`), Buffer.alloc(1024));
    const r = await run(cwd, 'main.ts', [...TINY, '--name', 'tiny', '--out', 'findings/tiny']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`locked by pid ${dead}, which is no longer running; taking the lock over`));
    expect(r.stderr).toMatch(/removed runs\/tiny\/checkpoint.safetensors.tmp-\d+-0123456789ab/);
    expect(fs.readdirSync(dir).sort()).toEqual(['checkpoint.safetensors', 'loss.svg', 'metrics.json', 'metrics.jsonl', 'perplexity.svg', 'report.md']);
    expect(lines(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8'))).toHaveLength(3);
    expect(fs.readFileSync(path.join(cwd, 'findings', 'tiny', 'report.md'), 'utf8')).toBe(fs.readFileSync(path.join(dir, 'report.md'), 'utf8'));

    const other = await run(cwd, 'main.ts', ['--quick', '--steps', '5', '--max-vocab', '200', '--name', 'tiny', '--resume']);
    expect(other.code).toBe(1);
    // this error comes after the device started, whose own notes (and Dawn's) may share stderr
    expect(lines(other.stderr).filter((l) => l.startsWith('tsx experiments/main.ts:')), other.stderr).toHaveLength(1);
    expect(other.stderr).not.toMatch(/^\s+at .*experiments\//m);
    expect(other.stderr).toMatch(/was trained with other settings \(steps 3 -> 5.*\); run with the same flags, or add --allow-config-change/);
    expect(fs.existsSync(path.join(dir, '.lock'))).toBe(false);
  });
});

describe('Ctrl-C', () => {
  it('stops after saving, exits 130 and says plainly that the report was skipped (no evaluation after the stop)', SLOW, async () => {
    const cwd = fresh();
    let sent = false;
    const metrics = path.join(cwd, 'runs', 'stop', 'metrics.jsonl');
    const r = await run(cwd, 'main.ts', ['--quick', '--steps', '100000', '--max-vocab', '200', '--name', 'stop'], (interrupt) => {
      if (!sent && fs.existsSync(metrics) && lines(fs.readFileSync(metrics, 'utf8')).length >= 2) {
        sent = true;
        interrupt();
      }
    });
    expect(sent).toBe(true);
    expect(r.code, r.stdout + r.stderr).toBe(130);
    expect(r.stdout).toMatch(/interrupted at step \d+; checkpoint saved/);
    expect(r.stderr).toMatch(/no report written \(it needs the final evaluation\); continue with --resume/);
    expect(r.stdout).not.toMatch(/evaluating/);
    expect(fs.existsSync(path.join(cwd, 'runs', 'stop', 'report.md'))).toBe(false);
    expect(fs.existsSync(path.join(cwd, 'runs', 'stop', 'checkpoint.safetensors'))).toBe(true);
  });
});
