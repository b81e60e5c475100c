/**
 * A word vocabulary with frequency-ordered ids, `<unk>` fallback and JSON round-trip for checkpoints.
 *
 * Ids are deterministic: `<unk>` is 0, then words by descending training frequency, ties by the word
 * string (JavaScript `<` order, i.e. UTF-16 code units).
 */

/** The out-of-vocabulary token; always id 0. */
export const UNK = '<unk>';

/** Options for building a vocabulary from training tokens. */
export interface VocabOptions {
  /** Keep words seen at least this many times (default 4). */
  minCount?: number;
  /** Cap on the TOTAL vocabulary size, `<unk>` included (keeps the most frequent words). */
  maxVocab?: number;
}

/** Serialised form of a `Vocab` (what `toJSON` returns and `fromJSON` reads). */
export interface VocabJSON {
  words: string[];
  counts: number[];
}

/** Word <-> id mapping with training counts per id. */
export class Vocab {
  /** Training-set count of each id (`counts[0]` = training tokens that map to `<unk>`). */
  readonly counts: Float64Array;
  private readonly words: readonly string[];
  private readonly index: Map<string, number>;

  /**
   * @param words id -> word; `words[0]` must be `<unk>`
   * @param counts training count per id (same length as `words`); zeros when omitted
   */
  constructor(words: readonly string[], counts?: ArrayLike<number>) {
    if (words[0] !== UNK) throw new Error(`Vocab: words[0] must be '${UNK}', got '${words[0]}'`);
    if (counts !== undefined && counts.length !== words.length) {
      throw new Error(`Vocab: ${words.length} words but ${counts.length} counts`);
    }
    this.words = words.slice();
    this.index = new Map();
    this.words.forEach((w, i) => {
      if (this.index.has(w)) throw new Error(`Vocab: duplicate word '${w}'`);
      this.index.set(w, i);
    });
    this.counts = counts === undefined ? new Float64Array(words.length) : Float64Array.from(counts);
  }

  /**
   * Builds a vocabulary from training tokens: words seen at least `minCount` times (default 4), at most
   * `maxVocab` ids in all, `<unk>` first, then by descending frequency with ties broken by the string.
   * `counts[0]` becomes the number of training tokens that fall outside the vocabulary.
   */
  static fromTokens(tokens: readonly string[], opts: VocabOptions = {}): Vocab {
    const minCount = opts.minCount ?? 4;
    if (!(minCount >= 1)) throw new Error(`Vocab.fromTokens: minCount must be >= 1, got ${minCount}`);
    if (opts.maxVocab !== undefined && !(Number.isInteger(opts.maxVocab) && opts.maxVocab >= 1)) {
      throw new Error(`Vocab.fromTokens: maxVocab must be an integer >= 1, got ${opts.maxVocab}`);
    }
    const freq = new Map<string, number>();
    for (const t of tokens) freq.set(t, (freq.get(t) ?? 0) + 1);
    freq.delete(UNK);
    const kept = [...freq.entries()]
      .filter(([, c]) => c >= minCount)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const limit = opts.maxVocab === undefined ? kept.length : Math.min(kept.length, opts.maxVocab - 1);
    const words = [UNK];
    const counts = [0];
    for (let i = 0; i < limit; i++) {
      words.push(kept[i][0]);
      counts.push(kept[i][1]);
    }
    const known = counts.reduce((a, b) => a + b, 0);
    counts[0] = tokens.length - known;
    return new Vocab(words, counts);
  }

  /** Rebuilds a vocabulary saved with `toJSON`. */
  static fromJSON(json: VocabJSON): Vocab {
    return new Vocab(json.words, json.counts);
  }

  /** Number of ids, `<unk>` included. */
  get size(): number {
    return this.words.length;
  }

  /** Id of `<unk>` (always 0). */
  get unkId(): number {
    return 0;
  }

  /** Id of a word; unknown words map to the `<unk>` id. */
  idOf(word: string): number {
    return this.index.get(word) ?? 0;
  }

  /** Whether the word has its own id. */
  has(word: string): boolean {
    return this.index.has(word);
  }

  /** Word of an id; throws a clear error for an id outside [0, size). */
  wordOf(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.words.length) {
      throw new Error(`Vocab.wordOf: id ${id} is out of range for a vocabulary of size ${this.words.length}`);
    }
    return this.words[id];
  }

  /** Encodes words to ids (unknown words -> `<unk>`). */
  encode(words: readonly string[]): Int32Array {
    const out = new Int32Array(words.length);
    for (let i = 0; i < words.length; i++) out[i] = this.index.get(words[i]) ?? 0;
    return out;
  }

  /** Decodes ids to words; throws on an out-of-range id. */
  decode(ids: ArrayLike<number>): string[] {
    const out: string[] = new Array(ids.length);
    for (let i = 0; i < ids.length; i++) out[i] = this.wordOf(ids[i]);
    return out;
  }

  /** Plain-object form for checkpoints. */
  toJSON(): VocabJSON {
    return { words: this.words.slice(), counts: Array.from(this.counts) };
  }
}

/** Token count and out-of-vocabulary rate of one encoded split. */
export interface SplitStats {
  tokens: number;
  oov: number;
  oovRate: number;
}

/** Counts the tokens of an encoded split that map to `<unk>` (id 0). */
export function splitStats(ids: Int32Array): SplitStats {
  let oov = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i] === 0) oov++;
  return { tokens: ids.length, oov, oovRate: ids.length === 0 ? 0 : oov / ids.length };
}
