/**
 * VQ-Logits output head (papers.md section 2): a learnable codebook C (K x d, K << V) and a fixed map M from
 * the V tokens to the K codes replace the V x d output matrix.
 *
 *   L_c = h C^T                          K logits per position (the head's `forward`)
 *   L_v[i] = L_c[M(i)]          faithful: exactly the paper's head, no other parameters
 *   L_v[i] = L_c[M(i)] + b_i    improved: a per-token bias b (V scalars); identical to the faithful head at b = 0
 *
 * Training uses the exact fast loss (`vqLoss`, ops/vq.ts `vqCrossEntropy`): cross-entropy over V equals
 * logsumexp_j (L_c[j] + B_j) - L_c[M(y)] - b_y with B_j = log sum_{i in code j} exp(b_i) (= log n_j when
 * faithful), O(K) per position. `vqNaiveLoss` expands to the V logits first (the paper's path, O(V) per
 * position). Generation: `logits(h)` gives the V logits (TransformerLM.generate uses it, so temperature and
 * top-k work as for any head); `sample(h)` draws a code from softmax(L_c + B), then a token inside it from
 * softmax(b over its members) — the same distribution in O(K + n_code) per row once B is known.
 *
 * The head draws its initial codebook from its own generator (`seed`), never from the model's, so swapping
 * heads leaves the backbone's initial weights unchanged (fair comparisons at equal seeds).
 */
import { noGrad } from '../../core/autograd.js';
import { getDevice } from '../../core/device.js';
import { Generator, globalGenerator } from '../../core/rng.js';
import { shapeStr } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import { matmul } from '../../ops/matmul.js';
import { vqCrossEntropy, vqNaiveCrossEntropy, vqTokenLogits } from '../../ops/vq.js';
import type { HeadFactory, HeadModule } from '../head.js';
import * as init from '../init.js';
import type { LossFn, LossOpts } from '../loss.js';
import { Module } from '../module.js';
import { checkMap, mapSizes } from './vq-map.js';

export interface VQLogitsOpts {
  /** K, the number of codebook rows (1 <= K <= V). */
  numCodes: number;
  /** Token -> code map (V integers in [0, K), every code used): randomMap, contiguousMap, frequencyMap, kmeansMap. */
  map: ArrayLike<number>;
  /** Add the per-token bias b (default false: the paper's faithful head). */
  bias?: boolean;
  /** Initial b (V values, e.g. log training counts); zeros by default. */
  biasInit?: ArrayLike<number>;
  /** Initial codebook (K x d values, e.g. k-means centroids); N(0, initStd^2) by default. */
  codebookInit?: ArrayLike<number>;
  /** Seed of the head's own generator (default 0). */
  seed?: number;
  /** Std of the default codebook init (default 0.02, GPT-2's). */
  initStd?: number;
}

/** Which head made a tensor of code logits, so a LossFn (which gets only that tensor) can find map and bias. */
const madeBy = new WeakMap<Tensor, VQLogitsHead>();

/**
 * @example
 * const head = new VQLogitsHead(V, d, { numCodes: 64, map: frequencyMap(counts, 64), bias: true });
 * const Lc = head.forward(h);                 // [B, T, 64]
 * const loss = head.loss(Lc, targets);        // exact cross-entropy over V, O(K) per position
 */
export class VQLogitsHead extends Module implements HeadModule {
  readonly numCodes: number;
  readonly vocabSize: number;
  readonly dModel: number;
  /** C [K, d]. */
  readonly codebook: Tensor;
  /** b [V], or null for the faithful head. */
  readonly bias: Tensor | null;
  /** M as int32 [V]: a buffer (saved in the state dict, never trained). */
  readonly map: Tensor;

  constructor(vocabSize: number, dModel: number, opts: VQLogitsOpts) {
    super();
    const K = opts.numCodes;
    checkMap(opts.map, vocabSize, K, 'VQLogitsHead');
    if (!Number.isInteger(dModel) || dModel < 1) throw new Error(`VQLogitsHead: dModel must be a positive integer, got ${dModel}`);
    this.numCodes = K;
    this.vocabSize = vocabSize;
    this.dModel = dModel;
    const g = new Generator(opts.seed ?? 0);
    let C: Tensor;
    if (opts.codebookInit) {
      if (opts.codebookInit.length !== K * dModel) {
        throw new Error(`VQLogitsHead: codebookInit has ${opts.codebookInit.length} values, expected K x d = ${K} x ${dModel} = ${K * dModel}`);
      }
      C = Tensor.fromValues(opts.codebookInit, [K, dModel], getDevice());
    } else {
      C = init.normal([K, dModel], { std: opts.initStd ?? 0.02, generator: g });
    }
    this.codebook = this.param('codebook', C);
    if (opts.biasInit && !opts.bias) throw new Error('VQLogitsHead: biasInit needs bias: true (the faithful head has no bias)');
    if (opts.biasInit && opts.biasInit.length !== vocabSize) {
      throw new Error(`VQLogitsHead: biasInit has ${opts.biasInit.length} values, expected V = ${vocabSize}`);
    }
    this.bias = opts.bias
      ? this.param('bias', opts.biasInit ? Tensor.fromValues(opts.biasInit, [vocabSize], C.device) : init.zeros([vocabSize], { device: C.device }))
      : null;
    this.map = this.buffer('map', Tensor.fromValues(opts.map, [vocabSize], C.device, 'int32'));
  }

  /** Tokens per code (n_j), read from the map buffer (so a loaded state dict is reflected). */
  get sizes(): number[] {
    return mapSizes(this.map.dataSync(), this.numCodes);
  }

