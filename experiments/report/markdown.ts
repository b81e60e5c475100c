/**
 * Markdown building blocks for run reports: number formatting, tables, and a writer that assembles
 * `runs/<name>/report.md` with its SVG charts beside it.
 *
 * Everything is written through writeFileAtomic, so a report being regenerated while someone has it open
 * (or a run killed mid-write) never shows up as a half-written file.
 */
import * as path from 'node:path';
import { writeFileAtomic } from '../../core/fsutil.js';

export type Align = 'left' | 'right' | 'center';

/**
 * Format a number for humans: `digits` significant digits, but never rounding away integer digits;
 * thousands separators from 1,000; exponent notation for tiny or huge magnitudes; -0 prints as 0.
 *
 * @example
 * fmt(3.21456);     // "3.21"
 * fmt(1234.56);     // "1,235"
 * fmt(0.000012345); // "1.23e-5"
 * fmt(NaN);         // "NaN"
 */
export function fmt(x: number, digits = 3): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '-∞';
  if (x === 0) return '0';
  const d = Math.max(1, Math.min(15, Math.round(digits)));
  const a = Math.abs(x);
  if (a >= 1e15 || a < 1e-4) {
    const [mant, exp] = x.toExponential(d - 1).split('e');
    return `${trimZeros(mant)}e${Number(exp)}`;
  }
  if (Number.isInteger(x)) return group(String(x));
  const decimals = Math.max(0, d - 1 - Math.floor(Math.log10(a)));
  const s = trimZeros(x.toFixed(decimals));
  return s === '-0' ? '0' : group(s);
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

function group(s: string): string {
  const [int, frac] = s.split('.');
  const sign = int.startsWith('-') ? '-' : '';
  const digits = sign ? int.slice(1) : int;
  const grouped = digits.length > 3 ? digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',') : digits;
  return sign + grouped + (frac !== undefined ? `.${frac}` : '');
}

/** Pipes would end the cell and newlines the row, so both are neutralised. */
function cell(v: string | number, digits: number): string {
  const s = typeof v === 'number' ? fmt(v, digits) : v;
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/**
 * A GitHub-flavoured Markdown table, padded so the raw text lines up too. Numbers are formatted with
 * `fmt(x, digits)`; columns holding only numbers are right-aligned unless `align` says otherwise.
 *
 * @example
 * markdownTable(['run', 'loss'], [['baseline', 2.3456], ['wide', 2.1]]);
 * // | run      | loss |
 * // | :------- | ---: |
 * // | baseline | 2.35 |
 * // | wide     |  2.1 |
 */
export function markdownTable(headers: string[], rows: (string | number)[][], align?: Align[], digits = 3): string {
  const n = headers.length;
  if (n === 0) throw new Error('markdownTable: at least one column is required');
  rows.forEach((row, i) => {
    if (row.length > n) throw new Error(`markdownTable: row ${i} has ${row.length} cells but there are ${n} headers`);
  });
  const aligns: Align[] = headers.map((_, c) => {
    if (align?.[c]) return align[c];
    const vals = rows.map((r) => r[c]).filter((v) => v !== undefined && v !== '');
    return vals.length > 0 && vals.every((v) => typeof v === 'number') ? 'right' : 'left';
  });
  const body = rows.map((r) => headers.map((_, c) => (r[c] === undefined ? '' : cell(r[c], digits))));
  const head = headers.map((h) => cell(h, digits));
  const widths = head.map((h, c) => Math.max(3, h.length, ...body.map((r) => r[c].length)));
  const pad = (s: string, c: number): string => {
    const w = widths[c];
    if (aligns[c] === 'right') return s.padStart(w);
    if (aligns[c] === 'center') return s.padStart(Math.floor((w + s.length) / 2)).padEnd(w);
    return s.padEnd(w);
  };
  const rule = widths.map((w, c) => {
    const a = aligns[c];
    if (a === 'right') return `${'-'.repeat(w - 1)}:`;
    if (a === 'center') return `:${'-'.repeat(w - 2)}:`;
    return `:${'-'.repeat(w - 1)}`;
  });
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head.map(pad)), line(rule), ...body.map((r) => line(r.map(pad)))].join('\n');
}

