/**
 * nn: modules, layers, attention, RoPE and the transformer LM — shapes, parameter counts, state dicts,
 * causality, the KV cache, clear errors, gradients of the composites (float64 reference), and a tiny LM
 * that overfits one batch on webasm.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Generator, gradcheck, randn, setDevice, tensor, type Tensor } from '../core/index.js';
import * as nn from '../nn/index.js';

const ids2d = (rows: number[][]): Tensor => tensor(rows.flat(), [rows.length, rows[0].length], { dtype: 'int32' });
const randomIds = (g: Generator, B: number, T: number, V: number): number[][] =>
  Array.from({ length: B }, () => Array.from({ length: T }, () => g.int(V)));
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

/** A plain float64 re-implementation of the LM (loops over numbers), read from a state dict: one sequence. */
async function referenceLogits(lm: nn.TransformerLM, seq: number[]): Promise<number[][]> {
  const c = lm.config;
  const P: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(lm.stateDict())) P[k] = await t.toArray();
  const D = c.dModel;
  const dk = D / c.nHeads;
  const lin = (x: number[], pre: string, out: number): number[] =>
    Array.from({ length: out }, (_, o) => (P[`${pre}.bias`]?.[o] ?? 0) + x.reduce((s, xi, i) => s + xi * P[`${pre}.weight`][o * x.length + i], 0));
  const norm = (x: number[], pre: string): number[] => {
    const mu = c.norm === 'layernorm' ? x.reduce((s, v) => s + v, 0) / D : 0;
    const ms = x.reduce((s, v) => s + (v - mu) ** 2, 0) / D;
    return x.map((v, i) => ((v - mu) / Math.sqrt(ms + c.normEps)) * P[`${pre}.weight`][i] + (P[`${pre}.bias`]?.[i] ?? 0));
  };
  const rope = (v: number[], pos: number): number[] => {
    const out = [...v];
    for (let i = 0; i < dk / 2; i++) {
      const a = pos * Math.pow(c.ropeBase, (-2 * i) / dk);
      out[i] = v[i] * Math.cos(a) - v[i + dk / 2] * Math.sin(a);
      out[i + dk / 2] = v[i] * Math.sin(a) + v[i + dk / 2] * Math.cos(a);
    }
    return out;
  };
  let x = seq.map((id, t) => Array.from({ length: D }, (_, i) => P['tokEmb.weight'][id * D + i] + (P['posEmb.weight'] ? P['posEmb.weight'][t * D + i] : 0)));
  for (let l = 0; l < c.nLayers; l++) {
    const p = `blocks.${l}`;
    const h = x.map((r) => norm(r, `${p}.norm1`));
    const [q, k, v] = ['q', 'k', 'v'].map((n) => h.map((r) => lin(r, `${p}.attn.${n}`, D)));
    const y = seq.map((_, t) => {
      const row: number[] = [];
      for (let hd = 0; hd < c.nHeads; hd++) {
        const part = (m: number[][], j: number) => {
          const s = m[j].slice(hd * dk, (hd + 1) * dk);
          return c.positions === 'rope' && m !== v ? rope(s, j) : s;
        };
        const qt = part(q, t);
        const sc = Array.from({ length: t + 1 }, (_, j) => part(k, j).reduce((s, kv, i) => s + kv * qt[i], 0) / Math.sqrt(dk));
        const mx = Math.max(...sc);
        const e = sc.map((s) => Math.exp(s - mx));
        const z = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < dk; i++) row.push(e.reduce((s, w, j) => s + (w / z) * part(v, j)[i], 0));
      }
      return row;
    });
    x = x.map((r, t) => lin(y[t], `${p}.attn.proj`, D).map((a, i) => r[i] + a));
    const h2 = x.map((r) => norm(r, `${p}.norm2`));
    const gelu = (u: number) => 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u ** 3)));
    const silu = (u: number) => u / (1 + Math.exp(-u));
    const H = c.mlpHidden;
    const m = h2.map((r) => {
      if (c.mlp === 'gelu') return lin(lin(r, `${p}.mlp.fc`, H).map(gelu), `${p}.mlp.proj`, D);
      const up = lin(r, `${p}.mlp.up`, H);
      return lin(lin(r, `${p}.mlp.gate`, H).map((g, i) => silu(g) * up[i]), `${p}.mlp.proj`, D);
    });
    x = x.map((r, t) => r.map((a, i) => a + m[t][i]));
  }
  const W = c.tieEmbeddings ? 'tokEmb' : 'head';
  return x.map((r) => norm(r, 'normF')).map((r) => Array.from({ length: c.vocabSize }, (_, o) => r.reduce((s, ri, i) => s + ri * P[`${W}.weight`][o * D + i], 0)));
}

