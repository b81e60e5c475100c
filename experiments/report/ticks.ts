/**
 * Axis tick selection and tick labels for the SVG charts.
 *
 * Ticks are "nice" (1, 2 or 5 times a power of ten) because readers interpolate between gridlines in their
 * head; 0, 0.2, 0.4 is easy, 0, 0.173, 0.346 is not.
 */

/** Tick positions plus the (possibly widened) domain they span. */
export interface Ticks {
  min: number;
  max: number;
  ticks: number[];
}

/**
 * Rounds to the nearest of 1, 2, 5 or 10 times a power of ten, nearest in ratio (the cut points are the
 * geometric means sqrt(2), sqrt(10), sqrt(50)), so the tick count stays close to the one asked for.
 */
function niceStep(raw: number): number {
  const exp = Math.floor(Math.log10(raw));
  const f = raw / 10 ** exp;
  const nice = f < Math.SQRT2 ? 1 : f < Math.sqrt(10) ? 2 : f < Math.sqrt(50) ? 5 : 10;
  return nice * 10 ** exp;
}

/** Kills the binary noise in `k * step` (0.30000000000000004) so labels and equality tests stay clean. */
function clean(v: number): number {
  const r = parseFloat(v.toPrecision(12));
  return r === 0 ? 0 : r;
}

/**
 * About `count` nice ticks covering [lo, hi]. With `extend`, the domain grows outward to the enclosing ticks
 * (good for a value axis); without it, the domain stays [lo, hi] and only ticks inside are returned.
 *
 * @example
 * niceTicks(0.13, 0.87, 5);        // { min: 0, max: 1, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] }
 * niceTicks(0, 1037, 5, false);     // { min: 0, max: 1037, ticks: [0, 200, ..., 1000] }
 */
export function niceTicks(lo: number, hi: number, count = 5, extend = true): Ticks {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { min: 0, max: 1, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] };
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) {
    // A flat line still needs a visible axis; widen symmetrically by a magnitude-appropriate amount.
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep((hi - lo) / Math.max(1, count));
  const first = extend ? Math.floor(lo / step + 1e-9) : Math.ceil(lo / step - 1e-9);
  const last = extend ? Math.ceil(hi / step - 1e-9) : Math.floor(hi / step + 1e-9);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(clean(k * step));
  return extend ? { min: ticks[0], max: ticks[ticks.length - 1], ticks } : { min: lo, max: hi, ticks };
}

/**
 * Ticks for a log10 axis over positive [lo, hi]: powers of ten, plus 2x and 5x for three decades or fewer.
 *
 * @example
 * logTicks(0.3, 40);   // { min: 0.1, max: 100, ticks: [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100] }
 */
export function logTicks(lo: number, hi: number): Ticks {
  if (!(lo > 0) || !(hi > 0) || !Number.isFinite(lo) || !Number.isFinite(hi)) return { min: 1, max: 10, ticks: [1, 10] };
  if (lo > hi) [lo, hi] = [hi, lo];
  const e0 = Math.floor(Math.log10(lo) + 1e-9);
  let e1 = Math.ceil(Math.log10(hi) - 1e-9);
  if (e0 === e1) e1 += 1;
  const decades = e1 - e0;
  const mults = decades <= 3 ? [1, 2, 5] : [1];
  // Thin out very wide ranges so labels do not collide.
  const every = Math.max(1, Math.ceil(decades / 8));
  const ticks: number[] = [];
  for (let e = e0; e <= e1; e += every) {
    for (const m of mults) {
      const v = clean(m * 10 ** e);
      if (v <= clean(10 ** e1)) ticks.push(v);
    }
  }
  return { min: clean(10 ** e0), max: clean(10 ** e1), ticks };
}

/**
 * Short human label for a tick value: 12k, 1.5M, 0.25, 3e-5.
 *
 * @example
 * formatTick(15000);  // "15k"
 * formatTick(0.00003); // "3e-5"
 */
export function formatTick(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  const trim = (x: number): string => String(parseFloat(x.toPrecision(4)));
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  if (a < 1e-3) {
    const [m, e] = v.toExponential(3).split('e');
    return `${String(parseFloat(m))}e${Number(e)}`;
  }
  return trim(v);
}
