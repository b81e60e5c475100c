/**
 * Training checkpoints in the safetensors format: tensors (model parameters, optimizer moments) as raw
 * little-endian float32, everything else (step, RNG states, config, optimizer scalars) as JSON in the
 * header's __metadata__. Python's `safetensors.safe_open` reads these files.
 *
 * Writing is atomic (temp file + fsync + rename): a crash mid-write leaves the previous checkpoint intact.
 * Loading parses JSON only — it never evaluates code — and a truncated or corrupt file gives an error that
 * names the file and what is wrong.
 */
import { existsSync } from 'node:fs';
import { loadSafetensors, saveSafetensors, type SafetensorsInput } from '../core/safetensors.js';
import { Tensor } from '../core/tensor.js';
import { getDevice, type Device } from '../core/device.js';
import type { LoadResult, Module } from './module.js';

export const CHECKPOINT_FORMAT = 'tsgrad-checkpoint-v1';

export interface CheckpointData {
  /**
   * Named tensors; names are namespaced by the caller (e.g. "model.blocks.0.attn.q.weight"). Loaded maps
   * have no prototype, so any name (even "__proto__" or "constructor") is plain data.
   */
  tensors: Record<string, Tensor>;
  /** Anything JSON-serialisable: step, RNG states, config, optimizer scalars. */
  meta: Record<string, unknown>;
}

/** Write a checkpoint atomically. Reads every tensor's values (async on GPU devices). */
export async function saveCheckpoint(path: string, ckpt: CheckpointData): Promise<void> {
  const out: Record<string, SafetensorsInput> = Object.create(null);
  for (const [name, t] of Object.entries(ckpt.tensors)) {
    const d = await t.data();
    out[name] = t.dtype === 'int32'
      ? { dtype: 'I32', shape: t.shape, data: Int32Array.from(d) }
      : { dtype: 'F32', shape: t.shape, data: d instanceof Float32Array ? d : Float32Array.from(d) };
  }
  saveSafetensors(path, out, { format: CHECKPOINT_FORMAT, meta: JSON.stringify(ckpt.meta) });
}

/** Read a checkpoint back onto `device`; throws a clear error for a missing, truncated or foreign file. */
export function loadCheckpoint(path: string, device: Device): CheckpointData {
  if (!existsSync(path)) throw new Error(`loadCheckpoint: no checkpoint at ${path}`);
  const file = loadSafetensors(path);
  if (file.metadata.format !== CHECKPOINT_FORMAT) {
    throw new Error(`loadCheckpoint: ${path} is a safetensors file but not a tsgrad checkpoint (metadata.format = ${JSON.stringify(file.metadata.format)})`);
  }
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(file.metadata.meta ?? '') as Record<string, unknown>;
  } catch (e) {
    throw new Error(`loadCheckpoint: ${path} has unreadable metadata (${(e as Error).message}); the file is corrupt`);
  }
  if (typeof meta !== 'object' || meta === null) throw new Error(`loadCheckpoint: ${path} metadata is not an object; the file is corrupt`);
  const tensors: Record<string, Tensor> = Object.create(null);
  for (const [name, t] of Object.entries(file.tensors)) {
    if (t.dtype !== 'F32' && t.dtype !== 'I32') throw new Error(`loadCheckpoint: ${path}: tensor ${name} has dtype ${t.dtype}; expected F32 or I32`);
    tensors[name] = Tensor.fromValues(t.data as ArrayLike<number>, t.shape, device, t.dtype === 'I32' ? 'int32' : 'float32');
  }
  return { tensors, meta };
}

/** A prototype-free record of `entries`: every key, "__proto__" included, is an own data property. */
function ownRecord<T>(entries: Iterable<[string, T]>): Record<string, T> {
  const out: Record<string, T> = Object.create(null);
  for (const [k, v] of entries) out[k] = v;
  return out;
}

/**
 * Namespace tensors under a prefix ({ x } -> "model.x").
 * @example withPrefix('model', model.stateDict()); // { 'model.w': ..., 'model.b': ... }
 */
export function withPrefix(prefix: string, tensors: Record<string, Tensor>): Record<string, Tensor> {
  return ownRecord(Object.entries(tensors).map(([k, v]) => [`${prefix}.${k}`, v]));
}

/**
 * The tensors under a prefix, without it ("model.x" -> { x }); other names are left out.
 * @example model.loadStateDict(stripPrefix('model', loadCheckpoint(path, dev).tensors));
 */
export function stripPrefix(prefix: string, tensors: Record<string, Tensor>): Record<string, Tensor> {
  const p = `${prefix}.`;
  return ownRecord(Object.entries(tensors).filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]));
}

/**
 * Split any state object (e.g. an optimizer's stateDict) into JSON plus tensors: each Tensor found is
 * replaced by { $tensor: name } and stored under that name; `unpackState` reverses it.
 */
export function packState(prefix: string, state: unknown, tensors: Record<string, Tensor>): unknown {
  if (state instanceof Tensor) {
    tensors[prefix] = state;
    return { $tensor: prefix };
  }
  if (Array.isArray(state)) return state.map((v, i) => packState(`${prefix}.${i}`, v, tensors));
  if (state && typeof state === 'object') {
    return ownRecord(Object.entries(state).map(([k, v]) => [k, packState(`${prefix}.${k}`, v, tensors)]));
  }
  return state;
}

/**
 * Reverse `packState`: each { $tensor: name } becomes the tensor stored under that name, which must be an
 * own key of `tensors` (a name like "constructor" never resolves through Object.prototype).
 * @example optimizer.loadStateDict(unpackState(ck.meta.optimizer, ck.tensors) as OptimizerState);
 */
export function unpackState(state: unknown, tensors: Record<string, Tensor>): unknown {
  if (Array.isArray(state)) return state.map((v) => unpackState(v, tensors));
  if (state && typeof state === 'object') {
    const ref = Object.hasOwn(state, '$tensor') ? (state as { $tensor: unknown }).$tensor : undefined;
    if (typeof ref === 'string') {
      const t = Object.hasOwn(tensors, ref) ? tensors[ref] : undefined;
      if (!(t instanceof Tensor)) throw new Error(`loadCheckpoint: the checkpoint refers to tensor "${ref}" but does not contain it; the file is corrupt`);
      return t;
    }
    return ownRecord(Object.entries(state).map(([k, v]) => [k, unpackState(v, tensors)]));
  }
  return state;
}

/**
 * Save a module's parameters and buffers (its `stateDict()`) to a safetensors file, atomically, with any
 * JSON-serialisable `meta` (config, step) beside them. PyTorch's `torch.save(model.state_dict(), path)`.
 * @example
 * await saveModule('lm.safetensors', lm, { config: lm.config });
 */
export async function saveModule(path: string, module: Module, meta: Record<string, unknown> = {}): Promise<void> {
  await saveCheckpoint(path, { tensors: module.stateDict(), meta });
}

/**
 * Load a file written by `saveModule` into `module` (onto the devices of its parameters) and return the
 * saved `meta` with the keys that did not match (only a `{ strict: false }` load returns non-empty lists).
 * @example
 * const lm = new TransformerLM(config);
 * const { meta } = loadModule('lm.safetensors', lm);
 */
export function loadModule(path: string, module: Module, opts: { strict?: boolean } = {}): LoadResult & { meta: Record<string, unknown> } {
  const first = module.parameters()[0] as Tensor | undefined;
  const { tensors, meta } = loadCheckpoint(path, first?.device ?? getDevice());
  return { ...module.loadStateDict(tensors, opts), meta };
}
