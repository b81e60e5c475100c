/**
 * A small bounded cache for constant tensors that layers rebuild from shapes (causal masks, RoPE angle
 * tables): made once per key, dropped wholesale when the cache grows past its bound.
 */
import { pinArray } from '../core/pool.js';
import type { Tensor } from '../core/tensor.js';

export class ConstantCache {
  private map = new Map<string, Tensor>();
  constructor(private readonly bound = 256) {}

  /** The tensor for `key`, made by `make` the first time. */
  get(key: string, make: () => Tensor): Tensor {
    let t = this.map.get(key);
    if (!t) {
      t = make();
      pinArray(t._data); // a cached constant is read for the life of the process: never recycled
      if (this.map.size >= this.bound) this.map.clear();
      this.map.set(key, t);
    }
    return t;
  }
}
