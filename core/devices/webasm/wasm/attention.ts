/**
 * Fused causal attention for webasm as WebAssembly SIMD, one call per (batch, head), generated here like
 * the gemm (no toolchain). Backs the overrides of `attnForward` and `attnBackward` (ops/attention.ts,
 * core/devices/webasm/attention-override.ts). Unlike the kernels it replaces (one thread per value, each
 * recomputing its score rows), each head is walked once, query by query:
 *
 *   forward, query i:  s = scale q_i K^T (keys j < lim = min(i + offset + 1, Tk)), m = max s,
 *                      p = exp(s - m), l = sum p, y_i = (p V) / l;  lse_i = m + log l (log in JS)
 *   backward, query i: p = exp(scale q_i K^T - lse_i), dp = g_i V^T, ds = p (dp - delta_i) scale,
 *                      dq_i = ds K,  dk_j += ds_j q_i,  dv_j += p_j g_i
 *
 * Scores run four keys at a time against a transposed copy of the head's keys (KT: [D][Tk4], Tk rounded up
 * to 4, zero-padded), so q_i K^T costs D splat-multiply-adds per four keys; lanes past `lim` are set to
 * -3.4e38 before the max and to 0 after the exp. Rows of q, k, v, y and of the gradients are read and
 * written in the [B, T, H, D] layout (row strides in bytes), four floats at a time, so D and Dv must be
 * multiples of 4 (the override hands other sizes back to the kernel). exp is simd.ts's (float32, 2 ulp).
 */
import { outputArray } from '../../../pool.js';
import { Emit, FuncBuilder, OP } from './builder.js';
import { expInPlace, f32Splat, V } from './simd.js';
import { KernelModule, MAX_JOBS } from './worker.js';

const I32_GT_U = 0x4b;
const I32_SHR_U = 0x76;
const SELECT = 0x1b;
const F32_DIV = 0x95;
const F32_MAX = 0x97;
const F32_ADD = 0x92;
/** Below every score and finite (so s - max stays defined): masked lanes before the max. */
const MASKED = -3.4e38;

/** Emitting helpers for the attention functions. */
class AttnEmit extends Emit {
  /** KT[d][j] = src[j rs + 4 d] for j < Tk, d < n (KT rows of rowBytes, zeroed first over n rows). */
  transposeHead(src: number, rs: number, n: number, dst: number, Tk: number, rowBytes: number, l: { j: number; d: number; end: number }): void {
    const f = this.f;
    f.localGet(n).localGet(rowBytes).op(OP.i32Mul).localSet(l.end);
    this.loop(l.j, l.end, () => this.sum(dst, l.j).f.v128Zero().v128Store(), 16);
    this.loop(l.j, Tk, () => {
      this.loop(l.d, n, () => {
        this.sum(dst, [l.d, rowBytes], [l.j, { c: 4 }]);
        this.sum(src, [l.j, rs], [l.d, { c: 4 }]).f32Load().f32Store();
      });
    });
  }
  /** lim = min(i + offset + 1, Tk); end = 4 ceil(lim / 4) (keys in whole vectors); bytes = 4 end. */
  limits(i: number, offset: number, Tk: number, lim: number, end: number, bytes: number): void {
    const f = this.f;
    f.localGet(Tk);
    this.sum(i, offset).f.i32Const(1).op(OP.i32Add).localSet(lim);
    f.localGet(lim).localGet(lim).localGet(Tk).op(I32_GT_U).op(SELECT).localSet(lim);
    f.localGet(lim).i32Const(3).op(OP.i32Add).i32Const(2).op(I32_SHR_U).i32Const(2).op(0x74 /* i32.shl */).localSet(end);
    f.localGet(end).i32Const(4).op(OP.i32Mul).localSet(bytes);
  }
  /** row[j] = v (f32 constant) for lim <= j < end. */
  fillTail(row: number, lim: number, end: number, j: number, v: number): void {
    this.loop(j, end, () => {
      this.sum(row, [j, { c: 4 }]);
      this.f.op(0x43, ...new Uint8Array(Float32Array.of(v).buffer));
      this.f32Store();
    }, 1, lim);
  }
  /**
   * row[p / 4 .. p / 4 + 3] = scale (q_i . KT columns) for p < bytes, step 16: `after(acc)` may rewrite the
   * v128 local acc before it is stored.
   */
  scores(qi: number, KT: number, row: number, D: number, rowBytes: number, bytes: number, scale: number, l: { p: number; d: number; acc: number }, after: () => void = () => {}): void {
    const f = this.f;
    this.loop(l.p, bytes, () => {
      f.v128Zero().localSet(l.acc);
      this.loop(l.d, D, () => {
        f.localGet(l.acc);
        this.sum(qi, [l.d, { c: 4 }]).f.v128Load32Splat();
        this.sum(KT, [l.d, rowBytes], l.p).f.v128Load().simd(V.f32x4Mul).simd(V.f32x4Add).localSet(l.acc);
      });
      f.localGet(l.acc).localGet(scale).simd(V.f32x4Splat).simd(V.f32x4Mul).localSet(l.acc);
      after();
      this.sum(row, l.p).f.localGet(l.acc).v128Store();
    }, 16);
  }
}

