/**
 * PyTorch as a benchmark baseline: runs bench/torch_gpt.py (the same tiny GPT) in a child Python process and
 * steps it on request, so bench/train-step.ts can interleave it with the JavaScript engines. Benchmark only;
 * nothing in the library or the tests needs Python. Looks for a Python that can `import torch`:
 * $TSGRAD_PYTHON, then `python3`, then /usr/bin/python3 (Debian: `apt-get install python3-torch`).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface TorchGpt {
  parameters: number;
  detail: string;
  /** One training step on batch `index` (of those given at start); the loss and the child's CPU ms. */
  step(index: number): Promise<{ loss: number; cpuMs: number }>;
  close(): void;
}

/** The first Python that imports torch, or why none did. */
export function findTorchPython(): { python: string } | { reason: string } {
  const candidates = [process.env.TSGRAD_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => Boolean(p));
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python };
  }
  return { reason: `no Python with PyTorch among ${candidates.join(', ')} (on Debian: apt-get install python3-torch; or set TSGRAD_PYTHON)` };
}

/** Start the PyTorch model with these batches (token ids, batch x context each). */
export async function startTorchGpt(
  python: string, opts: { seed: number; batch: number; context: number; threads: number; batches: { x: Int32Array; y: Int32Array }[] },
): Promise<TorchGpt> {
  const script = fileURLToPath(new URL('./torch_gpt.py', import.meta.url));
  const child: ChildProcessWithoutNullStreams = spawn(python, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done) throw new Error(`PyTorch child exited: ${stderr.trim().split('\n').slice(-1)[0] ?? 'no output'}`);
    return JSON.parse(r.value) as Record<string, unknown>;
  };
  const send = (o: unknown) => child.stdin.write(JSON.stringify(o) + '\n');
  send({ seed: opts.seed, batch: opts.batch, context: opts.context, threads: opts.threads, batches: opts.batches.map((b) => [Array.from(b.x), Array.from(b.y)]) });
  const ready = await next();
  return {
    parameters: Number(ready.parameters),
    detail: `PyTorch ${String(ready.torch)} (${python}), ${String(ready.threads)} intra-op thread(s), eager mode`,
    async step(index) {
      send({ step: index });
      const r = await next();
      return { loss: Number(r.loss), cpuMs: Number(r.cpu_ms) };
    },
    close() {
      child.stdin.end();
      child.kill();
    },
  };
}
