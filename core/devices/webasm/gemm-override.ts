/**
 * webasm's override of matmul's kernel (`matmulStrided`, ops/matmul.ts): the WebAssembly SIMD micro-kernel
 * (wasm/gemm.ts), which reaches 20-28 GFLOP/s on one core where gpu.js's best matmul kernel stays near 5.
 * It takes `matmulStrided`'s arguments as they are (the same strides), and spec/matmul.spec.ts tests it
 * against that kernel on the float64 reference. It can also run on `cpu` when asked for by name
 * (`setKernelOverride('matmulStrided', 'matmulWasm')`).
 */
import type { KernelArg } from '../../kernel.js';
import { registerOverride } from '../overrides.js';
import { wasmGemm } from './wasm/gemm.js';

/**
 * matmulStrided(a, b, bias, M, N, K, sAb, sAi, sAk, sBb, sBk, sBj, hasBias) computes C[bat, i, j] =
 * [bias[j]] + sum_k a[bat sAb + i sAi + k sAk] b[bat sBb + k sBk + j sBj] for n = batches * M * N outputs.
 */
function runGemm(n: number, args: KernelArg[]): Float32Array | null {
  const [a, b, bias, M, N, K, sAb, sAi, sAk, sBb, sBk, sBj, hasBias] = args as [Float32Array, Float32Array, Float32Array, ...number[]];
  if (n === 0 || !(a instanceof Float32Array) || !(b instanceof Float32Array)) return null;
  const batches = n / (M * N);
  return wasmGemm().run({ data: a, sb: sAb, si: sAi, sk: sAk }, { data: b, sb: sBb, si: sBk, sk: sBj }, batches, M, N, K, hasBias ? bias : null);
}

registerOverride({
  name: 'matmulWasm',
  replaces: 'matmulStrided',
  devices: ['webasm', 'cpu'],
  byDefault: ['webasm'],
  testedBy: 'spec/matmul.spec.ts',
  run: (_dev, n, args) => runGemm(n, args),
});