/**
 * attnForwardHead(Q, K, V, Y, ST, Tq, Tk, rsQ, rsK, rsV, rsY, rsST, D, Dv, offset, scale, KT, S, Tk4):
 * one head; ST gets (max, sum) per query (rsST bytes apart); KT and S are scratch.
 */
function forwardFunction(): FuncBuilder {
  const f = new FuncBuilder([...Array<'i32'>(15).fill('i32'), 'f32', 'i32', 'i32', 'i32']);
  const [Q, K, Vp, Y, ST, Tq, Tk, rsQ, rsK, rsV, rsY, rsST, D, Dv, offset, scale, KT, S, Tk4] = Array.from({ length: 19 }, (_, i) => i);
  const e = new AttnEmit(f);
  const [i, j, d, p, lim, end, bytes, qi, rowBytes, tmp, dvBytes] = Array.from({ length: 11 }, () => e.i32());
  const [acc, mx, x, inv] = [e.v128(), e.v128(), e.v128(), e.v128()];
  const ex = { n: e.v128(), r: e.v128(), p: e.v128() };
  const m = f.local('f32');
  const l = f.local('f32');

  f.localGet(Tk4).i32Const(4).op(OP.i32Mul).localSet(rowBytes);
  f.localGet(Dv).i32Const(4).op(OP.i32Mul).localSet(dvBytes);
  e.transposeHead(K, rsK, D, KT, Tk, rowBytes, { j, d, end: tmp });
  e.loop(i, Tq, () => {
    e.limits(i, offset, Tk, lim, end, bytes);
    e.sum(Q, [i, rsQ]);
    f.localSet(qi);
    e.scores(qi, KT, S, D, rowBytes, bytes, scale, { p, d, acc });
    e.fillTail(S, lim, end, j, MASKED);
    // m = max over the row
    f32Splat(f, MASKED).localSet(mx);
    e.loop(p, bytes, () => {
      f.localGet(mx);
      e.sum(S, p).f.v128Load().simd(V.f32x4Max).localSet(mx);
    }, 16);
    e.reduce(mx, F32_MAX).f.localSet(m);
    // p = exp(s - m), masked lanes 0, l = sum p
    e.loop(p, bytes, () => {
      e.sum(S, p).f.v128Load().localGet(m).simd(V.f32x4Splat).simd(V.f32x4Sub).localSet(x);
      expInPlace(f, x, ex);
      e.sum(S, p).f.localGet(x).v128Store();
    }, 16);
    e.fillTail(S, lim, end, j, 0);
    f.v128Zero().localSet(mx);
    e.loop(p, bytes, () => {
      f.localGet(mx);
      e.sum(S, p).f.v128Load().simd(V.f32x4Add).localSet(mx);
    }, 16);
    e.reduce(mx, F32_ADD).f.localSet(l);
    e.sum(ST, [i, rsST]).f.localGet(m);
    e.f32Store();
    e.sum(ST, [i, rsST]).f.i32Const(4).op(OP.i32Add).localGet(l);
    e.f32Store();
    f.op(0x43, ...new Uint8Array(Float32Array.of(1).buffer)).localGet(l).op(F32_DIV).simd(V.f32x4Splat).localSet(inv);
    // y_i = (p V) / l, four values of the head at a time
    e.loop(p, dvBytes, () => {
      f.v128Zero().localSet(acc);
      e.loop(j, lim, () => {
        f.localGet(acc);
        e.sum(S, [j, { c: 4 }]).f.v128Load32Splat();
        e.sum(Vp, [j, rsV], p).f.v128Load().simd(V.f32x4Mul).simd(V.f32x4Add).localSet(acc);
      });
      e.sum(Y, [i, rsY], p).f.localGet(acc).localGet(inv).simd(V.f32x4Mul).v128Store();
    }, 16);
  });
  return f;
}

