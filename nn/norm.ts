/**
 * Normalisation layers, composed from primitive ops (so autograd derives their backward):
 *
 *   LayerNorm:  y = (x - mean(x)) / sqrt(var(x) + eps) * w + b      (biased variance, over the last dim)
 *   RMSNorm:    y = x / sqrt(mean(x^2) + eps) * w
 */
import { shapeStr } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import * as init from './init.js';
import { Module } from './module.js';

function checkLast(op: string, x: Tensor, d: number): void {
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== d) throw new Error(`${op}: input ${shapeStr(x.shape)} must end in ${d}`);
}

/** Functional layer norm over the last dim; `weight`/`bias` of shape [d] or null. */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const mu = x.mean(-1, true);
  const xc = x.sub(mu);
  let y = xc.mul(xc.square().mean(-1, true).add(eps).rsqrt());
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}

/** Functional RMS norm over the last dim. */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-5): Tensor {
  const y = x.mul(x.square().mean(-1, true).add(eps).rsqrt());
  return weight ? y.mul(weight) : y;
}

/**
 * @example
 * const ln = new LayerNorm(64);
 * ln.forward(x); // x [B, T, 64]
 */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly dim: number, readonly eps = 1e-5, opts: init.InitOpts & { bias?: boolean } = {}) {
    super();
    if (!Number.isInteger(dim) || dim <= 0) throw new Error(`LayerNorm: dim must be a positive integer, got ${dim}`);
    this.weight = this.param('weight', init.ones([dim], opts));
    this.bias = opts.bias === false ? null : this.param('bias', init.zeros([dim], opts));
  }
  forward(x: Tensor): Tensor {
    checkLast(`LayerNorm(${this.dim})`, x, this.dim);
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/**
 * @example
 * const n = new RMSNorm(64);
 * n.forward(x); // x [B, T, 64]
 */
export class RMSNorm extends Module {
  readonly weight: Tensor;
  constructor(readonly dim: number, readonly eps = 1e-5, opts: init.InitOpts = {}) {
    super();
    if (!Number.isInteger(dim) || dim <= 0) throw new Error(`RMSNorm: dim must be a positive integer, got ${dim}`);
    this.weight = this.param('weight', init.ones([dim], opts));
  }
  forward(x: Tensor): Tensor {
    checkLast(`RMSNorm(${this.dim})`, x, this.dim);
    return rmsNorm(x, this.weight, this.eps);
  }
}
