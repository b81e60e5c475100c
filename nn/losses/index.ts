/** Losses beyond plain cross-entropy (nn/loss.ts): the Power-Law Decay Loss and its token frequencies. */
export {
  nameIds, powerLawWeights, tokenFrequencies,
  type FrequencyKind, type PowerLawOpts, type PowerLawWeights, type TokenFrequencies, type TokenFrequencyOpts, type TokenSource,
} from './frequencies.js';
export { powerLawDecayLoss, powerLawDecayLossFn, type DominanceWarning, type PdlBatchStats, type PdlLossOpts } from './pdl.js';
