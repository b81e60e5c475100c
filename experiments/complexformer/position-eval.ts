/**
 * Perplexity with a per-position breakdown, for length extrapolation: a model trained on windows of T
 * tokens is scored on windows of 2T, and the tokens at window positions >= T (contexts longer than any it
 * was trained on) are reported apart. Windows and scored tokens are those of experiments/train/evaluate.ts
 * (non-overlapping, every token but the first scored once), so the overall number matches `evaluate`.
 */
import { setGradEnabled, Tensor, type Device } from '../../core/index.js';
import { sequentialWindows } from '../data/index.js';
import type { Evaluable } from '../train/evaluate.js';

export interface PositionEval {
  perplexity: number;
  tokens: number;
  /** Summed negative log-likelihood and token count at each window position 0..context-1. */
  nllAt: number[];
  tokensAt: number[];
}

/** exp(mean NLL) over window positions [from, to). */
export function perplexityOver(e: PositionEval, from: number, to = e.nllAt.length): number {
  let nll = 0;
  let n = 0;
  for (let p = from; p < to; p++) {
    nll += e.nllAt[p];
    n += e.tokensAt[p];
  }
  return Math.exp(nll / n);
}

/** Score the first `maxTokens + 1` ids (all when undefined) in windows of `context`. */
export async function evaluateByPosition(model: Evaluable, ids: Int32Array, opts: { context: number; batch: number; maxTokens?: number; device: Device }): Promise<PositionEval> {
  const stream = opts.maxTokens !== undefined && opts.maxTokens + 1 < ids.length ? ids.subarray(0, opts.maxTokens + 1) : ids;
  const C = opts.context;
  const nllAt = new Array<number>(C).fill(0);
  const tokensAt = new Array<number>(C).fill(0);
  const wasTraining = model.training;
  model.train(false);
  const prev = setGradEnabled(false);
  try {
    for (const b of sequentialWindows(stream, C, opts.batch)) {
      const shape = [b.rows, C];
      const x = Tensor.fromValues(b.x, shape, opts.device, 'int32');
      const y = Tensor.fromValues(b.y, shape, opts.device, 'int32');
      const nll = await model.loss(x, y, { reduction: 'none' }).toArray();
      for (let i = 0; i < nll.length; i++) {
        if (b.mask[i] === 0) continue;
        nllAt[i % C] += nll[i];
        tokensAt[i % C] += 1;
      }
    }
  } finally {
    setGradEnabled(prev);
    model.train(wasTraining);
  }
  const e = { perplexity: 0, tokens: tokensAt.reduce((a, b) => a + b, 0), nllAt, tokensAt };
  e.perplexity = perplexityOver(e, 0);
  return e;
}
