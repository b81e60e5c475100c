/**
 * Complex multi-head attention (CMHA, from ComplexFormer), causal, computed in the factorised form.
 *
 * Each head vector of size d_k is read as d_k/2 complex numbers, half-split: z_i = x[i] + i x[i + d_k/2]
 * (the pairing nn/rope.ts uses). For a query at position m and a key at position n, per head,
 *
 *     s_mn = sum_i |q_i| |k_i| cos(delta_i (phi_q,i - phi_k,i) + b_i + (m - n) theta_i)
 *
 * with |z| = sqrt(re^2 + im^2 + 1e-9), phi = atan2(im, re), learnable delta and b (H x d_k/2 each) and the
 * RoPE angles theta_i = base^(-2i/d_k). Since cos(a - c) = cos a cos c + sin a sin c, the score is an
 * ordinary dot product of two rotated vectors (no T x T x d_k tensor is ever built):
 *
 *     q'_i = |q_i| [cos psi_q,i | sin psi_q,i],  psi_q = delta phi_q + b + m theta
 *     k'_i = |k_i| [cos psi_k,i | sin psi_k,i],  psi_k = delta phi_k + n theta
 *     s = q' . k'   (then the optional 1/sqrt(d_k) scale, the causal mask, softmax, times the real v)
 *
 * With delta = 1 and b = 0, q' is RoPE's rotation of q (up to the 1e-9), so CMHA starts as RoPE attention.
 * Unlike the official code, this path is causal; the scale is an option (the official code has none).
 * The KV cache stores rotated keys k' (as RoPE attention stores rotated keys), so sampling needs no
 * recomputation.
 */
import type { Device } from '../core/device.js';
import { Generator, globalGenerator } from '../core/rng.js';
import { shapeStr } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { complexAbs, complexAngle } from '../ops/complex.js';
import { cat, matmul } from '../ops/index.js';
import { causalAttention, mergeHeads, splitHeads, type AttentionConfig, type AttentionFactory, type AttentionForwardOpts, type AttentionModule } from './attention.js';
import * as init from './init.js';
import { Linear } from './linear.js';
import { ConstantCache } from './constants.js';
import { Module } from './module.js';
import { ropeFrequencies } from './rope.js';

const angleTables = new ConstantCache();

/** [T, d/2] of (offset + t) theta_i: the position part of the phase. */
function positionAngles(T: number, offset: number, d: number, base: number, dev: Device): Tensor {
  return angleTables.get(`${dev.name}|${T}|${offset}|${d}|${base}`, () => {
    const theta = ropeFrequencies(d, base);
    const h = d / 2;
    const v = new Float64Array(T * h);
    for (let t = 0; t < T; t++) for (let i = 0; i < h; i++) v[t * h + i] = (offset + t) * theta[i];
    return Tensor.fromValues(v, [T, h], dev);
  });
}

export interface ComplexRotateOpts {
  /** Position of the first row (default 0). */
  offset?: number;
  /** RoPE base (default 10000). */
  base?: number;
}

/**
 * One side of the factorised score: x [..., T, d_k] (half-split re | im) ->
 * |x_i| [cos psi_i | sin psi_i] with psi = delta * angle(x_i) + shift + pos * theta_i.
 * `delta` and `shift` broadcast against [..., T, d_k/2] (per head: [H, 1, d_k/2]); shift may be null.
 * @example
 * const q2 = complexRotate(q, delta, bias, { offset: 0 }); // q [B, H, T, d_k], delta and bias [H, 1, d_k/2]
 */
export function complexRotate(x: Tensor, delta: Tensor, shift: Tensor | null, opts: ComplexRotateOpts = {}): Tensor {
  const d = x.shape[x.ndim - 1];
  if (x.ndim < 2 || d % 2 !== 0) throw new Error(`complexRotate: x must be [..., T, d_k] with d_k even, got ${shapeStr(x.shape)}`);
  const T = x.shape[x.ndim - 2];
  const h = d / 2;
  const re = x.narrow(-1, 0, h);
  const im = x.narrow(-1, h, h);
  const angles = positionAngles(T, opts.offset ?? 0, d, opts.base ?? 10000, x.device);
  const psi = complexAngle(re, im).mul(delta).add(shift ? shift.add(angles) : angles);
  const r = complexAbs(re, im);
  return cat([r.mul(psi.cos()), r.mul(psi.sin())], -1);
}

/**
 * CMHA scores [..., Tq, Tk] (unscaled, unmasked) of q [..., Tq, d_k] at positions qOffset.. and k [..., Tk, d_k]
 * at positions kOffset.., in the factorised form: one batched matmul of the rotated q and k.
 */
export function complexScores(q: Tensor, k: Tensor, delta: Tensor, bias: Tensor | null, opts: { qOffset?: number; kOffset?: number; base?: number } = {}): Tensor {
  const qr = complexRotate(q, delta, bias, { offset: opts.qOffset, base: opts.base });
  const kr = complexRotate(k, delta, null, { offset: opts.kOffset, base: opts.base });
  return matmul(qr, kr, { transB: true });
}

