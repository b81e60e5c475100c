/**
 * Sampled continuations of held-out prompts and their text metrics (./text-metrics.ts).
 *
 * Prompts are taken at evenly spaced sentence starts of the held-out split (the token after a '.', '?' or
 * '!'); the `newTokens` tokens that follow each prompt are its reference continuation. Every model samples
 * with the same settings and the same generator seed, so the variants differ only in their weights.
 */
import { Generator } from '../../core/index.js';
import type { TransformerLM } from '../../nn/index.js';
import type { Vocab } from '../data/index.js';
import type { Bucket } from './evaluate.js';
import { distinctN, meanSentenceLength, rareRecall, rareShare, repetitionRate, SENTENCE_END } from './text-metrics.js';

export interface Prompt {
  /** Where the prompt starts in the held-out split. */
  at: number;
  prompt: number[];
  reference: number[];
}

export interface SampleSettings {
  promptTokens: number;
  newTokens: number;
  temperature: number;
  topK: number;
}

export interface TextMetrics {
  distinct1: number;
  distinct2: number;
  rareShare: number;
  rareRecall: number;
  repetition: number;
  meanSentenceLength: number;
}

/** `count` prompts at evenly spaced sentence starts of `ids`, each followed by its reference continuation. */
export function pickPrompts(ids: Int32Array, vocab: Vocab, count: number, s: SampleSettings): Prompt[] {
  const span = s.promptTokens + s.newTokens;
  const ends = new Set([...SENTENCE_END].map((w) => vocab.idOf(String(w))));
  const out: Prompt[] = [];
  const last = ids.length - span - 1;
  if (last < 1) throw new Error(`pickPrompts: the held-out split has ${ids.length} tokens, fewer than one prompt + continuation (${span})`);
  for (let i = 0; i < count; i++) {
    let at = Math.floor((i * last) / count);
    while (at < last && !ends.has(ids[at])) at++;
    at++; // the sentence starts after its end token
    if (at > last) break;
    out.push({ at, prompt: Array.from(ids.subarray(at, at + s.promptTokens)), reference: Array.from(ids.subarray(at + s.promptTokens, at + span)) });
  }
  return out;
}

/** Continue every prompt (one batch) with fixed sampling settings; returns the new tokens only. */
export async function continuePrompts(model: TransformerLM, prompts: Prompt[], s: SampleSettings, seed: number): Promise<number[][]> {
  const out = await model.generate(prompts.map((p) => p.prompt), {
    maxNewTokens: s.newTokens, temperature: s.temperature, topK: s.topK, generator: new Generator(seed),
  });
  const flat = await out.toArray();
  const width = out.shape[1];
  return prompts.map((_, b) => flat.slice(b * width + s.promptTokens, (b + 1) * width));
}

/** Text metrics of continuations (ids); "rare" = the 'rare' frequency bucket (<unk> is never rare). */
export function textMetrics(generated: number[][], references: number[][], bucketOf: readonly Bucket[], vocab: Vocab): TextMetrics {
  const isRare = (id: number): boolean => bucketOf[id] === 'rare';
  const words = generated.map((g) => vocab.decode(g));
  return {
    distinct1: distinctN(generated, 1),
    distinct2: distinctN(generated, 2),
    rareShare: rareShare(generated, isRare),
    rareRecall: rareRecall(generated, references, isRare),
    repetition: repetitionRate(generated, 3),
    meanSentenceLength: meanSentenceLength(words),
  };
}
