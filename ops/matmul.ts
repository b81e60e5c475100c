/**
 * Batched matmul with numpy batch broadcasting. Transposed operands are read through strides, so the
 * backward pass (which needs A^T and B^T) never materialises a transpose.
 *
 *   C = op(A) op(B),   op(X) = X or X^T (last two dims)
 *   dA = G op(B)^T (transposed back when A was), dB = op(A)^T G (likewise) — see `backward` below.
 *
 * The op declares one kernel, `matmulStrided` (one thread per output element), and never names a device.
 * Devices register faster implementations of that same kernel in the device layer (core/devices/):
 * the WebAssembly SIMD gemm on webasm (core/devices/webasm/gemm-override.ts, ~25 GFLOP/s on one core) and
 * a 4-rows-per-thread gpu.js kernel on cpu and webgpu (core/devices/gpujs/matmul-rows4.ts). Every one of
 * them runs through the same kernel path (NaN check, profiler, size checks) and is tested against this
 * kernel on the float64 reference (spec/matmul.spec.ts). `setKernelOverride('matmulStrided', 'none')` runs
 * this kernel everywhere.
 */
import { record } from '../core/autograd.js';
import type { KernelThis } from '../core/kernel.js';
import { kernel } from '../core/kernel.js';
import { broadcastShapes, numel, shapeStr } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { broadcastRaw } from './shape.js';

/**
 * One thread per output element C[bat, i, j] = bias[j] (when hasBias is 1) + sum over k of A[bat, i, k]
 * B[bat, k, j], for op(A) of M x K and op(B) of K x N. Each operand is read through strides (per batch, per
 * row or k, per k or column), so transposed and broadcast operands cost nothing. The bias is `linear`'s:
 * added in the same pass instead of by a second kernel. Device overrides take exactly these arguments.
 */
function matmulStrided(
  this: KernelThis, a: Float32Array, b: Float32Array, bias: Float32Array, M: number, N: number, K: number,
  sAb: number, sAi: number, sAk: number, sBb: number, sBk: number, sBj: number, hasBias: number,
): number {
  const t = this.thread.x;
  const bat = Math.floor(t / (M * N));
  const ij = t - bat * M * N;
  const i = Math.floor(ij / N);
  const j = ij - i * N;
  let ia = bat * sAb + i * sAi;
  let ib = bat * sBb + j * sBj;
  let s = 0;
  if (hasBias > 0) s = bias[j];
  for (let k = 0; k < K; k++) {
    s += a[ia] * b[ib];
    ia += sAk;
    ib += sBk;
  }
  return s;
}
const matmulKernel = kernel(matmulStrided);
/** The bias argument of a plain product (never read: hasBias is 0). */
const NO_BIAS = Float32Array.of(0);

// ---------------------------------------------------------------------------------------------------------

export interface MatmulOpts {
  transA?: boolean;
  transB?: boolean;
}

