/**
 * The CPU devices' override of `indexAdd_` (ops/indexing.ts), the embedding's backward: out[.., v, ..] =
 * sum of src over the positions whose index is v. The kernel runs one thread per output element, each
 * unravelling its 6-d index, so a [13,189 x 128] token-embedding gradient cost ~7 ms although a batch of
 * 512 tokens touches at most 512 of its rows. Here the rows no index hits are left at 0 and only the hit
 * ones are summed, in the kernel's order (positions ascending, in float64 rounded once): ~0.3 ms.
 * Same arguments as the kernel; spec/row-overrides.spec.ts tests it against it on the float64 reference.
 */
import type { KernelArg } from '../../kernel.js';
import { registerOverride } from '../overrides.js';

/** indexAdd_(src, offsets, perm, outShape, srcStrides, dim) over 6-d padded shapes and strides. */
export function indexAddRows(n: number, args: KernelArg[]): Float32Array {
  const [src, offsets, perm, outShape, srcStrides, dim] = args as [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>, ArrayLike<number>, ArrayLike<number>, number];
  const out = new Float32Array(n);
  const rank = outShape.length;
  const outStrides = new Array<number>(rank);
  for (let d = rank - 1, acc = 1; d >= 0; d--) {
    outStrides[d] = acc;
    acc *= outShape[d];
  }
  // every combination of the other dims: where it lands in the output, and its base in src
  let outBase = [0];
  let srcBase = [0];
  for (let d = 0; d < rank; d++) {
    if (d === dim) continue;
    const o: number[] = [];
    const s: number[] = [];
    for (let i = 0; i < outBase.length; i++) {
      for (let c = 0; c < outShape[d]; c++) {
        o.push(outBase[i] + c * outStrides[d]);
        s.push(srcBase[i] + c * srcStrides[d]);
      }
    }
    outBase = o;
    srcBase = s;
  }
  const step = srcStrides[dim];
  for (let v = 0; v < outShape[dim]; v++) {
    const start = offsets[v];
    const end = offsets[v + 1];
    if (start === end) continue; // no index is v: the output stays 0
    const at = v * outStrides[dim];
    for (let c = 0; c < outBase.length; c++) {
      let sum = 0;
      for (let j = start; j < end; j++) sum += src[srcBase[c] + perm[j] * step];
      out[outBase[c] + at] = sum;
    }
  }
  return out;
}

registerOverride({
  name: 'indexAddRows',
  replaces: 'indexAdd_',
  devices: ['webasm', 'cpu'],
  byDefault: ['webasm', 'cpu'],
  testedBy: 'spec/row-overrides.spec.ts',
  run: (_dev, n, args) => indexAddRows(n, args),
});
