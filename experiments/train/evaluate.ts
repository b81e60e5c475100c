/**
 * Perplexity on a token stream: non-overlapping windows, every token but the first scored exactly once
 * (see experiments/data/batches.ts), summed negative log-likelihood / scored tokens.
 */
import { noGrad, setGradEnabled, Tensor } from '../../core/index.js';
import { sequentialWindows } from '../data/index.js';
import type { LossOpts } from '../../nn/index.js';

export interface Evaluable {
  loss(ids: Tensor, targets: Tensor, opts?: LossOpts): Tensor;
  train(on?: boolean): unknown;
  training: boolean;
}

export interface EvalResult {
  nll: number;
  tokens: number;
  perplexity: number;
}

/** Perplexity of `model` on `ids` (the first `maxTokens + 1` of them when given). */
export async function evaluate(model: Evaluable, ids: Int32Array, opts: { context: number; batch: number; maxTokens?: number; device: Tensor['device'] }): Promise<EvalResult> {
  const stream = opts.maxTokens !== undefined && opts.maxTokens + 1 < ids.length ? ids.subarray(0, opts.maxTokens + 1) : ids;
  const wasTraining = model.training;
  model.train(false);
  const prev = setGradEnabled(false);
  let nll = 0;
  let tokens = 0;
  try {
    for (const b of sequentialWindows(stream, opts.context, opts.batch)) {
      const shape = [b.rows, b.context];
      const loss = noGrad(() =>
        model.loss(
          Tensor.fromValues(b.x, shape, opts.device, 'int32'),
          Tensor.fromValues(b.y, shape, opts.device, 'int32'),
          { weights: Tensor.fromValues(b.mask, shape, opts.device), reduction: 'sum' },
        ),
      );
      nll += await loss.item();
      for (let i = 0; i < b.mask.length; i++) tokens += b.mask[i];
    }
  } finally {
    setGradEnabled(prev);
    model.train(wasTraining);
  }
  return { nll, tokens, perplexity: Math.exp(nll / tokens) };
}
