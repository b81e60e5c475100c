/**
 * Rotary position embedding (RoPE, Su et al. 2021), half-split pairing: coordinate i of a head vector is
 * paired with coordinate i + d/2, and the pair is rotated by the angle pos * theta_i,
 *
 *     theta_i = base^(-2i/d),  i = 0..d/2-1
 *     out[i]       = x[i] cos(pos theta_i) - x[i + d/2] sin(pos theta_i)
 *     out[i + d/2] = x[i] sin(pos theta_i) + x[i + d/2] cos(pos theta_i)
 *
 * so <rope(q, m), rope(k, n)> depends on m - n only. Written as x * C + rotateHalf(x) * S, where
 * rotateHalf(x) = [-x2, x1] is a product with a fixed signed permutation matrix: one matmul kernel, exact in
 * float32 (every product is by 0 or +-1), instead of splitting and re-joining the halves.
 */
import type { Device } from '../core/device.js';
import { shapeStr } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { matmul } from '../ops/index.js';

export interface RopeOpts {
  /** The base of the frequencies (default 10000). */
  base?: number;
}

/** theta_i = base^(-2i/d) for i = 0..d/2-1 (the RoPE angles per unit of position). */
export function ropeFrequencies(d: number, base = 10000): number[] {
  if (!Number.isInteger(d) || d <= 0 || d % 2 !== 0) throw new Error(`rope: head size must be a positive even integer, got ${d}`);
  return Array.from({ length: d / 2 }, (_, i) => Math.pow(base, (-2 * i) / d));
}

// Small per-device caches of the constant tables (generation asks for the same offsets again and again).
const tables = new Map<string, { cos: Tensor; sin: Tensor }>();
const rotations = new Map<string, Tensor>();
const MAX_CACHED = 256;

function rotateHalfMatrix(d: number, dev: Device): Tensor {
  const key = `${dev.name}|${d}`;
  let r = rotations.get(key);
  if (!r) {
    // (x R)[j] = -x[j + d/2] for j < d/2, x[j - d/2] for j >= d/2
    const h = d / 2;
    const v = new Float64Array(d * d);
    for (let j = 0; j < h; j++) {
      v[(j + h) * d + j] = -1;
      v[j * d + j + h] = 1;
    }
    r = Tensor.fromValues(v, [d, d], dev);
    rotations.set(key, r);
  }
  return r;
}

function angleTables(pos: readonly number[], d: number, base: number, dev: Device, key: string | null) {
  const k = key && `${dev.name}|${d}|${base}|${key}`;
  const hit = k ? tables.get(k) : undefined;
  if (hit) return hit;
  const theta = ropeFrequencies(d, base);
  const h = d / 2;
  const c = new Float64Array(pos.length * d);
  const s = new Float64Array(pos.length * d);
  pos.forEach((p, t) => {
    for (let i = 0; i < h; i++) {
      const a = p * theta[i];
      c[t * d + i] = c[t * d + i + h] = Math.cos(a);
      s[t * d + i] = s[t * d + i + h] = Math.sin(a);
    }
  });
  const out = { cos: Tensor.fromValues(c, [pos.length, d], dev), sin: Tensor.fromValues(s, [pos.length, d], dev) };
  if (k) {
    if (tables.size >= MAX_CACHED) tables.clear();
    tables.set(k, out);
  }
  return out;
}

/**
 * Rotate x [..., T, d] (d even) by RoPE at positions `offset`, offset+1, ... (a number) or at the T given
 * positions (an array).
 * @example
 * const q2 = applyRope(q, 0);           // q [B, H, T, d_k], positions 0..T-1
 * const k2 = applyRope(kNew, cacheLen); // new keys continue after the cached ones
 */
export function applyRope(x: Tensor, positions: number | readonly number[], opts: RopeOpts = {}): Tensor {
  if (x.ndim < 2) throw new Error(`applyRope: x must be [..., T, d], got ${shapeStr(x.shape)}`);
  const T = x.shape[x.ndim - 2];
  const d = x.shape[x.ndim - 1];
  const base = opts.base ?? 10000;
  let pos: readonly number[];
  let key: string | null = null;
  if (typeof positions === 'number') {
    if (!Number.isInteger(positions) || positions < 0) throw new Error(`applyRope: offset must be a non-negative integer, got ${positions}`);
    pos = Array.from({ length: T }, (_, t) => positions + t);
    key = `${positions}+${T}`;
  } else {
    if (positions.length !== T) throw new Error(`applyRope: ${positions.length} positions for T = ${T} (x ${shapeStr(x.shape)})`);
    pos = positions;
  }
  const { cos, sin } = angleTables(pos, d, base, x.device, key);
  return x.mul(cos).add(matmul(x, rotateHalfMatrix(d, x.device)).mul(sin));
}

/**
 * RoPE on heads side by side: x [B, T, H * d] (as a q or k projection makes it) rotated per head, at
 * positions offset, offset+1, ... The same rotation as `applyRope` on `splitHeads(x, H)`, without moving
 * the heads apart (the tables broadcast over the head axis). Used before `fusedAttention`.
 */
export function applyRopeHeads(x: Tensor, heads: number, offset: number, opts: RopeOpts = {}): Tensor {
  const [B, T, HD] = x.shape;
  if (x.ndim !== 3 || HD % heads !== 0) throw new Error(`applyRopeHeads: x must be [B, T, H * d] with ${heads} heads, got ${shapeStr(x.shape)}`);
  if (!Number.isInteger(offset) || offset < 0) throw new Error(`applyRopeHeads: offset must be a non-negative integer, got ${offset}`);
  const d = HD / heads;
  const { cos, sin } = angleTables(Array.from({ length: T }, (_, t) => offset + t), d, opts.base ?? 10000, x.device, `${offset}+${T}`);
  const xh = x.reshape([B, T, heads, d]);
  const [c, s] = [cos.reshape([T, 1, d]), sin.reshape([T, 1, d])];
  return xh.mul(c).add(matmul(xh, rotateHalfMatrix(d, x.device)).mul(s)).reshape([B, T, HD]);
}

