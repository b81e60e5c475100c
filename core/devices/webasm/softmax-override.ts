/**
 * webasm's overrides of row kernels of softmax and cross-entropy (ops/softmax.ts), the costliest kernels
 * after matmul when the rows are a full vocabulary (512 rows x 13,189 classes per step):
 *   - `expShiftRows` (exp(x - rowmax)) by the WebAssembly SIMD exp of wasm/simd.ts: 57 -> ~20 ms per call
 *     there (about half of it copying in and out of WebAssembly memory);
 *   - `expShiftCausal` (the same with a decoder's mask) likewise, then the masked entries set to 0;
 *   - `nllBackward_` ((softmax - onehot) * g) as one multiply per element by g[row] / s[row] and a
 *     fix of the target's entry, in plain JavaScript: no division and no compare per element.
 * Each takes the replaced kernel's arguments and falls back to it (returns null) for rows under 4 floats.
 * spec/row-overrides.spec.ts tests them against those kernels on the float64 reference.
 */
import type { KernelArg } from '../../kernel.js';
import { outputArray } from '../../pool.js';
import { registerOverride } from '../overrides.js';
import { wasmSimd } from './wasm/simd.js';

registerOverride({
  name: 'expShiftRowsWasm',
  replaces: 'expShiftRows',
  devices: ['webasm', 'cpu'],
  byDefault: ['webasm'],
  testedBy: 'spec/row-overrides.spec.ts',
  run: (_dev, n, args) => {
    const [x, m, R] = args as [ArrayLike<number>, ArrayLike<number>, number];
    if (R < 4 || n % R !== 0) return null;
    return wasmSimd().expShift(x, m, n / R, R);
  },
});

registerOverride({
  name: 'expShiftCausalWasm',
  replaces: 'expShiftCausal',
  devices: ['webasm', 'cpu'],
  byDefault: ['webasm'],
  testedBy: 'spec/row-overrides.spec.ts',
  run: (_dev, n, args) => {
    // row r is query i = r % Tq, which sees keys j <= i + offset; the others are exactly 0
    const [x, m, R, Tq, offset] = args as [ArrayLike<number>, ArrayLike<number>, number, number, number];
    if (R < 4 || n % R !== 0) return null;
    const rows = n / R;
    const out = wasmSimd().expShift(x, m, rows, R);
    for (let r = 0; r < rows; r++) {
      const seen = (r % Tq) + offset + 1;
      if (seen < R) out.fill(0, r * R + Math.max(seen, 0), (r + 1) * R);
    }
    return out;
  },
});

/** nllBackward_(e, s, t, g, C): (e[r, j] / s[r] - [j = t[r]]) g[r]. */
function nllBackward(n: number, args: KernelArg[]): Float32Array | null {
  const [e, s, t, g, C] = args as [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>, ArrayLike<number>, number];
  if (n % C !== 0) return null;
  const out = outputArray(n); // every value is written below
  const rows = n / C;
  for (let r = 0; r < rows; r++) {
    const c = g[r] / s[r];
    const base = r * C;
    for (let j = base; j < base + C; j++) out[j] = e[j] * c;
    const hot = t[r];
    if (hot >= 0 && hot < C) out[base + hot] = (e[base + hot] / s[r] - 1) * g[r];
  }
  return out;
}

registerOverride({
  name: 'nllBackwardRows',
  replaces: 'nllBackward_',
  devices: ['webasm', 'cpu'],
  byDefault: ['webasm'],
  testedBy: 'spec/row-overrides.spec.ts',
  run: (_dev, n, args) => nllBackward(n, args),
});
