/**
 * "Closer to the held-out text" as a paired effect: each model's text statistic becomes its distance to the
 * reference value (./../findings/stats.ts distanceTo), so overshooting the reference (word salad scoring a
 * distinct-2 above real text's) is a cost exactly like falling short; the effect is treatment distance minus
 * baseline distance per seed, negative when the treatment lies closer.
 *
 *   referenceDistanceInterval([0.935], [0.80], 0.862);   // PDL overshoots by 7.3 points, CE falls short by 6.2: effect +0.011 (a cost)
 */
import { distanceTo, pairedInterval, type PairedInterval } from '../findings/stats.js';

/**
 * Paired interval of |treatment - reference| - |baseline - reference| over seeds (times `scale`, e.g. 100
 * for percentage points).
 * @example
 * referenceDistanceInterval([0.9, 0.92], [0.8, 0.82], 0.86, 100).effect; // (4 - 6 + 6 - 4) / 2 = 0
 */
export function referenceDistanceInterval(treatment: readonly number[], baseline: readonly number[], reference: number, scale = 1): PairedInterval {
  if (!Number.isFinite(reference)) throw new Error(`referenceDistanceInterval: the reference value must be finite, got ${reference}`);
  const d = (xs: readonly number[]) => xs.map((x) => scale * distanceTo(reference, x));
  return pairedInterval(d(treatment), d(baseline), 'difference');
}