/**
 * attnBackwardHead(Q, K, V, G, LSE, DEL, DQ, DK, DV, Tq, Tk, rsQ, rsK, rsV, rsG, rsL, D, Dv, offset, scale,
 * KT, VT, P, DS, Tk4): one head's dq, dk, dv (dk and dv zeroed here, then accumulated); LSE and DEL hold
 * one value per query, rsL bytes apart; KT, VT, P and DS are scratch.
 */
function backwardFunction(): FuncBuilder {
  const f = new FuncBuilder([...Array<'i32'>(19).fill('i32'), 'f32', ...Array<'i32'>(5).fill('i32')]);
  const [Q, K, Vp, G, LSE, DEL, DQ, DK, DV, Tq, Tk, rsQ, rsK, rsV, rsG, rsL, D, Dv, offset, scale, KT, VT, P, DS, Tk4] = Array.from({ length: 25 }, (_, i) => i);
  const e = new AttnEmit(f);
  const [i, j, d, p, lim, end, bytes, qi, gi, rowBytes, tmp, dBytes, dvBytes, ptr] = Array.from({ length: 14 }, () => e.i32());
  const [acc, x, s] = [e.v128(), e.v128(), e.v128()];
  const ex = { n: e.v128(), r: e.v128(), p: e.v128() };
  const lse = f.local('f32');
  const del = f.local('f32');

  f.localGet(Tk4).i32Const(4).op(OP.i32Mul).localSet(rowBytes);
  f.localGet(D).i32Const(4).op(OP.i32Mul).localSet(dBytes);
  f.localGet(Dv).i32Const(4).op(OP.i32Mul).localSet(dvBytes);
  e.transposeHead(K, rsK, D, KT, Tk, rowBytes, { j, d, end: tmp });
  e.transposeHead(Vp, rsV, Dv, VT, Tk, rowBytes, { j, d, end: tmp });
  // dk = dv = 0 on this head's rows
  e.loop(j, Tk, () => {
    e.loop(p, dBytes, () => e.sum(DK, [j, rsK], p).f.v128Zero().v128Store(), 16);
    e.loop(p, dvBytes, () => e.sum(DV, [j, rsV], p).f.v128Zero().v128Store(), 16);
  });
  e.loop(i, Tq, () => {
    e.limits(i, offset, Tk, lim, end, bytes);
    e.sum(Q, [i, rsQ]).f.localSet(qi);
    e.sum(G, [i, rsG]).f.localSet(gi);
    e.sum(LSE, [i, rsL]).f32Load().f.localSet(lse);
    e.sum(DEL, [i, rsL]).f32Load().f.localSet(del);
    // p = exp(scale q_i K^T - lse_i), masked lanes 0
    e.scores(qi, KT, P, D, rowBytes, bytes, scale, { p, d, acc }, () => {
      f.localGet(acc).localGet(lse).simd(V.f32x4Splat).simd(V.f32x4Sub).localSet(acc);
      expInPlace(f, acc, ex);
    });
    e.fillTail(P, lim, end, j, 0);
    // ds = p (g_i V^T - delta_i) scale
    e.loop(p, bytes, () => {
      f.v128Zero().localSet(acc);
      e.loop(d, Dv, () => {
        f.localGet(acc);
        e.sum(gi, [d, { c: 4 }]).f.v128Load32Splat();
        e.sum(VT, [d, rowBytes], p).f.v128Load().simd(V.f32x4Mul).simd(V.f32x4Add).localSet(acc);
      });
      e.sum(DS, p);
      e.sum(P, p).f.v128Load().localGet(acc).localGet(del).simd(V.f32x4Splat).simd(V.f32x4Sub).simd(V.f32x4Mul);
      f.localGet(scale).simd(V.f32x4Splat).simd(V.f32x4Mul).v128Store();
    }, 16);
    // dq_i = ds K
    e.loop(p, dBytes, () => {
      f.v128Zero().localSet(acc);
      e.loop(j, lim, () => {
        f.localGet(acc);
        e.sum(DS, [j, { c: 4 }]).f.v128Load32Splat();
        e.sum(K, [j, rsK], p).f.v128Load().simd(V.f32x4Mul).simd(V.f32x4Add).localSet(acc);
      });
      e.sum(DQ, [i, rsQ], p).f.localGet(acc).v128Store();
    }, 16);
    // dk_j += ds_j q_i, dv_j += p_j g_i
    e.loop(j, lim, () => {
      e.sum(DS, [j, { c: 4 }]).f.v128Load32Splat().localSet(s);
      e.loop(p, dBytes, () => {
        e.sum(DK, [j, rsK], p).f.localSet(ptr);
        f.localGet(ptr).localGet(ptr).v128Load();
        e.sum(qi, p).f.v128Load().localGet(s).simd(V.f32x4Mul).simd(V.f32x4Add).v128Store();
      }, 16);
      e.sum(P, [j, { c: 4 }]).f.v128Load32Splat().localSet(x);
      e.loop(p, dvBytes, () => {
        e.sum(DV, [j, rsV], p).f.localSet(ptr);
        f.localGet(ptr).localGet(ptr).v128Load();
        e.sum(gi, p).f.v128Load().localGet(x).simd(V.f32x4Mul).simd(V.f32x4Add).v128Store();
      }, 16);
    });
  });
  return f;
}

