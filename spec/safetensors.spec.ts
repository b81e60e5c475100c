import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
  writeFileAtomic,
} from '../core/safetensors.js';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tsgrad-st-'));
}

/** Hand-craft a file from a raw header string (padding left to the caller) and data bytes. */
function craft(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = Buffer.from(header, 'utf8');
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function expectCorrupt(bytes: Uint8Array, fragment?: RegExp): void {
  let err: unknown;
  try {
    decodeSafetensors(bytes);
  } catch (e) {
    err = e;
  }
  expect(err, 'expected decode to throw').toBeInstanceOf(Error);
  const msg = (err as Error).message;
  expect(msg).toMatch(/^safetensors:/);
  expect(msg).toMatch(/truncated or corrupt/);
  if (fragment) expect(msg).toMatch(fragment);
}

describe('safetensors round trip', () => {
  it('keeps dtype, shape and values for every supported dtype, empty and scalar tensors', () => {
    const bytes = encodeSafetensors(
      {
        f32: { shape: [2, 3], data: new Float32Array([1, -2.5, 3.25, 0, Infinity, -0]) },
        f64: { shape: [3], data: new Float64Array([Math.PI, -1e300, 5e-324]) },
        i32: { shape: [2, 2], data: new Int32Array([1, -1, 2147483647, -2147483648]) },
        i64: { shape: [2], data: new BigInt64Array([9007199254740993n, -5n]) },
        widened: { dtype: 'I64', shape: [2], data: new Int32Array([7, -8]) },
        empty: { shape: [0, 4], data: new Float32Array(0) },
        scalar: { shape: [], data: new Float64Array([42]) },
      },
      { step: '100', note: 'héllo "quoted"' },
    );
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ step: '100', note: 'héllo "quoted"' });
    expect(Object.keys(tensors).sort()).toEqual(['empty', 'f32', 'f64', 'i32', 'i64', 'scalar', 'widened']);
    expect(tensors.f32).toEqual({ dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2.5, 3.25, 0, Infinity, -0]) });
    expect(Object.is(tensors.f32.data[5], -0)).toBe(true);
    expect(tensors.f64).toEqual({ dtype: 'F64', shape: [3], data: new Float64Array([Math.PI, -1e300, 5e-324]) });
    expect(tensors.i32.data).toEqual(new Int32Array([1, -1, 2147483647, -2147483648]));
    expect(tensors.i64.data).toEqual(new BigInt64Array([9007199254740993n, -5n]));
    expect(tensors.widened).toEqual({ dtype: 'I64', shape: [2], data: new BigInt64Array([7n, -8n]) });
    expect(tensors.empty).toEqual({ dtype: 'F32', shape: [0, 4], data: new Float32Array(0) });
    expect(tensors.scalar).toEqual({ dtype: 'F64', shape: [], data: new Float64Array([42]) });
  });

  it('is deterministic regardless of insertion order', () => {
    const a = { shape: [1], data: new Float32Array([1]) };
    const b = { shape: [1], data: new Float32Array([2]) };
    expect(encodeSafetensors({ a, b })).toEqual(encodeSafetensors({ b, a }));
  });

  it('copies data out of unaligned positions and out of Node Buffers', () => {
    // A 1-element F32 first puts the F64 at data offset 4, which is not 8-byte aligned.
    const bytes = encodeSafetensors({
      a: { shape: [1], data: new Float32Array([1]) },
      b: { shape: [2], data: new Float64Array([0.1, 0.2]) },
    });
    const pooled = Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(bytes)]).subarray(3);
    const { tensors } = decodeSafetensors(pooled);
    expect(tensors.b.data).toEqual(new Float64Array([0.1, 0.2]));
    expect(tensors.b.data.byteOffset).toBe(0);
    expect(tensors.b.data.buffer.byteLength).toBe(16);
  });

  it('names like __proto__, constructor, toString and hasOwnProperty survive a file round trip as plain data', () => {
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'plain'];
    const input: Record<string, { shape: number[]; data: Float32Array }> = Object.create(null);
    names.forEach((n, i) => (input[n] = { shape: [2], data: new Float32Array([i, -i]) }));
    const meta = JSON.parse('{"__proto__": "kept", "constructor": "also kept"}') as Record<string, string>; // own keys
    const dir = tmpDir();
    const file = path.join(dir, 'names.safetensors');
    saveSafetensors(file, input, meta);
    const { tensors, metadata } = loadSafetensors(file);
    expect(Object.getPrototypeOf(tensors)).toBeNull();
    expect(Object.getPrototypeOf(metadata)).toBeNull();
    expect(Object.keys(tensors).sort()).toEqual([...names].sort());
    names.forEach((n, i) => expect(Object.getOwnPropertyDescriptor(tensors, n)?.value.data, n).toEqual(new Float32Array([i, -i])));
    expect({ ...metadata }).toEqual({ ['__proto__']: 'kept', constructor: 'also kept' });
    expect(Object.hasOwn(metadata, '__proto__')).toBe(true);
    expect(tensors['isPrototypeOf']).toBeUndefined(); // nothing is found through Object.prototype
    fs.rmSync(dir, { recursive: true });
  });
  it('stores a tensor named __proto__ as data without touching prototypes', () => {
    const input = JSON.parse('{"__proto__": {"shape": [1], "data": null}}') as Record<string, { shape: number[] }>;
    const t = { ...input.__proto__, data: new Float32Array([5]) };
    const bytes = encodeSafetensors(Object.fromEntries([['__proto__', t]]));
    const { tensors } = decodeSafetensors(bytes);
    expect(Object.keys(tensors)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(tensors, '__proto__')?.value.data).toEqual(new Float32Array([5]));
  });

  it('rejects inconsistent inputs when encoding', () => {
    expect(() => encodeSafetensors({ x: { shape: [3], data: new Float32Array(2) } })).toThrow(/safetensors:.*3 elements/);
    expect(() => encodeSafetensors({ x: { dtype: 'I32', shape: [1], data: new Float32Array([0.5]) } })).toThrow(/does not fit/);
    expect(() => encodeSafetensors({ __metadata__: { shape: [0], data: new Float32Array(0) } })).toThrow(/reserved/);
  });
});