export interface ReportOptions {
  /** Top-level heading; defaults to the report name. */
  title?: string;
  /** Directory holding all runs; the report goes to `<root>/<name>/`. Default `runs`. */
  root?: string;
}

/**
 * Collects sections in order and writes `runs/<name>/report.md` plus any charts as sibling SVG files.
 *
 * @example
 * const r = new ReportWriter('lr-sweep', { title: 'Learning-rate sweep' });
 * r.paragraph('Three seeds per setting.')
 *   .image('loss.svg', lineChart({ title: 'Loss', series }), 'loss curves')
 *   .table(['lr', 'final loss'], [[1e-3, 2.31], [3e-3, 2.12]]);
 * const file = r.write(); // "runs/lr-sweep/report.md"
 */
export class ReportWriter {
  /** Directory the report and its images are written to. */
  readonly dir: string;
  private readonly blocks: string[] = [];
  private readonly images = new Map<string, string>();

  constructor(name: string, opts: ReportOptions = {}) {
    if (!/^[\w.-]+$/.test(name) || name === '.' || name === '..') {
      throw new Error(`ReportWriter: run name '${name}' must be a single path segment of letters, digits, '.', '_' or '-'`);
    }
    this.dir = path.join(opts.root ?? 'runs', name);
    this.blocks.push(`# ${oneLine(opts.title ?? name)}`);
  }

  /** A section heading (level 2 by default, since the title is level 1). */
  heading(text: string, level = 2): this {
    const l = Math.max(1, Math.min(6, Math.round(level)));
    this.blocks.push(`${'#'.repeat(l)} ${oneLine(text)}`);
    return this;
  }

  /** A paragraph of Markdown text, written as-is. */
  paragraph(text: string): this {
    this.blocks.push(text.trim());
    return this;
  }

  /** A bulleted list. */
  list(items: string[]): this {
    if (items.length > 0) this.blocks.push(items.map((it) => `- ${oneLine(it)}`).join('\n'));
    return this;
  }

  /** A table (see markdownTable). */
  table(headers: string[], rows: (string | number)[][], align?: Align[], digits = 3): this {
    this.blocks.push(markdownTable(headers, rows, align, digits));
    return this;
  }

  /** A fenced code block, e.g. the command line or config that produced the run. */
  code(text: string, lang = ''): this {
    const fence = text.includes('```') ? '~~~~' : '```';
    this.blocks.push(`${fence}${lang}\n${text.replace(/\n$/, '')}\n${fence}`);
    return this;
  }

  /** Embed an SVG chart: it is saved as `<dir>/<fileName>` on write() and linked relatively. */
  image(fileName: string, svg: string, alt = ''): this {
    const file = fileName.endsWith('.svg') ? fileName : `${fileName}.svg`;
    if (!/^[\w.-]+$/.test(file) || file.startsWith('.')) {
      throw new Error(`ReportWriter.image: file name '${fileName}' must be a plain name like 'loss.svg'`);
    }
    if (this.images.has(file)) throw new Error(`ReportWriter.image: '${file}' was already added to this report`);
    this.images.set(file, svg);
    this.blocks.push(`![${oneLine(alt).replace(/[[\]]/g, '')}](${file})`);
    return this;
  }

  /** The Markdown text of the report so far. */
  toMarkdown(): string {
    return `${this.blocks.join('\n\n')}\n`;
  }

  /** Write the images, then report.md (so the report never links to a missing image); returns its path. */
  write(): string {
    for (const [file, svg] of this.images) writeFileAtomic(path.join(this.dir, file), svg);
    const out = path.join(this.dir, 'report.md');
    writeFileAtomic(out, this.toMarkdown());
    return out;
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\r?\n\s*/g, ' ').trim();
}
