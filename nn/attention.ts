/**
 * Causal multi-head self-attention, the pieces it is made of, and the seam for other attention kinds.
 *
 *   q, k, v = x Wq, x Wk, x Wv          split into H heads of size d_k = d / H   ([B, H, T, d_k])
 *   q, k    = rope(q, pos), rope(k, pos)  (positions: 'rope'; with 'learned' the LM adds positions)
 *   y       = softmax(q k^T / sqrt(d_k) + causal mask) v,  heads merged, then the output projection `proj`
 *
 * KV cache: `forward(x, { cache })` appends this call's (rotated) keys and values to the cache and lets the
 * new queries attend to everything cached; positions continue from `cache.length`. A generator then feeds
 * one token per step instead of the whole sequence.
 *
 * The seam: TransformerLM builds each layer's attention with an `AttentionFactory (cfg, layerIndex)`; any
 * Module with `forward(x [B, T, d], { cache? }) -> [B, T, d]` fits (e.g. complex-valued attention, which
 * reuses `causalAttention`, `splitHeads`, `mergeHeads` and the KVCache from here).
 */
import type { Device } from '../core/device.js';
import { overrideFor } from '../core/devices/overrides.js';
import { Generator, globalGenerator } from '../core/rng.js';
import { shapeStr } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { cat, causalSoftmax, dropout, fusedAttention, matmul } from '../ops/index.js';
import { mergeHeads, splitHeads } from '../ops/attention.js';
import { Linear } from './linear.js';
import { ConstantCache } from './constants.js';
import { Module } from './module.js';
import { applyRope, applyRopeHeads } from './rope.js';

// the head split and merge live beside fusedAttention, whose composed backward uses them too
export { mergeHeads, splitHeads };

/** What a factory gets to build one layer's attention. */
export interface AttentionConfig {
  dModel: number;
  nHeads: number;
  contextLength: number;
  /** 'rope': rotate q and k inside attention; 'learned': plain attention (the LM adds position vectors). */
  positions: 'rope' | 'learned';
  ropeBase: number;
  /** Dropout on the attention weights. */
  dropout: number;
  /** Biases on the q, k, v and output projections. */
  bias: boolean;
  /** For initial weights. */
  generator: Generator;
  /** For dropout masks. */
  dropoutGenerator: Generator;
}

export interface AttentionForwardOpts {
  cache?: KVCache;
}

/** Any attention: maps [B, T, d] to [B, T, d], causally, optionally through a KV cache. */
export interface AttentionModule extends Module {
  forward(x: Tensor, opts?: AttentionForwardOpts): Tensor;
}

export type AttentionFactory = (cfg: AttentionConfig, layerIndex: number) => AttentionModule;

/** One layer's cached keys and values, [B, H, T_cached, d_k] each (whatever the attention chose to cache). */
export class KVCache {
  k: Tensor | null = null;
  v: Tensor | null = null;
  /** Number of cached positions: the position of the next token. */
  get length(): number {
    return this.k ? this.k.shape[this.k.ndim - 2] : 0;
  }
  /** Add new keys and values along the time axis; returns all of them. */
  append(k: Tensor, v: Tensor): [Tensor, Tensor] {
    this.k = this.k ? cat([this.k, k], -2) : k;
    this.v = this.v ? cat([this.v, v], -2) : v;
    return [this.k, this.v];
  }
  reset(): void {
    this.k = this.v = null;
  }
}

const masks = new ConstantCache();

/** [Tq, Tk] with 1 where query i (at absolute position offset + i) must not see key j (j > offset + i). */
export function causalMaskAt(Tq: number, Tk: number, offset: number, dev: Device): Tensor {
  return masks.get(`${dev.name}|${Tq}|${Tk}|${offset}`, () => {
    const v = new Float64Array(Tq * Tk);
    for (let i = 0; i < Tq; i++) for (let j = 0; j < Tk; j++) v[i * Tk + j] = j > offset + i ? 1 : 0;
    return Tensor.fromValues(v, [Tq, Tk], dev);
  });
}

export interface CausalAttentionOpts {
  /** Absolute position of the first query minus that of the first key (default Tk - Tq: queries come last). */
  offset?: number;
  /** Multiplies q k^T (default 1/sqrt(d_k)). */
  scale?: number;
  dropout?: number;
  training?: boolean;
  generator?: Generator;
}

