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
