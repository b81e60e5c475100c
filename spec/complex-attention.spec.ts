/**
 * Complex multi-head attention (nn/complex-attention.ts) and its ops (ops/complex.ts):
 * (a) the factorised score equals the direct definition; (b) with delta = 1, b = 0 it is RoPE attention;
 * (c) it is causal, and the KV cache gives the full-forward outputs; (d) gradients of every op it uses,
 * near the angle's branch cut and at tiny magnitudes, with no NaN for a zero query.
 */
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { Generator, gradcheck, setDevice, tensor, zeros, type Tensor } from '../core/index.js';
import { atan2 } from '../ops/index.js';
import { complexAbs, complexAngle, complexInvAbs2 } from '../ops/complex.js';
import { complexOpTable } from './op-table/complex.js';
import { DEFAULT_TOL, Sampler } from './op-table/index.js';
import * as nn from '../nn/index.js';
import { ComplexAttention, complexAttention, complexRotate, complexScores } from '../nn/complex-attention.js';
import { propagateFor } from './device-helpers.js';
import { build, expectClose } from './helpers.js';

const g = new Generator(2025);
const normals = (n: number, std = 1): number[] => Array.from({ length: n }, () => std * g.normal());
const randT = (shape: number[], std = 1): Tensor => tensor(normals(shape.reduce((a, b) => a * b, 1), std), shape);
const ids2d = (rows: number[][]): Tensor => tensor(rows.flat(), [rows.length, rows[0].length], { dtype: 'int32' });
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
function checkGrad(name: string, f: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): void {
  const r = gradcheck(f, inputs);
  if (!r.ok) throw new Error(`${name}: ${r.message}`);
}
/** Give every delta and phase bias of a model random values (so tests do not sit at the RoPE point). */
function randomisePhases(m: nn.Module): void {
  for (const [name, p] of m.namedParameters()) {
    if (name.endsWith('.delta') || name === 'delta') p._data = tensor(normals(p.numel, 0.7)).add(0.3)._data;
    if (name.endsWith('phaseBias')) p._data = tensor(normals(p.numel, 0.5))._data;
  }
}

const tiny = { vocabSize: 11, contextLength: 8, dModel: 8, nHeads: 2, nLayers: 2 };

beforeEach(() => {
  setDevice('reference', 'complex attention tests');
});

