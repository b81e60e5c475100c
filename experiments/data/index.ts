/** Data pipeline of the experiments: tokenizer, corpora (Brown, State of the Union), vocabulary, batches. */
export { parseTagged, stripTag, tokenizeText } from './tokenize.js';
export { UNK, Vocab, splitStats, type SplitStats, type VocabJSON, type VocabOptions } from './vocab.js';
export {
  BROWN_TRAIN_TOKENS,
  BROWN_VALID_TOKENS,
  brownDir,
  brownFiles,
  corpusStats,
  loadBrown,
  readBrownTokens,
  type BrownCorpus,
  type BrownOptions,
  type CorpusStats,
} from './brown.js';
export {
  loadSotu,
  readSotuAddresses,
  type SotuAddress,
  type SotuCorpus,
  type SotuSplit,
  type SotuSplits,
} from './sotu.js';
export {
  randomWindows,
  sequentialWindowCount,
  sequentialWindows,
  type EvalBatch,
  type WindowBatch,
} from './batches.js';
