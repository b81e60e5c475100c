import { describe, expect, expectTypeOf, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { barChart, lineChart, PALETTE } from '../experiments/report/svg.js';
import { formatTick, logTicks, niceTicks } from '../experiments/report/ticks.js';
import { fmt, markdownTable, ReportWriter } from '../experiments/report/markdown.js';
import { formatDuration, formatEta, Progress, renderProgressLine } from '../experiments/report/progress.js';
import { CliError, helpText, parseCli } from '../experiments/report/cli.js';
import { JsonlWriter, readJsonl, toJson, writeJsonAtomic } from '../experiments/report/metrics.js';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-report-'));
}

/** Minimal XML well-formedness check: balanced tags, quoted attributes, escaped text. Returns tag names. */
function checkXml(xml: string): string[] {
  const stack: string[] = [];
  const seen: string[] = [];
  const tagRe = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = tagRe.exec(xml)) !== null) {
    const text = xml.slice(last, m.index);
    expect(text, `stray markup before <${m[2]}>`).not.toMatch(/[<>]/);
    expect(text, 'unescaped &').not.toMatch(/&(?!(amp|lt|gt|quot|#\d+);)/);
    last = tagRe.lastIndex;
    const [, close, name, , selfClose] = m;
    if (close) {
      expect(stack.pop(), `closing </${name}>`).toBe(name);
    } else {
      seen.push(name);
      if (!selfClose) stack.push(name);
    }
    if (stack.length === 0) expect(xml.slice(last).trim(), 'content after the root element').toBe('');
  }
  expect(xml.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
  expect(seen[0]).toBe('svg');
  return seen;
}

function isNice(v: number, step: number): boolean {
  const k = v / step;
  return Math.abs(k - Math.round(k)) < 1e-6;
}

describe('svg charts', () => {
  const series = [
    { name: 'baseline', points: [[0, 4], [10, 3], [20, 2.5]] as [number, number][] },
    { name: 'wide & <deep>', points: [[0, 4.2], [10, NaN], [15, Infinity], [20, 2.2], [30, 2]] as [number, number][], band: [[0, 4, 4.4], [20, 2, 2.4], [30, 1.9, 2.1]] as [number, number, number][] },
  ];

  it('line chart is well-formed with one path per series, legend names and a band', () => {
    const svg = lineChart({ title: 'Loss <by> step', xLabel: 'step', yLabel: 'loss', series });
    const tags = checkXml(svg);
    expect(tags.filter((t) => t === 'clipPath')).toHaveLength(1);
    for (const [i, s] of series.entries()) {
      expect(svg).toContain(`stroke="${PALETTE[i]}" stroke-width="2"`);
      expect(svg).toContain(`>${s.name.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</text>`);
    }
    expect(svg).toContain('fill-opacity="0.18"');
    expect(svg).not.toMatch(/NaN|Infinity/);
    // The NaN/Infinity points split the second line into two sub-paths.
    const second = svg.split('\n').find((l) => l.includes(`stroke="${PALETTE[1]}" stroke-width="2"`)) ?? '';
    expect(second.match(/M/g)).toHaveLength(2);
  });

  it('handles empty input, all-invalid series and log axes gracefully', () => {
    const empty = lineChart({ title: 'nothing', series: [] });
    checkXml(empty);
    expect(empty).toContain('no data');
    const invalid = lineChart({ title: 'bad', series: [{ name: 'nan', points: [[0, NaN], [1, -1]] }], logY: true });
    checkXml(invalid);
    expect(invalid).toContain('nan (no data)');
    const log = lineChart({ title: 'log', logY: true, series: [{ name: 'a', points: [[0, 5], [1, 0.02], [2, 0], [3, -1]] }] });
    checkXml(log);
    for (const label of ['0.01', '0.1', '1', '10']) expect(log).toContain(`>${label}</text>`);
    expect(log).not.toMatch(/NaN/);
    const flat = lineChart({ title: 'flat', series: [{ name: 'a', points: [[5, 3]] }] });
    checkXml(flat);
    expect(flat).toContain('<circle');
  });

  it('bar chart is well-formed with one bar per finite value and a legend for several series', () => {
    const svg = barChart({
      title: 'Throughput',
      yLabel: 'tok/s',
      categories: ['cpu', 'gpu', 'webgpu', 'wasm', 'a rather long category name that will be rotated'],
      series: [{ name: 'small', values: [100, 2000, -50, 7, 8] }, { name: 'large', values: [150, NaN, 30000, 9] }],
    });
    const tags = checkXml(svg);
    expect(tags.filter((t) => t === 'rect').length).toBe(2 + 8 + 2); // background, frame, bars, legend boxes
    expect(svg).not.toContain('>-10k</text>'); // a tiny negative bar must not drag in a whole extra tick step
    expect(svg).toContain('>small</text>');
    expect(svg).toContain('>large</text>');
    expect(svg).toContain('rotate(-35');
    checkXml(barChart({ title: 'empty', categories: [], series: [] }));
  });

  it('picks nice ticks that cover the data', () => {
    const ranges: [number, number][] = [[0, 1], [0.13, 0.87], [-3.7, 12.1], [1e-5, 3e-5], [1000, 1037], [0, 98765], [2.5, 2.5], [-1, -0.2]];
    for (const [lo, hi] of ranges) {
      const t = niceTicks(lo, hi, 5);
      const step = t.ticks[1] - t.ticks[0];
      const mant = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
      expect([1, 2, 5, 10].some((m) => Math.abs(mant - m) < 1e-6), `step ${step} for [${lo}, ${hi}]`).toBe(true);
      expect(t.ticks.length).toBeGreaterThanOrEqual(3);
      expect(t.ticks.length).toBeLessThanOrEqual(12);
      for (const v of t.ticks) expect(isNice(v, step), `tick ${v}`).toBe(true);
      expect(t.min).toBeLessThanOrEqual(lo);
      expect(t.max).toBeGreaterThanOrEqual(hi);
    }
    expect(niceTicks(0.13, 0.87, 5)).toEqual({ min: 0, max: 1, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] });
    expect(niceTicks(0, 1037, 5, false).ticks).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(niceTicks(0, 0.3, 3).ticks).toEqual([0, 0.1, 0.2, 0.3]);
    expect(logTicks(0.3, 40).ticks).toEqual([0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]);
    expect(logTicks(1e-4, 10).ticks).toEqual([1e-4, 1e-3, 0.01, 0.1, 1, 10]);
    expect([15000, 2500000, 0.25, 3e-5, 0, -1200].map(formatTick)).toEqual(['15k', '2.5M', '0.25', '3e-5', '0', '-1200']);
  });
});

describe('markdown', () => {
  it('formats numbers sensibly', () => {
    expect(fmt(3.21456)).toBe('3.21');
    expect(fmt(3.21456, 5)).toBe('3.2146');
    expect(fmt(1234.56)).toBe('1,235');
    expect(fmt(1234567)).toBe('1,234,567');
    expect(fmt(-9876.5)).toBe('-9,877');
    expect(fmt(0.012345)).toBe('0.0123');
    expect(fmt(2.5)).toBe('2.5');
    expect(fmt(0.000012345)).toBe('1.23e-5');
    expect(fmt(1e20)).toBe('1e20');
    expect(fmt(0)).toBe('0');
    expect(fmt(-0.0001)).toBe('-0.0001');
    expect(fmt(-0.0000001, 2)).toBe('-1e-7');
    expect(fmt(-0.0004, 1)).toBe('-0.0004');
    expect(fmt(NaN)).toBe('NaN');
    expect(fmt(-Infinity)).toBe('-∞');
  });

  it('builds tables with consistent column counts, alignment and escaping', () => {
    const t = markdownTable(['run', 'loss', 'note'], [['base|line', 2.3456, 'a\nb'], ['wide', 12345.6], ['deep', NaN, '']]);
    const lines = t.split('\n');
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(line.split(/(?<!\\)\|/).length - 2).toBe(3);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(lines[1]).toMatch(/^\| :-+ \| -+: \| :-+ \|$/);
    expect(t).toContain('base\\|line');
    expect(t).toContain('12,346');
    expect(t).toContain('a b');
    expect(markdownTable(['x'], [['1']], ['center']).split('\n')[1]).toBe('| :-: |');
    expect(() => markdownTable(['a'], [[1, 2]])).toThrow(/row 0 has 2 cells/);
  });

  it('writes report.md and its charts into runs/<name>/ without temp files', () => {
    const root = tmpDir();
    const r = new ReportWriter('sweep-1', { root, title: 'LR sweep' })
      .paragraph('Three seeds.')
      .image('loss', lineChart({ title: 'loss', series: [{ name: 'a', points: [[0, 1], [1, 0.5]] }] }), 'loss curve')
      .heading('Results')
      .table(['lr', 'loss'], [[0.001, 2.31]])
      .list(['fast', 'stable'])
      .code('tsx experiments/main.ts --lr 1e-3', 'sh');
    const file = r.write();
    expect(file).toBe(path.join(root, 'sweep-1', 'report.md'));
    const md = fs.readFileSync(file, 'utf8');
    expect(md.startsWith('# LR sweep\n\nThree seeds.\n\n![loss curve](loss.svg)\n\n## Results\n\n|    lr | loss |\n| ----: | ---: |\n| 0.001 | 2.31 |\n')).toBe(true);
    expect(md).toContain('```sh\ntsx experiments/main.ts --lr 1e-3\n```');
    expect(fs.readdirSync(path.join(root, 'sweep-1')).sort()).toEqual(['loss.svg', 'report.md']);
    checkXml(fs.readFileSync(path.join(root, 'sweep-1', 'loss.svg'), 'utf8'));
    expect(() => new ReportWriter('../escape', { root })).toThrow(/single path segment/);
    expect(() => r.image('../x.svg', '<svg/>')).toThrow(/plain name/);
  });
});

describe('progress', () => {
  it('formats durations and ETAs', () => {
    expect([0, 45.4, 59.6, 192, 3600, 3720, 86400 + 3 * 3600].map(formatDuration)).toEqual(['0s', '45s', '1m00s', '3m12s', '1h00m', '1h02m', '1d03h']);
    expect(formatDuration(NaN)).toBe('--');
    expect(formatEta(undefined)).toBe('ETA --');
    expect(formatEta(192)).toBe('ETA 3m12s');
  });

  it('renders the status line', () => {
    expect(renderProgressLine({ label: 'train', step: 120, total: 1000, barWidth: 10, stats: { loss: 3.2102, tokPerSec: 1234.4 }, etaSec: 192 })).toBe(
      'train [#.........] 120/1000 12% loss 3.21 tok/s 1,234 ETA 3m12s',
    );
    expect(renderProgressLine({ label: '', step: 1000, total: 1000, barWidth: 4, stats: { lr: 0.0003, phase: 'eval' }, elapsedSec: 75 })).toBe(
      '[####] 1000/1000 100% lr 0.0003 phase eval done in 1m15s',
    );
  });

  it('throttles plain lines when not a TTY and estimates ETA from an EMA of step time', () => {
    let t = 0;
    const lines: string[] = [];
    const bar = new Progress({ total: 100, label: 'x', barWidth: 4, intervalSec: 10, now: () => t, stream: { write: (s) => lines.push(s) } });
    for (let step = 1; step <= 100; step++) {
      t += step === 1 ? 5000 : 1000; // a slow first step (compilation) must not skew the ETA
      bar.update(step, { loss: 1 });
      if (step === 2) expect(bar.etaSeconds()).toBeCloseTo(98);
    }
    bar.done();
    bar.done();
    expect(lines.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    expect(lines).toHaveLength(1 + 9 + 1); // first, then every 10 s, then done
    expect(lines[0]).toBe('x [....] 1/100 1% loss 1 ETA --\n');
    expect(lines[lines.length - 1]).toBe('x [####] 100/100 100% loss 1 done in 1m44s\n');
  });

  it('redraws in place on a TTY', () => {
    let t = 0;
    const out: string[] = [];
    const bar = new Progress({ total: 3, now: () => t, stream: { write: (s) => out.push(s), isTTY: true, columns: 30 } });
    for (let step = 1; step <= 3; step++) {
      t += 500;
      bar.update(step, { tokPerSec: 99999 });
    }
    bar.log('eval 1.0');
    bar.done();
    expect(out[0].startsWith('\r[')).toBe(true);
    expect(out.every((s) => s.replace(/\x1b\[K/g, '').replace(/[\r\n]/g, '').length < 30)).toBe(true);
    expect(out).toContain('\r\x1b[Keval 1.0\n');
    expect(out[out.length - 1].endsWith('\n')).toBe(true);
  });
});

describe('cli', () => {
  const spec = {
    name: 'train',
    description: 'Train a small model.',
    options: {
      lr: { type: 'number', default: 0.001, description: 'learning rate', short: 'l' },
      batchSize: { type: 'number', description: 'examples per step' },
      quick: { type: 'boolean', description: 'tiny smoke run' },
      ema: { type: 'boolean', default: true, description: 'keep EMA weights' },
      backend: { type: 'string', default: 'cpu', choices: ['cpu', 'gpu'], description: 'where ops run' },
    },
  } as const;

  it('applies defaults and parses typed values', () => {
    const a = parseCli(spec, []);
    expect(a).toEqual({ lr: 0.001, batchSize: undefined, quick: false, ema: true, backend: 'cpu' });
    expectTypeOf(a.lr).toEqualTypeOf<number>();
    expectTypeOf(a.batchSize).toEqualTypeOf<number | undefined>();
    expectTypeOf(a.quick).toEqualTypeOf<boolean>();
    expectTypeOf(a.backend).toEqualTypeOf<string>();
    const b = parseCli(spec, ['--lr', '3e-4', '--batch-size=32', '--quick', '--no-ema', '--backend', 'gpu']);
    expect(b).toEqual({ lr: 3e-4, batchSize: 32, quick: true, ema: false, backend: 'gpu' });
    expect(parseCli(spec, ['-l', '-0.5']).lr).toBe(-0.5);
  });

  it('rejects unknown flags and bad values with messages naming them', () => {
    expect(() => parseCli(spec, ['--lrr', '1'])).toThrow(CliError);
    expect(() => parseCli(spec, ['--lrr', '1'])).toThrow(/unknown option '--lrr' \(did you mean --lr\?\)/);
    expect(() => parseCli(spec, ['--lr', 'fast'])).toThrow(/--lr expects a number, got 'fast'/);
    expect(() => parseCli(spec, ['--batch-size', ''])).toThrow(/--batch-size expects a number, got ''/);
    expect(() => parseCli(spec, ['--backend', 'tpu'])).toThrow(/--backend must be one of cpu, gpu, got 'tpu'/);
    expect(() => parseCli(spec, ['stray'])).toThrow(/unexpected argument 'stray'/);
  });

  it('prints generated help and exits 0', () => {
    const text = helpText(spec);
    expect(text.startsWith('Usage: train [options]\n\nTrain a small model.\n')).toBe(true);
    for (const flag of ['-l, --lr <number>', '--batch-size <number>', '--quick', '--ema', '--backend <string>', '-h, --help']) expect(text).toContain(flag);
    expect(text).toContain('learning rate (default: 0.001)');
    expect(text).toContain('--no-ema to disable');
    let printed = '';
    let code: number | undefined;
    const exit = (c: number): never => {
      code = c;
      throw new Error('exited');
    };
    expect(() => parseCli(spec, ['--lr', 'x', '--help'], { out: (s) => (printed = s), exit })).toThrow('exited');
    expect(printed).toBe(text);
    expect(code).toBe(0);
  });
});

describe('metrics', () => {
  it('appends JSON lines across writers and keeps non-finite numbers visible', () => {
    const file = path.join(tmpDir(), 'a', 'metrics.jsonl');
    const w = new JsonlWriter(file);
    w.write({ step: 1, loss: 4.5 });
    w.write({ step: 2, loss: NaN, big: 10n });
    w.close();
    w.close();
    const again = new JsonlWriter(file);
    again.write({ step: 3, loss: Infinity });
    again.close();
    expect(fs.readFileSync(file, 'utf8').split('\n')).toHaveLength(4);
    expect(readJsonl(file)).toEqual([{ step: 1, loss: 4.5 }, { step: 2, loss: 'NaN', big: '10' }, { step: 3, loss: 'Infinity' }]);
    expect(() => w.write({})).toThrow(/closed/);
    fs.appendFileSync(file, '{"step": 4, "lo');
    expect(readJsonl(file)).toHaveLength(3);
    fs.appendFileSync(file, '\n{"step": 5}\n');
    expect(() => readJsonl(file)).toThrow(/line 4 is not valid JSON/);
  });

  it('writes JSON atomically', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'sub', 'summary.json');
    writeJsonAtomic(file, { loss: -Infinity, ok: true });
    expect(fs.readFileSync(file, 'utf8')).toBe('{\n  "loss": "-Infinity",\n  "ok": true\n}\n');
    expect(fs.readdirSync(path.dirname(file))).toEqual(['summary.json']);
    expect(toJson([1, NaN])).toBe('[1,"NaN"]');
  });
});
