/**
 * Metrics of sampled text, over lists of token sequences (word strings or ids). Every metric pools its
 * counts over all sequences (corpus level), so one short sample cannot swing it.
 *
 * - distinct-n (Li et al. 2016): distinct n-grams / n-grams; n-grams never cross sequence boundaries.
 * - repetition rate (Welleck et al. 2019's seq-rep-n): the share of n-grams that repeat an n-gram seen
 *   EARLIER IN THE SAME sequence (default n = 3). "a b a b" has 3-grams aba, bab: rate 0; with n = 2 the
 *   bigrams ab, ba, ab: 1 of 3 repeats.
 * - rare share: the share of tokens that are rare.
 * - rare recall: of the rare word types in the references, the share that also occur in the generated
 *   sequences (pooled; recall over types, not occurrences).
 * - mean sentence length: tokens per sentence-ending token ('.', '?', '!'), a text with none counts as one.
 */

export type Token = string | number;

function ngrams<T extends Token>(seq: readonly T[], n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i + n <= seq.length; i++) out.push(seq.slice(i, i + n).join('\u0000'));
  return out;
}

function checkN(fn: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`${fn}: n must be a positive integer, got ${n}`);
}

/**
 * Distinct n-grams over all n-grams, pooled over sequences (0 when there are none).
 * @example
 * distinctN([['a', 'b', 'a']], 1); // 2 / 3
 * distinctN([['a', 'b', 'a']], 2); // 2 / 2
 */
export function distinctN(seqs: readonly (readonly Token[])[], n: number): number {
  checkN('distinctN', n);
  const seen = new Set<string>();
  let total = 0;
  for (const s of seqs) {
    for (const g of ngrams(s, n)) {
      seen.add(g);
      total++;
    }
  }
  return total === 0 ? 0 : seen.size / total;
}

/**
 * Share of n-grams that repeat an earlier n-gram of the same sequence, pooled (0 when there are none).
 * @example
 * repetitionRate([['the', 'cat', 'the', 'cat', 'the', 'cat']], 2); // bigrams tc ct tc ct tc: 3 of 5 repeat -> 0.6
 */
export function repetitionRate(seqs: readonly (readonly Token[])[], n = 3): number {
  checkN('repetitionRate', n);
  let repeats = 0;
  let total = 0;
  for (const s of seqs) {
    const seen = new Set<string>();
    for (const g of ngrams(s, n)) {
      if (seen.has(g)) repeats++;
      seen.add(g);
      total++;
    }
  }
  return total === 0 ? 0 : repeats / total;
}

/**
 * Share of tokens for which `isRare` holds, pooled (0 for no tokens).
 * @example
 * rareShare([['the', 'aardvark']], (w) => w === 'aardvark'); // 0.5
 */
export function rareShare<T extends Token>(seqs: readonly (readonly T[])[], isRare: (t: T) => boolean): number {
  let rare = 0;
  let total = 0;
  for (const s of seqs) {
    for (const t of s) {
      total++;
      if (isRare(t)) rare++;
    }
  }
  return total === 0 ? 0 : rare / total;
}

/**
 * Of the distinct rare types in `references`, the share that also appear in `generated`; NaN when the
 * references hold no rare type (recall is undefined then).
 * @example
 * rareRecall([['a', 'zebra']], [['zebra', 'okapi']], (w) => w !== 'a'); // 1 of 2 -> 0.5
 */
export function rareRecall<T extends Token>(generated: readonly (readonly T[])[], references: readonly (readonly T[])[], isRare: (t: T) => boolean): number {
  const want = new Set<T>();
  for (const s of references) for (const t of s) if (isRare(t)) want.add(t);
  if (want.size === 0) return NaN;
  const got = new Set<T>();
  for (const s of generated) for (const t of s) if (want.has(t)) got.add(t);
  return got.size / want.size;
}

/** Sentence-ending tokens of the Brown convention. */
export const SENTENCE_END: ReadonlySet<Token> = new Set(['.', '?', '!']);

/**
 * Tokens per sentence, pooled: total tokens / sentence ends, where a sequence with trailing tokens after
 * its last end (or with no end at all) adds one more sentence.
 * @example
 * meanSentenceLength([['a', 'b', '.', 'c', '.']]); // 5 tokens, 2 sentences -> 2.5
 */
export function meanSentenceLength(seqs: readonly (readonly Token[])[], ends: ReadonlySet<Token> = SENTENCE_END): number {
  let tokens = 0;
  let sentences = 0;
  for (const s of seqs) {
    if (s.length === 0) continue;
    tokens += s.length;
    for (const t of s) if (ends.has(t)) sentences++;
    if (!ends.has(s[s.length - 1])) sentences++;
  }
  return sentences === 0 ? 0 : tokens / sentences;
}