/**
 * softmax(q k^T * scale, masked causally) v for q [..., Tq, d_k], k [..., Tk, d_k], v [..., Tk, d_v].
 * Masked weights are exactly 0 (`causalSoftmax`; every query sees at least its own key).
 * @example
 * const y = causalAttention(q, k, v); // [B, H, T, d_k]
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, opts: CausalAttentionOpts = {}): Tensor {
  const Tq = q.shape[q.ndim - 2];
  const Tk = k.shape[k.ndim - 2];
  const dk = q.shape[q.ndim - 1];
  const offset = opts.offset ?? Tk - Tq;
  if (offset < 0 || offset + Tq > Tk) {
    throw new Error(`causalAttention: queries at positions ${offset}..${offset + Tq - 1} need keys up to there, got ${Tk} keys (q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)})`);
  }
  const scale = opts.scale ?? 1 / Math.sqrt(dk);
  const s = matmul(scale === 1 ? q : q.mul(scale), k, { transB: true }); // [..., Tq, Tk]
  // a query that sees every key needs no mask (the last query; every step of cached generation)
  let p = offset < Tk - 1 ? causalSoftmax(s, offset) : s.softmax(-1);
  if (opts.dropout) p = dropout(p, opts.dropout, opts.training ?? true, opts.generator ?? globalGenerator);
  return matmul(p, v);
}

export type CausalSelfAttentionOpts = Pick<AttentionConfig, 'dModel' | 'nHeads'> & Partial<AttentionConfig> & {
  /**
   * Run the attention itself as one op, `fusedAttention`, whenever it computes the same thing: no KV cache
   * and no attention dropout in play (eval mode, or dropout 0). 'auto' (default): where the device runs
   * fusedAttention's kernels by a registered fast implementation (webasm and cpu: WebAssembly SIMD per head);
   * elsewhere (webgpu, WebGL) its kernels are the plain one-thread-per-value ones, not measured against the
   * composition of ops below, which then runs (`causalAttention` between `splitHeads` and `mergeHeads`).
   * true: wherever it computes the same thing; false: never.
   */
  fused?: boolean | 'auto';
};

/**
 * Causal multi-head self-attention with RoPE (default) or without positions ('learned': the LM adds them).
 * Parameters: q, k, v and proj, each Linear(d, d).
 * @example
 * const attn = new CausalSelfAttention({ dModel: 64, nHeads: 4 });
 * attn.forward(x); // [B, T, 64] -> [B, T, 64]
 */
export class CausalSelfAttention extends Module implements AttentionModule {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly proj: Linear;
  readonly nHeads: number;
  readonly headDim: number;
  readonly rope: boolean;
  readonly ropeBase: number;
  readonly dropoutP: number;
  readonly fused: boolean | 'auto';
  private readonly dropoutGen: Generator;

  constructor(cfg: CausalSelfAttentionOpts) {
    super();
    const { dModel: d, nHeads: H } = cfg;
    if (!Number.isInteger(H) || H <= 0 || !Number.isInteger(d) || d % H !== 0) {
      throw new Error(`CausalSelfAttention: dModel ${d} must be divisible by nHeads ${H}`);
    }
    this.nHeads = H;
    this.headDim = d / H;
    this.rope = (cfg.positions ?? 'rope') === 'rope';
    if (this.rope && this.headDim % 2 !== 0) throw new Error(`CausalSelfAttention: RoPE needs an even head size, got d_k = ${d} / ${H} = ${this.headDim}`);
    this.ropeBase = cfg.ropeBase ?? 10000;
    this.dropoutP = cfg.dropout ?? 0;
    this.dropoutGen = cfg.dropoutGenerator ?? globalGenerator;
    this.fused = cfg.fused ?? 'auto';
    const lin = { bias: cfg.bias ?? true, generator: cfg.generator };
    this.q = this.child('q', new Linear(d, d, lin));
    this.k = this.child('k', new Linear(d, d, lin));
    this.v = this.child('v', new Linear(d, d, lin));
    this.proj = this.child('proj', new Linear(d, d, lin));
  }

  forward(x: Tensor, opts: AttentionForwardOpts = {}): Tensor {
    const cache = opts.cache;
    const fused = this.fused === 'auto' ? overrideFor(x.device.name, 'attnForward') !== null : this.fused;
    if (fused && !cache && !(this.dropoutP > 0 && this.training)) {
      // the same attention as below in one op, heads left side by side (no split/merge copies)
      let q = this.q.forward(x);
      let k = this.k.forward(x);
      if (this.rope) {
        q = applyRopeHeads(q, this.nHeads, 0, { base: this.ropeBase });
        k = applyRopeHeads(k, this.nHeads, 0, { base: this.ropeBase });
      }
      return this.proj.forward(fusedAttention(q, k, this.v.forward(x), { heads: this.nHeads }));
    }
    const offset = cache ? cache.length : 0;
    let q = splitHeads(this.q.forward(x), this.nHeads);
    let k = splitHeads(this.k.forward(x), this.nHeads);
    let v = splitHeads(this.v.forward(x), this.nHeads);
    if (this.rope) {
      q = applyRope(q, offset, { base: this.ropeBase });
      k = applyRope(k, offset, { base: this.ropeBase });
    }
    if (cache) [k, v] = cache.append(k, v);
    const y = causalAttention(q, k, v, { offset, dropout: this.dropoutP, training: this.training, generator: this.dropoutGen });
    return this.proj.forward(mergeHeads(y));
  }
}