/**
 * Calls with at least this many multiply-adds (B H Tq Tk (D + Dv)) hand the second half of their heads to
 * the worker thread (wasm/worker.ts; each head's outputs are computed by the same instructions either way,
 * so results are bitwise the same). The tiny GPT's calls (8.4M) went from 1.3 to 0.8 ms (forward) and
 * 2.0 to 1.3-1.6 ms (backward) in isolation, and its training step from 21.0-22.6k to 21.9-23.2k tokens/s
 * (six alternating runs each; once the buffer pool had taken the garbage collector off the second core:
 * before it, the step was no faster).
 */
export const ATTENTION_WORKER_MIN_MACS = 2 ** 20;

/** The two functions with their memory (one instance per process: `wasmAttention()`). */
export class WasmAttention {
  private readonly k: KernelModule;

  constructor(opts: { shared?: boolean } = {}) {
    const fns = [{ name: 'forward', fn: forwardFunction() }, { name: 'backward', fn: backwardFunction() }];
    this.k = new KernelModule(fns, { what: 'fusedAttention (wasm)', label: 'fusedAttention', growHint: '; use a smaller batch' }, opts);
  }

  /** See KernelModule.startWorker. */
  startWorker(timeoutMs = 10_000): Promise<boolean> {
    return this.k.startWorker(timeoutMs);
  }

  close(): void {
    this.k.close();
  }

  /**
   * Run `fn` for every head: with the worker (when the call is big enough) taking the second half of
   * them with its own scratch (`thread` 1), this thread the first half (`thread` 0).
   */
  private heads(fn: 'forward' | 'backward', B: number, H: number, macs: number, args: (b: number, h: number, thread: 0 | 1) => number[]): void {
    const n = B * H;
    const worker = this.k.worker(n >= 2 && macs >= ATTENTION_WORKER_MIN_MACS);
    const half = worker ? Math.max(n >> 1, n - MAX_JOBS) : n;
    const jobs: number[][] = [];
    if (worker) for (let j = half; j < n; j++) jobs.push(this.k.job(fn, args(Math.floor(j / H), j % H, 1)));
    this.k.alongside(worker, jobs, () => {
      for (let j = 0; j < half; j++) this.k.fn[fn](...args(Math.floor(j / H), j % H, 0));
    });
  }

