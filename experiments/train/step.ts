/**
 * One optimisation step of a language model on one batch of windows: forward, backward, clip, AdamW,
 * zero the gradients. The training loop and the step timers of the experiments all call this one.
 */
import { Tensor, type Device } from '../../core/index.js';
import { clipGradNorm, type AdamW, type TransformerLM } from '../../nn/index.js';
import type { WindowBatch } from '../data/index.js';

export interface StepOptions {
  device: Device;
  /** The batch is [batchSize, context] row-major. */
  batchSize: number;
  context: number;
  /** Clip the global gradient norm to this (0 = no clipping). */
  clip: number;
}

/**
 * Run one step and return the batch's training loss (awaited, so the step has finished on async devices).
 *
 * @example
 * const loss = await trainStep(model, optimizer, randomWindows(ids, 8, 32, gen), { device, batchSize: 8, context: 32, clip: 1 });
 */
export async function trainStep(model: TransformerLM, optimizer: AdamW, batch: WindowBatch, o: StepOptions): Promise<number> {
  const shape = [o.batchSize, o.context];
  const loss = model.loss(Tensor.fromValues(batch.x, shape, o.device, 'int32'), Tensor.fromValues(batch.y, shape, o.device, 'int32'));
  loss.backward({ freeGraph: true }); // its intermediates' memory goes to the next step
  if (o.clip > 0) clipGradNorm(model.parameters(), o.clip);
  optimizer.step();
  optimizer.zeroGrad();
  return loss.item();
}
