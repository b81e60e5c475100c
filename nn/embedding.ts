/**
 * Embedding: a table of V vectors of size d, looked up by integer id (rows of the weight [V, d]).
 */
import { shapeStr } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { embedding } from '../ops/index.js';
import * as init from './init.js';
import { Module } from './module.js';

/**
 * Check ids (int32) against a table of `size` rows now when their values are on the host; on async devices
 * the lookup op checks them when they arrive. `what` names the table in the error.
 */
export function checkIds(op: string, ids: Tensor, size: number, what: string): void {
  if (ids.dtype !== 'int32') {
    throw new Error(`${op}: ids must have dtype int32, got ${ids.dtype} (shape ${shapeStr(ids.shape)}); make them with tensor(ids, shape, { dtype: 'int32' })`);
  }
  if (ids._data instanceof Promise) return;
  const d = ids._data;
  for (let i = 0; i < d.length; i++) {
    if (!(d[i] >= 0 && d[i] < size)) {
      const at = ids.ndim > 1 ? ` at [${unravel(i, ids.shape).join(', ')}]` : ` at position ${i}`;
      throw new Error(`${op}: id ${d[i]}${at} is out of range for ${what} ${size} (valid ids: 0..${size - 1})`);
    }
  }
}

function unravel(i: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    out[k] = i % shape[k];
    i = Math.floor(i / shape[k]);
  }
  return out;
}

/**
 * `numEmbeddings` vectors of size `dim`, initialised N(0, 1) as in PyTorch.
 * @example
 * const emb = new Embedding(1000, 64);
 * emb.forward(tensor([[1, 2, 3]], [1, 3], { dtype: 'int32' })); // [1, 3, 64]
 */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly dim: number, opts: init.InitOpts = {}) {
    super();
    for (const [n, v] of [['numEmbeddings', numEmbeddings], ['dim', dim]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new Error(`Embedding: ${n} must be a positive integer, got ${v}`);
    }
    this.weight = this.param('weight', init.normal([numEmbeddings, dim], opts));
  }

  /** ids of any shape (int32) -> [...ids.shape, dim]. */
  forward(ids: Tensor): Tensor {
    checkIds(`Embedding(${this.numEmbeddings}, ${this.dim})`, ids, this.numEmbeddings, 'an embedding table of size V =');
    return embedding(ids, this.weight);
  }
}
