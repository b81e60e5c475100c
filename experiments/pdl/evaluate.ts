/**
 * Held-out scoring for the PDL study: perplexity overall and per frequency bucket, plus top-k accuracy per
 * bucket. Always plain cross-entropy of the model's logits, whatever loss the model trains with (a model
 * built with PDL in its loss seam would otherwise report a weighted objective as "perplexity").
 *
 * Buckets rank the vocabulary by the finetuning set's target counts (the same counts PDL weights by):
 * ranks 0-99 'top100', 100-999 'mid', the rest (unseen words included) 'rare'; `<unk>` (id 0) is not a word
 * and gets its own bucket 'unk'. Windows as in experiments/train/evaluate.ts: non-overlapping, every token
 * but the first scored once.
 */
import { crossEntropy, noGrad, setGradEnabled, Tensor, type Device } from '../../core/index.js';
import type { TransformerLM } from '../../nn/index.js';
import { sequentialWindows } from '../data/index.js';

export const BUCKETS = ['top100', 'mid', 'rare', 'unk'] as const;
export type Bucket = (typeof BUCKETS)[number];
export const BUCKET_LABELS: Record<Bucket, string> = { top100: 'top-100 words', mid: 'ranks 100-999', rare: 'rank >= 1000 (rare)', unk: '<unk>' };

/**
 * Bucket of every id from target counts: ids 1.. ranked by count (ties: lower id first, i.e. the
 * pretraining corpus's frequency order), id 0 is `<unk>`.
 */
export function bucketsFromCounts(counts: ArrayLike<number>, unkId = 0): Bucket[] {
  const ids = Array.from({ length: counts.length }, (_, i) => i).filter((i) => i !== unkId);
  ids.sort((a, b) => counts[b] - counts[a] || a - b);
  const out = new Array<Bucket>(counts.length);
  ids.forEach((id, rank) => (out[id] = rank < 100 ? 'top100' : rank < 1000 ? 'mid' : 'rare'));
  out[unkId] = 'unk';
  return out;
}

export interface BucketScore {
  tokens: number;
  perplexity: number;
  /** Share of positions whose target is among the model's k most likely tokens. */
  topK: number;
}

export interface HeldOutScore {
  tokens: number;
  perplexity: number;
  topK: number;
  k: number;
  buckets: Record<Bucket, BucketScore>;
  /** Every word position, i.e. all but <unk> (top100 + mid + rare). */
  words: BucketScore;
}

/** Perplexity and top-k accuracy of `model` on `ids` (the first `maxTokens + 1`), overall and per bucket. */
export async function scoreHeldOut(
  model: TransformerLM,
  ids: Int32Array,
  bucketOf: readonly Bucket[],
  opts: { context: number; batch: number; device: Device; maxTokens?: number; k?: number },
): Promise<HeldOutScore> {
  const k = opts.k ?? 10;
  const stream = opts.maxTokens !== undefined && opts.maxTokens + 1 < ids.length ? ids.subarray(0, opts.maxTokens + 1) : ids;
  const acc = Object.fromEntries(BUCKETS.map((b) => [b, { nll: 0, tokens: 0, hits: 0 }])) as Record<Bucket, { nll: number; tokens: number; hits: number }>;
  const wasTraining = model.training;
  model.train(false);
  const prev = setGradEnabled(false);
  try {
    for (const b of sequentialWindows(stream, opts.context, opts.batch)) {
      const shape = [b.rows, b.context];
      const { logits, nll } = noGrad(() => {
        const logits = model.forward(Tensor.fromValues(b.x, shape, opts.device, 'int32'));
        return { logits, nll: crossEntropy(logits, Tensor.fromValues(b.y, shape, opts.device, 'int32'), { reduction: 'none' }) };
      });
      const [nv, lv] = await Promise.all([nll.data(), logits.data()]);
      const V = logits.shape[logits.ndim - 1];
      for (let p = 0; p < b.y.length; p++) {
        if (b.mask[p] === 0) continue;
        const a = acc[bucketOf[b.y[p]]];
        a.nll += nv[p];
        a.tokens++;
        const row = p * V;
        const target = lv[row + b.y[p]];
        let above = 0;
        for (let j = 0; j < V && above < k; j++) if (lv[row + j] > target) above++;
        if (above < k) a.hits++;
      }
    }
  } finally {
    setGradEnabled(prev);
    model.train(wasTraining);
  }
  const score = (nll: number, tokens: number, hits: number): BucketScore => ({ tokens, perplexity: tokens ? Math.exp(nll / tokens) : NaN, topK: tokens ? hits / tokens : NaN });
  const buckets = Object.fromEntries(BUCKETS.map((b) => [b, score(acc[b].nll, acc[b].tokens, acc[b].hits)])) as Record<Bucket, BucketScore>;
  const pool = (bs: readonly Bucket[]) => {
    const t = bs.reduce((s, b) => ({ nll: s.nll + acc[b].nll, tokens: s.tokens + acc[b].tokens, hits: s.hits + acc[b].hits }), { nll: 0, tokens: 0, hits: 0 });
    return score(t.nll, t.tokens, t.hits);
  };
  const overall = pool(BUCKETS);
  return { tokens: overall.tokens, perplexity: overall.perplexity, topK: overall.topK, k, buckets, words: pool(['top100', 'mid', 'rare']) };
}
