/**
 * The teacher-forced probe of ./temperature.ts: a model's top-k logits at every continuation position of the
 * prompts (prompt followed by its reference continuation), the contexts on which sampling flatness is matched.
 *
 *   const rows = await continuationTopLogits(model, prompts, 40, dev);   // prompts.length * newTokens rows of 40
 */
import { noGrad, setGradEnabled, Tensor, type Device } from '../../core/index.js';
import type { TransformerLM } from '../../nn/index.js';
import type { Prompt } from './samples.js';
import { topLogits } from './temperature.js';

/**
 * Top-`k` logits (descending) at the positions that predict each reference token, for every prompt, in
 * batches of `batch` prompts. The window prompt + reference must fit the model's context.
 */
export async function continuationTopLogits(model: TransformerLM, prompts: Prompt[], k: number, device: Device, batch = 8): Promise<number[][]> {
  if (prompts.length === 0) throw new Error('continuationTopLogits: no prompts');
  const P = prompts[0].prompt.length;
  const N = prompts[0].reference.length;
  const T = P + N;
  if (T > model.config.contextLength) throw new Error(`continuationTopLogits: prompt + reference is ${T} tokens, more than the context ${model.config.contextLength}`);
  if (prompts.some((p) => p.prompt.length !== P || p.reference.length !== N)) throw new Error('continuationTopLogits: prompts must share their prompt and reference lengths');
  const out: number[][] = [];
  const wasTraining = model.training;
  model.train(false);
  const prev = setGradEnabled(false);
  try {
    for (let i = 0; i < prompts.length; i += batch) {
      const group = prompts.slice(i, i + batch);
      const ids = Int32Array.from(group.flatMap((p) => [...p.prompt, ...p.reference]));
      const logits = noGrad(() => model.forward(Tensor.fromValues(ids, [group.length, T], device, 'int32')));
      const values = await logits.data();
      const V = logits.shape[logits.ndim - 1];
      for (let b = 0; b < group.length; b++) {
        // position t predicts token t + 1: the reference tokens P..T-1 are predicted at positions P-1..T-2
        const start = (b * T + P - 1) * V;
        out.push(...topLogits(values.subarray(start, start + N * V), V, k));
      }
    }
  } finally {
    setGradEnabled(prev);
    model.train(wasTraining);
  }
  return out;
}