describe('complex ops: gradients match finite differences (float64 reference)', () => {
  for (const entry of complexOpTable) {
    it(`${entry.name} on random broadcasting shapes`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
          const c = entry.sample(new Sampler(seed));
          const r = gradcheck((...ts) => c.call(ts), build(c.inputs, 'reference'));
          if (!r.ok) throw new Error(`${entry.name} (seed ${seed}): ${r.message}`);
        }),
        { numRuns: 25 },
      );
    });
  }

  it('atan2 and complexAngle near the branch cut (re < 0, im -> 0 from both sides)', () => {
    for (const im of [1e-3, -1e-3, 1e-5, -1e-5]) {
      const re = tensor([-1, -0.2, -3]);
      const imT = tensor([im, im, -im]);
      checkGrad(`atan2 im=${im}`, (y, x) => atan2(y, x), [imT, re]);
      checkGrad(`complexAngle im=${im}`, (x, y) => complexAngle(x, y), [re, imT]);
    }
  });

  it('the angle jumps by 2 pi across the cut, but the rotation with delta = 1 is smooth there', async () => {
    const above = await complexAngle(tensor([-1]), tensor([1e-12])).item();
    const below = await complexAngle(tensor([-1]), tensor([-1e-12])).item();
    expect(above - below).toBeCloseTo(2 * Math.PI, 9);
    // exactly on the cut (im = 0, re < 0): central differences straddle the jump, yet delta = 1 gives RoPE, a smooth map
    const x = tensor([-1.3, 0.4, 0, 0.7], [1, 4]);
    const one = tensor([1, 1], [1, 2]);
    checkGrad('complexRotate on the cut', (v, b) => complexRotate(v, one, b, { offset: 3 }), [x, tensor([0.2, -0.5], [1, 2])]);
  });

  it('tiny magnitudes: |z| is smooth at 0 thanks to the 1e-9; the angle and the rotation stay exact down to |z| ~ 1e-4', () => {
    for (const s of [1e-3, 1e-4]) {
      const re = tensor([s, -0.6 * s, 0.8 * s]);
      const im = tensor([0.5 * s, 0.8 * s, -0.6 * s]);
      checkGrad(`complexAbs |z|~${s}`, (a, b) => complexAbs(a, b), [re, im]);
      checkGrad(`complexAngle |z|~${s}`, (a, b) => complexAngle(a, b), [re, im]);
      checkGrad(`complexInvAbs2 |z|~${s}`, (a, b) => complexInvAbs2(a, b), [re, im]);
      const x = tensor([s, -0.6 * s, 0.5 * s, 0.8 * s], [1, 4]);
      checkGrad(`complexRotate |z|~${s}`, (v, d, b) => complexRotate(v, d, b, { offset: 2 }), [x, tensor([0.4, -1.2], [1, 2]), tensor([0.3, 0.1], [1, 2])]);
    }
    checkGrad('complexAbs at 0', (a, b) => complexAbs(a, b), [tensor([0, 0]), tensor([0, 1e-6])]);
  });

  it('no NaN for a zero query: the gradients of q, delta and b are finite (on reference and webasm)', async () => {
    for (const dev of ['reference', 'webasm']) {
      setDevice(dev);
      const q = zeros([1, 2, 3, 4]).requiresGrad_();
      const k = randT([1, 2, 3, 4]).requiresGrad_();
      const delta = randT([2, 1, 2], 0.7).requiresGrad_();
      const b = randT([2, 1, 2]).requiresGrad_();
      const y = nn.causalAttention(complexRotate(q, delta, b), complexRotate(k, delta, null), randT([1, 2, 3, 4]));
      y.square().sum().backward();
      for (const t of [y, q.grad!, k.grad!, delta.grad!, b.grad!]) expect((await t.toArray()).every(Number.isFinite), dev).toBe(true);
      // |q| = sqrt(1e-9) and the angle's gradient at the origin is 0 by definition: finite, and exactly 0 here
      expect(maxDiff(await q.grad!.toArray(), new Array(24).fill(0))).toBe(0);
    }
  });

  it('webasm agrees with the float64 reference (forward and backward)', async () => {
    for (const entry of complexOpTable) {
      for (let seed = 0; seed < 6; seed++) {
        const c = entry.sample(new Sampler(seed));
        const run = async (dev: string, w: number[] | null) => {
          const xs = build(c.inputs, dev, true);
          const y = c.call(xs);
          const out = await y.toArray();
          const grads = w ? await Promise.all(propagateFor(y, w, xs).map((t) => t!.toArray())) : [];
          return { out, grads };
        };
        const n = (await run('reference', null)).out.length;
        const w = new Sampler(seed + 1).values(n);
        const ref = await run('reference', w);
        const got = await run('webasm', w);
        expectClose(got.out, ref.out, DEFAULT_TOL.fwd, `${entry.name} forward`);
        got.grads.forEach((gr, i) => expectClose(gr, ref.grads[i], DEFAULT_TOL.bwd, `${entry.name} gradient ${i}`));
      }
    }
  });
});

describe('(a) the factorised score equals the direct definition', () => {
  it('sum_i |q||k| cos(delta (phi_q - phi_k) + b + (m - n) theta_i), float64, to 1e-9', async () => {
    const [H, Tq, Tk, dk] = [3, 4, 6, 8];
    const h = dk / 2;
    const q = randT([2, H, Tq, dk]);
    const k = randT([2, H, Tk, dk]);
    const delta = randT([H, 1, h], 0.5);
    const b = randT([H, 1, h]);
    const [qOffset, kOffset] = [5, 1];
    const got = await complexScores(q, k, delta, b, { qOffset, kOffset }).toArray();
    const [qv, kv, dv, bv] = await Promise.all([q, k, delta, b].map((t) => t.toArray()));
    const theta = nn.ropeFrequencies(dk);
    const polar = (v: number[], at: number) => {
      const re = v[at];
      const im = v[at + h];
      return [Math.sqrt(re * re + im * im + 1e-9), Math.atan2(im, re)];
    };
    const want: number[] = [];
    for (let bb = 0; bb < 2; bb++) {
      for (let hh = 0; hh < H; hh++) {
        for (let m = 0; m < Tq; m++) {
          for (let n = 0; n < Tk; n++) {
            let s = 0;
            for (let i = 0; i < h; i++) {
              const [rq, pq] = polar(qv, ((bb * H + hh) * Tq + m) * dk + i);
              const [rk, pk] = polar(kv, ((bb * H + hh) * Tk + n) * dk + i);
              s += rq * rk * Math.cos(dv[hh * h + i] * (pq - pk) + bv[hh * h + i] + (qOffset + m - (kOffset + n)) * theta[i]);
            }
            want.push(s);
          }
        }
      }
    }
    expect(maxDiff(got, want)).toBeLessThan(1e-9);
  });

  it('gradients of the rotation and the scores with respect to q, k, delta and b', () => {
    checkGrad('complexRotate', (x, d, b) => complexRotate(x, d, b, { offset: 4 }), [randT([2, 3, 4]), randT([2, 1, 2]), randT([2, 1, 2])]);
    checkGrad('complexScores', (q, k, d, b) => complexScores(q, k, d, b, { qOffset: 2 }), [randT([1, 2, 2, 4]), randT([1, 2, 3, 4]), randT([2, 1, 2]), randT([2, 1, 2])]);
  });
});

