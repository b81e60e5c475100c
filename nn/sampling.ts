/**
 * Picking the next token from one row of logits, on the host in float64: greedy (argmax), or a sample from
 * softmax(logits / temperature), optionally restricted to the top k logits.
 */
import { Generator, globalGenerator } from '../core/rng.js';

export interface SampleOpts {
  /** Divide logits by this before the softmax (default 1; 0 means greedy). */
  temperature?: number;
  /** Keep only the k largest logits (ties at the k-th value are kept too). */
  topK?: number;
  /** Take the argmax (the first one on ties). */
  greedy?: boolean;
  generator?: Generator;
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/**
 * @example
 * sampleToken([0.1, 2.0, -1], { greedy: true });                         // 1
 * sampleToken(logits, { temperature: 0.8, topK: 40, generator: g });
 */
export function sampleToken(logits: ArrayLike<number>, opts: SampleOpts = {}): number {
  const V = logits.length;
  const temperature = opts.temperature ?? 1;
  if (!(temperature >= 0)) throw new Error(`sampleToken: temperature must be >= 0, got ${temperature}`);
  if (opts.topK !== undefined && (!Number.isInteger(opts.topK) || opts.topK < 1)) {
    throw new Error(`sampleToken: topK must be a positive integer, got ${opts.topK}`);
  }
  if (opts.greedy || temperature === 0) return argmax(logits);
  let floor = -Infinity;
  if (opts.topK !== undefined && opts.topK < V) floor = Array.from(logits).sort((a, b) => b - a)[opts.topK - 1];
  const m = logits[argmax(logits)];
  const w = new Float64Array(V);
  let total = 0;
  for (let i = 0; i < V; i++) {
    if (logits[i] >= floor) total += w[i] = Math.exp((logits[i] - m) / temperature);
  }
  let u = (opts.generator ?? globalGenerator).random() * total;
  for (let i = 0; i < V; i++) {
    u -= w[i];
    if (u < 0 && w[i] > 0) return i;
  }
  return argmax(logits); // only reached through rounding at the very end
}
