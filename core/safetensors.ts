/**
 * The safetensors file format (https://github.com/huggingface/safetensors), read and written by hand.
 *
 * Layout: 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON header (padded with spaces to a
 * multiple of 8, as the reference writer does), then the raw little-endian tensor bytes. Offsets in the header
 * are relative to the start of that byte buffer. Loading only ever calls JSON.parse, so a checkpoint from an
 * untrusted source can be corrupt but can never run code; every field is validated before any data is read.
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from './fsutil.js';

export { writeFileAtomic } from './fsutil.js';

/** Element types this library reads and writes. */
export type SafetensorsDType = 'F32' | 'F64' | 'I32' | 'I64';

/** Any typed array that can back a stored tensor. */
export type SafetensorsData = Float32Array | Float64Array | Int32Array | BigInt64Array;

/** A tensor to save; `dtype` defaults to the natural one of `data` (Float32Array -> F32, ...). */
export interface SafetensorsInput {
  dtype?: SafetensorsDType;
  shape: number[];
  data: SafetensorsData;
}

/** A loaded tensor; narrowing on `dtype` gives the concrete array type. */
export type SafetensorsTensor =
  | { dtype: 'F32'; shape: number[]; data: Float32Array }
  | { dtype: 'F64'; shape: number[]; data: Float64Array }
  | { dtype: 'I32'; shape: number[]; data: Int32Array }
  | { dtype: 'I64'; shape: number[]; data: BigInt64Array };

/** Result of decoding a file: tensors by name plus the free-form string metadata. */
export interface SafetensorsFile {
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

const DTYPE_SIZE: ReadonlyMap<string, number> = new Map([
  ['F32', 4],
  ['F64', 8],
  ['I32', 4],
  ['I64', 8],
]);
const METADATA_KEY = '__metadata__';
/** Larger headers are certainly garbage (a length read from random bytes), so refuse before allocating. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Serialise tensors (names sorted for byte-identical output) and optional string metadata.
 *
 * @example
 * const bytes = encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } }, { step: '10' });
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  // Null-prototype objects so a tensor named "__proto__" is stored as data instead of changing the prototype.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length > 0) {
    const meta: Record<string, string> = Object.create(null);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors: metadata value for '${k}' must be a string, got ${typeof v}`);
      meta[k] = v;
    }
    header[METADATA_KEY] = meta;
  }
  const names = Object.keys(tensors).sort();
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === METADATA_KEY) throw new Error(`safetensors: '${METADATA_KEY}' is reserved and cannot name a tensor`);
    const t = tensors[name];
    const dtype = t.dtype ?? naturalDType(t.data);
    const n = checkShape(t.shape, `tensor '${name}'`);
    if (n !== t.data.length) {
      throw new Error(`safetensors: tensor '${name}' has shape [${t.shape}] (${n} elements) but ${t.data.length} values`);
    }
    const raw = toLittleEndianBytes(convert(t.data, dtype, name));
    header[name] = { dtype, shape: t.shape.slice(), data_offsets: [offset, offset + raw.length] };
    parts.push(raw);
    offset += raw.length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/**
 * Parse and fully validate a safetensors byte buffer; `source` (e.g. the file path) is named in errors.
 *
 * @example
 * const { tensors, metadata } = decodeSafetensors(fs.readFileSync('model.safetensors'));
 * const w = tensors['w']; if (w.dtype === 'F32') console.log(w.data[0]);
 */
export function decodeSafetensors(bytes: Uint8Array, source?: string): SafetensorsFile {
  const fail = (msg: string): never => {
    const where = source ? `${source}: ` : '';
    throw new Error(`safetensors: ${where}${msg}; the file is probably truncated or corrupt`);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length prefix`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n64} bytes is absurd (limit ${MAX_HEADER_BYTES})`);
  const n = Number(n64);
  if (8 + n > bytes.length) fail(`header length ${n} bytes runs past the end of the ${bytes.length}-byte file`);

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail('header is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(parsed)) fail('header JSON is not an object');
  const header = parsed as Record<string, unknown>;
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;

  const metadata: Record<string, string> = Object.create(null);
  const entries: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(info)) fail(`'${METADATA_KEY}' is not an object`);
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`metadata value for '${k}' is ${JSON.stringify(v)}, not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const what = `tensor '${name}'`;
    if (!isPlainObject(info)) fail(`${what}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== 'string' || !DTYPE_SIZE.has(dtype)) {
      fail(`${what}: unknown dtype ${JSON.stringify(dtype)} (supported: ${[...DTYPE_SIZE.keys()].join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${what}: shape ${JSON.stringify(shape)} is not an array of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`${what}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with non-negative integers`);
    }
    const [begin, end] = offsets as number[];
    if (begin > end) fail(`${what}: data_offsets [${begin}, ${end}] has begin after end`);
    if (end > dataLen) fail(`${what}: data_offsets [${begin}, ${end}] out of bounds of the ${dataLen}-byte data buffer`);
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const size = DTYPE_SIZE.get(dtype as string) as number;
    if (!Number.isSafeInteger(numel * size) || numel * size !== end - begin) {
      fail(`${what}: ${dtype} shape [${shape}] needs ${numel * size} bytes but data_offsets span ${end - begin}`);
    }
    entries.push({ name, dtype: dtype as SafetensorsDType, shape: (shape as number[]).slice(), begin, end });
  }

  // The reference reader insists the tensors tile the buffer exactly: no overlap, no gaps, no trailing bytes.
  const byOffset = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of byOffset) {
    if (e.begin < expected) fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] overlap a previous tensor`);
    if (e.begin > expected) fail(`tensor '${e.name}': gap of ${e.begin - expected} bytes before data_offsets [${e.begin}, ${e.end}]`);
    expected = e.end;
  }
  if (expected !== dataLen) fail(`tensors cover ${expected} bytes but the data buffer holds ${dataLen}`);