  /** attnForward's output [y | lse] (see ops/attention.ts) for D and Dv multiples of 4. */
  forward(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, B: number, Tq: number, Tk: number, H: number, D: number, Dv: number, offset: number, scale: number): Float32Array {
    const Tk4 = Math.ceil(Tk / 4) * 4;
    const lay = layout({ q: B * Tq * H * D, k: B * Tk * H * D, v: B * Tk * H * Dv, y: B * Tq * H * Dv, st: B * Tq * H * 2, kt: 2 * D * Tk4, s: 2 * Tk4 });
    const m = this.k.ensure(lay.total);
    m.set(q as Float32Array, lay.q);
    m.set(k as Float32Array, lay.k);
    m.set(v as Float32Array, lay.v);
    this.heads('forward', B, H, B * H * Tq * Tk * (D + Dv), (b, h, t) => {
      const qRow = (b * Tq * H + h) * 4;
      const kRow = (b * Tk * H + h) * 4;
      return [
        lay.q * 4 + qRow * D, lay.k * 4 + kRow * D, lay.v * 4 + kRow * Dv, lay.y * 4 + qRow * Dv, lay.st * 4 + qRow * 2,
        Tq, Tk, H * D * 4, H * D * 4, H * Dv * 4, H * Dv * 4, H * 8, D, Dv, offset, scale, (lay.kt + t * D * Tk4) * 4, (lay.s + t * Tk4) * 4, Tk4,
      ];
    });
    const ny = B * Tq * H * Dv;
    const rows = B * Tq * H;
    const out = outputArray(ny + rows);
    out.set(m.subarray(lay.y, lay.y + ny));
    for (let r = 0; r < rows; r++) out[ny + r] = m[lay.st + 2 * r] + Math.log(m[lay.st + 2 * r + 1]);
    return out;
  }

  /** attnBackward's output [dq | dk | dv] for D and Dv multiples of 4. */
  backward(
    q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, g: ArrayLike<number>, lse: ArrayLike<number>, delta: ArrayLike<number>,
    B: number, Tq: number, Tk: number, H: number, D: number, Dv: number, offset: number, scale: number,
  ): Float32Array {
    const Tk4 = Math.ceil(Tk / 4) * 4;
    const nq = B * Tq * H * D;
    const nk = B * Tk * H * D;
    const nv = B * Tk * H * Dv;
    const rows = B * Tq * H;
    const lay = layout({ q: nq, k: nk, v: nv, g: B * Tq * H * Dv, lse: rows, del: rows, dq: nq, dk: nk, dv: nv, kt: 2 * D * Tk4, vt: 2 * Dv * Tk4, p: 2 * Tk4, ds: 2 * Tk4 });
    const m = this.k.ensure(lay.total);
    m.set(q as Float32Array, lay.q);
    m.set(k as Float32Array, lay.k);
    m.set(v as Float32Array, lay.v);
    m.set(g as Float32Array, lay.g);
    m.set(lse as Float32Array, lay.lse);
    m.set(delta as Float32Array, lay.del);
    this.heads('backward', B, H, B * H * Tq * Tk * (2 * D + 3 * Dv), (b, h, t) => {
      const qRow = (b * Tq * H + h) * 4;
      const kRow = (b * Tk * H + h) * 4;
      return [
        lay.q * 4 + qRow * D, lay.k * 4 + kRow * D, lay.v * 4 + kRow * Dv, lay.g * 4 + qRow * Dv, lay.lse * 4 + qRow, lay.del * 4 + qRow,
        lay.dq * 4 + qRow * D, lay.dk * 4 + kRow * D, lay.dv * 4 + kRow * Dv,
        Tq, Tk, H * D * 4, H * D * 4, H * Dv * 4, H * Dv * 4, H * 4, D, Dv, offset, scale,
        (lay.kt + t * D * Tk4) * 4, (lay.vt + t * Dv * Tk4) * 4, (lay.p + t * Tk4) * 4, (lay.ds + t * Tk4) * 4, Tk4,
      ];
    });
    return this.k.copyOut(lay.dq, nq + nk + nv); // dq, dk, dv sit one after another
  }
}

/** Float offsets of consecutive regions, each rounded up to 4 floats (16-byte aligned). */
function layout<T extends Record<string, number>>(sizes: T): { [K in keyof T]: number } & { total: number } {
  const out: Record<string, number> = {};
  let at = 0;
  for (const [k, n] of Object.entries(sizes)) {
    out[k] = at;
    at += Math.ceil(n / 4) * 4;
  }
  out.total = at;
  return out as { [K in keyof T]: number } & { total: number };
}

let shared: WasmAttention | null = null;

/** The process-wide instance (compiled on first use). */
export function wasmAttention(): WasmAttention {
  shared ??= new WasmAttention();
  return shared;
}
