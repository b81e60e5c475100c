/**
 * Seeded, deterministic k-means (k-means++ seeding, then Lloyd iterations) on the host in float64, for the
 * VQ-Logits `kmeans` mapping: cluster a trained model's output embeddings (the rows of its V x d head),
 * use the assignments as the token -> code map and the centroids to initialise the codebook.
 *
 * Squared distances use |x|^2 - 2 x.c + |c|^2. A cluster that empties during Lloyd takes the point farthest
 * from its centroid (ties by lowest index), so all K codes stay in use. Same inputs and seed, same result.
 */
import { Generator } from '../../core/rng.js';
import type { Tensor } from '../../core/tensor.js';
import { checkMap } from './vq-map.js';

export interface KMeansOpts {
  seed?: number;
  /** Lloyd iterations at most (default 25); stops earlier when no assignment changes. */
  maxIter?: number;
}

export interface KMeansResult {
  /** Cluster of each point (Int32Array of length n). */
  assign: Int32Array;
  /** K x dim centroids, row-major. */
  centroids: Float64Array;
  iterations: number;
  /** Sum of squared distances to the assigned centroids. */
  inertia: number;
}

/**
 * Cluster n points of `dim` values (row-major) into K groups.
 * @example
 * const { assign, centroids } = kmeans(weights, V, d, 64, { seed: 0 });
 */
export function kmeans(points: ArrayLike<number>, n: number, dim: number, K: number, opts: KMeansOpts = {}): KMeansResult {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(dim) || dim < 1) throw new Error(`kmeans: n and dim must be positive integers, got ${n}, ${dim}`);
  if (points.length !== n * dim) throw new Error(`kmeans: ${points.length} values are not n x dim = ${n} x ${dim}`);
  if (!Number.isInteger(K) || K < 1 || K > n) throw new Error(`kmeans: K must be an integer in 1..n = ${n}, got ${K}`);
  const x = Float64Array.from(points);
  const g = new Generator(opts.seed ?? 0);
  const xx = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += x[i * dim + k] ** 2;
    xx[i] = s;
  }
  const c = new Float64Array(K * dim);
  const setCentroid = (j: number, i: number) => c.set(x.subarray(i * dim, (i + 1) * dim), j * dim);

  // k-means++: each next centre drawn with probability proportional to the squared distance to the nearest one
  const near = new Float64Array(n).fill(Infinity);
  const chosen = new Uint8Array(n);
  let pick = g.int(n);
  for (let j = 0; j < K; j++) {
    setCentroid(j, pick);
    chosen[pick] = 1;
    let total = 0;
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let k = 0; k < dim; k++) d += (x[i * dim + k] - x[pick * dim + k]) ** 2;
      if (d < near[i]) near[i] = d;
      if (!chosen[i]) total += near[i];
    }
    if (j === K - 1) break;
    let u = g.random() * total;
    pick = -1;
    for (let i = 0; i < n && pick < 0; i++) {
      if (chosen[i]) continue;
      u -= near[i];
      if (u < 0) pick = i;
    }
    if (pick < 0) pick = chosen.indexOf(0); // duplicates or rounding: the first unchosen point
  }

  const assign = new Int32Array(n).fill(-1);
  const dist = new Float64Array(n);
  const cc = new Float64Array(K);
  let iterations = 0;
  const maxIter = opts.maxIter ?? 25;
  for (let it = 0; it < maxIter; it++) {
    iterations = it + 1;
    for (let j = 0; j < K; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += c[j * dim + k] ** 2;
      cc[j] = s;
    }
    let changed = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestD = Infinity;
      const xi = i * dim;
      for (let j = 0; j < K; j++) {
        const cj = j * dim;
        let dot = 0;
        for (let k = 0; k < dim; k++) dot += x[xi + k] * c[cj + k];
        const d = cc[j] - 2 * dot;
        if (d < bestD) [bestD, best] = [d, j];
      }
      dist[i] = Math.max(0, bestD + xx[i]);
      if (assign[i] !== best) changed++;
      assign[i] = best;
    }
    if (changed === 0) break;
    // update: centroids are the means; an empty cluster first takes the point farthest from its centroid
    const sizes = new Float64Array(K);
    c.fill(0);
    for (let i = 0; i < n; i++) {
      sizes[assign[i]]++;
      for (let k = 0; k < dim; k++) c[assign[i] * dim + k] += x[i * dim + k];
    }
    for (let j = 0; j < K; j++) {
      if (sizes[j] > 0) continue;
      let far = -1;
      for (let i = 0; i < n; i++) if (sizes[assign[i]] > 1 && (far < 0 || dist[i] > dist[far])) far = i;
      const from = assign[far];
      for (let k = 0; k < dim; k++) c[from * dim + k] -= x[far * dim + k];
      sizes[from]--;
      assign[far] = j;
      sizes[j] = 1;
      dist[far] = 0;
      setCentroid(j, far);
    }
    for (let j = 0; j < K; j++) for (let k = 0; k < dim; k++) c[j * dim + k] /= sizes[j];
  }
  // make sure every code is used (a final empty cluster can only come from duplicate points)
  const used = new Uint8Array(K);
  for (let i = 0; i < n; i++) used[assign[i]] = 1;
  for (let j = 0; j < K; j++) {
    if (used[j]) continue;
    const counts = new Int32Array(K);
    for (let i = 0; i < n; i++) counts[assign[i]]++;
    const i = assign.findIndex((a) => counts[a] > 1);
    assign[i] = j;
    setCentroid(j, i);
    used[j] = 1;
  }
  let inertia = 0;
  for (let i = 0; i < n; i++) {
    let d = 0;
    for (let k = 0; k < dim; k++) d += (x[i * dim + k] - c[assign[i] * dim + k]) ** 2;
    inertia += d;
  }
  checkMap(assign, n, K, 'kmeans');
  return { assign, centroids: c, iterations, inertia };
}

/**
 * The `kmeans` mapping: cluster the rows of a trained V x d output matrix (e.g. a full head's weight) into K
 * codes. Returns the map and the K x d centroids, which initialise the codebook (`codebookInit`).
 * @example
 * const { map, centroids } = await kmeansMap(fullLm.head.weight, 64, { seed: 0 });
 * const head = vqLogitsHead({ numCodes: 64, map, codebookInit: centroids });
 */
export async function kmeansMap(weight: Tensor, K: number, opts: KMeansOpts = {}): Promise<KMeansResult & { map: Int32Array }> {
  if (weight.ndim !== 2) throw new Error(`kmeansMap: weight must be [V, d] (one output embedding per token), got [${weight.shape}]`);
  const [V, d] = weight.shape;
  const r = kmeans(await weight.data(), V, d, K, opts);
  return { ...r, map: r.assign };
}
