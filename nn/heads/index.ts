/**
 * Output heads beyond the default full head (nn/head.ts: `fullHead`, a V x d Linear or `TiedHead`):
 * VQ-Logits codebook heads, their token -> code maps and k-means.
 */
export { VQLogitsHead, vqLogitsHead, vqLoss, vqNaiveLoss, type VQLogitsOpts } from './vq-logits.js';
export { checkMap, contiguousMap, frequencyMap, mapSizes, randomMap, type VQMappingKind } from './vq-map.js';
export { kmeans, kmeansMap, type KMeansOpts, type KMeansResult } from './kmeans.js';
