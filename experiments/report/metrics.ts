/**
 * Metric logs for runs: JSON Lines for the step-by-step stream, atomic JSON for summaries and configs.
 *
 * JSON has no NaN or Infinity, and JSON.stringify silently turns them into null, which hides exactly the
 * moment a run diverged. Non-finite numbers are therefore written as the strings "NaN", "Infinity" and
 * "-Infinity", and bigints as decimal strings.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../core/fsutil.js';

/** JSON value after the replacer below has run. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

function replacer(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  return v;
}

/**
 * Serialise to JSON, keeping NaN/Infinity visible as strings.
 *
 * @example
 * toJson({ loss: NaN }); // '{"loss":"NaN"}'
 */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, replacer, indent);
}

/**
 * Appends one JSON object per line. Each line goes to the OS with its own write call, so a crash loses at
 * most the line being written and `tail -f` shows progress live.
 *
 * @example
 * const log = new JsonlWriter('runs/demo/metrics.jsonl');
 * log.write({ step: 1, loss: 4.2 });
 * log.close();
 */
export class JsonlWriter {
  readonly path: string;
  private fd: number | null;

  constructor(filePath: string) {
    this.path = filePath;
    fs.mkdirSync(path.dirname(path.resolve(filePath)), { recursive: true });
    this.fd = fs.openSync(filePath, 'a');
  }

  /** Append one record as a single line. */
  write(record: Record<string, unknown>): void {
    if (this.fd === null) throw new Error(`JsonlWriter: ${this.path} is already closed`);
    const bytes = Buffer.from(`${toJson(record)}\n`, 'utf8');
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(this.fd, bytes, written, bytes.length - written);
  }

  /** Close the file; safe to call twice. */
  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Read a JSON Lines file back. A torn last line (the process died mid-write) is dropped; a bad line
 * anywhere else is an error naming the line number.
 *
 * @example
 * const rows = readJsonl('runs/demo/metrics.jsonl');
 */
export function readJsonl(filePath: string): JsonValue[] {
  const text = fs.readFileSync(filePath, 'utf8');
  const lines = text.split('\n');
  const out: JsonValue[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line) as JsonValue);
    } catch {
      const isTornTail = i === lines.length - 1 && !text.endsWith('\n');
      if (!isTornTail) throw new Error(`readJsonl: ${filePath} line ${i + 1} is not valid JSON: ${line.slice(0, 80)}`);
    }
  });
  return out;
}

/**
 * Write pretty-printed JSON atomically (temp file + rename), creating directories.
 *
 * @example
 * writeJsonAtomic('runs/demo/summary.json', { finalLoss: 2.31, steps: 1000 });
 */
export function writeJsonAtomic(filePath: string, value: unknown): void {
  writeFileAtomic(filePath, `${toJson(value, 2)}\n`);
}
