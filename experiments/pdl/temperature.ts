/**
 * Temperature matching for the PDL diversity finding: a cross-entropy model sampled at a higher temperature is
 * "flatter" too, so PDL's diversity only counts as its own when it beats a CE model made exactly as flat.
 *
 * The rule ("entropy-matched"): on fixed contexts (the held-out prompts followed by their reference
 * continuations, teacher-forced, so both models see identical contexts and no sampling noise enters), take
 * at every continuation position the distribution the sampler actually draws from: top-k of the logits,
 * divided by the temperature, softmax. Its mean entropy over positions, H(T), rises with T. The matched
 * temperature of the CE model is the T at which H_CE(T) equals H_PDL(0.8), found by bisection on log T.
 *
 *   const top = topLogits(logits, 4000, 40);            // [positions][40], from one forward pass
 *   const target = meanSamplingEntropy(pdlTop, 0.8);
 *   const { temperature } = matchTemperature((t) => meanSamplingEntropy(ceTop, t), target);
 */

/**
 * The `k` largest logits of every row of a row-major [rows, V] array (descending), i.e. what top-k sampling
 * keeps. Ties at the k-th value keep k entries (the sampler keeps all tied ones; ties of float logits are rare).
 * @example
 * topLogits(new Float32Array([1, 3, 2, 0]), 4, 2); // [[3, 2]]
 */
export function topLogits(logits: ArrayLike<number>, V: number, k: number): number[][] {
  if (!Number.isInteger(V) || V < 1 || logits.length % V !== 0) throw new Error(`topLogits: ${logits.length} values are not whole rows of V = ${V}`);
  if (!Number.isInteger(k) || k < 1) throw new Error(`topLogits: k must be a positive integer, got ${k}`);
  const rows: number[][] = [];
  for (let r = 0; r < logits.length / V; r++) {
    const row = Array.from({ length: V }, (_, j) => logits[r * V + j]);
    row.sort((a, b) => b - a);
    rows.push(row.slice(0, Math.min(k, V)));
  }
  return rows;
}

/**
 * Entropy (nats) of softmax(logits / temperature).
 * @example
 * samplingEntropy([0, 0], 1); // ln 2
 */
export function samplingEntropy(logits: readonly number[], temperature: number): number {
  if (!(temperature > 0)) throw new Error(`samplingEntropy: temperature must be > 0, got ${temperature}`);
  let m = -Infinity;
  for (const z of logits) m = Math.max(m, z);
  let total = 0;
  let weighted = 0;
  for (const z of logits) {
    const s = (z - m) / temperature;
    const e = Math.exp(s);
    total += e;
    weighted += e * s;
  }
  // H = log Z - E[s] with s the shifted, scaled logits
  return Math.log(total) - weighted / total;
}

/**
 * Mean over positions of the sampling distribution's entropy at `temperature` (rows from topLogits).
 * @example
 * meanSamplingEntropy([[0, 0], [5, 0]], 1); // (ln 2 + H([0.993, 0.007])) / 2
 */
export function meanSamplingEntropy(rows: readonly (readonly number[])[], temperature: number): number {
  if (rows.length === 0) throw new Error('meanSamplingEntropy: no positions');
  return rows.reduce((a, r) => a + samplingEntropy(r, temperature), 0) / rows.length;
}

export interface MatchedTemperature {
  temperature: number;
  /** entropyAt(temperature): equals the target up to the bisection's tolerance unless clamped. */
  entropy: number;
  target: number;
  /** 'low' / 'high' when the target lies outside [entropyAt(lo), entropyAt(hi)]: the bound is returned. */
  clamped: 'low' | 'high' | null;
}

/**
 * The temperature T in [lo, hi] with entropyAt(T) = target, by bisection on log T (entropyAt must rise
 * with T, which holds for the entropy of softmax(z / T)).
 * @example
 * matchTemperature((t) => t, 2).temperature; // ~2
 */
export function matchTemperature(
  entropyAt: (temperature: number) => number,
  target: number,
  opts: { lo?: number; hi?: number; iterations?: number } = {},
): MatchedTemperature {
  const lo0 = opts.lo ?? 0.05;
  const hi0 = opts.hi ?? 20;
  const iterations = opts.iterations ?? 40;
  if (!(lo0 > 0 && hi0 > lo0)) throw new Error(`matchTemperature: need 0 < lo < hi, got lo ${lo0}, hi ${hi0}`);
  if (!Number.isFinite(target)) throw new Error(`matchTemperature: target entropy must be finite, got ${target}`);
  const [hLo, hHi] = [entropyAt(lo0), entropyAt(hi0)];
  if (hLo > hHi) throw new Error(`matchTemperature: entropyAt falls with temperature (${hLo} at ${lo0}, ${hHi} at ${hi0}); it must rise`);
  if (target <= hLo) return { temperature: lo0, entropy: hLo, target, clamped: target < hLo ? 'low' : null };
  if (target >= hHi) return { temperature: hi0, entropy: hHi, target, clamped: target > hHi ? 'high' : null };
  let [a, b] = [Math.log(lo0), Math.log(hi0)];
  for (let i = 0; i < iterations; i++) {
    const mid = (a + b) / 2;
    if (entropyAt(Math.exp(mid)) < target) a = mid;
    else b = mid;
  }
  const temperature = Math.exp((a + b) / 2);
  return { temperature, entropy: entropyAt(temperature), target, clamped: null };
}
