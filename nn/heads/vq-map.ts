/**
 * Token -> code maps for a VQ-Logits head: which of the K codebook rows scores each of the V tokens.
 * Every builder returns an Int32Array of length V with every code used at least once, and is deterministic
 * (the random one is seeded).
 *
 * - `randomMap`: a seeded shuffle dealt round-robin, so code sizes differ by at most one (the official
 *   code's default is random too; ours is balanced so no code is empty).
 * - `contiguousMap`: blocks of consecutive ids, M(i) = floor(i K / V).
 * - `frequencyMap`: tokens sorted by training count, cut into K buckets of about equal probability mass
 *   (frequent tokens get codes of their own, the rare tail shares codes).
 * - k-means on a trained model's output embeddings: see `kmeansMap` in kmeans.ts.
 */
import { Generator } from '../../core/rng.js';

export type VQMappingKind = 'random' | 'contiguous' | 'frequency' | 'kmeans';

/**
 * Check a map: V entries, K codes with 1 <= K <= V, integer codes in [0, K), every code used.
 * Throws an error that names the problem and the fix.
 */
export function checkMap(map: ArrayLike<number>, V: number, K: number, op = 'VQ map'): void {
  if (!Number.isInteger(K) || K < 1) throw new Error(`${op}: the number of codes K must be a positive integer, got ${K}`);
  if (K > V) throw new Error(`${op}: K = ${K} codes is larger than the vocabulary V = ${V}; a codebook head needs K <= V (usually K << V)`);
  if (map.length !== V) throw new Error(`${op}: the map has ${map.length} entries but the vocabulary has V = ${V} tokens (one code per token)`);
  const used = new Uint8Array(K);
  for (let i = 0; i < V; i++) {
    const c = map[i];
    if (!Number.isInteger(c) || c < 0 || c >= K) {
      throw new Error(`${op}: token ${i} maps to code ${c}, out of range for K = ${K} codes (valid: 0..${K - 1})`);
    }
    used[c] = 1;
  }
  const empty = used.indexOf(0);
  if (empty >= 0) {
    throw new Error(`${op}: code ${empty} has no tokens; every code needs at least one (an empty code is a wasted codebook row with log-mass -inf)`);
  }
}

/** Tokens per code. */
export function mapSizes(map: ArrayLike<number>, K: number): number[] {
  const n = new Array<number>(K).fill(0);
  for (let i = 0; i < map.length; i++) n[map[i]]++;
  return n;
}

function checkVK(op: string, V: number, K: number): void {
  if (!Number.isInteger(V) || V < 1) throw new Error(`${op}: V must be a positive integer, got ${V}`);
  if (!Number.isInteger(K) || K < 1) throw new Error(`${op}: K must be a positive integer, got ${K}`);
  if (K > V) throw new Error(`${op}: K = ${K} codes is larger than the vocabulary V = ${V}; a codebook head needs K <= V`);
}

/**
 * A seeded random map with balanced code sizes (floor(V/K) or ceil(V/K) tokens each).
 * @example randomMap(10, 3, 0) // Int32Array(10) of codes 0..2, sizes 4/3/3
 */
export function randomMap(V: number, K: number, seed = 0): Int32Array {
  checkVK('randomMap', V, K);
  const g = new Generator(seed);
  const perm = Array.from({ length: V }, (_, i) => i);
  for (let i = V - 1; i > 0; i--) {
    const j = g.int(i + 1);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const map = new Int32Array(V);
  perm.forEach((tok, k) => (map[tok] = k % K));
  return map;
}

/**
 * Consecutive id blocks: M(i) = floor(i K / V).
 * @example contiguousMap(6, 3) // [0, 0, 1, 1, 2, 2]
 */
export function contiguousMap(V: number, K: number): Int32Array {
  checkVK('contiguousMap', V, K);
  return Int32Array.from({ length: V }, (_, i) => Math.floor((i * K) / V));
}

/**
 * Frequency buckets of about equal probability mass: tokens sorted by count (descending, ties by id), then
 * code j takes tokens until it holds its share (remaining mass / remaining codes), always leaving at least one
 * token per later code. A token more frequent than a share gets a code of its own.
 * @example frequencyMap([50, 30, 10, 5, 5], 3) // [0, 1, 2, 2, 2]
 */
export function frequencyMap(counts: ArrayLike<number>, K: number): Int32Array {
  const V = counts.length;
  checkVK('frequencyMap', V, K);
  for (let i = 0; i < V; i++) {
    if (!(counts[i] >= 0)) throw new Error(`frequencyMap: counts must be non-negative numbers, got ${counts[i]} for token ${i}`);
  }
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
  // a little mass for every token, so zero-count tokens still spread over the last codes
  const mass = order.map((i) => counts[i] + 1e-9);
  let remaining = mass.reduce((a, b) => a + b, 0);
  const map = new Int32Array(V);
  let k = 0;
  for (let j = 0; j < K; j++) {
    const share = remaining / (K - j);
    let taken = 0;
    // take at least one token; stop at the share, or when the later codes need the remaining tokens
    do {
      map[order[k]] = j;
      taken += mass[k];
      k++;
    } while (k < V - (K - 1 - j) && (j === K - 1 || taken + mass[k] / 2 <= share));
    remaining -= taken;
  }
  return map;
}
