/**
 * The feed-forward parts of a transformer block. Both end in a Linear named `proj`: the residual output
 * projection, which TransformerLM initialises with the GPT-2 1/sqrt(2 nLayers) scaling.
 *
 *   MLP:     proj(gelu(fc(x)))                 (GELU, tanh form)
 *   SwiGLU:  proj(silu(gate(x)) * up(x))       (Shazeer 2020; as in LLaMA)
 */
import type { Tensor } from '../core/tensor.js';
import type { InitOpts } from './init.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

export interface MlpOpts extends InitOpts {
  /** Biases on the Linear layers (default: true for MLP, false for SwiGLU). */
  bias?: boolean;
}

/**
 * @example
 * const mlp = new MLP(64, 256);
 * mlp.forward(x); // [B, T, 64] -> [B, T, 64]
 */
export class MLP extends Module {
  readonly fc: Linear;
  readonly proj: Linear;
  constructor(dim: number, hidden: number, opts: MlpOpts = {}) {
    super();
    const o = { ...opts, bias: opts.bias ?? true };
    this.fc = this.child('fc', new Linear(dim, hidden, o));
    this.proj = this.child('proj', new Linear(hidden, dim, o));
  }
  forward(x: Tensor): Tensor {
    return this.proj.forward(this.fc.forward(x).gelu());
  }
}

/**
 * @example
 * const ff = new SwiGLU(64, 171);
 * ff.forward(x); // [B, T, 64] -> [B, T, 64]
 */
export class SwiGLU extends Module {
  readonly gate: Linear;
  readonly up: Linear;
  readonly proj: Linear;
  constructor(dim: number, hidden: number, opts: MlpOpts = {}) {
    super();
    const o = { ...opts, bias: opts.bias ?? false };
    this.gate = this.child('gate', new Linear(dim, hidden, o));
    this.up = this.child('up', new Linear(dim, hidden, o));
    this.proj = this.child('proj', new Linear(hidden, dim, o));
  }
  forward(x: Tensor): Tensor {
    return this.proj.forward(this.gate.forward(x).silu().mul(this.up.forward(x)));
  }
}
