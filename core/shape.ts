/**
 * Shapes, strides and broadcasting rules (numpy's), with errors that name the op and the shapes.
 */
export type Shape = readonly number[];

/** Number of elements of a shape ([] is a scalar: 1). */
export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C-order) strides of a contiguous tensor. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The numpy broadcast of two shapes; throws naming `op` when they cannot broadcast. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(
        `${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} cannot broadcast (dim ${i - n} is ${da} vs ${db}); ` +
          `sizes must match or be 1 — reshape or unsqueeze one operand`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Resolve a possibly negative dim against a rank, with a clear error. */
export function normDim(op: string, dim: number, rank: number): number {
  if (!Number.isInteger(dim) || dim < -Math.max(rank, 1) || dim >= Math.max(rank, 1)) {
    throw new Error(`${op}: dim ${dim} is out of range for a tensor of rank ${rank} (valid: ${-rank}..${rank - 1})`);
  }
  return dim < 0 ? dim + rank : dim;
}

/** Resolve a dims argument (undefined = all dims) into sorted unique non-negative dims. */
export function normDims(op: string, dims: number | readonly number[] | undefined, rank: number): number[] {
  if (dims === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof dims === 'number' ? [dims] : [...dims];
  const out = [...new Set(list.map((d) => normDim(op, d, rank)))].sort((x, y) => x - y);
  if (out.length !== list.length) throw new Error(`${op}: repeated dim in ${JSON.stringify(list)}`);
  return out;
}

/** Check that a shape is a list of non-negative integers. */
export function checkShape(op: string, shape: Shape): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    // String(d), not JSON: JSON.stringify prints NaN and Infinity as null
    const shown = Array.isArray(shape) ? `[${shape.map((d) => String(d)).join(',')}]` : String(shape);
    throw new Error(`${op}: a shape must be a list of non-negative integers, got ${shown}`);
  }
}

/**
 * Check a shape for a new tensor on `device` before anything is allocated: non-negative integer dims, and
 * at most `device.maxElements` elements (2^24 on gpu.js devices, whose float32 index arithmetic stops
 * being exact past it).
 * @example checkNewTensor('zeros', [4096, 4096], device('webasm')); // ok: 2^24 elements
 */
export function checkNewTensor(op: string, shape: Shape, device: { readonly name: string; readonly maxElements: number }): void {
  checkShape(op, shape);
  const n = numel(shape);
  if (n > device.maxElements) {
    const limit = Number.isInteger(Math.log2(device.maxElements)) ? `2^${Math.log2(device.maxElements)} = ${device.maxElements}` : `${device.maxElements}`;
    throw new Error(
      `${op}: shape ${shapeStr(shape)} has ${n} elements, over the ${limit} elements one tensor may hold on device ` +
        `${device.name}; split it into smaller tensors (or use a device with a higher limit)`,
    );
  }
}

/** Pad a shape with leading ones to rank r (used to give kernels a fixed rank). */
export function padShape(shape: Shape, r: number): number[] {
  return [...new Array<number>(r - shape.length).fill(1), ...shape];
}

/** The highest rank a strided kernel handles; higher ranks are rejected with a clear error. */
export const MAX_RANK = 6;
