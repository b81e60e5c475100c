/**
 * Perplexity on a token stream: non-overlapping windows, every token but the first scored exactly once
 * (see experiments/data/batches.ts), summed negative log-likelihood / scored tokens.
 */
import { noGrad, setGradEnabled, Tensor } from '../../core/index.js';
import { sequentialWindows } from '../data/index.js';
import type { LossFn, LossOpts } from '../../nn/index.js';

export interface Evaluable {
  loss(ids: Tensor, targets: Tensor, opts?: LossOpts): Tensor;
  forward(ids: Tensor): Tensor;
  train(on?: boolean): unknown;
  training: boolean;
}

export interface EvalResult {
  nll: number;
  tokens: number;
  perplexity: number;
}

/**
 * Perplexity of `model` on `ids` (the first `maxTokens + 1` of them when given). It scores with the model's
 * own loss (right for output heads whose loss is the exact likelihood, e.g. VQ-Logits); a model trained
 * with a weighted loss (PDL) must pass `score: crossEntropyLoss` so that perplexity stays unweighted.
 */
export async function evaluate(
  model: Evaluable,
  ids: Int32Array,
  opts: { context: number; batch: number; maxTokens?: number; device: Tensor['device']; score?: LossFn },
): Promise<EvalResult> {
  const stream = opts.maxTokens !== undefined && opts.maxTokens + 1 < ids.length ? ids.subarray(0, opts.maxTokens + 1) : ids;
  const wasTraining = model.training;
  model.train(false);
  const prev = setGradEnabled(false);
  let nll = 0;
  let tokens = 0;
  try {
    for (const b of sequentialWindows(stream, opts.context, opts.batch)) {
      const shape = [b.rows, b.context];
      const x = Tensor.fromValues(b.x, shape, opts.device, 'int32');
      const y = Tensor.fromValues(b.y, shape, opts.device, 'int32');
      const lossOpts: LossOpts = { weights: Tensor.fromValues(b.mask, shape, opts.device), reduction: 'sum' };
      const score = opts.score;
      const loss = noGrad(() => (score ? score(model.forward(x), y, lossOpts) : model.loss(x, y, lossOpts)));
      nll += await loss.item();
      for (let i = 0; i < b.mask.length; i++) tokens += b.mask[i];
    }
  } finally {
    setGradEnabled(prev);
    model.train(wasTraining);
  }
  return { nll, tokens, perplexity: Math.exp(nll / tokens) };
}