/**
 * Matrix product of the last two dims, batch dims broadcast (as torch.matmul). 1-D operands are treated
 * as a row (left) or a column (right) vector and that dim is dropped from the result.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOpts = {}): Tensor {
  if (!(a instanceof Tensor) || !(b instanceof Tensor)) throw new Error('matmul: both operands must be Tensors');
  if (a.device !== b.device) throw new Error(`matmul: operands on different devices (${a.device.name}, ${b.device.name})`);
  if (a.ndim === 0 || b.ndim === 0) throw new Error(`matmul: operands must have at least 1 dim, got ${shapeStr(a.shape)} x ${shapeStr(b.shape)}`);
  if (a.ndim === 1) return matmul(a.unsqueeze(0), b, opts).squeeze(-2);
  if (b.ndim === 1) return matmul(a, b.unsqueeze(1), opts).squeeze(-1);
  return matmulMatrices(a, b, opts.transA ?? false, opts.transB ?? false);
}

/**
 * Linear map as torch.nn.functional.linear: x W^T + bias for x [..., in], weight [out, in], bias [out] or
 * null -> [..., out]. One kernel call: the bias is added by the matmul kernel itself; its gradient is the
 * sum of g over the rows.
 * @example
 * const y = linear(x, w, b); // x [B, T, 64], w [256, 64], b [256] -> [B, T, 256]
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  if (!(x instanceof Tensor) || !(weight instanceof Tensor)) throw new Error('linear: x and weight must be Tensors');
  const [out, inF] = weight.shape;
  if (weight.ndim !== 2 || x.ndim === 0 || x.shape[x.ndim - 1] !== inF) {
    throw new Error(`linear: need x [..., in] and weight [out, in], got x ${shapeStr(x.shape)} and weight ${shapeStr(weight.shape)}`);
  }
  if (bias && (!(bias instanceof Tensor) || bias.ndim !== 1 || bias.shape[0] !== out)) {
    throw new Error(`linear: bias must be a [${out}] tensor for weight ${shapeStr(weight.shape)}, got ${bias instanceof Tensor ? shapeStr(bias.shape) : typeof bias}`);
  }
  if (bias && bias.device !== x.device) throw new Error(`linear: bias is on ${bias.device.name}, x on ${x.device.name}; move one with .to()`);
  const lead = x.shape.slice(0, -1);
  const y = matmulMatrices(x.reshape([-1, inF]), weight, false, true, bias);
  return y.reshape([...lead, out]);
}

/** op(a) op(b) (+ bias over the last dim) over the last two dims of operands with at least 2 dims; batch dims broadcast. */
function matmulMatrices(a: Tensor, b: Tensor, tA: boolean, tB: boolean, bias: Tensor | null = null): Tensor {
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, Ka] = tA ? [ac, ar] : [ar, ac];
  const [Kb, N] = tB ? [bc, br] : [br, bc];
  if (Ka !== Kb) {
    const how = `${tA ? 'A^T' : 'A'} x ${tB ? 'B^T' : 'B'}`;
    throw new Error(`matmul: inner dims differ: ${shapeStr(a.shape)} x ${shapeStr(b.shape)} (${how}: ${Ka} vs ${Kb})`);
  }
  const batch = broadcastShapes('matmul (batch dims)', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const nb = numel(batch);
  // an operand whose batch is all ones is shared by every batch (stride 0); otherwise broadcast it fully
  const prep = (x: Tensor, r: number, c: number) => {
    const xb = numel(x.shape.slice(0, -2));
    if (xb === 1) return { t: x, stride: 0 };
    if (xb === nb) return { t: x, stride: r * c };
    return { t: broadcastRaw(x, [...batch, r, c]), stride: r * c };
  };
  const A = prep(a, ar, ac);
  const B = prep(b, br, bc);
  const [sAi, sAk] = tA ? [1, ac] : [ac, 1];
  const [sBk, sBj] = tB ? [1, bc] : [bc, 1];
  const data = a.run(matmulKernel, nb * M * N, [A.t, B.t, bias ?? NO_BIAS, M, N, Ka, A.stride, sAi, sAk, B.stride, sBk, sBj, bias ? 1 : 0]);
  const y = new Tensor(data, [...batch, M, N], a.device);
  if (bias) return record(y, 'linear', [a, b, bias], (g) => [...backward(g, a, b, tA, tB), g]); // the engine sums g to [N]
  return record(y, 'matmul', [a, b], (g) => backward(g, a, b, tA, tB));
}

function backward(g: Tensor, a: Tensor, b: Tensor, tA: boolean, tB: boolean): [Tensor, Tensor] {
  const mm = matmulMatrices;
  if (!tA && !tB) return [mm(g, b, false, true), mm(a, g, true, false)];
  if (!tA && tB) return [mm(g, b, false, false), mm(g, a, true, false)];
  if (tA && !tB) return [mm(b, g, false, true), mm(a, g, false, false)];
  return [mm(b, g, true, true), mm(g, a, true, true)];
}
