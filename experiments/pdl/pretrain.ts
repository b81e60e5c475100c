/**
 * The pretrained starting point of the PDL study: a small LM trained with plain cross-entropy on Brown,
 * kept under runs/pdl/pretrain-<preset>/ and reused by later runs.
 *
 * - A finished checkpoint whose recorded spec (preset, vocabulary cap, model and training configs) equals
 *   the current one is loaded, not retrained; a shorter one with the same spec is resumed; a different
 *   spec (or --fresh-pretrain) retrains from scratch.
 * - `from` loads the model tensors of any tsgrad training checkpoint of the same architecture instead
 *   (e.g. runs/main-quick/checkpoint.safetensors; its vocabulary must be the one built here).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Device, Tensor } from '../../core/index.js';
import { TransformerLM, type TransformerConfig } from '../../nn/index.js';
import type { BrownCorpus } from '../data/index.js';
import { writeJsonAtomic } from '../report/metrics.js';
import { InterruptedError } from '../cli/errors.js';
import { loadCheckpoint, stripPrefix } from '../train/checkpoint.js';
import { sameSettings } from '../train/config.js';
import { evaluate } from '../train/evaluate.js';
import { makeOptimizer } from '../train/lm.js';
import { train, type HistoryPoint, type TrainConfig } from '../train/loop.js';

export interface PretrainSpec {
  preset: string;
  maxVocab: number | null;
  vocabSize: number;
  model: TransformerConfig;
  train: TrainConfig;
  validTokens: number;
}

export interface Pretrained {
  state: Record<string, Tensor>;
  /** 'trained' now, 'reused' from runs/pdl/pretrain-*, 'resumed' from a shorter run, or 'loaded' from `from`. */
  how: 'trained' | 'reused' | 'resumed' | 'loaded';
  checkpoint: string;
  steps: number;
  /** Seconds of training spent now (0 when reused or loaded). */
  seconds: number;
  tokensPerSecond: number;
  /** Brown validation perplexity (the first `validTokens`). */
  validPerplexity: number;
  history: HistoryPoint[];
}

interface Summary {
  spec: PretrainSpec;
  steps: number;
  tokensPerSecond: number;
  validPerplexity: number;
  history: HistoryPoint[];
}

const same = sameSettings;

/** Train (or reuse) the pretrained model; see the module comment. */
export async function pretrain(spec: PretrainSpec, brown: BrownCorpus, dev: Device, opts: { dir: string; fresh?: boolean; from?: string }): Promise<Pretrained> {
  const model = new TransformerLM(spec.model);
  const evalValid = async () =>
    (await evaluate(model, brown.valid, { context: spec.train.context, batch: spec.train.batchSize, maxTokens: spec.validTokens, device: dev })).perplexity;

  if (opts.from) {
    const ck = loadCheckpoint(opts.from, dev);
    model.loadStateDict(stripPrefix('model', ck.tensors));
    const steps = typeof ck.meta.step === 'number' ? ck.meta.step : NaN;
    console.log(`pretrain: loaded ${opts.from} (step ${steps}); no pretraining this run`);
    return { state: model.stateDict(), how: 'loaded', checkpoint: opts.from, steps, seconds: 0, tokensPerSecond: NaN, validPerplexity: await evalValid(), history: [] };
  }

  const ckptPath = join(opts.dir, 'checkpoint.safetensors');
  const summaryPath = join(opts.dir, 'summary.json');
  let resume = false;
  if (existsSync(ckptPath) && !opts.fresh) {
    const ck = loadCheckpoint(ckptPath, dev);
    if (!same(ck.meta.pdlPretrain, spec)) {
      console.log(`pretrain: ${ckptPath} was made with other settings; pretraining again`);
    } else if ((ck.meta.step as number) >= spec.train.steps) {
      model.loadStateDict(stripPrefix('model', ck.tensors));
      const summary = existsSync(summaryPath) ? (JSON.parse(readFileSync(summaryPath, 'utf8')) as Summary) : null;
      const ok = summary !== null && same(summary.spec, spec);
      console.log(`pretrain: reusing ${ckptPath} (step ${ck.meta.step as number}); delete it or pass --fresh-pretrain to retrain`);
      return {
        state: model.stateDict(), how: 'reused', checkpoint: ckptPath, steps: ck.meta.step as number, seconds: 0,
        tokensPerSecond: ok ? summary.tokensPerSecond : NaN, validPerplexity: ok ? summary.validPerplexity : await evalValid(),
        history: (ck.meta.history as HistoryPoint[]) ?? [],
      };
    } else {
      resume = true;
    }
  }
  const optimizer = makeOptimizer(model, spec.train.lr);
  console.log(`pretrain: ${model.numParameters().toLocaleString()} parameters, ${spec.train.steps} steps on Brown (${resume ? 'resuming' : 'from scratch'})`);
  const result = await train({
    runDir: opts.dir, model, optimizer, train: brown.train, valid: brown.valid, config: spec.train, device: dev, resume,
    meta: { pdlPretrain: spec, modelConfig: spec.model },
  });
  if (result.interrupted) throw new InterruptedError(`pretraining stopped at step ${result.steps}; no report written; run the same command again to resume from ${ckptPath}`);
  const validPerplexity = await evalValid();
  const summary: Summary = { spec, steps: result.steps, tokensPerSecond: result.tokensPerSecond, validPerplexity, history: result.history };
  writeJsonAtomic(summaryPath, summary);
  return {
    state: model.stateDict(), how: resume ? 'resumed' : 'trained', checkpoint: ckptPath, steps: result.steps, seconds: result.seconds,
    tokensPerSecond: result.tokensPerSecond, validPerplexity, history: result.history,
  };
}
