/**
 * A decoder-only transformer language model (GPT-2 layout, pre-norm):
 *
 *   x = tokEmb(ids) (+ posEmb(positions) when positions = 'learned'), dropout
 *   each block:  x = x + drop(attn(norm1(x)));  x = x + drop(mlp(norm2(x)))
 *   h = normF(x);  out = head(h);  loss = lossFn(out, targets)
 *
 * Three seams, each a config entry: `attention` (a factory per layer), `head` (hidden -> what the loss
 * consumes) and `loss`. Initial weights follow GPT-2: every Linear and Embedding N(0, 0.02), biases zero,
 * and the residual output projections (Linear modules named `proj` inside blocks) N(0, 0.02 / sqrt(2 L)).
 * That pass covers Linear/Embedding modules built by custom factories too (fair comparisons at equal
 * init); any other parameter keeps the value its module gave it (e.g. a learnable phase scale).
 */
import { noGrad } from '../core/autograd.js';
import { Generator } from '../core/rng.js';
import { shapeStr } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { CausalSelfAttention, KVCache, type AttentionConfig, type AttentionFactory, type AttentionForwardOpts, type AttentionModule } from './attention.js';
import { Dropout } from './dropout.js';
import { checkIds, Embedding } from './embedding.js';
import { fullHead, type HeadFactory, type HeadModule } from './head.js';
import * as init from './init.js';
import { Linear } from './linear.js';
import { crossEntropyLoss, type LossFn, type LossOpts } from './loss.js';
import { MLP, SwiGLU } from './mlp.js';
import { Module, ModuleList } from './module.js';
import { LayerNorm, RMSNorm } from './norm.js';
import { sampleToken, type SampleOpts } from './sampling.js';

export interface TransformerConfig {
  vocabSize: number;
  contextLength: number;
  dModel: number;
  nHeads: number;
  nLayers: number;
  /** Feed-forward kind (default 'gelu'). */
  mlp?: 'gelu' | 'swiglu';
  /** Feed-forward width (default 4 d for gelu, ceil(8 d / 3) for swiglu: equal parameters). */
  mlpHidden?: number;
  norm?: 'layernorm' | 'rmsnorm';
  normEps?: number;
  /** 'rope' (default): rotary, inside attention; 'learned': an absolute position embedding added to x. */
  positions?: 'rope' | 'learned';
  ropeBase?: number;
  dropout?: number;
  /** Biases in Linear layers and LayerNorm (default true, as GPT-2). */
  bias?: boolean;
  /** Output head = the token embedding transposed (default false). */
  tieEmbeddings?: boolean;
  attention?: AttentionFactory;
  head?: HeadFactory;
  loss?: LossFn;
  /** Seeds the initial weights and the dropout masks (default 0). */
  seed?: number;
}

export type ResolvedTransformerConfig = Required<Omit<TransformerConfig, 'attention' | 'head' | 'loss'>>;

export interface GenerateOpts extends SampleOpts {
  maxNewTokens: number;
}

export const defaultAttention: AttentionFactory = (cfg) => new CausalSelfAttention(cfg);