  const tensors: Record<string, SafetensorsTensor> = Object.create(null);
  for (const e of entries) {
    const data = fromLittleEndianBytes(bytes.subarray(dataStart + e.begin, dataStart + e.end), e.dtype);
    tensors[e.name] = { dtype: e.dtype, shape: e.shape, data } as SafetensorsTensor;
  }
  return { tensors, metadata };
}

/**
 * Encode and write atomically (see writeFileAtomic), so a crash never leaves a half-written checkpoint.
 *
 * @example
 * saveSafetensors('runs/demo/model.safetensors', { w: { shape: [3], data: new Float32Array(3) } }, { step: '100' });
 */
export function saveSafetensors(
  filePath: string,
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(filePath, encodeSafetensors(tensors, metadata));
}

/**
 * Read and validate a safetensors file; errors name the path.
 *
 * @example
 * const { tensors } = loadSafetensors('runs/demo/model.safetensors');
 */
export function loadSafetensors(filePath: string): SafetensorsFile {
  return decodeSafetensors(fs.readFileSync(filePath), filePath);
}

function isPlainObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function naturalDType(data: SafetensorsData): SafetensorsDType {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Int32Array) return 'I32';
  return 'I64';
}

function checkShape(shape: number[], what: string): number {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`safetensors: ${what} has invalid shape ${JSON.stringify(shape)}`);
  }
  return shape.reduce((a, b) => a * b, 1);
}

/** Converts between array kinds, refusing silent corruption (fractions or overflow into integer dtypes). */
function convert(data: SafetensorsData, dtype: SafetensorsDType, name: string): SafetensorsData {
  if (naturalDType(data) === dtype) return data;
  const bad = (i: number): never => {
    throw new Error(`safetensors: tensor '${name}' value ${String(data[i])} at index ${i} does not fit dtype ${dtype}`);
  };
  const n = data.length;
  if (dtype === 'I64') {
    const out = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      const v = Number(data[i]);
      if (!Number.isSafeInteger(v)) bad(i);
      out[i] = BigInt(v);
    }
    return out;
  }
  const out = dtype === 'F32' ? new Float32Array(n) : dtype === 'F64' ? new Float64Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number(data[i]);
    if (dtype === 'I32' && !(Number.isInteger(v) && v >= -2147483648 && v <= 2147483647)) bad(i);
    out[i] = v;
  }
  return out;
}

function toLittleEndianBytes(data: SafetensorsData): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const out = bytes.slice();
  const size = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < out.length; i += size) out.subarray(i, i + size).reverse();
  return out;
}

/** Copies into a fresh buffer: the source offset inside the file is generally not aligned for the dtype. */
function fromLittleEndianBytes(src: Uint8Array, dtype: SafetensorsDType): SafetensorsData {
  // Not src.slice(): on a Node Buffer that returns a view into the shared pool rather than a copy.
  const copy = new Uint8Array(src);
  if (!LITTLE_ENDIAN_HOST) {
    const size = DTYPE_SIZE.get(dtype) as number;
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  }
  const buf = copy.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf);
    case 'F64':
      return new Float64Array(buf);
    case 'I32':
      return new Int32Array(buf);
    case 'I64':
      return new BigInt64Array(buf);
  }
}
