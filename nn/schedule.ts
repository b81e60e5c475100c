/**
 * Learning-rate schedule: linear warmup, then cosine decay to minLr (as in nanoGPT / GPT-3).
 *
 *   step < warmup:           lr * (step + 1) / warmup          (reaches lr at step warmup - 1)
 *   warmup <= step <= total: minLr + (lr - minLr) (1 + cos(pi (step - warmup) / (total - warmup))) / 2
 *   step > total:            minLr
 */
export interface ScheduleOpts {
  lr: number;
  warmup: number;
  total: number;
  minLr?: number;
}

/**
 * @example
 * for (let step = 0; step < total; step++) opt.lr = lrAt(step, { lr: 1e-3, warmup: 100, total, minLr: 1e-4 });
 */
export function lrAt(step: number, opts: ScheduleOpts): number {
  const { lr, warmup, total } = opts;
  const minLr = opts.minLr ?? 0;
  if (!Number.isInteger(warmup) || warmup < 0 || !Number.isInteger(total) || total < warmup) {
    throw new Error(`lrAt: need integers 0 <= warmup <= total, got warmup ${warmup}, total ${total}`);
  }
  if (!(step >= 0)) throw new Error(`lrAt: step must be >= 0, got ${step}`);
  if (step < warmup) return (lr * (step + 1)) / warmup;
  if (step >= total) return minLr;
  const progress = (step - warmup) / (total - warmup);
  return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * progress));
}
