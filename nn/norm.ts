/**
 * Normalisation layers over the last dim; the functional ops and their fused kernels live in ops/norm.ts:
 *
 *   LayerNorm:  y = (x - mean(x)) / sqrt(var(x) + eps) * w + b      (biased variance)
 *   RMSNorm:    y = x / sqrt(mean(x^2) + eps) * w
 */
import { shapeStr } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { layerNorm, rmsNorm } from '../ops/norm.js';
import * as init from './init.js';
import { Module } from './module.js';

export { layerNorm, rmsNorm };

function checkLast(op: string, x: Tensor, d: number): void {
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== d) throw new Error(`${op}: input ${shapeStr(x.shape)} must end in ${d}`);
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
