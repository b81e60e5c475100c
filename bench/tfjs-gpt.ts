/**
 * The reference tiny GPT in TensorFlow.js, for bench/train-step.ts: the same model, initialisation and
 * optimizer as `nn.TransformerLM` + `nn.AdamW(lr, weightDecay 0)`, written with tf.variable weights and
 * manual layers so both libraries do the same arithmetic:
 *
 *   x = onehot(ids) tokEmb + posEmb[:T]
 *   each block (pre-LayerNorm):  x += proj(attn(LN1(x)));  x += proj2(gelu_tanh(fc(LN2(x))))
 *   logits = LN_f(x) Wout (no bias, untied);  loss = mean softmax cross-entropy
 *
 * Attention has separate q, k, v and output Linear(d, d) with biases (as tsgrad's CausalSelfAttention),
 * scale 1/sqrt(d_k), and an additive causal mask (-1e9 above the diagonal) before the softmax.
 * Initialisation as GPT-2 / tsgrad: every weight and embedding N(0, 0.02), residual output projections
 * N(0, 0.02 / sqrt(2 L)), biases 0, LayerNorm gain 1. Weights are stored [in, out] (tsgrad stores [out, in]
 * and multiplies by the transpose: same arithmetic).
 *
 * Embedding lookups are one-hot matmuls: tfjs-backend-wasm has no UnsortedSegmentSum kernel, which the
 * gradient of tf.gather needs (a [1024, 256] x [256, 64] matmul per step, ~17 MFLOP, is noise here).
 *
 * tfjs-core's Node bundle (what `import '@tensorflow/tfjs-core'` loads) registers no gradients: the union
 * package `@tensorflow/tfjs` does that by importing `tfjs-core/dist/register_all_gradients`, an ES module
 * tree with extensionless imports that Node cannot load. `loadTfjsGradients` bundles that entry once with
 * esbuild (already installed for tsx and vitest) into the OS temp dir and imports it: tfjs's own gradient
 * definitions, registered into the engine shared through globalThis.
 *
 * Backends live in one global tfjs engine; each runner is bound to the backend it was created on and
 * switches to it at the start of each step, so its variables never migrate between backends.
 *
 * @example
 * await initTfjsBackend('wasm');
 * const gpt = createTfjsGpt({ vocabSize: 256, contextLength: 64, dModel: 64, nHeads: 4, nLayers: 2 }, 'wasm');
 * const loss = await gpt.step(xIds, yIds); // Int32Array(B * T) each
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export type TfjsBackendName = 'wasm' | 'cpu';

export interface TfjsGptConfig {
  vocabSize: number;
  contextLength: number;
  dModel: number;
  nHeads: number;
  nLayers: number;
  /** Feed-forward width (default 4 d). */
  mlpHidden?: number;
  normEps?: number;
  /** Adam learning rate (default 1e-3; betas 0.9, 0.999, eps 1e-8 as torch / tsgrad). */
  lr?: number;
  /** Seeds the initial weights (default 0). */
  seed?: number;
}

export interface TfjsGpt {
  readonly backend: TfjsBackendName;
  readonly numParameters: number;
  /** One training step (forward, backward, Adam) on ids/targets of shape [B, T] (row-major); resolves to the loss. */
  step(x: Int32Array, y: Int32Array, shape?: [number, number]): Promise<number>;
  dispose(): void;
}

export interface TfjsBackendInfo {
  backend: TfjsBackendName;
  /** What the backend runs on, e.g. "WebAssembly SIMD, 1 thread". */
  detail: string;
}

let wasmPathsSet = false;
let varCounter = 0;
let gradientsLoaded: Promise<void> | null = null;

/** Register tfjs's own gradient functions (see the file comment); idempotent. */
export function loadTfjsGradients(): Promise<void> {
  gradientsLoaded ??= (async () => {
    if (tf.getGradient('RealDiv')) return;
    const require = createRequire(import.meta.url);
    const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
    const dir = join(tmpdir(), 'tsgrad-bench');
    const out = join(dir, `tfjs-core-${tf.version_core}-gradients.mjs`);
    if (!existsSync(out)) {
      mkdirSync(dir, { recursive: true });
      const { buildSync } = await import('esbuild');
      const tmp = `${out}.${process.pid}.tmp.mjs`;
      buildSync({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'node', outfile: tmp, logLevel: 'error' });
      renameSync(tmp, out);
    }
    await import(pathToFileURL(out).href);
    if (!tf.getGradient('RealDiv')) throw new Error(`tfjs: loading ${out} registered no gradients`);
  })();
  return gradientsLoaded;
}