describe('safetensors byte layout', () => {
  it('matches hand-computed bytes: length prefix, space padding, offsets, little-endian data', () => {
    const bytes = encodeSafetensors({ a: { shape: [2], data: new Float32Array([1, -2]) } });
    // 54 bytes of JSON, padded with 2 spaces to 56 (a multiple of 8).
    const json = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(json.length).toBe(54);
    const expected = [
      56, 0, 0, 0, 0, 0, 0, 0,
      ...Buffer.from(json + '  ', 'ascii'),
      0x00, 0x00, 0x80, 0x3f, // 1.0f
      0x00, 0x00, 0x00, 0xc0, // -2.0f
    ];
    expect(Array.from(bytes)).toEqual(expected);
  });

  it('puts metadata in the header and keeps the header length a multiple of 8', () => {
    for (const note of ['', 'x', 'xy', 'xyz', 'ünïcödé']) {
      const bytes = encodeSafetensors({ a: { shape: [1], data: new Int32Array([3]) } }, { note });
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      expect(n % 8).toBe(0);
      const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
      expect(header.__metadata__).toEqual({ note });
      expect(header.a.data_offsets).toEqual([0, 4]);
    }
  });
});

describe('safetensors corruption is reported clearly', () => {
  const good = encodeSafetensors(
    { a: { shape: [2], data: new Float32Array([1, 2]) }, b: { shape: [1], data: new Float64Array([3]) } },
    { k: 'v' },
  );
  const f4 = new Uint8Array(4);

  it('fails on every truncation point', () => {
    for (let cut = 0; cut < good.length; cut++) expectCorrupt(good.subarray(0, cut));
    expectCorrupt(good.subarray(0, 5), /shorter than the 8-byte/);
  });

  it('fails cleanly (never a raw TypeError) whatever header byte is flipped', () => {
    const n = Number(new DataView(good.buffer).getBigUint64(0, true));
    for (let i = 0; i < 8 + n; i++) {
      for (const replace of [(b: number) => b ^ 0xff, (b: number) => b ^ 0x01, () => 0x7b, () => 0x22, () => 0x39]) {
        const bad = good.slice();
        bad[i] = replace(bad[i]);
        try {
          decodeSafetensors(bad);
        } catch (e) {
          expect((e as Error).message).toMatch(/^safetensors:/);
        }
      }
    }
  });

  it('names the problem for each kind of bad header', () => {
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
    expectCorrupt(huge, /absurd/);
    const past = good.slice();
    new DataView(past.buffer).setBigUint64(0, 1000n, true);
    expectCorrupt(past, /runs past the end/);
    expectCorrupt(craft('not json'), /not valid JSON/);
    expectCorrupt(craft(Buffer.from([0xc3, 0x28]).toString('latin1')), /JSON|UTF-8/);
    expectCorrupt(craft('[1,2]   '), /not an object/);
    expectCorrupt(craft('null    '), /not an object/);
    expectCorrupt(craft('{"a":5}'), /entry is not an object/);
    expectCorrupt(craft('{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}', f4), /unknown dtype "BF16"/);
    expectCorrupt(craft('{"a":{"dtype":"constructor","shape":[1],"data_offsets":[0,4]}}', f4), /unknown dtype/);
    expectCorrupt(craft('{"a":{"shape":[1],"data_offsets":[0,4]}}', f4), /unknown dtype undefined/);
    for (const shape of ['[-1]', '[1.5]', '"1"', '[null]', '[[1]]']) {
      expectCorrupt(craft(`{"a":{"dtype":"F32","shape":${shape},"data_offsets":[0,4]}}`, f4), /shape .* non-negative integers/);
    }
    for (const offs of ['[0]', '[0,"4"]', '[0,4,8]', '"0,4"', '[-4,0]', '[0,4.5]']) {
      expectCorrupt(craft(`{"a":{"dtype":"F32","shape":[1],"data_offsets":${offs}}}`, f4), /data_offsets/);
    }
    expectCorrupt(craft('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', f4), /begin after end/);
    expectCorrupt(craft('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}', f4), /out of bounds/);
    expectCorrupt(craft('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', f4), /needs 8 bytes/);
    expectCorrupt(craft('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(8)), /cover 4 bytes/);
    expectCorrupt(craft('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)), /gap of 4 bytes/);
    expectCorrupt(
      craft(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
        new Uint8Array(8),
      ),
      /overlap/,
    );
    expectCorrupt(craft('{"__metadata__":{"k":1}}'), /metadata value for 'k'/);
    expectCorrupt(craft('{"__metadata__":[]}'), /__metadata__' is not an object/);
  });

  it('accepts a header with no tensors at all', () => {
    expect(decodeSafetensors(craft('{}      '))).toEqual({ tensors: {}, metadata: {} });
  });

  it('names the file path in load errors', () => {
    const dir = tmpDir();
    const p = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(p, good.subarray(0, 20));
    expect(() => loadSafetensors(p)).toThrow(new RegExp(`^safetensors: ${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  });
});

describe('atomic file writes', () => {
  it('saves and loads through the filesystem, creating parent directories', () => {
    const dir = tmpDir();
    const p = path.join(dir, 'deep', 'er', 'model.safetensors');
    saveSafetensors(p, { w: { shape: [2], data: new Float32Array([0.5, 1.5]) } }, { step: '7' });
    const loaded = loadSafetensors(p);
    expect(loaded.metadata).toEqual({ step: '7' });
    expect(loaded.tensors.w.data).toEqual(new Float32Array([0.5, 1.5]));
    expect(fs.readdirSync(path.dirname(p))).toEqual(['model.safetensors']);
  });

  it('replaces an existing file completely and leaves no temp files', () => {
    const dir = tmpDir();
    const p = path.join(dir, 'out.bin');
    fs.writeFileSync(p, 'a much longer old content that must not survive as a tail');
    writeFileAtomic(p, 'new');
    expect(fs.readFileSync(p, 'utf8')).toBe('new');
    writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    expect(Array.from(fs.readFileSync(p))).toEqual([1, 2, 3]);
    expect(fs.readdirSync(dir)).toEqual(['out.bin']);
  });

  it('leaves the target untouched and cleans up when the rename fails', () => {
    const dir = tmpDir();
    const target = path.join(dir, 'taken');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'keep.txt'), 'kept');
    expect(() => writeFileAtomic(target, 'oops')).toThrow();
    expect(fs.readFileSync(path.join(target, 'keep.txt'), 'utf8')).toBe('kept');
    expect(fs.readdirSync(dir)).toEqual(['taken']);
  });
});

const PY_READER = `
import json, sys
import numpy as np
path = sys.argv[1]
try:
    from safetensors.numpy import load_file
    arrays = load_file(path)
except ImportError:
    raw = open(path, 'rb').read()
    n = int.from_bytes(raw[:8], 'little')
    header = json.loads(raw[8:8 + n])
    header.pop('__metadata__', None)
    kinds = {'F32': '<f4', 'F64': '<f8', 'I32': '<i4', 'I64': '<i8'}
    arrays = {}
    for name, info in header.items():
        b, e = info['data_offsets']
        arrays[name] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=kinds[info['dtype']]).reshape(info['shape'])
print(json.dumps({k: {'shape': list(v.shape), 'values': v.reshape(-1).tolist()} for k, v in arrays.items()}))
`;

function pythonReader(): string | null {
  const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  return probe.status === 0 ? 'python3' : null;
}
const python = pythonReader();

describe('interop', () => {
  const title = python === null
    ? 'python reads our file (SKIPPED: python3 with numpy is not importable on this machine)'
    : 'python (safetensors.numpy if installed, else numpy) reads our file';
  it.skipIf(python === null)(title, () => {
    const dir = tmpDir();
    const p = path.join(dir, 'interop.safetensors');
    saveSafetensors(p, {
      w: { shape: [2, 2], data: new Float32Array([1, 2, 3, 4.5]) },
      d: { shape: [3], data: new Float64Array([0.1, -0.2, 1e-300]) },
      i: { shape: [2], data: new Int32Array([-7, 9]) },
      l: { shape: [1], data: new BigInt64Array([-3n]) },
      s: { shape: [], data: new Float32Array([2]) },
    }, { format: 'pt' });
    const r = spawnSync(python as string, ['-c', PY_READER, p], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      w: { shape: [2, 2], values: [1, 2, 3, 4.5] },
      d: { shape: [3], values: [0.1, -0.2, 1e-300] },
      i: { shape: [2], values: [-7, 9] },
      l: { shape: [1], values: [-3] },
      s: { shape: [], values: [2] },
    });
  });
});