describe('(b) with delta = 1 and b = 0 it is RoPE attention', () => {
  it('ComplexAttention equals CausalSelfAttention with the same weights (scaled), and RoPE scores unscaled', async () => {
    const x = randT([2, 5, 8]);
    const rope = new nn.CausalSelfAttention({ dModel: 8, nHeads: 2, generator: new Generator(3) });
    for (const scale of [true, false]) {
      const cmha = new ComplexAttention({ dModel: 8, nHeads: 2, deltaInit: 'one', scale, generator: new Generator(4) });
      expect(cmha.loadStateDict(rope.stateDict(), { strict: false })).toEqual({ missingKeys: ['delta', 'phaseBias'], unexpectedKeys: [] });
      const got = await cmha.forward(x).toArray();
      if (scale) {
        expect(maxDiff(got, await rope.forward(x).toArray())).toBeLessThan(1e-7);
      } else {
        const [q, k, v] = [rope.q, rope.k, rope.v].map((l) => nn.splitHeads(l.forward(x), 2));
        const y = nn.causalAttention(nn.applyRope(q, 0), nn.applyRope(k, 0), v, { scale: 1 });
        expect(maxDiff(got, await rope.proj.forward(nn.mergeHeads(y)).toArray())).toBeLessThan(1e-7);
      }
    }
  });

  it('an LM with complexAttention({ deltaInit: "one", seed }) has the RoPE LM\'s weights and logits', async () => {
    const a = new nn.TransformerLM({ ...tiny, seed: 9 });
    const b = new nn.TransformerLM({ ...tiny, seed: 9, attention: complexAttention({ deltaInit: 'one', seed: 9 }) });
    const c = new nn.TransformerLM({ ...tiny, seed: 9, attention: complexAttention({ seed: 9 }) });
    expect(b.numParameters() - a.numParameters()).toBe(tiny.nLayers * tiny.dModel);
    const sa = a.stateDict();
    for (const lm of [b, c]) {
      for (const [name, t] of Object.entries(lm.stateDict())) {
        if (/\.(delta|phaseBias)$/.test(name)) continue;
        expect(await t.toArray(), name).toEqual(await sa[name].toArray());
      }
    }
    const ids = ids2d([[1, 2, 3, 4, 5, 6, 7, 8]]);
    // equal up to the 1e-9 under the root; the N(0, .) delta really changes the attention
    expect(maxDiff(await b.forward(ids).toArray(), await a.forward(ids).toArray())).toBeLessThan(1e-9);
    expect(maxDiff(await c.forward(ids).toArray(), await a.forward(ids).toArray())).toBeGreaterThan(1e-6);
  });
});

describe('(c) causality and the KV cache', () => {
  const makeLm = (seed: number) => {
    const lm = new nn.TransformerLM({ ...tiny, seed, attention: complexAttention({ seed }) });
    randomisePhases(lm);
    return lm;
  };

  it('changing a future token never changes earlier outputs', async () => {
    const lm = makeLm(4);
    const base = [1, 2, 3, 4, 5, 6, 7, 8];
    const V = tiny.vocabSize;
    const ref = await lm.forward(ids2d([base])).toArray();
    for (const t of [0, 3, 7]) {
      const out = await lm.forward(ids2d([base.map((v, i) => (i === t ? (v + 5) % V : v))])).toArray();
      expect(maxDiff(out.slice(0, t * V), ref.slice(0, t * V))).toBe(0);
      expect(maxDiff(out.slice(t * V), ref.slice(t * V))).toBeGreaterThan(1e-6);
    }
  });

  it('KV-cache outputs equal full-forward outputs, and greedy generation agrees', async () => {
    const lm = makeLm(6);
    const rows = [[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]];
    const V = tiny.vocabSize;
    const full = await lm.forward(ids2d(rows)).toArray();
    const cache = lm.makeCache();
    const steps = [3, 1, 2, 1, 1];
    const parts: number[][] = [];
    let t = 0;
    for (const n of steps) {
      parts.push(await lm.forward(ids2d(rows.map((r) => r.slice(t, t + n))), { cache }).toArray());
      t += n;
    }
    expect(cache[0].length).toBe(8);
    const got: number[] = [];
    for (let b = 0; b < 2; b++) parts.forEach((p, s) => got.push(...p.slice(b * steps[s] * V, (b + 1) * steps[s] * V)));
    expect(maxDiff(got, full)).toBeLessThan(1e-12);

    lm.eval();
    const out = await (await lm.generate([[1, 2]], { maxNewTokens: 5, greedy: true })).toArray();
    const seq = [1, 2];
    for (let s = 0; s < 5; s++) {
      const logits = await lm.forward(ids2d([seq])).toArray();
      seq.push(nn.argmax(logits.slice((seq.length - 1) * V, seq.length * V)));
    }
    expect(out).toEqual(seq);
  });
});

