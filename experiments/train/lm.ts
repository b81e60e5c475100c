/**
 * One language-model run from configs: build the model, AdamW with weight decay on matrices only, train,
 * and score validation and test perplexity. The main job and the paper experiments all go through here,
 * so their variants differ only in what they plug into the model's seams.
 */
import { join } from 'node:path';
import type { Device } from '../../core/index.js';
import { AdamW, TransformerLM, type TransformerConfig } from '../../nn/index.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { train, type TrainConfig, type TrainResult } from './loop.js';

/** AdamW (betas 0.9, 0.95) with weight decay on parameters of 2+ dims only (not biases, norms, gains). */
export function makeOptimizer(model: TransformerLM, lr: number, weightDecay = 0.1): AdamW {
  const named = model.namedParameters();
  return new AdamW(
    [
      { params: named.filter(([, t]) => t.ndim >= 2), weightDecay },
      { params: named.filter(([, t]) => t.ndim < 2), weightDecay: 0 },
    ],
    { lr, betas: [0.9, 0.95] },
  );
}

export interface LmRun {
  /** Outputs go to runs/<name>/ (checkpoint, metrics.jsonl); may be nested, e.g. "complexformer/rope-s0". */
  name: string;
  model: TransformerConfig;
  train: TrainConfig;
  data: { train: Int32Array; valid: Int32Array; test: Int32Array };
  device: Device;
  /** Tokens scored at the end (undefined = the whole split). */
  finalValidTokens?: number;
  testTokens?: number;
  resume?: boolean;
  /** With `resume`: accept a config that differs from the checkpoint's. */
  allowConfigChange?: boolean;
  quiet?: boolean;
  weightDecay?: number;
  meta?: Record<string, unknown>;
}

/** A finished run, scored; or one stopped by Ctrl-C (checkpoint saved, nothing scored). */
export type LmResult =
  | { interrupted: false; model: TransformerLM; result: TrainResult; valid: EvalResult; test: EvalResult }
  | { interrupted: true; model: TransformerLM; result: TrainResult };

/** Train one model and evaluate it; the model is built on the current device. */
export async function runLm(r: LmRun): Promise<LmResult> {
  const model = new TransformerLM(r.model);
  const optimizer = makeOptimizer(model, r.train.lr, r.weightDecay);
  if (!r.quiet) {
    const m = r.model;
    console.log(`${r.name}: ${model.numParameters().toLocaleString()} parameters (${m.nLayers} layers, d ${m.dModel}, ${m.nHeads} heads, context ${m.contextLength})`);
  }
  const result = await train({
    runDir: join('runs', r.name), model, optimizer, train: r.data.train, valid: r.data.valid, config: r.train, device: r.device,
    resume: r.resume, allowConfigChange: r.allowConfigChange, quiet: r.quiet, meta: { modelConfig: { ...r.model, attention: undefined, head: undefined, loss: undefined }, ...r.meta },
  });
  if (result.interrupted) return { interrupted: true, model, result }; // Ctrl-C: stop now, do not score
  const opts = { context: r.train.context, batch: r.train.batchSize, device: r.device };
  if (!r.quiet) console.log(`${r.name}: evaluating (${r.finalValidTokens ?? 'all'} validation and ${r.testTokens ?? 'all'} test tokens)...`);
  const valid = await evaluate(model, r.data.valid, { ...opts, maxTokens: r.finalValidTokens });
  const test = await evaluate(model, r.data.test, { ...opts, maxTokens: r.testTokens });
  return { interrupted: false, model, result, valid, test };
}
