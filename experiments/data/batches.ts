/**
 * Turning an encoded token stream into language-model batches.
 *
 * - `randomWindows`: training batches of seeded random windows, targets = inputs shifted by one.
 * - `sequentialWindows`: evaluation batches in which every token of the split except the very first
 *   (which has no context) is a target exactly once. Windows do not overlap: window k reads inputs
 *   ids[k*C .. k*C+C-1] and predicts ids[k*C+1 .. k*C+C] (C = context), so each window starts from an
 *   empty history. The last window is usually shorter; it is PADDED to C with id 0 and an explicit
 *   `mask` (1 = real target, 0 = padding) and per-row `lengths` tell which positions count. The last
 *   batch may also hold fewer rows than asked (`rows`).
 *
 * All arrays are row-major [rows, context].
 */
import type { Generator } from '../../core/rng.js';

/** A batch of input ids and next-token targets, both [batch, context] row-major. */
export interface WindowBatch {
  x: Int32Array;
  y: Int32Array;
}

/** An evaluation batch: like `WindowBatch` plus padding information. */
export interface EvalBatch extends WindowBatch {
  /** Number of rows in this batch (<= the requested batch size; only the last batch can be smaller). */
  rows: number;
  /** Context length (row width). */
  context: number;
  /** 1 where y is a real target, 0 on padding; [rows, context]. */
  mask: Float32Array;
  /** Real targets per row (context for every row but possibly the very last). */
  lengths: Int32Array;
  /** Index in the split of the first target of each row (row r scores ids[start[r] .. start[r]+lengths[r]-1]). */
  start: Int32Array;
}

function checkArgs(fn: string, ids: Int32Array, context: number, batch: number): void {
  if (!Number.isInteger(context) || context < 1) throw new Error(`${fn}: context must be an integer >= 1, got ${context}`);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`${fn}: batch must be an integer >= 1, got ${batch}`);
  if (ids.length < context + 1) {
    throw new Error(`${fn}: the split has ${ids.length} tokens, fewer than context + 1 = ${context + 1}`);
  }
}

/**
 * Draws `batch` windows at seeded random offsets: x[b] = ids[s .. s+context-1], y[b] = ids[s+1 .. s+context]
 * with s uniform in [0, ids.length - context - 1].
 *
 * @throws when the split has fewer than context + 1 tokens
 */
export function randomWindows(ids: Int32Array, batch: number, context: number, gen: Generator): WindowBatch {
  checkArgs('randomWindows', ids, context, batch);
  const x = new Int32Array(batch * context);
  const y = new Int32Array(batch * context);
  const starts = ids.length - context;
  for (let b = 0; b < batch; b++) {
    const s = gen.int(starts);
    x.set(ids.subarray(s, s + context), b * context);
    y.set(ids.subarray(s + 1, s + context + 1), b * context);
  }
  return { x, y };
}

/** Number of evaluation windows `sequentialWindows` produces for a split of n tokens. */
export function sequentialWindowCount(n: number, context: number): number {
  return n < 2 ? 0 : Math.ceil((n - 1) / context);
}

/**
 * Iterates over non-overlapping evaluation windows so that every token but the first is scored exactly
 * once; the last window is padded (id 0, mask 0). See the module comment.
 *
 * @param batch windows per yielded batch (default 1)
 * @throws when the split has fewer than context + 1 tokens
 */
export function* sequentialWindows(ids: Int32Array, context: number, batch = 1): IterableIterator<EvalBatch> {
  checkArgs('sequentialWindows', ids, context, batch);
  const total = sequentialWindowCount(ids.length, context);
  for (let w0 = 0; w0 < total; w0 += batch) {
    const rows = Math.min(batch, total - w0);
    const x = new Int32Array(rows * context);
    const y = new Int32Array(rows * context);
    const mask = new Float32Array(rows * context);
    const lengths = new Int32Array(rows);
    const start = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      const s = (w0 + r) * context;
      const len = Math.min(context, ids.length - 1 - s);
      x.set(ids.subarray(s, s + len), r * context);
      y.set(ids.subarray(s + 1, s + 1 + len), r * context);
      mask.fill(1, r * context, r * context + len);
      lengths[r] = len;
      start[r] = s + 1;
    }
    yield { x, y, rows, context, mask, lengths, start };
  }
}
