/**
 * Side-by-side timing of output heads: head + loss, forward and backward, on a fixed batch of hidden
 * states h [N, d]. Cases run round-robin within each repetition (so drifts in machine load hit all of them
 * alike), after warm-up repetitions that compile the kernels; each case reports its median.
 *
 * A repetition builds the graph, runs backward, and awaits the loss and every gradient, so the kernel work
 * (synchronous or not) is inside the measured time.
 */
import { Generator, randn, Tensor, type Device } from '../../core/index.js';
import { crossEntropy } from '../../ops/index.js';
import { Linear } from '../../nn/index.js';
import { VQLogitsHead } from '../../nn/heads/index.js';

export interface TimingCase {
  name: string;
  /** Parameters whose gradients the step produces (awaited with the loss). */
  params: Tensor[];
  loss: (h: Tensor, targets: Tensor) => Tensor;
}

export interface TimingResult {
  name: string;
  medianMs: number;
  /** Every repetition, in order (ms). */
  samples: number[];
}

/** The full head: an untied V x d Linear and ordinary cross-entropy over V. */
export function fullHeadCase(V: number, d: number, seed = 0): TimingCase {
  const lin = new Linear(d, V, { bias: false, generator: new Generator(seed) });
  return { name: 'full', params: lin.parameters(), loss: (h, t) => crossEntropy(lin.forward(h), t) };
}

/** A VQ head through the exact fast loss, or (naive) through the V logits and an ordinary softmax. */
export function vqHeadCase(name: string, head: VQLogitsHead, naive: boolean): TimingCase {
  return { name, params: head.parameters(), loss: (h, t) => (naive ? head.naiveLoss(head.forward(h), t) : head.loss(head.forward(h), t)) };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Median ms per step of each case. `reps` can be one number or one per case (to give slow cases fewer).
 * @example
 * const r = await timeHeads([fullHeadCase(V, d), vqHeadCase('vq', head, false)], { N: 256, d, V, reps: 20, device });
 */
export async function timeHeads(
  cases: TimingCase[],
  o: { N: number; d: number; V: number; reps: number | number[]; warmup?: number; device: Device; seed?: number; onRep?: (rep: number, total: number) => void },
): Promise<TimingResult[]> {
  const g = new Generator(o.seed ?? 0);
  const h = randn([o.N, o.d], { generator: g, device: o.device }).requiresGrad_();
  const targets = Tensor.fromValues(Array.from({ length: o.N }, () => g.int(o.V)), [o.N], o.device, 'int32');
  const reps = cases.map((_, i) => (Array.isArray(o.reps) ? o.reps[i] : o.reps));
  const samples: number[][] = cases.map(() => []);
  const warmup = o.warmup ?? 2;
  const total = warmup + Math.max(...reps);
  for (let rep = 0; rep < total; rep++) {
    for (let i = 0; i < cases.length; i++) {
      if (rep >= warmup + reps[i]) continue;
      const c = cases[i];
      const t0 = performance.now();
      const loss = c.loss(h, targets);
      loss.backward();
      await loss.item();
      await h.grad!.data();
      for (const p of c.params) if (p.grad) await p.grad.data();
      const dt = performance.now() - t0;
      h.zeroGrad();
      for (const p of c.params) p.zeroGrad();
      if (rep >= warmup) samples[i].push(dt);
    }
    o.onRep?.(rep + 1, total);
  }
  return cases.map((c, i) => ({ name: c.name, medianMs: median(samples[i]), samples: samples[i] }));
}
