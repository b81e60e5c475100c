/**
 * webasm's overrides of fusedAttention's two big kernels (ops/attention.ts): `attnForward` and
 * `attnBackward` by the WebAssembly SIMD walk over each head in wasm/attention.ts. The kernels run one
 * thread per output value and recompute a score row for each (O(Tk D) per value); these compute each
 * score once per pass. Heads whose sizes are not multiples of 4 go to the kernels (return null). The
 * default on cpu too: there the kernels, transpiled to JavaScript, made the tiny-GPT step 3x slower
 * (1,743 against 543 ms) than attention written with ops.
 * spec/attention.spec.ts tests both against the kernels on the float64 reference.
 */
import type { KernelArg } from '../../kernel.js';
import { registerOverride } from '../overrides.js';
import { wasmAttention } from './wasm/attention.js';

type Arr = ArrayLike<number>;

registerOverride({
  name: 'attnForwardWasm',
  replaces: 'attnForward',
  devices: ['webasm', 'cpu'],
  byDefault: ['webasm', 'cpu'],
  testedBy: 'spec/attention.spec.ts',
  run: (_dev, _n, args: KernelArg[]) => {
    const [q, k, v, B, Tq, Tk, H, D, Dv, offset, scale] = args as [Arr, Arr, Arr, ...number[]];
    if (D % 4 !== 0 || Dv % 4 !== 0) return null;
    return wasmAttention().forward(q, k, v, B, Tq, Tk, H, D, Dv, offset, scale);
  },
});

registerOverride({
  name: 'attnBackwardWasm',
  replaces: 'attnBackward',
  devices: ['webasm', 'cpu'],
  byDefault: ['webasm', 'cpu'],
  testedBy: 'spec/attention.spec.ts',
  run: (_dev, _n, args: KernelArg[]) => {
    const [q, k, v, g, lse, delta, B, Tq, Tk, H, D, Dv, offset, scale] = args as [Arr, Arr, Arr, Arr, Arr, Arr, ...number[]];
    if (D % 4 !== 0 || Dv % 4 !== 0) return null;
    return wasmAttention().backward(q, k, v, g, lse, delta, B, Tq, Tk, H, D, Dv, offset, scale);
  },
});
