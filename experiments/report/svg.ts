/**
 * Dependency-free SVG line and bar charts for experiment reports.
 *
 * The output is a standalone file (white background, system font stack, no scripts) so it renders the same
 * in a browser, on GitHub, and through rsvg-convert. Non-finite values are skipped rather than thrown on,
 * because a diverged run (NaN loss) is exactly the run someone wants to look at.
 */
import { formatTick, logTicks, niceTicks, type Ticks } from './ticks.js';
import { esc, frameAndXLabel, header, layout, legend, noData, r, style, textWidth, yAxis, type LegendItem } from './svgframe.js';

export { PALETTE } from './svgframe.js';

/** One line; `band` is an optional shaded [x, lo, hi] region drawn under it (e.g. min/max over seeds). */
export interface LineSeries {
  name: string;
  points: [number, number][];
  band?: [number, number, number][];
}

export interface LineChartOptions {
  title: string;
  xLabel?: string;
  yLabel?: string;
  series: LineSeries[];
  logY?: boolean;
  width?: number;
  height?: number;
}

export interface BarSeries {
  name: string;
  values: number[];
}

export interface BarChartOptions {
  title: string;
  categories: string[];
  series: BarSeries[];
  yLabel?: string;
  width?: number;
  height?: number;
}

/**
 * A line chart (one path per series, optional shaded bands, optional log y axis).
 *
 * @example
 * const svg = lineChart({ title: 'Loss', xLabel: 'step', yLabel: 'loss',
 *   series: [{ name: 'lr 1e-3', points: [[0, 4.2], [100, 2.9], [200, 2.4]] }] });
 * fs.writeFileSync('loss.svg', svg);
 */
export function lineChart(opts: LineChartOptions): string {
  const logY = opts.logY === true;
  const ok = (x: number, y: number): boolean => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of opts.series) {
    for (const [x, y] of s.points) if (ok(x, y)) xs.push(x), ys.push(y);
    for (const [x, lo, hi] of s.band ?? []) if (ok(x, lo) && ok(x, hi)) xs.push(x), ys.push(lo, hi);
  }
  const hasData = xs.length > 0;
  const xT = hasData ? niceTicks(min(xs), max(xs), 6, false) : niceTicks(0, 1, 5);
  const yT = logY ? (hasData ? logTicks(min(ys), max(ys)) : logTicks(1, 10)) : hasData ? niceTicks(min(ys), max(ys), 5) : niceTicks(0, 1, 5);

  const items: LegendItem[] = opts.series.map((s, i) => ({
    name: s.points.some(([x, y]) => ok(x, y)) ? s.name : `${s.name} (no data)`,
    ...style(i),
    kind: 'line',
  }));
  const L = layout(opts.width ?? 760, opts.height ?? 440, items, 52);
  const sx = (x: number): number => L.left + ((x - xT.min) / (xT.max - xT.min || 1)) * L.plotW;
  const f = logY ? Math.log10 : (v: number): number => v;
  const sy = (y: number): number => L.top + L.plotH - ((f(y) - f(yT.min)) / (f(yT.max) - f(yT.min) || 1)) * L.plotH;

  const out = header(L, opts.title);
  yAxis(out, L, yT, sy, opts.yLabel);
  for (const t of xT.ticks) {
    const x = r(sx(t));
    out.push(`<line x1="${x}" y1="${L.top}" x2="${x}" y2="${L.top + L.plotH}" stroke="#e6e6e6"/>`);
    out.push(`<text x="${x}" y="${L.top + L.plotH + 18}" text-anchor="middle" fill="#444">${esc(formatTick(t))}</text>`);
  }
  frameAndXLabel(out, L, opts.xLabel);

  const clip = `clip-${hash(opts.title + opts.series.map((s) => s.name).join('\u0000'))}`;
  out.push(`<clipPath id="${clip}"><rect x="${L.left}" y="${L.top}" width="${L.plotW}" height="${L.plotH}"/></clipPath>`);
  out.push(`<g clip-path="url(#${clip})">`);
  const markers = xs.length <= 40;
  opts.series.forEach((s, i) => {
    const { color, dash } = style(i);
    out.push(`<g><title>${esc(s.name)}</title>`);
    const band = (s.band ?? []).filter(([x, lo, hi]) => ok(x, lo) && ok(x, hi));
    if (band.length >= 2) {
      const upper = band.map(([x, , hi]) => `${r(sx(x))},${r(sy(hi))}`);
      const lower = band.map(([x, lo]) => `${r(sx(x))},${r(sy(lo))}`).reverse();
      out.push(`<path d="M${upper.join('L')}L${lower.join('L')}Z" fill="${color}" fill-opacity="0.18" stroke="none"/>`);
    }
    // Invalid points split the line rather than being bridged, so a gap in the data shows as a gap.
    const segments: string[][] = [[]];
    const dots: string[] = [];
    for (const [x, y] of s.points) {
      if (!ok(x, y)) {
        if (segments[segments.length - 1].length > 0) segments.push([]);
        continue;
      }
      segments[segments.length - 1].push(`${r(sx(x))},${r(sy(y))}`);
      if (markers) dots.push(`<circle cx="${r(sx(x))}" cy="${r(sy(y))}" r="2.5" fill="${color}"/>`);
    }
    const d = segments.filter((g) => g.length > 0).map((g) => `M${g.join('L')}`).join('');
    if (d) {
      const dashAttr = dash ? ` stroke-dasharray="${dash}"` : '';
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"${dashAttr}/>`);
    }
    // A segment of one point has no length, so without a dot it would be invisible.
    if (!markers) for (const g of segments) if (g.length === 1) dots.push(`<circle cx="${g[0].split(',')[0]}" cy="${g[0].split(',')[1]}" r="2.5" fill="${color}"/>`);
    out.push(...dots, '</g>');
  });
  out.push('</g>');
  if (!hasData) noData(out, L);
  legend(out, L, items);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/**
 * A grouped bar chart: one group per category, one coloured bar per series.
 *
 * @example
 * const svg = barChart({ title: 'Final loss', categories: ['cpu', 'gpu'], yLabel: 'loss',
 *   series: [{ name: 'seed 0', values: [2.1, 2.0] }, { name: 'seed 1', values: [2.2, 2.05] }] });
 */
