/**
 * The VQ-Logits experiment's variants: which heads are trained, how each is built, and how its map is made.
 * Every head draws its initial weights from its own generator, so all variants share the same backbone
 * initialisation, batches and dropout masks (same seed) and differ only in the head.
 */
import { Generator, Tensor } from '../../core/index.js';
import { fullHead, Linear, Module, type HeadFactory, type HeadModule, type LossFn } from '../../nn/index.js';
import { contiguousMap, frequencyMap, kmeansMap, randomMap, vqLogitsHead, vqLoss, type VQMappingKind } from '../../nn/heads/index.js';

export type Mapping = VQMappingKind | 'full';

export interface Variant {
  name: string;
  /** Codes (V for the full head). */
  K: number;
  mapping: Mapping;
  bias: boolean;
}

/** K for each divisor (V/64, V/16, V/4 by default), at least 1. */
export function codeCounts(V: number, divisors: number[]): number[] {
  return divisors.map((q) => Math.max(1, Math.round(V / q)));
}

export function variantName(K: number, mapping: Mapping, bias: boolean): string {
  return mapping === 'full' ? 'full' : `vq-K${K}-${mapping}${bias ? '+bias' : ''}`;
}

/** Every combination, full head first; `keep` filters the VQ ones (the quick run's subset). */
export function planVariants(V: number, ks: number[], mappings: VQMappingKind[], keep: (v: Variant) => boolean = () => true): Variant[] {
  const out: Variant[] = [{ name: 'full', K: V, mapping: 'full', bias: false }];
  for (const K of ks) {
    for (const mapping of mappings) {
      for (const bias of [false, true]) {
        const v = { name: variantName(K, mapping, bias), K, mapping, bias };
        if (keep(v)) out.push(v);
      }
    }
  }
  return out;
}

/** The default full head (an untied V x d Linear) drawn from its own generator. */
export function seededFullHead(seed: number): HeadFactory {
  return (cfg) => fullHead({ ...cfg, generator: new Generator(seed) });
}

/** Log of (train count + 1): the +bias heads start at the smoothed unigram distribution. */
export function logCountBias(counts: ArrayLike<number>): Float64Array {
  return Float64Array.from(counts, (c) => Math.log(c + 1));
}

export interface MapContext {
  V: number;
  seed: number;
  counts: ArrayLike<number>;
  /** The trained full head's weight [V, d] (needed by the kmeans mapping). */
  fullWeight?: Tensor;
}

export interface BuiltMap {
  map: Int32Array;
  /** k-means centroids (K x d) that initialise the codebook. */
  centroids?: Float64Array;
  note?: string;
}

/** Build (and cache) the token -> code map of a mapping at K codes. */
export class MapBuilder {
  private cache = new Map<string, BuiltMap>();
  constructor(private readonly ctx: MapContext) {}

  async get(mapping: VQMappingKind, K: number): Promise<BuiltMap> {
    const key = `${mapping}:${K}`;
    let m = this.cache.get(key);
    if (m) return m;
    const { V, seed, counts } = this.ctx;
    if (mapping === 'random') m = { map: randomMap(V, K, seed) };
    else if (mapping === 'contiguous') m = { map: contiguousMap(V, K) };
    else if (mapping === 'frequency') m = { map: frequencyMap(counts, K) };
    else {
      if (!this.ctx.fullWeight) throw new Error('kmeans mapping: train the full-head model first (its output embeddings are clustered)');
      const t0 = performance.now();
      const r = await kmeansMap(this.ctx.fullWeight, K, { seed });
      m = { map: r.map, centroids: r.centroids, note: `k-means: ${r.iterations} iterations, ${((performance.now() - t0) / 1000).toFixed(1)} s` };
    }
    this.cache.set(key, m);
    return m;
  }

  set fullWeight(w: Tensor) {
    this.ctx.fullWeight = w;
  }
}

/** The head and loss seams of one variant. */
export async function seamsFor(v: Variant, maps: MapBuilder, opts: { seed: number; biasInit?: Float64Array }): Promise<{ head: HeadFactory; loss?: LossFn; note?: string }> {
  if (v.mapping === 'full') return { head: seededFullHead(opts.seed) };
  const m = await maps.get(v.mapping, v.K);
  const head = vqLogitsHead({
    numCodes: v.K,
    map: m.map,
    bias: v.bias,
    biasInit: v.bias ? opts.biasInit : undefined,
    codebookInit: m.centroids,
    seed: opts.seed,
  });
  return { head, loss: vqLoss, note: m.note };
}

/**
 * The full head with a per-token bias that starts at the same log counts as the +bias codebook heads, so
 * a comparison between them is not a head start for either (the plain full head has no bias).
 */
export class FullHeadWithBias extends Module implements HeadModule {
  readonly linear: Linear;
  readonly bias: Tensor;
  constructor(dModel: number, vocabSize: number, seed: number, biasInit: ArrayLike<number>) {
    super();
    if (biasInit.length !== vocabSize) throw new Error(`FullHeadWithBias: biasInit has ${biasInit.length} values, expected V = ${vocabSize}`);
    this.linear = this.child('linear', new Linear(dModel, vocabSize, { bias: false, generator: new Generator(seed) }));
    this.bias = this.param('bias', Tensor.fromValues(biasInit, [vocabSize], this.linear.weight.device));
  }
  forward(h: Tensor): Tensor {
    return this.linear.forward(h).add(this.bias);
  }
}

/** Head factory of the full head + log-count bias. */
export function fullHeadWithBias(seed: number, biasInit: ArrayLike<number>): HeadFactory {
  return (cfg) => new FullHeadWithBias(cfg.dModel, cfg.vocabSize, seed, biasInit);
}
