/**
 * Op-table entries of the codebook (VQ-Logits) ops of ops/vq.ts; spec/op-table/index.ts lists them, which
 * enrols them in the gradient, device and fused-vs-composed specs.
 */
import type { Tensor } from '../../core/tensor.js';
import { clusterLogsumexp, gatherByMap, lookupIds, scatterAddByMap, vqCrossEntropy, vqNaiveCrossEntropy, vqTokenLogits } from '../../ops/vq.js';
import type { OpEntry, Sampler } from './index.js';

/** A map of V tokens onto K codes, every code used when V >= K (so no code is empty). */
function sampleMap(r: Sampler, V: number, K: number) {
  const values = Array.from({ length: V }, (_, i) => (i < K ? i : r.int(0, K - 1)));
  for (let i = V - 1; i > 0; i--) {
    const j = r.g.int(i + 1);
    [values[i], values[j]] = [values[j], values[i]];
  }
  return { shape: [V], values, dtype: 'int32' as const };
}

export const vqOpTable: OpEntry[] = [
  {
    name: 'gatherByMap',
    sample: (r) => {
      const K = r.int(1, 4);
      const V = r.int(1, 7);
      return { inputs: [r.floats([...r.shape(0, 2), K]), r.ints([V], 0, K - 1)], call: ([x, m]) => gatherByMap(x, m) };
    },
  },
  {
    name: 'scatterAddByMap',
    sample: (r) => {
      const K = r.int(1, 4);
      const V = r.int(1, 7);
      return { inputs: [r.floats([...r.shape(0, 2), V]), r.ints([V], 0, K - 1)], call: ([g, m]) => scatterAddByMap(g, m, K) };
    },
  },
  {
    name: 'clusterLogsumexp',
    sample: (r) => {
      const K = r.int(1, 4);
      const V = r.int(K, 8);
      return { inputs: [r.floats([V]), sampleMap(r, V, K)], call: ([b, m]) => clusterLogsumexp(b, m, K) };
    },
  },
  {
    name: 'lookupIds',
    grad: false,
    sample: (r) => {
      const V = r.int(1, 6);
      return { inputs: [r.ints([V], 0, 3), r.ints(r.shape(1, 2), 0, V - 1)], call: ([m, ids]) => lookupIds(m, ids) };
    },
  },
  {
    name: 'vqCrossEntropy (exact O(K) loss)',
    sample: (r) => {
      const K = r.int(1, 4);
      const V = r.int(K, 8);
      const N = r.int(1, 4);
      const withBias = r.g.random() < 0.5;
      const reduction = r.pick(['mean', 'sum', 'none'] as const);
      const inputs = [r.floats([N, K]), r.ints([N], 0, V - 1), sampleMap(r, V, K), ...(withBias ? [r.floats([V])] : [])];
      return { inputs, call: ([x, t, m, b]) => vqCrossEntropy(x, t, m, { bias: b, reduction }) };
    },
  },
  {
    name: "vqNaiveCrossEntropy (the paper's O(V) loss)",
    covers: ['vqTokenLogits'],
    sample: (r) => {
      const K = r.int(1, 4);
      const V = r.int(K, 8);
      const N = r.int(1, 4);
      const withBias = r.g.random() < 0.5;
      const inputs = [r.floats([N, K]), r.ints([N], 0, V - 1), sampleMap(r, V, K), ...(withBias ? [r.floats([V])] : [])];
      return { inputs, call: ([x, t, m, b]) => vqNaiveCrossEntropy(x, t, m, { bias: b }) };
    },
  },
];
