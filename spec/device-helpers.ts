/** Device-test helpers: gradients of sum(y * w) for given weights, on whatever device y lives. */
import { Tensor } from '../core/index.js';
import { propagate } from '../core/autograd.js';

export { destroyDevices, probeWebGpu } from '../core/index.js';
export type { Tensor };

export function propagateFor(y: Tensor, weights: number[], xs: Tensor[]): (Tensor | null)[] {
  const seed = Tensor.fromValues(weights, y.shape, y.device);
  const grads = propagate(y, seed, false);
  return xs.map((x) => (x.requiresGrad ? grads.get(x) ?? x.zerosLike() : null));
}