  /** Trainable scalars of the head: K d (+ V with the bias). */
  get headParams(): number {
    return this.numCodes * this.dModel + (this.bias ? this.vocabSize : 0);
  }

  /** Code logits L_c = h C^T: [..., d] -> [..., K]. What `vqLoss` consumes. */
  forward(h: Tensor): Tensor {
    const d = this.dModel;
    if (h.ndim === 0 || h.shape[h.ndim - 1] !== d) throw new Error(`VQLogitsHead: hidden ${shapeStr(h.shape)} must end in d = ${d}`);
    const Lc = matmul(h.reshape([-1, d]), this.codebook, { transB: true }).reshape([...h.shape.slice(0, -1), this.numCodes]);
    madeBy.set(Lc, this);
    return Lc;
  }

  /** The V token logits L_c[M(i)] (+ b_i): [..., d] -> [..., V]. Used by generation (O(V) per row). */
  logits(h: Tensor): Tensor {
    return vqTokenLogits(this.forward(h), this.map, this.bias);
  }

  /** Exact cross-entropy over V from code logits, O(K) per position (options as crossEntropy). */
  loss(codeLogits: Tensor, targets: Tensor, opts: LossOpts = {}): Tensor {
    return vqCrossEntropy(codeLogits, targets, this.map, { ...opts, bias: this.bias });
  }

  /** The same loss through the V-sized logits and an ordinary softmax (the paper's path). */
  naiveLoss(codeLogits: Tensor, targets: Tensor, opts: LossOpts = {}): Tensor {
    return vqNaiveCrossEntropy(codeLogits, targets, this.map, { ...opts, bias: this.bias });
  }

  /**
   * Draw one token per row of h ([..., d]) in two stages: a code j from softmax((L_c + B^T) / T), with
   * B^T_j = T log sum_{i in j} exp(b_i / T), then a token inside j from softmax(b / T) over its members
   * (uniform for the faithful head). That is exactly softmax(L_v / T) over V. `greedy` (or T = 0) takes the
   * best code's best member. No top-k: use TransformerLM.generate (through `logits`) for that.
   */
  async sample(h: Tensor, opts: { temperature?: number; greedy?: boolean; generator?: Generator } = {}): Promise<number[]> {
    const T = opts.temperature ?? 1;
    if (!(T >= 0)) throw new Error(`VQLogitsHead.sample: temperature must be >= 0, got ${T}`);
    const K = this.numCodes;
    const Lc = await noGrad(() => this.forward(h)).toArray();
    const b = this.bias ? await this.bias.toArray() : null;
    const members = await this.members();
    const greedy = opts.greedy || T === 0;
    // per code: log-mass at this temperature (or, greedy, the best member's bias)
    const mass = new Float64Array(K);
    const best = new Int32Array(K);
    for (let j = 0; j < K; j++) {
      const ids = members[j];
      let m = -Infinity;
      for (const i of ids) if ((b ? b[i] : 0) > m) [m, best[j]] = [b ? b[i] : 0, i];
      if (greedy) mass[j] = m;
      else {
        let s = 0;
        for (const i of ids) s += Math.exp(((b ? b[i] : 0) - m) / T);
        mass[j] = m + T * Math.log(s);
      }
    }
    const g = opts.generator ?? globalGenerator;
    const out: number[] = [];
    for (let r = 0; r < Lc.length / K; r++) {
      const row = Array.from({ length: K }, (_, j) => Lc[r * K + j] + mass[j]);
      const j = greedy ? argmaxOf(row) : draw(row.map((v) => v / T), g);
      if (greedy) out.push(best[j]);
      else out.push(members[j][draw(members[j].map((i) => (b ? b[i] : 0) / T), g)]);
    }
    return out;
  }

  /** Token ids of each code, ascending. */
  async members(): Promise<number[][]> {
    const m: number[][] = Array.from({ length: this.numCodes }, () => []);
    (await this.map.toArray()).forEach((c, i) => m[c].push(i));
    return m;
  }
}

function argmaxOf(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** An index drawn from softmax(logits). */
function draw(logits: number[], g: Generator): number {
  const m = logits[argmaxOf(logits)];
  const w = logits.map((v) => Math.exp(v - m));
  let u = g.random() * w.reduce((a, b) => a + b, 0);
  for (let i = 0; i < w.length; i++) {
    u -= w[i];
    if (u < 0) return i;
  }
  return argmaxOf(logits);
}

/**
 * A HeadFactory for TransformerLM's `head` seam; pair it with `loss: vqLoss`.
 * @example
 * const lm = new TransformerLM({ ...cfg, head: vqLogitsHead({ numCodes: 64, map }), loss: vqLoss });
 */
export function vqLogitsHead(opts: VQLogitsOpts): HeadFactory {
  return (cfg) => new VQLogitsHead(cfg.vocabSize, cfg.dModel, opts) as HeadModule;
}

function headOf(op: string, codeLogits: Tensor): VQLogitsHead {
  const head = madeBy.get(codeLogits);
  if (!head) {
    throw new Error(`${op}: its input ${shapeStr(codeLogits.shape)} was not made by a VQLogitsHead's forward; use it as the loss of a model whose head is vqLogitsHead(...)`);
  }
  return head;
}

/** The LossFn for TransformerLM's `loss` seam: the exact fast cross-entropy of the head that made the output. */
export const vqLoss: LossFn = (codeLogits, targets, opts) => headOf('vqLoss', codeLogits).loss(codeLogits, targets, opts);

/** Same value and gradients through the V-sized softmax (for checks and timing). */
export const vqNaiveLoss: LossFn = (codeLogits, targets, opts) => headOf('vqNaiveLoss', codeLogits).naiveLoss(codeLogits, targets, opts);
