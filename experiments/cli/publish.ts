/**
 * --out: the report (report.md, its SVG charts) and summaries (*.json) written under runs/<name>/ are
 * copied, atomically, to the folder the user named. Checkpoints and logs stay in the run directory.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../core/fsutil.js';

const REPORT_FILE = /^[\w.-]+\.(md|svg|json)$/;

/**
 * Copy the report files of `fromDir` (top level only) to `outDir`; nothing when they are the same folder.
 * Returns the copied paths.
 *
 * @example
 * publishReport('runs/main-quick', 'findings/backbone'); // ['findings/backbone/report.md', ...]
 */
export function publishReport(fromDir: string, outDir: string): string[] {
  if (resolve(fromDir) === resolve(outDir)) return [];
  const copied: string[] = [];
  for (const entry of readdirSync(fromDir)) {
    const file = join(fromDir, entry);
    if (!REPORT_FILE.test(entry) || !statSync(file).isFile()) continue;
    writeFileAtomic(join(outDir, entry), readFileSync(file));
    copied.push(join(outDir, entry));
  }
  return copied;
}
