/**
 * The float64 reference device: each kernel function called as plain JavaScript, once per output, into a
 * Float64Array. No compiler stands between the kernel source and the numbers, so gradients are proved here
 * (core/gradcheck.ts) and every other device is tested against it.
 */
import type { Data, Device } from '../../device.js';
import type { GridKernelSpec, KernelArg, KernelSpec, KernelThis } from '../../kernel.js';

export class ReferenceDevice implements Device {
  readonly name = 'reference' as const;
  readonly async = false;
  /** V8's typed-array length limit (Node 20, measured: new Uint8Array(2 ** 32 + 1) throws a RangeError). */
  readonly maxElements = 2 ** 32;
  alloc(n: number): Data {
    return new Float64Array(n);
  }
  fromValues(values: ArrayLike<number>): Data {
    return Float64Array.from(values);
  }
  run(spec: KernelSpec, n: number, args: KernelArg[]): Data {
    const out = new Float64Array(n);
    const ctx: KernelThis = { thread: { x: 0, y: 0, z: 0 }, output: { x: n, y: 1, z: 1 }, constants: {} };
    const fn = spec.fn;
    for (let x = 0; x < n; x++) {
      ctx.thread.x = x;
      out[x] = fn.apply(ctx, args);
    }
    return out;
  }
  runGrid(spec: GridKernelSpec, grid: [number, number, number], args: KernelArg[]): Data {
    const [nx, ny, nz] = grid;
    const m = spec.components;
    const out = new Float64Array(nx * ny * nz * m);
    const ctx: KernelThis = { thread: { x: 0, y: 0, z: 0 }, output: { x: nx, y: ny, z: nz }, constants: {} };
    let o = 0;
    for (let z = 0; z < nz; z++) {
      for (let y = 0; y < ny; y++) {
        for (let x = 0; x < nx; x++) {
          ctx.thread.x = x;
          ctx.thread.y = y;
          ctx.thread.z = z;
          const r = spec.fn.apply(ctx, args);
          for (let c = 0; c < m; c++) out[o++] = r[c];
        }
      }
    }
    return out;
  }
  async destroy(): Promise<void> {}
}
