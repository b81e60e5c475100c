/**
 * Dropout as a module: active in training mode, the identity in eval mode. Its mask comes from its own
 * seeded Generator, so a run with the same seed drops the same units.
 */
import { Generator, globalGenerator } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';
import { dropout } from '../ops/index.js';
import { Module } from './module.js';

/**
 * @example
 * const drop = new Dropout(0.1, new Generator(0));
 * drop.forward(x);          // training: zeros ~10%, scales the rest by 1/0.9
 * drop.eval().forward(x);   // x itself
 */
export class Dropout extends Module {
  constructor(readonly p: number, readonly generator: Generator = globalGenerator) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.generator);
  }
}
