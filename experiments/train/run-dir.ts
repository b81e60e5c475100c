/**
 * A run directory (runs/<name>/) belongs to one process at a time: a lock file holds the owner's pid, a
 * lock whose pid is dead is taken over with a note, temp files left by a killed writer are removed, and
 * free disk space is checked before the first checkpoint instead of failing after hours of training.
 */
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';

/** Name of the lock file inside a run directory. */
export const LOCK_FILE = '.lock';

/** A run directory another live process holds. */
export class RunLockedError extends Error {
  override name = 'RunLockedError';
}

interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command: string;
}

/** Directories this process holds, so nested runs (runs/x/variant-s0 inside runs/x) do not lock twice. */
const held = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, but belongs to another user
  }
}

function readLock(file: string): LockInfo | null {
  try {
    const info = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockInfo>;
    return typeof info.pid === 'number' ? (info as LockInfo) : null;
  } catch {
    return null; // torn or unreadable: written by a process that died mid-write
  }
}

/**
 * Take `dir` (created if missing) for this process until `release()` or exit. Throws RunLockedError when a
 * live process holds it; takes over (with a note on stderr) a lock whose process is gone. Re-entrant: a
 * directory inside one this process already holds is not locked again.
 *
 * @example
 * const release = lockRunDir('runs/demo');
 * try { ... } finally { release(); }
 */
export function lockRunDir(dir: string, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): () => void {
  const abs = path.resolve(dir);
  fs.mkdirSync(abs, { recursive: true }); // also inside a held folder: the caller writes there next
  for (const h of held) if (abs === h || abs.startsWith(`${h}${path.sep}`)) return () => {};
  const file = path.join(abs, LOCK_FILE);
  const mine: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString(), command: process.argv.slice(1).join(' ') };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      fs.writeSync(fd, `${JSON.stringify(mine)}\n`);
      fs.closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (attempt > 0) throw new RunLockedError(`${dir} was just taken by another process; choose another --name`);
      const other = readLock(file);
      const sameHost = other === null || other.host === mine.host;
      if (other !== null && (!sameHost || isAlive(other.pid))) {
        throw new RunLockedError(
          `${dir} is in use by pid ${other.pid}${sameHost ? '' : ` on ${other.host}`} (since ${other.started}; lock file ${path.join(dir, LOCK_FILE)}); ` +
            'wait for it to finish, stop it, or choose another --name',
        );
      }
      log(`note: ${dir} was locked by pid ${other?.pid ?? '?'}, which is no longer running; taking the lock over`);
      fs.rmSync(file, { force: true });
    }
  }
  held.add(abs);
  const release = () => {
    if (!held.delete(abs)) return;
    process.off('exit', release);
    if (readLock(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  };
  process.on('exit', release);
  return release;
}

/** Temp files of writeFileAtomic: `<target>.tmp-<pid>-<hex>`. */
const TEMP_FILE = /\.tmp-(\d+)-[0-9a-f]+$/;

/**
 * Remove temp files in `dir` (not recursive) left by a writer that was killed mid-write; files of this
 * process are kept. Call it while holding the directory's lock. Returns the removed file names.
 *
 * @example
 * removeStaleTemps('runs/demo'); // ['checkpoint.safetensors.tmp-4242-1a2b3c']
 */
export function removeStaleTemps(dir: string, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string[] {
  if (!fs.existsSync(dir)) return [];
  const removed: string[] = [];
  for (const entry of fs.readdirSync(dir)) {
    const m = TEMP_FILE.exec(entry);
    if (!m || Number(m[1]) === process.pid) continue;
    const file = path.join(dir, entry);
    const mb = fs.statSync(file).size / 2 ** 20;
    fs.rmSync(file, { force: true });
    removed.push(entry);
    log(`note: removed ${file} (${mb.toFixed(1)} MB), left by a run killed while writing`);
  }
  return removed;
}

/** Free bytes for an unprivileged writer on the filesystem holding `dir`. */
export function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * Throw before training when `dir`'s filesystem cannot hold `needBytes` (one checkpoint plus slack), so a
 * full disk shows up in the first second, not when the first checkpoint or the report is written.
 *
 * @example
 * checkFreeSpace('runs/demo', 40 * 2 ** 20); // throws "not enough free disk space ..." when under 40 MB free
 */
export function checkFreeSpace(dir: string, needBytes: number, free: (dir: string) => number = freeBytes): void {
  const have = free(dir);
  if (have < needBytes) {
    const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`;
    throw new Error(`not enough free disk space in ${dir}: checkpoints and reports need about ${mb(needBytes)}, ${mb(have)} free; free some space and run again`);
  }
}
