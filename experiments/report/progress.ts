/**
 * A dependency-free terminal progress bar for training loops.
 *
 * On a TTY the bar redraws one line in place (`\r`). Anywhere else (CI logs, `> file`) carriage returns turn
 * into thousands of lines, so it prints a plain line at most every `intervalSec` seconds and once at the end.
 */
import { fmt } from './markdown.js';

/** Extra numbers shown after the bar; `loss` and `tokPerSec` get fixed positions and short names. */
export interface ProgressStats {
  loss?: number;
  tokPerSec?: number;
  [key: string]: number | string | undefined;
}

/** Where the bar is drawn; process.stdout fits, and tests pass a fake. */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  total: number;
  label?: string;
  /** Characters inside the brackets. Default 20. */
  barWidth?: number;
  stream?: ProgressStream;
  /** Minimum seconds between plain lines when the stream is not a TTY. Default 10. */
  intervalSec?: number;
  /** Clock in milliseconds; injectable so tests are deterministic. */
  now?: () => number;
}

/**
 * Compact duration: 45s, 3m12s, 1h02m, 2d03h; "--" when unknown.
 *
 * @example
 * formatDuration(192); // "3m12s"
 */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '--';
  const s = Math.round(sec);
  const two = (n: number): string => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${two(Math.floor((s % 86400) / 3600))}h`;
}

/**
 * "ETA 3m12s", or "ETA --" before there is a step time to extrapolate from.
 *
 * @example
 * formatEta(undefined); // "ETA --"
 */
export function formatEta(sec: number | undefined): string {
  return `ETA ${sec === undefined ? '--' : formatDuration(sec)}`;
}

export interface ProgressLine {
  label: string;
  step: number;
  total: number;
  barWidth?: number;
  stats?: ProgressStats;
  /** Seconds remaining; ignored when `elapsedSec` is given (the finished form). */
  etaSec?: number;
  elapsedSec?: number;
}

/**
 * Render one status line (no `\r`, no newline).
 *
 * @example
 * renderProgressLine({ label: 'train', step: 120, total: 1000, barWidth: 10,
 *   stats: { loss: 3.2102, tokPerSec: 1234.4 }, etaSec: 192 });
 * // "train [#.........] 120/1000 12% loss 3.21 tok/s 1,234 ETA 3m12s"
 */
export function renderProgressLine(p: ProgressLine): string {
  const width = Math.max(1, Math.round(p.barWidth ?? 20));
  const frac = p.total > 0 ? Math.min(1, Math.max(0, p.step / p.total)) : 0;
  const filled = Math.floor(frac * width + 1e-9);
  const parts: string[] = [];
  if (p.label) parts.push(p.label);
  parts.push(`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`, `${p.step}/${p.total}`, `${Math.floor(frac * 100 + 1e-9)}%`);
  const { loss, tokPerSec, ...extra } = p.stats ?? {};
  if (loss !== undefined) parts.push(`loss ${fmt(loss, 3)}`);
  if (tokPerSec !== undefined) parts.push(`tok/s ${fmt(Math.round(tokPerSec))}`);
  for (const [k, v] of Object.entries(extra)) {
    if (v !== undefined) parts.push(`${k} ${typeof v === 'number' ? fmt(v, 3) : v}`);
  }
  parts.push(p.elapsedSec !== undefined ? `done in ${formatDuration(p.elapsedSec)}` : formatEta(p.etaSec));
  return parts.join(' ');
}

/** Smoothing of the per-step time: low enough that one slow step (a GC, an eval) barely moves the ETA. */
const EMA_ALPHA = 0.1;
/** TTY redraws are capped so a fast loop does not spend its time writing to the terminal. */
const TTY_MIN_REDRAW_MS = 100;

/**
 * Progress bar with EMA-smoothed ETA.
 *
 * @example
 * const bar = new Progress({ total: 1000, label: 'train' });
 * for (let step = 1; step <= 1000; step++) bar.update(step, { loss, tokPerSec });
 * bar.done();
 */
export class Progress {
  private readonly total: number;
  private readonly label: string;
  private readonly barWidth: number;
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly start: number;
  private lastStep: number | null = null;
  private lastTime = 0;
  private emaSecPerStep: number | undefined;
  private lastDraw = -Infinity;
  private step = 0;
  private stats: ProgressStats = {};
  private finished = false;

  constructor(opts: ProgressOptions) {
    if (!(Number.isFinite(opts.total) && opts.total > 0)) throw new Error(`Progress: total must be a positive number, got ${opts.total}`);
    this.total = opts.total;
    this.label = opts.label ?? '';
    this.barWidth = opts.barWidth ?? 20;
    this.stream = opts.stream ?? process.stdout;
    this.tty = this.stream.isTTY === true;
    this.intervalMs = (opts.intervalSec ?? 10) * 1000;
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
  }

  /** Seconds left by the smoothed step time, or undefined until two updates have been seen. */
  etaSeconds(): number | undefined {
    return this.emaSecPerStep === undefined ? undefined : this.emaSecPerStep * Math.max(0, this.total - this.step);
  }

  /** Record that `step` steps are complete and maybe redraw. */
  update(step: number, stats: ProgressStats = {}): void {
    if (this.finished) return;
    const t = this.now();
    // The first interval is left out: it usually contains kernel compilation and data loading.
    if (this.lastStep !== null && step > this.lastStep) {
      const perStep = (t - this.lastTime) / 1000 / (step - this.lastStep);
      this.emaSecPerStep = this.emaSecPerStep === undefined ? perStep : EMA_ALPHA * perStep + (1 - EMA_ALPHA) * this.emaSecPerStep;
    }
    if (this.lastStep === null || step > this.lastStep) {
      this.lastStep = step;
      this.lastTime = t;
    }
    this.step = step;
    this.stats = stats;
    const wait = this.tty ? TTY_MIN_REDRAW_MS : this.intervalMs;
    if (t - this.lastDraw >= wait) {
      this.lastDraw = t;
      this.draw(renderProgressLine(this.lineParts()), false);
    }
  }

  /** Print a message (e.g. an eval result) without garbling the bar. */
  log(message: string): void {
    if (this.tty) this.stream.write(`\r\x1b[K${message}\n`);
    else this.stream.write(`${message}\n`);
    if (this.tty && !this.finished && this.lastStep !== null) this.draw(renderProgressLine(this.lineParts()), false);
  }

  /** Print the final line with the total elapsed time; later calls do nothing. */
  done(stats?: ProgressStats): void {
    if (this.finished) return;
    this.finished = true;
    if (stats) this.stats = stats;
    const elapsedSec = (this.now() - this.start) / 1000;
    this.draw(renderProgressLine({ ...this.lineParts(), elapsedSec }), true);
  }

  private lineParts(): ProgressLine {
    return { label: this.label, step: this.step, total: this.total, barWidth: this.barWidth, stats: this.stats, etaSec: this.etaSeconds() };
  }

  private draw(line: string, final: boolean): void {
    if (!this.tty) {
      this.stream.write(`${line}\n`);
      return;
    }
    // A line wider than the terminal wraps, and `\r` then only returns to the start of the last row.
    const cols = this.stream.columns;
    const fitted = cols && line.length >= cols ? line.slice(0, Math.max(1, cols - 1)) : line;
    this.stream.write(`\r${fitted}\x1b[K${final ? '\n' : ''}`);
  }
}
