import { describe, it, expect, beforeAll } from 'vitest';
import { Generator } from '../core/rng.js';
import { BROWN_VOCAB } from '../bench/profile.js';
import {
  BROWN_TRAIN_TOKENS,
  BROWN_VALID_TOKENS,
  loadBrown,
  loadSotu,
  parseTagged,
  randomWindows,
  readBrownTokens,
  sequentialWindowCount,
  sequentialWindows,
  stripTag,
  tokenizeText,
  UNK,
  Vocab,
  type BrownCorpus,
} from '../experiments/data/index.js';

/** Fast exact equality of two id arrays (vitest's deep equality is slow on a million elements). */
function sameInts(a: Int32Array, b: Int32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe('tokenizer', () => {
  it('strips the tag after the LAST slash and lowercases', () => {
    expect(stripTag('1/2/CD')).toBe('1/2');
    expect(stripTag('The/AT')).toBe('the');
    expect(stripTag('Atlanta\'s/np$')).toBe("atlanta's");
    expect(stripTag('//x')).toBe('/');
  });

  it('keeps punctuation tokens and order', () => {
    expect(parseTagged('\tThe/at jury/nn ,/, ``/`` said/vbd ;/. 4-1/2%/nn ./.\n\n')).toEqual([
      'the', 'jury', ',', '``', 'said', ';', '4-1/2%', '.',
    ]);
  });

  it('splits raw text the Brown way', () => {
    expect(tokenizeText('"We don\'t," Mr. Smith said (in the U.S.)... Thank you!')).toEqual([
      '``', 'we', "don't", ',', "''", 'mr.', 'smith', 'said', '(', 'in', 'the', 'u.s.', ')', '.', '.', '.',
      'thank', 'you', '!',
    ]);
    expect(tokenizeText('costs $1,000\u201440% of the nation\u2019s budget.')).toEqual([
      'costs', '$1,000', '--', '40%', 'of', 'the', "nation's", 'budget', '.',
    ]);
  });
});

describe('Vocab', () => {
  it('orders ids by frequency then string, caps, and round-trips through JSON', () => {
    const toks = 'b a c b a d d e e e e'.split(' ');
    const v = Vocab.fromTokens(toks, { minCount: 2 });
    expect(v.decode([0, 1, 2, 3, 4])).toEqual([UNK, 'e', 'a', 'b', 'd']);
    expect(Array.from(v.counts)).toEqual([1, 4, 2, 2, 2]);
    expect(v.idOf('c')).toBe(0);
    expect(Array.from(v.encode(['a', 'zzz']))).toEqual([2, 0]);
    const capped = Vocab.fromTokens(toks, { minCount: 1, maxVocab: 3 });
    expect(capped.decode([0, 1, 2])).toEqual([UNK, 'e', 'a']);
    expect(capped.size).toBe(3);
    const back = Vocab.fromJSON(JSON.parse(JSON.stringify(v.toJSON())));
    expect(back.decode([0, 1, 2, 3, 4])).toEqual(v.decode([0, 1, 2, 3, 4]));
    expect(Array.from(back.counts)).toEqual(Array.from(v.counts));
  });

  it('names the id and the size when an id is out of range', () => {
    const v = Vocab.fromTokens(['a', 'a'], { minCount: 1 });
    expect(() => v.wordOf(7)).toThrow(/id 7 .*size 2/);
    expect(() => v.wordOf(-1)).toThrow(/id -1/);
  });
});

describe('Brown protocol', () => {
  let c: BrownCorpus;
  beforeAll(() => {
    c = loadBrown();
  }, 30_000);

  it('has exact split sizes', () => {
    const total = readBrownTokens().length;
    expect(c.train.length).toBe(BROWN_TRAIN_TOKENS);
    expect(c.valid.length).toBe(BROWN_VALID_TOKENS);
    expect(c.test.length).toBe(total - 1_000_000);
    expect(total).toBe(1_161_192);
  });

  it('keeps every train word seen at least 4 times, plus <unk>', () => {
    expect(c.vocab.wordOf(0)).toBe(UNK);
    const freq = new Map<string, number>();
    for (const w of readBrownTokens().slice(0, BROWN_TRAIN_TOKENS)) freq.set(w, (freq.get(w) ?? 0) + 1);
    let kept = 0;
    for (const [w, n] of freq) {
      expect(c.vocab.has(w)).toBe(n >= 4);
      if (n >= 4) {
        kept++;
        expect(c.counts[c.vocab.idOf(w)]).toBe(n);
      }
    }
    expect(c.vocab.size).toBe(kept + 1);
    expect(c.vocab.size, 'bench/profile.ts profiles the main job with this head size').toBe(BROWN_VOCAB);
    expect(c.counts.reduce((a, b) => a + b, 0)).toBe(BROWN_TRAIN_TOKENS);
  });

  it('reports OOV rates in [0, 1]', () => {
    for (const s of [c.stats.train, c.stats.valid, c.stats.test]) {
      expect(s.oovRate).toBeGreaterThanOrEqual(0);
      expect(s.oovRate).toBeLessThanOrEqual(1);
    }
    expect(c.stats.vocabSize).toBe(c.vocab.size);
    expect(c.stats.train.oov).toBe(c.counts[0]);
  });

  it('gives the same ids across two loads (files reread)', () => {
    const reread = readBrownTokens({ cache: false });
    expect(reread.join('\n') === readBrownTokens().join('\n')).toBe(true);
    const again = loadBrown();
    expect(again.vocab.toJSON().words.join('\n') === c.vocab.toJSON().words.join('\n')).toBe(true);
    expect(sameInts(again.train, c.train)).toBe(true);
    expect(sameInts(again.valid, c.valid)).toBe(true);
    expect(sameInts(again.test, c.test)).toBe(true);
  }, 30_000);

  it('caps the vocabulary with maxVocab', () => {
    const small = loadBrown({ maxVocab: 100 });
    expect(small.vocab.size).toBe(100);
    expect(small.vocab.decode([1, 2, 3])).toEqual(c.vocab.decode([1, 2, 3]));
  });

  it('encodes State of the Union addresses with the Brown vocabulary', () => {
    const s = loadSotu({ vocab: c.vocab, splits: { train: 3 } });
    expect(s.splits.test.addresses.map((a) => a.year)).toEqual([2017, 2018, 2019, 2020, 2021]);
    expect(s.splits.valid.addresses.map((a) => a.year)).toEqual([2012, 2013, 2014, 2015, 2016]);
    expect(s.splits.train.addresses.map((a) => a.year)).toEqual([2009, 2010, 2011]);
    for (const split of [s.splits.train, s.splits.valid, s.splits.test]) {
      expect(split.ids.length).toBe(split.tokens.length);
      expect(split.ids.length).toBeGreaterThan(10_000);
      expect(split.stats.oovRate).toBeLessThan(0.2);
      expect(Array.from(split.ids.slice(0, 50))).toEqual(Array.from(c.vocab.encode(split.tokens.slice(0, 50))));
    }
    expect(sameInts(loadSotu({ vocab: c.vocab, splits: { train: 3 } }).test, s.test)).toBe(true);
  }, 30_000);
});

describe('batches', () => {
  const ids = Int32Array.from({ length: 103 }, (_, i) => i);

  it('randomWindows is deterministic for a seed and y is x shifted by one', () => {
    const a = randomWindows(ids, 4, 8, new Generator(7));
    const b = randomWindows(ids, 4, 8, new Generator(7));
    expect(a.x).toEqual(b.x);
    expect(a.y).toEqual(b.y);
    expect(a.x.length).toBe(32);
    for (let r = 0; r < 4; r++) {
      for (let j = 0; j < 8; j++) expect(a.y[r * 8 + j]).toBe(a.x[r * 8 + j] + 1);
      for (let j = 0; j < 7; j++) expect(a.x[r * 8 + j + 1]).toBe(a.y[r * 8 + j]);
    }
    expect(randomWindows(ids, 4, 8, new Generator(8)).x).not.toEqual(a.x);
  });

  it('sequentialWindows scores every token but the first exactly once', () => {
    for (const [context, batch] of [[8, 1], [8, 3], [10, 4], [102, 2], [5, 64]]) {
      const seen = new Int32Array(ids.length);
      let windows = 0;
      for (const b of sequentialWindows(ids, context, batch)) {
        expect(b.rows).toBeLessThanOrEqual(batch);
        for (let r = 0; r < b.rows; r++) {
          windows++;
          for (let j = 0; j < context; j++) {
            const k = r * context + j;
            if (b.mask[k] === 1) {
              seen[b.y[k]]++;
              expect(b.y[k]).toBe(b.start[r] + j);
              expect(b.x[k]).toBe(b.y[k] - 1);
            } else expect(j).toBeGreaterThanOrEqual(b.lengths[r]);
          }
        }
      }
      expect(windows).toBe(sequentialWindowCount(ids.length, context));
      expect(seen[0]).toBe(0);
      expect(Array.from(seen.subarray(1)).every((n) => n === 1)).toBe(true);
    }
  });

  it('fails clearly when the split is shorter than context + 1', () => {
    const short = Int32Array.from([1, 2, 3]);
    expect(() => randomWindows(short, 1, 3, new Generator(0))).toThrow(/3 tokens, fewer than context \+ 1 = 4/);
    expect(() => [...sequentialWindows(short, 3)]).toThrow(/fewer than context \+ 1/);
    expect(randomWindows(short, 2, 2, new Generator(0)).x.length).toBe(4);
  });
});