/** tfjs-backend-cpu greets Node users on first use with a multi-line console.warn; drop just that. */
async function quietly<T>(fn: () => Promise<T> | T): Promise<T> {
  const warn = console.warn;
  console.warn = (...a: unknown[]) => {
    if (!String(a[0]).includes('tfjs-node')) warn(...a);
  };
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}

/** Register and initialise a tfjs backend (the wasm binaries are loaded from node_modules, offline). */
export async function initTfjsBackend(name: TfjsBackendName): Promise<TfjsBackendInfo> {
  if (name === 'wasm' && !wasmPathsSet) {
    const require = createRequire(import.meta.url);
    // the package's main file lives in dist/ next to the .wasm binaries
    const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
    const dir = dist.endsWith('dist') ? dist : join(dist, 'dist');
    setWasmPaths(`${dir}/`);
    wasmPathsSet = true;
  }
  await loadTfjsGradients();
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tfjs: backend ${name} failed to initialise`);
  await tf.ready();
  // the cpu backend prints its Node greeting at its first write; make that happen here, quietly
  await quietly(() => tf.tidy(() => tf.scalar(0)).dispose());
  let detail = 'plain JavaScript (float32 typed arrays)';
  if (name === 'wasm') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const mt = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    let pool = '?';
    try {
      pool = String(tf.env().get('WASM_NUM_THREADS'));
    } catch {
      // flag not registered in this version
    }
    const threads = mt ? `threads (WASM_NUM_THREADS ${pool})` : '1 thread';
    detail = `WebAssembly ${simd ? 'SIMD' : 'without SIMD'}, ${threads} (XNNPACK)`;
  }
  return { backend: name, detail };
}

interface BlockWeights {
  ln1g: tf.Variable; ln1b: tf.Variable;
  wq: tf.Variable; bq: tf.Variable; wk: tf.Variable; bk: tf.Variable; wv: tf.Variable; bv: tf.Variable;
  wo: tf.Variable; bo: tf.Variable;
  ln2g: tf.Variable; ln2b: tf.Variable;
  w1: tf.Variable; b1: tf.Variable; w2: tf.Variable; b2: tf.Variable;
}

/** Build the model and its Adam optimizer on `backend` (initialised with initTfjsBackend first). */
export function createTfjsGpt(cfg: TfjsGptConfig, backend: TfjsBackendName): TfjsGpt {
  if (tf.getBackend() !== backend) {
    throw new Error(`createTfjsGpt: the active tfjs backend is ${tf.getBackend()}; call await initTfjsBackend('${backend}') first`);
  }
  const { vocabSize: V, contextLength: C, dModel: d, nHeads: H, nLayers: L } = cfg;
  if (d % H !== 0) throw new Error(`createTfjsGpt: dModel ${d} must be divisible by nHeads ${H}`);
  const F = cfg.mlpHidden ?? 4 * d;
  const eps = cfg.normEps ?? 1e-5;
  const dk = d / H;
  let seed = cfg.seed ?? 0;
  const vars: tf.Variable[] = [];
  const v = (t: tf.Tensor, name: string): tf.Variable => {
    const x = tf.variable(t, true, `tinygpt${varCounter++}.${name}.${backend}`);
    t.dispose();
    vars.push(x);
    return x;
  };
  const normal = (shape: number[], std: number, name: string) => v(tf.randomNormal(shape, 0, std, 'float32', seed++), name);
  const zeros = (shape: number[], name: string) => v(tf.zeros(shape), name);
  const ones = (shape: number[], name: string) => v(tf.ones(shape), name);
  const std = 0.02;
  const projStd = std / Math.sqrt(2 * L);

  const tokEmb = normal([V, d], std, 'tokEmb');
  const posEmb = normal([C, d], std, 'posEmb');
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < L; l++) {
    blocks.push({
      ln1g: ones([d], `b${l}.ln1g`), ln1b: zeros([d], `b${l}.ln1b`),
      wq: normal([d, d], std, `b${l}.wq`), bq: zeros([d], `b${l}.bq`),
      wk: normal([d, d], std, `b${l}.wk`), bk: zeros([d], `b${l}.bk`),
      wv: normal([d, d], std, `b${l}.wv`), bv: zeros([d], `b${l}.bv`),
      wo: normal([d, d], projStd, `b${l}.wo`), bo: zeros([d], `b${l}.bo`),
      ln2g: ones([d], `b${l}.ln2g`), ln2b: zeros([d], `b${l}.ln2b`),
      w1: normal([d, F], std, `b${l}.w1`), b1: zeros([F], `b${l}.b1`),
      w2: normal([F, d], projStd, `b${l}.w2`), b2: zeros([d], `b${l}.b2`),
    });
  }
  const lnfg = ones([d], 'lnfg');
  const lnfb = zeros([d], 'lnfb');
  const wOut = normal([d, V], std, 'wOut');
  const numParameters = vars.reduce((s, x) => s + x.size, 0);

  // additive causal masks per sequence length, kept outside any tidy
  const masks = new Map<number, tf.Tensor2D>();
  const maskFor = (T: number): tf.Tensor2D => {
    let m = masks.get(T);
    if (!m) {
      const vals = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) vals[i * T + j] = -1e9;
      m = tf.keep(tf.tensor2d(vals, [T, T])); // may be made inside minimize's tidy
      masks.set(T, m);
    }
    return m;
  };

  // functional tf.* calls only: the chained methods (x.add(...)) are not registered by every tfjs-core entry point
  const layerNorm = (x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor): tf.Tensor2D => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
  };
  const gelu = (x: tf.Tensor2D): tf.Tensor2D => {
    const u = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(u), 1));
  };
  const linear = (x: tf.Tensor2D, w: tf.Tensor, b?: tf.Tensor): tf.Tensor2D => {
    const y = tf.matMul(x, w as tf.Tensor2D) as tf.Tensor2D;
    return b ? (tf.add(y, b) as tf.Tensor2D) : y;
  };
  // int32 one-hot, then a cast: tfjs-backend-wasm's OneHot ignores its dtype argument and writes int32
  // bits into a float32 tensor (1 reads as 1.4e-45), measured with 4.22.0
  const oneHotF = (ids: tf.Tensor1D): tf.Tensor2D => tf.cast(tf.oneHot(ids, V) as tf.Tensor2D, 'float32');
  const heads = (x: tf.Tensor2D, B: number, T: number): tf.Tensor4D => tf.transpose(tf.reshape(x, [B, T, H, dk]), [0, 2, 1, 3]);

  const loss = (ids: tf.Tensor1D, targets: tf.Tensor1D, B: number, T: number): tf.Scalar => {
    const N = B * T;
    const emb = tf.matMul(oneHotF(ids), tokEmb as tf.Tensor2D); // [N, d]
    let h: tf.Tensor2D = tf.reshape(tf.add(tf.reshape(emb, [B, T, d]), tf.slice(posEmb, [0, 0], [T, d])), [N, d]);
    const mask = maskFor(T);
    for (const w of blocks) {
      const a = layerNorm(h, w.ln1g, w.ln1b);
      const q = heads(linear(a, w.wq, w.bq), B, T);
      const k = heads(linear(a, w.wk, w.bk), B, T);
      const vv = heads(linear(a, w.wv, w.bv), B, T);
      const s = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dk)), mask); // [B, H, T, T]
      const p = tf.softmax(s, -1);
      const y: tf.Tensor2D = tf.reshape(tf.transpose(tf.matMul(p, vv), [0, 2, 1, 3]), [N, d]);
      h = tf.add(h, linear(y, w.wo, w.bo));
      const m = gelu(linear(layerNorm(h, w.ln2g, w.ln2b), w.w1, w.b1));
      h = tf.add(h, linear(m, w.w2, w.b2));
    }
    const logits = linear(layerNorm(h, lnfg, lnfb), wOut);
    // mean softmax cross-entropy; tf.logSoftmax has a fused gradient
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits, -1), oneHotF(targets)), -1))) as tf.Scalar;
  };

  const optimizer = tf.train.adam(cfg.lr ?? 1e-3, 0.9, 0.999, 1e-8);

  return {
    backend,
    numParameters,
    async step(x: Int32Array, y: Int32Array, shape?: [number, number]): Promise<number> {
      const [B, T] = shape ?? [x.length / C, C];
      if (!Number.isInteger(B) || B * T !== x.length || y.length !== x.length || T > C) {
        throw new Error(`tfjs gpt step: ids of length ${x.length} / targets ${y.length} do not fit shape [${B}, ${T}] (context ${C})`);
      }
      if (tf.getBackend() !== backend) await tf.setBackend(backend);
      const ids = tf.tensor1d(x, 'int32');
      const tg = tf.tensor1d(y, 'int32');
      const cost = optimizer.minimize(() => loss(ids, tg, B, T), true, vars);
      ids.dispose();
      tg.dispose();
      if (!cost) throw new Error('tfjs gpt step: optimizer.minimize returned no loss');
      const value = (await cost.data())[0];
      cost.dispose();
      return value;
    },
    dispose(): void {
      optimizer.dispose();
      for (const x of vars) x.dispose();
      for (const m of masks.values()) m.dispose();
      masks.clear();
    },
  };
}