function resolve(cfg: TransformerConfig): ResolvedTransformerConfig {
  for (const k of ['vocabSize', 'contextLength', 'dModel', 'nHeads', 'nLayers'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) throw new Error(`TransformerLM: ${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (cfg.dModel % cfg.nHeads !== 0) throw new Error(`TransformerLM: dModel ${cfg.dModel} must be divisible by nHeads ${cfg.nHeads}`);
  const mlp = cfg.mlp ?? 'gelu';
  const r: ResolvedTransformerConfig = {
    vocabSize: cfg.vocabSize,
    contextLength: cfg.contextLength,
    dModel: cfg.dModel,
    nHeads: cfg.nHeads,
    nLayers: cfg.nLayers,
    mlp,
    mlpHidden: cfg.mlpHidden ?? (mlp === 'swiglu' ? Math.ceil((8 * cfg.dModel) / 3) : 4 * cfg.dModel),
    norm: cfg.norm ?? 'layernorm',
    normEps: cfg.normEps ?? 1e-5,
    positions: cfg.positions ?? 'rope',
    ropeBase: cfg.ropeBase ?? 10000,
    dropout: cfg.dropout ?? 0,
    bias: cfg.bias ?? true,
    tieEmbeddings: cfg.tieEmbeddings ?? false,
    seed: cfg.seed ?? 0,
  };
  if (!['gelu', 'swiglu'].includes(r.mlp)) throw new Error(`TransformerLM: mlp must be 'gelu' or 'swiglu', got ${String(r.mlp)}`);
  if (!['layernorm', 'rmsnorm'].includes(r.norm)) throw new Error(`TransformerLM: norm must be 'layernorm' or 'rmsnorm', got ${String(r.norm)}`);
  if (!['rope', 'learned'].includes(r.positions)) throw new Error(`TransformerLM: positions must be 'rope' or 'learned', got ${String(r.positions)}`);
  return r;
}

type Norm = LayerNorm | RMSNorm;

function makeNorm(c: ResolvedTransformerConfig, g: Generator): Norm {
  return c.norm === 'rmsnorm' ? new RMSNorm(c.dModel, c.normEps, { generator: g }) : new LayerNorm(c.dModel, c.normEps, { bias: c.bias, generator: g });
}

/** One pre-norm transformer block. */
export class Block extends Module {
  readonly norm1: Norm;
  readonly attn: AttentionModule;
  readonly norm2: Norm;
  readonly mlp: MLP | SwiGLU;
  readonly drop: Dropout;
  constructor(c: ResolvedTransformerConfig, attention: AttentionModule, g: Generator, dropGen: Generator) {
    super();
    this.norm1 = this.child('norm1', makeNorm(c, g));
    this.attn = this.child('attn', attention);
    this.norm2 = this.child('norm2', makeNorm(c, g));
    const Ff = c.mlp === 'swiglu' ? SwiGLU : MLP;
    this.mlp = this.child('mlp', new Ff(c.dModel, c.mlpHidden, { bias: c.mlp === 'swiglu' ? false : c.bias, generator: g }));
    this.drop = this.child('drop', new Dropout(c.dropout, dropGen));
  }
  forward(x: Tensor, opts: AttentionForwardOpts = {}): Tensor {
    x = x.add(this.drop.forward(this.attn.forward(this.norm1.forward(x), opts)));
    return x.add(this.drop.forward(this.mlp.forward(this.norm2.forward(x))));
  }
}

/**
 * @example
 * const lm = new TransformerLM({ vocabSize: 1000, contextLength: 32, dModel: 64, nHeads: 4, nLayers: 2 });
 * const loss = lm.loss(ids, targets);       // ids, targets: int32 [B, T]
 * loss.backward();
 * const out = await lm.generate([[1, 2, 3]], { maxNewTokens: 20, temperature: 0.8, topK: 40 });
 */
export class TransformerLM extends Module {
  readonly config: ResolvedTransformerConfig;
  readonly tokEmb: Embedding;
  readonly posEmb: Embedding | null;
  readonly drop: Dropout;
  readonly blocks: ModuleList<Block>;
  readonly normF: Norm;
  readonly head: HeadModule;
  readonly lossFn: LossFn;
  /** Draws every dropout mask; save its state (getState) to resume a run exactly. */
  readonly dropoutGenerator: Generator;

  constructor(cfg: TransformerConfig) {
    super();
    const c = (this.config = resolve(cfg));
    const g = new Generator(c.seed);
    this.dropoutGenerator = new Generator(c.seed + 1);
    this.tokEmb = this.child('tokEmb', new Embedding(c.vocabSize, c.dModel, { generator: g }));
    this.posEmb = c.positions === 'learned' ? this.child('posEmb', new Embedding(c.contextLength, c.dModel, { generator: g })) : null;
    this.drop = this.child('drop', new Dropout(c.dropout, this.dropoutGenerator));
    const attention = cfg.attention ?? defaultAttention;
    this.blocks = this.child('blocks', new ModuleList<Block>());
    for (let i = 0; i < c.nLayers; i++) {
      const ac: AttentionConfig = {
        dModel: c.dModel, nHeads: c.nHeads, contextLength: c.contextLength, positions: c.positions, ropeBase: c.ropeBase,
        dropout: c.dropout, bias: c.bias, generator: g, dropoutGenerator: this.dropoutGenerator,
      };
      this.blocks.push(new Block(c, attention(ac, i), g, this.dropoutGenerator));
    }
    this.normF = this.child('normF', makeNorm(c, g));
    const head = cfg.head ?? fullHead;
    this.head = this.child('head', head({ vocabSize: c.vocabSize, dModel: c.dModel, tokenEmbedding: this.tokEmb, tieEmbeddings: c.tieEmbeddings, generator: g }));
    this.lossFn = cfg.loss ?? crossEntropyLoss;
    this.initGpt2(g);
  }

  private initGpt2(g: Generator): void {
    const std = 0.02;
    const projStd = std / Math.sqrt(2 * this.config.nLayers);
    for (const [name, m] of this.namedModules()) {
      if (m instanceof Linear) {
        const residual = name.startsWith('blocks.') && name.endsWith('.proj');
        init.normal_(m.weight, { std: residual ? projStd : std, generator: g });
        if (m.bias) init.zeros_(m.bias);
      } else if (m instanceof Embedding) {
        init.normal_(m.weight, { std, generator: g });
      }
    }
  }

  /** One empty KV cache per layer, for `forward(ids, { cache })`. */
  makeCache(): KVCache[] {
    return Array.from({ length: this.config.nLayers }, () => new KVCache());
  }

  /** Final hidden states [B, T, d] (after the final norm). With a cache, ids continue the cached sequence. */
  hidden(ids: Tensor, opts: { cache?: KVCache[] } = {}): Tensor {
    const c = this.config;
    if (!(ids instanceof Tensor) || ids.ndim !== 2) throw new Error(`TransformerLM: ids must be an int32 tensor [B, T], got ${ids instanceof Tensor ? shapeStr(ids.shape) : typeof ids}`);
    const T = ids.shape[1];
    const cache = opts.cache;
    if (cache && cache.length !== c.nLayers) throw new Error(`TransformerLM: cache has ${cache.length} layers, the model ${c.nLayers}; make it with lm.makeCache()`);
    const offset = cache ? cache[0].length : 0;
    if (offset + T > c.contextLength) {
      const what = offset ? `${offset} cached + ${T} new tokens = ${offset + T}` : `sequence length ${T}`;
      throw new Error(`TransformerLM: ${what} exceeds contextLength ${c.contextLength}; crop the input to the last ${c.contextLength} tokens`);
    }
    checkIds('TransformerLM', ids, c.vocabSize, 'vocabSize');
    let x = this.tokEmb.forward(ids);
    if (this.posEmb) {
      const pos = Tensor.fromValues(Array.from({ length: T }, (_, t) => offset + t), [T], ids.device, 'int32');
      x = x.add(this.posEmb.forward(pos));
    }
    x = this.drop.forward(x);
    let i = 0;
    for (const block of this.blocks) x = block.forward(x, { cache: cache?.[i++] });
    return this.normF.forward(x);
  }

  /** ids int32 [B, T] -> the head's output (logits [B, T, V] for the default head). */
  forward(ids: Tensor, opts: { cache?: KVCache[] } = {}): Tensor {
    return this.head.forward(this.hidden(ids, opts));
  }

  /** The configured loss (default: mean cross-entropy) of predicting `targets` [B, T] from `ids` [B, T]. */
  loss(ids: Tensor, targets: Tensor, opts: LossOpts = {}): Tensor {
    return this.lossFn(this.forward(ids), targets, opts);
  }

  /** Next-token logits [B, V] at the last position of `rows` (continuing the cache when given). */
  private lastLogits(rows: number[][], cache: KVCache[] | undefined): Tensor {
    const B = rows.length;
    const T = rows[0].length;
    const dev = this.tokEmb.weight.device;
    return noGrad(() => {
      const ids = Tensor.fromValues(rows.flat(), [B, T], dev, 'int32');
      const h = this.hidden(ids, { cache }).narrow(1, T - 1, 1);
      const logits = this.head.logits ? this.head.logits(h) : this.head.forward(h);
      return logits.reshape([B, logits.shape[logits.ndim - 1]]);
    });
  }

  /**
   * Continue each prompt row by `maxNewTokens` tokens (greedy, temperature and top-k sampling), using the
   * KV cache: the prompt runs once, then one token per step. Once the context is full, each step re-runs
   * the last `contextLength` tokens. Returns int32 [B, T_prompt + maxNewTokens]. Runs in eval mode.
   */
  async generate(prompt: Tensor | number[] | number[][], opts: GenerateOpts): Promise<Tensor> {
    const c = this.config;
    if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${opts.maxNewTokens}`);
    let rows: number[][];
    if (prompt instanceof Tensor) {
      const flat = await prompt.toArray();
      if (prompt.ndim === 1) rows = [flat];
      else if (prompt.ndim === 2) rows = Array.from({ length: prompt.shape[0] }, (_, b) => flat.slice(b * prompt.shape[1], (b + 1) * prompt.shape[1]));
      else throw new Error(`generate: prompt must be [T] or [B, T], got ${shapeStr(prompt.shape)}`);
    } else {
      rows = (typeof prompt[0] === 'number' ? [prompt as number[]] : (prompt as number[][])).map((r) => [...r]);
    }
    if (rows.length === 0 || rows[0].length === 0 || rows.some((r) => r.length !== rows[0].length)) {
      throw new Error('generate: prompt rows must be non-empty and of equal length');
    }
    rows.forEach((r, b) => r.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) {
        throw new Error(`generate: prompt token id ${id} at [${b}, ${t}] is out of range for vocabSize ${c.vocabSize} (valid ids: 0..${c.vocabSize - 1})`);
      }
    }));
    const wasTraining = this.training;
    this.eval();
    try {
      let cache = this.makeCache();
      let cached = true; // false when a custom attention ignores the cache: then every step re-runs the window
      const prime = (): Tensor => {
        cache = this.makeCache();
        const window = rows.map((r) => r.slice(-c.contextLength));
        const logits = this.lastLogits(window, cache);
        cached = cache.every((k) => k.length === window[0].length);
        return logits;
      };
      let logits = prime();
      for (let s = 0; s < opts.maxNewTokens; s++) {
        const vals = await logits.toArray();
        const V = logits.shape[1];
        rows.forEach((r, b) => r.push(sampleToken(vals.slice(b * V, (b + 1) * V), opts)));
        if (s === opts.maxNewTokens - 1) break;
        logits = cached && cache[0].length < c.contextLength ? this.lastLogits(rows.map((r) => [r[r.length - 1]]), cache) : prime();
      }
    } finally {
      this.train(wasTraining);
    }
    return Tensor.fromValues(rows.flat(), [rows.length, rows[0].length], this.tokEmb.weight.device, 'int32');
  }
}