const tiny = { vocabSize: 11, contextLength: 8, dModel: 8, nHeads: 2, nLayers: 2 };

beforeEach(() => {
  setDevice('reference', 'nn tests');
});

describe('Module', () => {
  class Pair extends nn.Module {
    readonly a = this.child('a', new nn.Linear(3, 2));
    readonly scale = this.param('scale', nn.init.ones([2]));
    readonly b = this.child('b', new nn.Linear(2, 1, { bias: false }));
    readonly drop = this.child('drop', new nn.Dropout(0.5));
  }

  it('names parameters with dots in registration order and counts them', () => {
    const m = new Pair();
    expect(m.namedParameters().map(([n]) => n)).toEqual(['scale', 'a.weight', 'a.bias', 'b.weight']);
    expect(m.parameters().every((p) => p.requiresGrad)).toBe(true);
    expect(m.numParameters()).toBe(2 + 6 + 2 + 2);
    const list = new nn.ModuleList([new nn.Linear(2, 2), new nn.LayerNorm(2)]);
    expect(list.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '1.weight', '1.bias']);
  });

  it('propagates train/eval to children and zeroes gradients', () => {
    const m = new Pair();
    m.eval();
    expect(m.namedModules().every(([, c]) => !c.training)).toBe(true);
    m.train();
    expect(m.drop.training).toBe(true);
    m.a.forward(randn([4, 3])).sum().backward();
    expect(m.a.weight.grad).not.toBeNull();
    m.zeroGrad();
    expect(m.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('rejects bad and duplicate names', () => {
    const m = new nn.Module();
    m.param('w', nn.init.zeros([1]));
    expect(() => m.param('w', nn.init.zeros([1]))).toThrow(/'w' is already registered/);
    expect(() => m.child('a.b', new nn.Module())).toThrow(/without dots/);
  });
});

describe('layers', () => {
  it('Linear accepts [..., in] and uses W [out, in]', async () => {
    const fc = new nn.Linear(4, 3);
    expect(fc.forward(randn([2, 5, 4])).shape).toEqual([2, 5, 3]);
    expect(fc.forward(randn([4])).shape).toEqual([3]);
    expect(new nn.Linear(4, 3, { bias: false }).numParameters()).toBe(12);
    const x = randn([2, 4]);
    const y = await fc.forward(x).toArray();
    const [w, b, xv] = [await fc.weight.toArray(), await fc.bias!.toArray(), await x.toArray()];
    const want = [0, 1].flatMap((r) => [0, 1, 2].map((o) => b[o] + [0, 1, 2, 3].reduce((s, i) => s + xv[r * 4 + i] * w[o * 4 + i], 0)));
    expect(maxDiff(y, want)).toBeLessThan(1e-12);
    expect(() => fc.forward(randn([2, 5]))).toThrow(/Linear\(4 -> 3\): input \[2,5\] must end in 4/);
  });

  it('Embedding looks up rows and names a bad id and V', () => {
    const emb = new nn.Embedding(10, 4);
    expect(emb.forward(ids2d([[1, 2, 3], [4, 5, 9]])).shape).toEqual([2, 3, 4]);
    expect(() => emb.forward(ids2d([[1, 10]]))).toThrow(/id 10 at \[0, 1\] is out of range .*V = 10/);
    expect(() => emb.forward(ids2d([[-1, 2]]))).toThrow(/id -1 at \[0, 0\]/);
    expect(() => emb.forward(randn([2, 2]))).toThrow(/int32/);
  });

  it('LayerNorm and RMSNorm normalise the last dim', async () => {
    const x = randn([3, 6]).mul(3).add(1);
    const ln = await new nn.LayerNorm(6).forward(x).toArray();
    const rms = await new nn.RMSNorm(6).forward(x).toArray();
    for (let r = 0; r < 3; r++) {
      const row = ln.slice(r * 6, r * 6 + 6);
      const mean = row.reduce((s, v) => s + v, 0) / 6;
      expect(Math.abs(mean)).toBeLessThan(1e-9);
      expect(row.reduce((s, v) => s + (v - mean) ** 2, 0) / 6).toBeCloseTo(1, 4);
      const ms = rms.slice(r * 6, r * 6 + 6).reduce((s, v) => s + v * v, 0) / 6;
      expect(ms).toBeCloseTo(1, 4);
    }
    expect(new nn.LayerNorm(6).numParameters()).toBe(12);
    expect(new nn.RMSNorm(6).numParameters()).toBe(6);
  });

  it('Dropout is seeded in training and the identity in eval', async () => {
    const x = nn.init.ones([1000]);
    const a = await new nn.Dropout(0.25, new Generator(3)).forward(x).toArray();
    const b = await new nn.Dropout(0.25, new Generator(3)).forward(x).toArray();
    expect(a).toEqual(b);
    const zeros = a.filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(200);
    expect(zeros).toBeLessThan(300);
    expect(a.filter((v) => v !== 0).every((v) => Math.abs(v - 1 / 0.75) < 1e-12)).toBe(true);
    const d = new nn.Dropout(0.25).eval();
    expect(d.forward(x)).toBe(x);
  });

  it('MLP and SwiGLU keep the shape; parameter counts', () => {
    const x = randn([2, 3, 8]);
    expect(new nn.MLP(8, 32).forward(x).shape).toEqual([2, 3, 8]);
    expect(new nn.SwiGLU(8, 22).forward(x).shape).toEqual([2, 3, 8]);
    expect(new nn.MLP(8, 32).numParameters()).toBe(8 * 32 + 32 + 32 * 8 + 8);
    expect(new nn.SwiGLU(8, 22).numParameters()).toBe(3 * 8 * 22);
  });
});

describe('gradients of composites (float64 reference)', () => {
  it('layerNorm and rmsNorm', () => {
    checkGrad('layerNorm', (x, w, b) => nn.layerNorm(x, w, b, 1e-5), [randn([3, 5]), randn([5]), randn([5])]);
    checkGrad('rmsNorm', (x, w) => nn.rmsNorm(x, w, 1e-5), [randn([3, 5]), randn([5])]);
  });

  it('causalAttention (with a cache-style offset) and applyRope', () => {
    checkGrad('causalAttention', (q, k, v) => nn.causalAttention(q, k, v), [randn([1, 2, 3, 4]), randn([1, 2, 3, 4]), randn([1, 2, 3, 4])]);
    checkGrad('causalAttention offset', (q, k, v) => nn.causalAttention(q, k, v), [randn([1, 1, 2, 4]), randn([1, 1, 5, 4]), randn([1, 1, 5, 3])]);
    checkGrad('applyRope', (x) => nn.applyRope(x, 3), [randn([2, 3, 6])]);
  });

  it('CausalSelfAttention, SwiGLU and a transformer block with respect to their input', () => {
    const attn = new nn.CausalSelfAttention({ dModel: 4, nHeads: 2, generator: new Generator(1) });
    checkGrad('CausalSelfAttention', (x) => attn.forward(x), [randn([2, 3, 4])]);
    const ff = new nn.SwiGLU(4, 6, { generator: new Generator(2) });
    checkGrad('SwiGLU', (x) => ff.forward(x), [randn([2, 2, 4])]);
    const lm = new nn.TransformerLM({ ...tiny, dModel: 4, norm: 'rmsnorm', mlp: 'swiglu', seed: 5 });
    const block = lm.blocks.get(0);
    checkGrad('Block', (x) => block.forward(x), [randn([1, 3, 4])]);
  });
});

describe('attention on the devices', () => {
  it('the -Infinity causal mask gives the reference result on webasm and cpu', async () => {
    const g = new Generator(4);
    const vals = (n: number) => Array.from({ length: n }, () => g.normal());
    const shape = [1, 2, 5, 4];
    const inputs = [vals(40), vals(40), vals(40)];
    const run = async (dev: string) => {
      setDevice(dev);
      const [q, k, v] = inputs.map((x) => tensor(x, shape));
      return nn.causalAttention(q, k, v).toArray();
    };
    const ref = await run('reference');
    for (const dev of ['webasm', 'cpu']) {
      const got = await run(dev);
      expect(got.every(Number.isFinite)).toBe(true);
      expect(maxDiff(got, ref)).toBeLessThan(1e-5);
    }
  });
});

describe('applyRope', () => {
  it('rotates each (i, i + d/2) pair: norms kept, position 0 is the identity', async () => {
    const x = randn([5, 8]);
    const y = await nn.applyRope(x, 7).toArray();
    const xv = await x.toArray();
    for (let t = 0; t < 5; t++) {
      for (let i = 0; i < 4; i++) {
        const n0 = xv[t * 8 + i] ** 2 + xv[t * 8 + i + 4] ** 2;
        const n1 = y[t * 8 + i] ** 2 + y[t * 8 + i + 4] ** 2;
        expect(Math.abs(n0 - n1)).toBeLessThan(1e-12);
      }
    }
    const one = randn([1, 8]);
    expect(maxDiff(await nn.applyRope(one, 0).toArray(), await one.toArray())).toBeLessThan(1e-15);
    // explicit formula at position 3, pair i = 1: angle 3 * 10000^(-2/8)
    const a = 3 * Math.pow(10000, -2 / 8);
    const r = await nn.applyRope(one, 3).toArray();
    const o = await one.toArray();
    expect(r[1]).toBeCloseTo(o[1] * Math.cos(a) - o[5] * Math.sin(a), 12);
    expect(r[5]).toBeCloseTo(o[1] * Math.sin(a) + o[5] * Math.cos(a), 12);
  });

  it('<rope(q, m), rope(k, n)> depends only on m - n', async () => {
    const q = randn([1, 16]);
    const k = randn([1, 16]);
    const dot = async (m: number, n: number) => nn.applyRope(q, m).mul(nn.applyRope(k, n)).sum().item();
    const base = await dot(5, 2);
    for (const [m, n] of [[3, 0], [13, 10], [40, 37]]) expect(Math.abs((await dot(m, n)) - base)).toBeLessThan(1e-10);
    expect(Math.abs((await dot(5, 3)) - base)).toBeGreaterThan(1e-6);
    // explicit positions equal the offset form
    expect(maxDiff(await nn.applyRope(nn.init.ones([3, 4]), [2, 3, 4]).toArray(), await nn.applyRope(nn.init.ones([3, 4]), 2).toArray())).toBeLessThan(1e-15);
  });
});

describe('TransformerLM', () => {
  it('gives logits [B, T, V] and the hand-counted number of parameters', () => {
    const lm = new nn.TransformerLM({ ...tiny, positions: 'learned' });
    expect(lm.forward(ids2d([[1, 2, 3], [4, 5, 6]])).shape).toEqual([2, 3, 11]);
    // V=11, C=8, d=8, hidden 32, 2 layers, biases on
    const emb = 11 * 8 + 8 * 8;
    const block = 2 * 8 + 4 * (8 * 8 + 8) + 2 * 8 + (8 * 32 + 32) + (32 * 8 + 8);
    const total = emb + 2 * block + 2 * 8 + 11 * 8;
    expect(total).toBe(2000);
    expect(lm.numParameters()).toBe(total);
    expect(new nn.TransformerLM({ ...tiny, positions: 'learned', tieEmbeddings: true }).numParameters()).toBe(total - 11 * 8);
    // LLaMA-like: RoPE (no position table), RMSNorm, SwiGLU of width ceil(8 d / 3) = 22, no biases
    const llama = new nn.TransformerLM({ ...tiny, norm: 'rmsnorm', mlp: 'swiglu', bias: false });
    expect(llama.numParameters()).toBe(11 * 8 + 2 * (8 + 4 * 64 + 8 + 3 * 8 * 22) + 8 + 11 * 8);
    expect(llama.namedParameters().map(([n]) => n).slice(0, 6)).toEqual([
      'tokEmb.weight', 'blocks.0.norm1.weight', 'blocks.0.attn.q.weight', 'blocks.0.attn.k.weight', 'blocks.0.attn.v.weight', 'blocks.0.attn.proj.weight',
    ]);
  });

  it('uses the GPT-2 init: N(0, 0.02), residual projections scaled by 1/sqrt(2L), zero biases', async () => {
    const lm = new nn.TransformerLM({ vocabSize: 200, contextLength: 8, dModel: 32, nHeads: 2, nLayers: 2, seed: 3 });
    const sd = lm.stateDict();
    const std = async (k: string) => {
      const v = await sd[k].toArray();
      return Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    };
    expect(await std('tokEmb.weight')).toBeCloseTo(0.02, 2);
    expect(await std('blocks.0.attn.q.weight')).toBeCloseTo(0.02, 2);
    expect(await std('blocks.1.mlp.proj.weight')).toBeCloseTo(0.01, 2);
    expect((await sd['blocks.0.mlp.fc.bias'].toArray()).every((v) => v === 0)).toBe(true);
  });

  it('state dict round trip, and the three loadStateDict errors', async () => {
    const a = new nn.TransformerLM({ ...tiny, seed: 1 });
    const b = new nn.TransformerLM({ ...tiny, seed: 2 });
    const ids = ids2d([[1, 2, 3, 4]]);
    expect(maxDiff(await a.forward(ids).toArray(), await b.forward(ids).toArray())).toBeGreaterThan(1e-4);
    const res = b.loadStateDict(a.stateDict());
    expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(await b.forward(ids).toArray()).toEqual(await a.forward(ids).toArray());

    const sd = a.stateDict();
    const missing = { ...sd };
    delete missing['blocks.1.attn.k.bias'];
    expect(() => b.loadStateDict(missing)).toThrow(/missing keys: blocks\.1\.attn\.k\.bias/);
    expect(() => b.loadStateDict({ ...sd, 'extra.weight': randn([2]) })).toThrow(/unexpected keys: extra\.weight/);
    expect(() => b.loadStateDict({ ...sd, 'normF.weight': randn([9]) })).toThrow(/mis-shaped keys: normF\.weight \(expected \[8\], got \[9\]\)/);
    expect(b.loadStateDict({ ...missing, 'extra.weight': randn([2]) }, { strict: false })).toEqual({
      missingKeys: ['blocks.1.attn.k.bias'], unexpectedKeys: ['extra.weight'],
    });
    expect(() => b.loadStateDict({ ...sd, 'normF.weight': randn([9]) }, { strict: false })).toThrow(/mis-shaped/);
  });

  for (const positions of ['rope', 'learned'] as const) {
    it(`is causal (${positions}): a change at position t never changes logits before t`, async () => {
      const lm = new nn.TransformerLM({ ...tiny, positions, seed: 4 });
      const base = [[1, 2, 3, 4, 5, 6, 7, 8]];
      const T = 8;
      const V = 11;
      const ref = await lm.forward(ids2d(base)).toArray();
      for (const t of [3, 7]) {
        const changed = base.map((r) => r.map((v, i) => (i === t ? (v + 5) % V : v)));
        const out = await lm.forward(ids2d(changed)).toArray();
        expect(maxDiff(out.slice(0, t * V), ref.slice(0, t * V))).toBe(0);
        expect(maxDiff(out.slice(t * V, T * V), ref.slice(t * V, T * V))).toBeGreaterThan(1e-6);
      }
    });

    it(`KV-cache logits equal full-forward logits (${positions})`, async () => {
      const lm = new nn.TransformerLM({ ...tiny, positions, seed: 6 });
      const rows = randomIds(new Generator(1), 2, 8, 11);
      const full = await lm.forward(ids2d(rows)).toArray();
      const cache = lm.makeCache();
      const parts = [await lm.forward(ids2d(rows.map((r) => r.slice(0, 3))), { cache }).toArray()];
      for (let t = 3; t < 8; t++) parts.push(await lm.forward(ids2d(rows.map((r) => [r[t]])), { cache }).toArray());
      expect(cache[0].length).toBe(8);
      // reassemble [B, T, V] from per-step [B, Tstep, V] pieces
      const V = 11;
      const steps = [3, 1, 1, 1, 1, 1];
      const got: number[] = [];
      for (let b = 0; b < 2; b++) parts.forEach((p, s) => got.push(...p.slice(b * steps[s] * V, (b + 1) * steps[s] * V)));
      expect(maxDiff(got, full)).toBeLessThan(1e-12);
      expect(() => lm.forward(ids2d([[1], [2]]), { cache })).toThrow(/8 cached \+ 1 new tokens = 9 exceeds contextLength 8/);
    });
  }

  it('equals a plain float64 re-implementation (GPT-2 layout and LLaMA layout)', async () => {
    const seq = [3, 1, 4, 1, 5, 9, 2];
    for (const cfg of [
      { ...tiny, positions: 'learned', norm: 'layernorm', mlp: 'gelu', seed: 11 },
      { ...tiny, positions: 'rope', norm: 'rmsnorm', mlp: 'swiglu', bias: false, tieEmbeddings: true, seed: 12 },
    ] as nn.TransformerConfig[]) {
      const lm = new nn.TransformerLM(cfg);
      const got = await lm.forward(ids2d([seq])).toArray();
      expect(maxDiff(got, (await referenceLogits(lm, seq)).flat())).toBeLessThan(1e-12);
    }
  });

  it('generate falls back to re-running the window when a custom attention ignores the cache', async () => {
    const cfg = { ...tiny, seed: 13 };
    const plain = new nn.TransformerLM(cfg);
    const noCache = new nn.TransformerLM({
      ...cfg,
      attention: (ac) => {
        const inner = new nn.CausalSelfAttention(ac);
        return Object.assign(inner, { forward: (x: Tensor) => nn.CausalSelfAttention.prototype.forward.call(inner, x) });
      },
    });
    const a = await (await plain.generate([[2, 7]], { maxNewTokens: 8, greedy: true })).toArray();
    const b = await (await noCache.generate([[2, 7]], { maxNewTokens: 8, greedy: true })).toArray();
    expect(b).toEqual(a);
  });

  it('generate: greedy with the cache equals greedy by full recomputation, also past the context', async () => {
    const lm = new nn.TransformerLM({ ...tiny, positions: 'learned', dropout: 0.1, seed: 7 });
    const prompt = [[1, 2, 3], [4, 5, 6]];
    const out = await lm.generate(prompt, { maxNewTokens: 9, greedy: true });
    expect(out.shape).toEqual([2, 12]);
    expect(lm.training).toBe(true); // mode restored
    lm.eval();
    const rows = prompt.map((r) => [...r]);
    for (let s = 0; s < 9; s++) {
      const win = rows.map((r) => r.slice(-8));
      const logits = await lm.forward(ids2d(win)).toArray();
      const T = win[0].length;
      rows.forEach((r, b) => r.push(nn.argmax(logits.slice((b * T + T - 1) * 11, (b * T + T) * 11))));
    }
    expect(await out.toArray()).toEqual(rows.flat());
  });

  it('generate: seeded sampling with temperature and top-k is reproducible and stays in the top k', async () => {
    const lm = new nn.TransformerLM({ ...tiny, seed: 8 });
    const a = await (await lm.generate([1, 2], { maxNewTokens: 5, temperature: 0.7, topK: 3, generator: new Generator(9) })).toArray();
    const b = await (await lm.generate([1, 2], { maxNewTokens: 5, temperature: 0.7, topK: 3, generator: new Generator(9) })).toArray();
    expect(a).toEqual(b);
    expect(nn.sampleToken([0, 5, 1, 4], { topK: 1, generator: new Generator(0) })).toBe(1);
    for (let i = 0; i < 50; i++) expect([1, 3]).toContain(nn.sampleToken([0, 5, 1, 4.5], { topK: 2, temperature: 2, generator: new Generator(i) }));
  });

  it('gives clear errors for unknown token ids and too-long sequences', async () => {
    const lm = new nn.TransformerLM(tiny);
    expect(() => lm.forward(ids2d([[1, 11, 2]]))).toThrow(/TransformerLM: id 11 at \[0, 1\] is out of range for vocabSize 11 \(valid ids: 0\.\.10\)/);
    expect(() => lm.forward(ids2d([[1, -3]]))).toThrow(/id -3 at \[0, 1\]/);
    expect(() => lm.forward(ids2d([[1, 2, 3, 4, 5, 6, 7, 8, 9]]))).toThrow(/sequence length 9 exceeds contextLength 8/);
    expect(() => lm.forward(randn([1, 3]))).toThrow(/int32/);
    await expect(lm.generate([[1, 12]], { maxNewTokens: 1 })).rejects.toThrow(/prompt token id 12 at \[0, 1\]/);
    expect(() => new nn.TransformerLM({ ...tiny, nHeads: 3 })).toThrow(/dModel 8 must be divisible by nHeads 3/);
  });

  it('takes custom attention, head and loss through its seams', async () => {
    const made: number[] = [];
    let lossCalls = 0;
    const lm = new nn.TransformerLM({
      ...tiny,
      attention: (cfg, i) => {
        made.push(i);
        return new nn.CausalSelfAttention({ ...cfg, positions: 'learned' });
      },
      head: (cfg) => new nn.TiedHead(cfg.tokenEmbedding),
      loss: (out, targets, opts) => {
        lossCalls++;
        return nn.crossEntropyLoss(out, targets, opts).mul(2);
      },
    });
    expect(made).toEqual([0, 1]);
    const ids = ids2d([[1, 2, 3]]);
    const targets = ids2d([[2, 3, 4]]);
    const l = await lm.loss(ids, targets).item();
    expect(lossCalls).toBe(1);
    // the tied head is h E^T with E the token embedding
    const h = lm.hidden(ids);
    const logits = h.reshape([3, 8]).matmul(lm.tokEmb.weight.T);
    expect(Math.abs(l - 2 * (await nn.crossEntropyLoss(logits, targets.reshape([3]), {}).item()))).toBeLessThan(1e-12);
    expect(lm.namedParameters().some(([n]) => n.startsWith('head.'))).toBe(false);
  });
});

describe('training', () => {
  it('a tiny LM overfits one batch with AdamW on webasm (loss falls by > 90%)', async () => {
    setDevice('webasm', 'overfit test');
    const lm = new nn.TransformerLM({ vocabSize: 32, contextLength: 16, dModel: 32, nHeads: 2, nLayers: 2, seed: 0 });
    const g = new Generator(5);
    const seq = randomIds(g, 4, 17, 32);
    const ids = ids2d(seq.map((r) => r.slice(0, 16)));
    const targets = ids2d(seq.map((r) => r.slice(1)));
    const opt = new nn.optim.AdamW(lm.namedParameters(), { lr: 1e-2, weightDecay: 0 });
    let first = 0;
    let last = 0;
    for (let step = 0; step < 40; step++) {
      const loss = lm.loss(ids, targets);
      loss.backward();
      opt.step();
      opt.zeroGrad();
      last = await loss.item();
      if (step === 0) first = last;
    }
    expect(first).toBeGreaterThan(3);
    expect(last).toBeLessThan(0.1 * first);
  });
});
