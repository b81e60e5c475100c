/**
 * webasm's overrides of GELU's kernels (ops/elementwise.ts, tanh form): `gelu` and `geluBackward_` as
 * WebAssembly SIMD (wasm/simd.ts), tanh from the SIMD exp, four floats per instruction. gpu.js's kernels
 * call a scalar tanh per element (~11 ns per element in the tiny-GPT step's MLP). The backward computes
 * tanh again from x instead of reading it back from y (one exp is cheaper here than the division and the
 * small-x branch the kernel needs). Same arguments as the kernels; spec/row-overrides.spec.ts tests both
 * against them on the float64 reference.
 */
import { registerOverride } from '../overrides.js';
import { wasmSimd } from './wasm/simd.js';

registerOverride({
  name: 'geluWasm',
  replaces: 'gelu',
  devices: ['webasm', 'cpu'],
  byDefault: ['webasm'],
  testedBy: 'spec/row-overrides.spec.ts',
  run: (_dev, n, args) => wasmSimd().gelu(args[0] as ArrayLike<number>, n),
});

registerOverride({
  name: 'geluBackwardWasm',
  replaces: 'geluBackward_',
  devices: ['webasm', 'cpu'],
  byDefault: ['webasm'],
  testedBy: 'spec/row-overrides.spec.ts',
  // geluBackward_(g, x, y): y is not needed here
  run: (_dev, n, args) => wasmSimd().geluBackward(args[0] as ArrayLike<number>, args[1] as ArrayLike<number>, n),
});
