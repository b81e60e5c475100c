/**
 * Linear: y = x W^T + b, with W stored [out, in] as in PyTorch: the op `linear` (ops/matmul.ts), one matmul
 * kernel call with the bias added in the same pass (W is read transposed through strides, never copied).
 */
import { shapeStr } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { linear } from '../ops/index.js';
import * as init from './init.js';
import { Module } from './module.js';

export interface LinearOpts extends init.InitOpts {
  /** Add a learned bias (default true). */
  bias?: boolean;
}

/**
 * Affine map from `inFeatures` to `outFeatures`; weights start as PyTorch's, U(-1/sqrt(in), 1/sqrt(in)).
 * @example
 * const fc = new Linear(64, 256);
 * const y = fc.forward(x); // x [B, T, 64] -> y [B, T, 256]
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LinearOpts = {}) {
    super();
    for (const [n, v] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new Error(`Linear: ${n} must be a positive integer, got ${v}`);
    }
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.param('weight', init.uniform([outFeatures, inFeatures], { ...opts, low: -bound, high: bound }));
    this.bias = opts.bias === false ? null : this.param('bias', init.uniform([outFeatures], { ...opts, low: -bound, high: bound }));
  }

  forward(x: Tensor): Tensor {
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new Error(`Linear(${this.inFeatures} -> ${this.outFeatures}): input ${shapeStr(x.shape)} must end in ${this.inFeatures}`);
    }
    return linear(x, this.weight, this.bias);
  }
}