export interface ComplexAttentionOptions {
  /** delta's initial value: 'normal' draws N(0, std 1/sqrt(d_k/2)) (the official code's), 'one' sets 1 (default 'normal'). */
  deltaInit?: 'normal' | 'one';
  /** Multiply scores by 1/sqrt(d_k) (default true; the official code does not). */
  scale?: boolean;
  /** Draws delta when deltaInit is 'normal' (default: the config's generator). */
  deltaGenerator?: Generator;
}

export type ComplexAttentionOpts = Pick<AttentionConfig, 'dModel' | 'nHeads'> & Partial<AttentionConfig> & ComplexAttentionOptions;

/**
 * Causal complex multi-head attention. Parameters: q, k, v and proj (Linear(d, d) each, as
 * CausalSelfAttention, so the LM's GPT-2 init treats them alike) plus `delta` and `phaseBias`, H x d_k/2
 * each, stored flat ([H * d_k/2]) so that an optimizer that decays only matrices leaves them alone, like
 * biases and gains. That is d extra parameters per layer.
 * @example
 * const attn = new ComplexAttention({ dModel: 64, nHeads: 4, deltaInit: 'one' });
 * attn.forward(x); // [B, T, 64] -> [B, T, 64]
 */
export class ComplexAttention extends Module implements AttentionModule {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly proj: Linear;
  /** delta[h, i], flat. */
  readonly delta: Tensor;
  /** b[h, i], flat. */
  readonly phaseBias: Tensor;
  readonly nHeads: number;
  readonly headDim: number;
  readonly ropeBase: number;
  readonly scaled: boolean;
  readonly dropoutP: number;
  private readonly dropoutGen: Generator;

  constructor(cfg: ComplexAttentionOpts) {
    super();
    const { dModel: d, nHeads: H } = cfg;
    if (!Number.isInteger(H) || H <= 0 || !Number.isInteger(d) || d % H !== 0 || (d / H) % 2 !== 0) {
      throw new Error(`ComplexAttention: dModel ${d} must split into nHeads ${H} heads of even size (d_k = d / H holds d_k/2 complex numbers)`);
    }
    if ((cfg.positions ?? 'rope') !== 'rope') {
      throw new Error(`ComplexAttention: positions must be 'rope' (its phases carry the RoPE angles), got '${cfg.positions}'`);
    }
    const deltaInit = cfg.deltaInit ?? 'normal';
    if (deltaInit !== 'normal' && deltaInit !== 'one') throw new Error(`ComplexAttention: deltaInit must be 'normal' or 'one', got '${String(deltaInit)}'`);
    this.nHeads = H;
    this.headDim = d / H;
    this.ropeBase = cfg.ropeBase ?? 10000;
    this.scaled = cfg.scale ?? true;
    this.dropoutP = cfg.dropout ?? 0;
    this.dropoutGen = cfg.dropoutGenerator ?? globalGenerator;
    const lin = { bias: cfg.bias ?? true, generator: cfg.generator };
    this.q = this.child('q', new Linear(d, d, lin));
    this.k = this.child('k', new Linear(d, d, lin));
    this.v = this.child('v', new Linear(d, d, lin));
    this.proj = this.child('proj', new Linear(d, d, lin));
    const n = (H * this.headDim) / 2;
    const gen = cfg.deltaGenerator ?? cfg.generator;
    this.delta = this.param('delta', deltaInit === 'one' ? init.ones([n]) : init.normal([n], { std: 1 / Math.sqrt(this.headDim / 2), generator: gen }));
    this.phaseBias = this.param('phaseBias', init.zeros([n]));
  }

  forward(x: Tensor, opts: AttentionForwardOpts = {}): Tensor {
    const cache = opts.cache;
    const offset = cache ? cache.length : 0;
    const H = this.nHeads;
    const shape = [H, 1, this.headDim / 2];
    const delta = this.delta.reshape(shape);
    const rotate = { offset, base: this.ropeBase };
    const q = complexRotate(splitHeads(this.q.forward(x), H), delta, this.phaseBias.reshape(shape), rotate);
    let k = complexRotate(splitHeads(this.k.forward(x), H), delta, null, rotate);
    let v = splitHeads(this.v.forward(x), H);
    if (cache) [k, v] = cache.append(k, v);
    const y = causalAttention(q, k, v, {
      offset, scale: this.scaled ? 1 / Math.sqrt(this.headDim) : 1, dropout: this.dropoutP, training: this.training, generator: this.dropoutGen,
    });
    return this.proj.forward(mergeHeads(y));
  }
}

/**
 * The TransformerLM seam: `new TransformerLM({ ..., attention: complexAttention({ deltaInit: 'one' }) })`.
 * With `seed`, delta is drawn from its own generator per layer, so the other weights are exactly those of
 * an LM with the default attention and the same seed.
 */
export function complexAttention(opts: ComplexAttentionOptions & { seed?: number } = {}): AttentionFactory {
  const { seed, ...rest } = opts;
  return (cfg, layer) => new ComplexAttention({ ...cfg, ...rest, deltaGenerator: seed === undefined ? rest.deltaGenerator : new Generator(seed * 1009 + 7919 * (layer + 1)) });
}
