/**
 * The parts every chart shares: page layout, title, value axis, frame, legend, and text escaping.
 *
 * Charts build their SVG as an array of element strings; these helpers push into it so line and bar charts
 * look like one family (same fonts, margins, gridline colour and legend placement).
 */
import { formatTick, type Ticks } from './ticks.js';

/** Tableau 10: distinct hues that stay distinguishable for most colour-vision deficiencies. */
export const PALETTE = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
  '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
];
/** After ten series the colours repeat, so the dash pattern changes to keep lines tellable apart. */
const DASHES = ['', '6 3', '2 3', '8 3 2 3'];
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";

/** Pixel geometry of a chart: the whole page, the plot rectangle inside it, and the legend column. */
export interface Layout {
  width: number;
  height: number;
  left: number;
  top: number;
  plotW: number;
  plotH: number;
  legendX: number;
}

export interface LegendItem {
  name: string;
  color: string;
  dash: string;
  kind: 'line' | 'box';
}

/**
 * Colour and dash pattern of the i-th series.
 *
 * @example
 * style(0); // { color: '#1f77b4', dash: '' }
 */
export function style(i: number): { color: string; dash: string } {
  return { color: PALETTE[i % PALETTE.length], dash: DASHES[Math.floor(i / PALETTE.length) % DASHES.length] };
}

/**
 * Page geometry; the legend sits outside the plot on the right, so it never hides data.
 *
 * @example
 * const L = layout(760, 440, [], 52); // L.plotW === 760 - 72 - 20
 */
export function layout(width: number, height: number, items: LegendItem[], bottom: number): Layout {
  const legendW = items.length > 0 ? Math.min(220, Math.max(...items.map((it) => textWidth(it.name, 12))) + 36) : 0;
  const left = 72;
  const top = 48;
  const right = 20 + legendW;
  return {
    width,
    height,
    left,
    top,
    plotW: Math.max(40, width - left - right),
    plotH: Math.max(40, height - top - bottom),
    legendX: width - legendW - 4,
  };
}

/**
 * Opening `<svg>` tag, white background and centred title (the caller closes the svg).
 *
 * @example
 * const out = header(layout(760, 440, [], 52), 'Loss');
 */
export function header(L: Layout, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${L.width}" height="${L.height}" viewBox="0 0 ${L.width} ${L.height}" font-family="${FONT}" font-size="12">`,
    `<rect width="${L.width}" height="${L.height}" fill="#ffffff"/>`,
    `<text x="${r(L.width / 2)}" y="28" text-anchor="middle" font-size="16" font-weight="600" fill="#222">${esc(title)}</text>`,
  ];
}

/**
 * Horizontal gridlines with tick labels on the left, plus the rotated axis label.
 *
 * @example
 * yAxis(out, L, niceTicks(0, 5), (y) => L.top + L.plotH * (1 - y / 5), 'loss');
 */
export function yAxis(out: string[], L: Layout, t: Ticks, sy: (y: number) => number, label?: string): void {
  for (const v of t.ticks) {
    const y = r(sy(v));
    out.push(`<line x1="${L.left}" y1="${y}" x2="${L.left + L.plotW}" y2="${y}" stroke="#e6e6e6"/>`);
    out.push(`<text x="${L.left - 8}" y="${y + 4}" text-anchor="end" fill="#444">${esc(formatTick(v))}</text>`);
  }
  if (label) {
    const cy = r(L.top + L.plotH / 2);
    out.push(`<text x="18" y="${cy}" text-anchor="middle" fill="#222" transform="rotate(-90 18 ${cy})">${esc(label)}</text>`);
  }
}

/**
 * The plot border and the x axis label under it.
 *
 * @example
 * frameAndXLabel(out, L, 'step');
 */
export function frameAndXLabel(out: string[], L: Layout, label?: string): void {
  out.push(`<rect x="${L.left}" y="${L.top}" width="${L.plotW}" height="${L.plotH}" fill="none" stroke="#999"/>`);
  if (label) out.push(`<text x="${r(L.left + L.plotW / 2)}" y="${L.height - 10}" text-anchor="middle" fill="#222">${esc(label)}</text>`);
}

/**
 * One legend row per item: a line sample (line charts) or a swatch (bar charts), then the name.
 *
 * @example
 * legend(out, L, [{ name: 'baseline', ...style(0), kind: 'line' }]);
 */
export function legend(out: string[], L: Layout, items: LegendItem[]): void {
  items.forEach((it, i) => {
    const y = L.top + 10 + i * 20;
    const x = L.legendX;
    out.push(
      it.kind === 'line'
        ? `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${it.color}" stroke-width="3"${it.dash ? ` stroke-dasharray="${it.dash}"` : ''}/>`
        : `<rect x="${x + 5}" y="${y - 6}" width="12" height="12" fill="${it.color}"/>`,
    );
    const name = it.name.length > 30 ? `${it.name.slice(0, 29)}…` : it.name;
    out.push(`<text x="${x + 28}" y="${y + 4}" fill="#222">${esc(name)}</text>`);
  });
}

/**
 * A grey "no data" note in the middle of the plot.
 *
 * @example
 * noData(out, L);
 */
export function noData(out: string[], L: Layout): void {
  out.push(`<text x="${r(L.left + L.plotW / 2)}" y="${r(L.top + L.plotH / 2)}" text-anchor="middle" fill="#888" font-size="14">no data</text>`);
}

/**
 * Escape text for XML content and attribute values.
 *
 * @example
 * esc('a < b & c'); // "a &lt; b &amp; c"
 */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * Rough width of sans-serif text; exact metrics would need a font file, and layout only needs an estimate.
 *
 * @example
 * textWidth('loss', 12); // 28.8
 */
export function textWidth(s: string, size: number): number {
  return s.length * size * 0.6;
}

/**
 * Round a coordinate to 0.01 px: invisible on screen, and it keeps the files small and diffable.
 *
 * @example
 * r(12.34567); // 12.35
 */
export function r(v: number): number {
  return Math.round(v * 100) / 100;
}