describe('ComplexAttention module', () => {
  it('gradients with respect to its input (random phases) and its phase parameters', async () => {
    const attn = new ComplexAttention({ dModel: 8, nHeads: 2, generator: new Generator(5), deltaGenerator: new Generator(6) });
    randomisePhases(attn);
    checkGrad('ComplexAttention (input)', (x) => attn.forward(x), [randT([1, 3, 8])]);
    // the module's own delta and b: <grad, t> against a central difference along a random direction t
    const x = randT([1, 4, 8]);
    const c = randT([1, 4, 8]);
    const f = () => attn.forward(x).mul(c).sum();
    for (const p of [attn.delta, attn.phaseBias]) {
      attn.zeroGrad();
      f().backward();
      const dir = normals(p.numel);
      const gv = p.grad!.dataSync();
      const analytic = dir.reduce((s, d, i) => s + d * gv[i], 0);
      const saved = p.dataSync();
      const at = async (e: number) => {
        p._data = Float64Array.from(saved, (v, i) => v + e * dir[i]);
        return f().item();
      };
      const numeric = ((await at(1e-6)) - (await at(-1e-6))) / 2e-6;
      p._data = saved;
      expect(Math.abs(analytic - numeric)).toBeLessThan(1e-5 + 1e-3 * Math.abs(numeric));
    }
  });

  it('parameters: d extra per layer, delta ~ N(0, 1/sqrt(d_k/2)) or 1, b = 0; stored flat (no weight decay)', async () => {
    const a = new ComplexAttention({ dModel: 64, nHeads: 2, generator: new Generator(1) });
    expect(a.numParameters()).toBe(new nn.CausalSelfAttention({ dModel: 64, nHeads: 2 }).numParameters() + 64);
    expect(a.delta.shape).toEqual([32]); // H x d_k/2 = 2 x 16, flat
    const d = await a.delta.toArray();
    const std = Math.sqrt(d.reduce((s, v) => s + v * v, 0) / d.length);
    expect(std).toBeGreaterThan(0.15); // 1/sqrt(d_k/2) = 1/sqrt(16) = 0.25
    expect(std).toBeLessThan(0.4);
    expect(await a.phaseBias.toArray()).toEqual(new Array(32).fill(0));
    expect(await new ComplexAttention({ dModel: 8, nHeads: 2, deltaInit: 'one' }).delta.toArray()).toEqual([1, 1, 1, 1]);
  });

  it('explains bad configurations', () => {
    expect(() => new ComplexAttention({ dModel: 6, nHeads: 2 })).toThrow(/heads of even size/);
    expect(() => new ComplexAttention({ dModel: 8, nHeads: 2, positions: 'learned' })).toThrow(/positions must be 'rope'/);
    expect(() => complexRotate(randT([3, 5]), randT([1, 2]), null)).toThrow(/d_k even/);
  });

  it('webasm matches the float64 reference (forward of a small CMHA LM)', async () => {
    const lm = new nn.TransformerLM({ ...tiny, seed: 3, attention: complexAttention({ seed: 3 }) });
    randomisePhases(lm);
    const ids = [[1, 2, 3, 4, 5, 6, 7, 8]];
    const ref = await lm.forward(ids2d(ids)).toArray();
    setDevice('webasm');
    const onWasm = new nn.TransformerLM({ ...tiny, seed: 3, attention: complexAttention({ seed: 3 }) });
    onWasm.loadStateDict(Object.fromEntries(Object.entries(lm.stateDict()).map(([k, t]) => [k, t.to('webasm')])));
    const got = await onWasm.forward(ids2d(ids)).toArray();
    expect(maxDiff(got, ref)).toBeLessThan(1e-4);
  });
});
