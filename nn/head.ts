/**
 * Output heads: the seam between the transformer's hidden states [B, T, d] and the loss. The default is a
 * full V x d linear map to logits, optionally tied to the token embedding (h E^T, sharing E's storage).
 * Other heads (e.g. a VQ codebook head) plug in through a `HeadFactory`.
 */
import type { Generator } from '../core/rng.js';
import { shapeStr } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { matmul } from '../ops/index.js';
import type { Embedding } from './embedding.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

/** Any head: `forward` gives what the loss consumes; `logits` (optional) gives [B, T, V] for sampling. */
export interface HeadModule extends Module {
  forward(h: Tensor): Tensor;
  /** Next-token logits for generation and evaluation, when `forward` returns something else. */
  logits?(h: Tensor): Tensor;
}

/** What a head factory gets. */
export interface HeadConfig {
  vocabSize: number;
  dModel: number;
  /** The LM's token embedding (for weight tying or initialising from it). */
  tokenEmbedding: Embedding;
  tieEmbeddings: boolean;
  generator: Generator;
}

export type HeadFactory = (cfg: HeadConfig) => HeadModule;

/**
 * Logits h E^T with E the token embedding [V, d]. E is not registered here (it belongs to the embedding),
 * so it appears once in parameters and state dicts.
 * @example
 * const head = new TiedHead(emb);
 * head.forward(h); // [B, T, d] -> [B, T, V]
 */
export class TiedHead extends Module implements HeadModule {
  constructor(readonly embedding: Embedding) {
    super();
  }
  forward(h: Tensor): Tensor {
    const E = this.embedding.weight;
    const [V, d] = E.shape;
    if (h.shape[h.ndim - 1] !== d) throw new Error(`TiedHead: hidden ${shapeStr(h.shape)} must end in ${d}`);
    return matmul(h.reshape([-1, d]), E, { transB: true }).reshape([...h.shape.slice(0, -1), V]);
  }
}

/** The default head: full linear V x d (no bias, as GPT-2), or tied to the embedding. */
export const fullHead: HeadFactory = (cfg) =>
  cfg.tieEmbeddings ? new TiedHead(cfg.tokenEmbedding) : new Linear(cfg.dModel, cfg.vocabSize, { bias: false, generator: cfg.generator });
