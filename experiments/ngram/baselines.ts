/**
 * The Kneser-Ney rows of every report: interpolated modified Kneser-Ney of each order, trained on the train
 * split and scored on exactly the validation and test tokens the neural model was scored on.
 */
import { KneserNey } from './kneser-ney.js';

export interface KneserNeyBaseline {
  order: number;
  valid: number;
  test: number;
}

/**
 * Perplexities of n-gram baselines. `valid`/`test` are the scored streams (their first token is context
 * only, as in the neural evaluation: `skipFirst`).
 *
 * @example
 * kneserNeyBaselines({ train: corpus.train, valid: corpus.valid.subarray(0, 4097), test, vocabSize: V });
 * // [{ order: 3, valid: 171.2, test: 180.4 }, { order: 5, ... }]
 */
export function kneserNeyBaselines(
  d: { train: ArrayLike<number>; valid: ArrayLike<number>; test: ArrayLike<number>; vocabSize: number },
  orders: readonly number[] = [3, 5],
): KneserNeyBaseline[] {
  return orders.map((order) => {
    const lm = KneserNey.train(d.train, order, d.vocabSize);
    return { order, valid: lm.perplexity(d.valid, { skipFirst: true }).perplexity, test: lm.perplexity(d.test, { skipFirst: true }).perplexity };
  });
}