export function barChart(opts: BarChartOptions): string {
  const cats = opts.categories.map((c) => (c.length > 24 ? `${c.slice(0, 23)}…` : c));
  const vals = opts.series.flatMap((s) => s.values.slice(0, cats.length).filter(Number.isFinite));
  let lo = Math.min(0, ...vals);
  let hi = Math.max(0, ...vals);
  if (lo === 0 && hi === 0) hi = 1;
  const yT = barDomain(lo, hi);
  [lo, hi] = [yT.min, yT.max];

  const items: LegendItem[] = opts.series.length > 1 ? opts.series.map((s, i) => ({ name: s.name, ...style(i), kind: 'box' })) : [];
  const widest = Math.max(0, ...cats.map((c) => textWidth(c, 12)));
  const width = opts.width ?? 760;
  const probe = layout(width, opts.height ?? 440, items, 52);
  const groupW = cats.length > 0 ? probe.plotW / cats.length : probe.plotW;
  const rotate = widest > groupW - 6;
  const L = rotate ? layout(width, opts.height ?? 440, items, 40 + Math.min(140, widest * 0.6)) : probe;
  const gW = cats.length > 0 ? L.plotW / cats.length : L.plotW;
  const sy = (y: number): number => L.top + L.plotH - ((y - lo) / (hi - lo)) * L.plotH;

  const out = header(L, opts.title);
  yAxis(out, L, yT, sy, opts.yLabel);
  const nS = Math.max(1, opts.series.length);
  // Capped so three categories do not turn into three slabs; the group is centred in its slot instead.
  const barW = Math.min((gW * 0.8) / nS, 72);
  const labelBars = cats.length * nS <= 30 && barW >= 18;
  cats.forEach((cat, ci) => {
    const gx = L.left + ci * gW;
    const gx0 = gx + (gW - barW * nS) / 2;
    opts.series.forEach((s, si) => {
      const v = s.values[ci];
      const x = r(gx0 + si * barW);
      if (!Number.isFinite(v)) {
        if (labelBars) out.push(`<text x="${r(x + (barW - 2) / 2)}" y="${r(sy(0) - 4)}" text-anchor="middle" font-size="10" fill="#888">n/a</text>`);
        return;
      }
      const y0 = sy(0);
      const y1 = sy(v);
      const tip = `${cat} / ${s.name}: ${formatTick(v)}`;
      out.push(
        `<rect x="${x}" y="${r(Math.min(y0, y1))}" width="${r(Math.max(1, barW - 2))}" height="${r(Math.abs(y1 - y0))}" fill="${style(si).color}"><title>${esc(tip)}</title></rect>`,
      );
      if (labelBars) {
        const ty = v >= 0 ? y1 - 4 : y1 + 12;
        out.push(`<text x="${r(x + (barW - 2) / 2)}" y="${r(ty)}" text-anchor="middle" font-size="10" fill="#333">${esc(formatTick(v))}</text>`);
      }
    });
    const cx = r(gx + gW / 2);
    const cy = L.top + L.plotH + 18;
    out.push(
      rotate
        ? `<text x="${cx}" y="${cy}" text-anchor="end" fill="#444" transform="rotate(-35 ${cx} ${cy})">${esc(cat)}</text>`
        : `<text x="${cx}" y="${cy}" text-anchor="middle" fill="#444">${esc(cat)}</text>`,
    );
  });
  if (lo < 0) out.push(`<line x1="${L.left}" y1="${r(sy(0))}" x2="${L.left + L.plotW}" y2="${r(sy(0))}" stroke="#666"/>`);
  frameAndXLabel(out, L);
  if (cats.length === 0 || vals.length === 0) noData(out, L);
  legend(out, L, items);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/**
 * Nice ticks, but each non-zero side keeps some headroom for value labels and is not stretched to a whole
 * extra tick step (which, for a small negative bar next to a large positive one, would waste a third of the plot).
 */
function barDomain(lo: number, hi: number): Ticks {
  const t = niceTicks(lo, hi, 5);
  const span = hi - lo;
  const room = 0.07 * span;
  const top = hi <= 0 ? 0 : t.max - hi >= room && t.max - hi <= 0.25 * span ? t.max : hi + room;
  const bottom = lo >= 0 ? 0 : lo - t.min >= room && lo - t.min <= 0.25 * span ? t.min : lo - room;
  return { min: bottom, max: top, ticks: t.ticks.filter((v) => v >= bottom - 1e-9 * span && v <= top + 1e-9 * span) };
}

function min(a: number[]): number {
  return a.reduce((m, v) => (v < m ? v : m), Infinity);
}

function max(a: number[]): number {
  return a.reduce((m, v) => (v > m ? v : m), -Infinity);
}

/** Stable id so two charts inlined into one HTML page do not share a clipPath. */
function hash(s: string): string {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0).toString(36);
}
