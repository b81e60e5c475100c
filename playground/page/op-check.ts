/**
 * The gradient panel's numbers for one op of the op table (spec/op-table/, the same cases the test suite
 * draws): the op's forward value on the page's device and in float64, the gradient of L = sum(c * op(x))
 * with respect to its first float input (autograd on the device and in float64), central finite differences
 * of L in float64 beside it, and the library's `gradcheck` verdict over the op's whole Jacobian.
 * @example
 * const check = checkOp('gelu', 3, 'webasm');
 * console.log(check.rows[0], check.gradcheck.message);
 */
import { GpuJsDevice } from '../../core/devices/gpujs/device.js';
import { device, Generator, gradcheck, tensor, type Device, type GradcheckReport, type Tensor } from '../../core/index.js';
import { DEFAULT_TOL, opTable, Sampler, type OpEntry, type Tolerance } from '../../spec/op-table/index.js';

/** The ops offered in the panel: every op of the table that has a gradient. */
export const CHECKABLE_OPS: readonly string[] = opTable.filter((e) => e.grad !== false).map((e) => e.name);

export interface ElementRow {
  index: number;
  input: number;
  gradientOnDevice: number;
  gradientFloat64: number;
  finiteDifference: number;
}

export interface OpCheck {
  op: string;
  device: string;
  inputShapes: number[][];
  outputShape: number[];
  /** Which input the rows differentiate with respect to. */
  wrt: number;
  forwardOnDevice: number[];
  forwardFloat64: number[];
  rows: ElementRow[];
  /** Largest |device - float64| of the forward values and of the gradient, and the op's tolerances. */
  forwardError: number;
  gradientError: number;
  tolerance: { fwd: Tolerance; bwd: Tolerance };
  deviceAgrees: boolean;
  gradcheck: GradcheckReport;
}

const EPS = 1e-6;
const MAX_ROWS = 8;

function entry(name: string): OpEntry {
  const e = opTable.find((x) => x.name === name);
  if (!e) throw new Error(`checkOp: no op named "${name}" in the op table; choose one of ${CHECKABLE_OPS.join(', ')}`);
  if (e.grad === false) throw new Error(`checkOp: ${name} has no gradient`);
  return e;
}

function worstError(a: ArrayLike<number>, b: ArrayLike<number>, tol: Tolerance): { error: number; ok: boolean } {
  let error = 0;
  let ok = true;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    error = Math.max(error, e);
    if (!(e <= tol.atol + tol.rtol * Math.abs(b[i]))) ok = false;
  }
  return { error, ok };
}

/** Run the check of op `name` on a case drawn with `seed`, on device `deviceName`. */
export async function checkOp(name: string, seed: number, deviceName: string): Promise<OpCheck> {
  const e = entry(name);
  const drawn = e.sample(new Sampler(seed));
  const wrt = drawn.inputs.findIndex((c) => (c.dtype ?? 'float32') === 'float32');
  if (wrt < 0) throw new Error(`checkOp: ${name}'s case has no float input`);
  const build = (where: Device, values: number[][], grad: boolean): Tensor[] =>
    drawn.inputs.map((c, i) => tensor(values[i], c.shape, { dtype: c.dtype ?? 'float32', device: where, requiresGrad: grad && i === wrt }));
  const reference = device('reference');
  const baseValues = drawn.inputs.map((c) => c.values);
  const outputShape = drawn.call(build(reference, baseValues, false)).shape;
  const outputSize = outputShape.reduce((p, d) => p * d, 1);
  const cotangentGenerator = new Generator(seed + 1000);
  const cotangent = Array.from({ length: outputSize }, () => 2 * cotangentGenerator.random() - 1);

  // forward and d<c, op(x)>/dx on one device
  const run = async (where: Device): Promise<{ forward: number[]; gradient: number[] }> => {
    const xs = build(where, baseValues, true);
    const y = drawn.call(xs);
    const c = tensor(cotangent, y.shape, { device: where });
    y.mul(c).sum().backward();
    const forward = Array.from(await y.toArray());
    const g = xs[wrt].grad;
    const gradient = g ? Array.from(await g.toArray()) : new Array<number>(xs[wrt].numel).fill(0);
    return { forward, gradient };
  };
  // On webasm the check runs on a device instance of its own, let go afterwards: gpu.js gives each compiled
  // WebAssembly kernel (one per kernel and shape) its own WebAssembly.Memory, headless Chromium allowed 124
  // alive at once (measured), and training alone holds about 75.
  const own = deviceName === 'webasm' ? new GpuJsDevice('webasm') : null;
  let onDevice: { forward: number[]; gradient: number[] };
  try {
    onDevice = await run(own ?? device(deviceName));
  } finally {
    await own?.destroy();
  }
  const float64 = await run(reference);

  // central finite differences of L in float64, element by element
  const lossAt = async (values: number[][]): Promise<number> => {
    const y = drawn.call(build(reference, values, false));
    const ys = await y.toArray();
    let total = 0;
    for (let k = 0; k < ys.length; k++) total += cotangent[k] * ys[k];
    return total;
  };
  const rows: ElementRow[] = [];
  const n = Math.min(MAX_ROWS, baseValues[wrt].length);
  for (let index = 0; index < n; index++) {
    const shifted = (delta: number) => baseValues.map((v, i) => (i === wrt ? v.map((x, k) => (k === index ? x + delta : x)) : v));
    const finiteDifference = ((await lossAt(shifted(EPS))) - (await lossAt(shifted(-EPS)))) / (2 * EPS);
    rows.push({ index, input: baseValues[wrt][index], gradientOnDevice: onDevice.gradient[index], gradientFloat64: float64.gradient[index], finiteDifference });
  }

  const tolerance = { fwd: e.tol?.fwd ?? DEFAULT_TOL.fwd, bwd: e.tol?.bwd ?? DEFAULT_TOL.bwd };
  const fwd = worstError(onDevice.forward, float64.forward, tolerance.fwd);
  const bwd = worstError(onDevice.gradient, float64.gradient, tolerance.bwd);
  const report = gradcheck((...xs: Tensor[]) => drawn.call(xs), build(reference, baseValues, false));
  return {
    op: name,
    device: deviceName,
    inputShapes: drawn.inputs.map((c) => c.shape),
    outputShape,
    wrt,
    forwardOnDevice: onDevice.forward,
    forwardFloat64: float64.forward,
    rows,
    forwardError: fwd.error,
    gradientError: bwd.error,
    tolerance,
    deviceAgrees: fwd.ok && bwd.ok,
    gradcheck: report,
  };
}
