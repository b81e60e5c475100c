/**
 * A second thread for the WebAssembly kernels (the gemm, fused attention): a Node worker that instantiates
 * the same compiled module over the same shared memory and runs a list of calls ("jobs") to its exported
 * functions while this thread runs other calls. Nothing is copied: jobs carry only pointers and sizes.
 *
 * Protocol, over one SharedArrayBuffer (`control`, Int32): [0] requests made, [1] requests answered,
 * [2] jobs in this request, [3] error flag, [4] 1 once the worker is ready, [5] length of the error message
 * (written to `message`); jobs from index 8 on, SLOTS ints each: the function's index, then its arguments
 * (float arguments as float32 bits). The caller blocks in `wait()` (Atomics.wait) until the worker has
 * answered, so kernels stay synchronous. A trap in the worker comes back as an error with its message.
 * Neither side spins before waiting: spinning ~100k checks first (to skip the wake-up) made the tiny-GPT
 * step slower, 34-35 -> 39-43 ms at 47 -> 67-74 ms of CPU time (`npx tsx bench/train-step.ts --devices
 * webasm --no-tfjs --no-torch`, three alternating runs): three modules' workers spinning on two cores.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { environmentVariable, notice } from '../../../environment.js';
import { outputArray } from '../../../pool.js';
import { type FuncBuilder, growFor, moduleBytes } from './builder.js';

/** Ints per job: the function's index and up to SLOTS - 1 arguments. */
const SLOTS = 32;
const JOBS_AT = 8;
/** Jobs one request can carry (more are run by the caller). */
export const MAX_JOBS = 256;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, message, fns } = workerData;
const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
const calls = fns.map((f) => ex[f.name]);
const c = new Int32Array(control);
const fl = new Float32Array(control);
const text = new Uint8Array(message);
const args = [];
let seen = 0;
Atomics.store(c, 4, 1);
for (;;) {
  Atomics.wait(c, 0, seen);
  seen = Atomics.load(c, 0);
  if (c[2] < 0) break;
  try {
    for (let j = 0; j < c[2]; j++) {
      const at = ${JOBS_AT} + j * ${SLOTS};
      const f = fns[c[at]];
      args.length = f.arity;
      for (let i = 0; i < f.arity; i++) args[i] = f.floats.includes(i) ? fl[at + 1 + i] : c[at + 1 + i];
      calls[c[at]](...args);
    }
    c[3] = 0;
  } catch (e) {
    const bytes = new TextEncoder().encode(String((e && e.message) || e)).slice(0, text.length);
    text.set(bytes);
    c[5] = bytes.length;
    c[3] = 1;
  }
  Atomics.store(c, 1, seen);
  Atomics.notify(c, 1);
}
`;

/** An exported function the worker may call: its name, number of parameters, which of them are f32. */
export interface WorkerFn {
  name: string;
  arity: number;
  floats: number[];
}

/** The second thread of a WebAssembly kernel module (see the file comment). */
export class WasmWorker {
  private readonly control = new Int32Array(new SharedArrayBuffer((JOBS_AT + MAX_JOBS * SLOTS) * 4));
  private readonly floats = new Float32Array(this.control.buffer);
  private readonly message = new Uint8Array(new SharedArrayBuffer(1024));
  private readonly worker: Worker;
  private requests = 0;
  /** Why the worker died before or between requests (its 'error' event), if it did. */
  failure: string | null = null;

  /** `what` names the kernel in errors ("matmul (wasm)"). */
  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, private readonly fns: WorkerFn[], private readonly what: string) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, control: this.control.buffer, message: this.message.buffer, fns } });
    this.worker.on('error', (e: Error) => (this.failure = e.message));
    this.worker.unref(); // never keeps the process alive
  }

  /** True once the worker has instantiated the module. */
  get ready(): boolean {
    return Atomics.load(this.control, 4) === 1;
  }

  /** Start jobs ([function index, ...arguments], at most MAX_JOBS) on the worker; `wait()` blocks until done. */
  start(jobs: number[][]): void {
    if (jobs.length > MAX_JOBS) throw new Error(`${this.what}: ${jobs.length} jobs for the worker thread, at most ${MAX_JOBS}`);
    const c = this.control;
    jobs.forEach((job, j) => {
      const at = JOBS_AT + j * SLOTS;
      const f = this.fns[job[0]];
      c[at] = job[0];
      for (let i = 0; i < f.arity; i++) {
        if (f.floats.includes(i)) this.floats[at + 1 + i] = job[1 + i];
        else c[at + 1 + i] = job[1 + i];
      }
    });
    c[2] = jobs.length;
    this.requests++;
    Atomics.store(c, 0, this.requests);
    Atomics.notify(c, 0);
  }

  wait(): void {
    const c = this.control;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const done = Atomics.load(c, 1);
      if (done === this.requests) break;
      if (Date.now() > deadline) throw new Error(`${this.what}: the worker thread did not answer within 120 s; call setGemmWorker(false) to run on one thread`);
      // a worker that died cannot answer, and its 'error' event cannot arrive while this thread blocks:
      // threadId turns -1 once it has stopped
      if (this.worker.threadId === -1) {
        this.failure ??= 'it stopped';
        throw new Error(`${this.what}: the worker thread stopped before answering; call setGemmWorker(false) to run on one thread`);
      }
      Atomics.wait(c, 1, done, 100);
    }
    if (c[3] !== 0) {
      const why = new TextDecoder().decode(this.message.slice(0, c[5]));
      throw new Error(`${this.what}: the worker thread failed: ${why}; call setGemmWorker(false) to run on one thread`);
    }
  }

  stop(): void {
    this.control[2] = -1;
    Atomics.add(this.control, 0, 1);
    Atomics.notify(this.control, 0);
    void this.worker.terminate();
  }
}

let workersWanted = true;

/** Whether worker threads are wanted (`setGemmWorker`). */
export function workersOn(): boolean {
  return workersWanted;
}

/** Turn the WebAssembly kernels' worker threads on or off; returns the previous setting. */
export function setWorkers(on: boolean): boolean {
  const prev = workersWanted;
  workersWanted = on;
  return prev;
}

/** Say once per kernel, on stderr, that it stays on one thread and why (TSGRAD_QUIET=1 silences it). */
export function noticeOneThread(what: string, why: string): void {
  if (environmentVariable('TSGRAD_QUIET') !== '1') notice(`tsgrad: ${what} stays on one thread: ${why}`);
}

/** Whether this runtime can share WebAssembly memory with a worker thread (Node with 2+ cores; not a plain browser page). */
export function canShare(): boolean {
  if (typeof SharedArrayBuffer === 'undefined' || typeof Worker !== 'function') return false;
  try {
    if (availableParallelism() < 2) return false;
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * The lazily started worker of one module: `get()` gives it when it is ready (null while it boots, where
 * it cannot start, after it died, or when workers are off), saying once why it is not there.
 */
export class WorkerSlot {
  private worker: WasmWorker | null | undefined; // undefined: not started yet; null: unavailable

  constructor(private readonly make: (() => WasmWorker) | null, private readonly what: string) {
    if (!make) this.worker = null;
  }

  get(): WasmWorker | null {
    if (!workersWanted || this.worker === null) return null;
    if (this.worker === undefined) {
      try {
        this.worker = this.make!();
      } catch (e) {
        this.worker = null;
        noticeOneThread(this.what, `no worker thread could start here (${(e as Error).message})`);
        return null;
      }
    }
    if (this.worker.failure !== null) {
      noticeOneThread(this.what, `its worker thread stopped (${this.worker.failure})`);
      this.worker = null;
      return null;
    }
    return this.worker.ready ? this.worker : null;
  }

  /** Start the worker now and wait until it is ready; false where there is none. */
  async start(timeoutMs = 10_000): Promise<boolean> {
    if (!this.get()) {
      const deadline = Date.now() + timeoutMs;
      while (this.worker && !this.worker.ready && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    }
    return Boolean(this.worker?.ready) && workersWanted;
  }

  close(): void {
    this.worker?.stop();
    this.worker = null;
  }
}

/** A shared memory needs a maximum; 4 GiB, WebAssembly's 32-bit limit (only address space is reserved). */
const SHARED_MAX_PAGES = 65536;

/**
 * A generated WebAssembly module of kernel functions over its own memory, shared with a worker thread
 * where the runtime allows (`canShare`): what the gemm, the fused attention and the SIMD kernels are built
 * on. The worker may call any exported function (`job`); each function's argument types come from its
 * FuncBuilder.
 */
export class KernelModule {
  readonly memory: WebAssembly.Memory;
  /** A view of the memory, renewed by `ensure` when the memory grows. */
  f32: Float32Array;
  /** The exported functions by name. */
  readonly fn: Record<string, (...args: number[]) => void>;
  private readonly index = new Map<string, number>();
  private readonly slot: WorkerSlot;

  /**
   * `names.what` names the kernels in errors ('matmul (wasm)'), `names.label` in the one-thread notice
   * ('matmul'), `names.growHint` ends the error when the memory cannot grow.
   */
  constructor(fns: { name: string; fn: FuncBuilder }[], private readonly names: { what: string; label: string; growHint?: string }, opts: { shared?: boolean } = {}) {
    const shared = opts.shared ?? canShare();
    this.memory = shared ? new WebAssembly.Memory({ initial: 1, maximum: SHARED_MAX_PAGES, shared: true }) : new WebAssembly.Memory({ initial: 1 });
    this.f32 = new Float32Array(this.memory.buffer);
    const mod = new WebAssembly.Module(moduleBytes(fns, shared ? { sharedMaxPages: SHARED_MAX_PAGES } : true));
    this.fn = new WebAssembly.Instance(mod, { env: { memory: this.memory } }).exports as KernelModule['fn'];
    fns.forEach(({ name }, i) => this.index.set(name, i));
    const sigs: WorkerFn[] = fns.map(({ name, fn }) => ({ name, arity: fn.params.length, floats: fn.params.flatMap((t, i) => (t === 'f32' ? [i] : [])) }));
    this.slot = new WorkerSlot(shared ? () => new WasmWorker(mod, this.memory, sigs, names.what) : null, names.label);
  }

  /** The memory grown to hold `floats` values; returns the (renewed) view. */
  ensure(floats: number): Float32Array {
    if (growFor(this.memory, floats, this.names.what, this.names.growHint)) this.f32 = new Float32Array(this.memory.buffer);
    return this.f32;
  }

  /** n floats of memory from a float offset, copied into a kernel output (`slice` on WebAssembly memory is slow in V8). */
  copyOut(from: number, n: number): Float32Array {
    const out = outputArray(n);
    out.set(this.f32.subarray(from, from + n));
    return out;
  }

  /** The worker thread when `wanted` (the call is big enough to split) and it is ready; else null. */
  worker(wanted: boolean): WasmWorker | null {
    return wanted ? this.slot.get() : null;
  }

  /** A job for the worker: exported function `name` with these arguments. */
  job(name: string, args: number[]): number[] {
    return [this.index.get(name)!, ...args];
  }

  /** Run `jobs` on `worker` while `here` runs on this thread; return when both are done (no worker: just `here`). */
  alongside(worker: WasmWorker | null, jobs: number[][], here: () => void): void {
    if (!worker) return here();
    worker.start(jobs);
    try {
      here();
    } finally {
      worker.wait();
    }
  }

  /**
   * Start the worker thread now and wait until it is ready (otherwise it starts with the first big call,
   * which runs on one thread while the worker boots). False where there is no worker (one core, a browser,
   * or `setGemmWorker(false)`).
   */
  startWorker(timeoutMs = 10_000): Promise<boolean> {
    return this.slot.start(timeoutMs);
  }

  /** Stop the worker thread, if one was started (it also ends with the process). */
  close(): void {
    this.slot.close();
  }
}
