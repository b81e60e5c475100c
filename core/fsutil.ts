/**
 * Crash-safe file writing shared by checkpoints, reports and metrics.
 *
 * A run can be killed at any moment (Ctrl-C, OOM, a pre-empted machine). Writing straight into the target
 * would leave a half-written checkpoint that looks valid until it is loaded, so every durable file goes
 * through a temp file in the same directory and a rename, which POSIX makes atomic on one filesystem.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Write `data` to `filePath` so that readers see either the old file or the complete new one, never a mix.
 *
 * Writes `<path>.tmp-<pid>-<random>` beside the target, fsyncs it, renames it over the target and then
 * fsyncs the directory (where the platform allows) so the rename itself survives a power loss.
 * Parent directories are created. On failure the temp file is removed and the target is left untouched.
 *
 * @example
 * writeFileAtomic('runs/demo/config.json', JSON.stringify({ lr: 3e-4 }));
 */
export function writeFileAtomic(filePath: string, data: Uint8Array | string): void {
  const dir = path.dirname(path.resolve(filePath));
  fs.mkdirSync(dir, { recursive: true });
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = `${filePath}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    let written = 0;
    while (written < bytes.length) {
      written += fs.writeSync(fd, bytes, written, bytes.length - written);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, filePath);
  } catch (err) {
    if (fd !== null) {
      try {
        fs.closeSync(fd);
      } catch {
        // Already failing; the original error is the one worth reporting.
      }
    }
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dir);
}

/** Best effort: Windows and some filesystems refuse to open or fsync a directory, which is not an error. */
function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // The data is already renamed into place; only power-loss durability of the rename is weaker here.
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/**
 * Create `dir` and its parents if missing; returns the directory for chaining.
 *
 * @example
 * const out = ensureDir('runs/demo');
 */
export function ensureDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
