/**
 * Every op that ops/index.ts exports has an entry in the op table (spec/op-table/), which enrols it in the
 * gradient (ops.grad.spec.ts), device (ops.devices.spec.ts) and fused-vs-composed (fused.spec.ts) specs.
 * An entry covers an export when its name is the export's name or starts with it and a space
 * ("matmul (vectors)"), or when it lists the export in `covers`. The exports below that are not ops
 * (builders, constants, helpers an entry reaches through another op) are named with the reason.
 */
import { describe, expect, it } from 'vitest';
import * as ops from '../ops/index.js';
import { opTable } from './op-table/index.js';

const NOT_OPS: Record<string, string> = {
  unaryOp: 'builds unary ops (each one it builds has an entry)',
  binaryOp: 'builds binary ops (each one it builds has an entry)',
  reduceRows: 'the row-reduction kernel runner under sum/max/min/logsumexp',
  stridedView: 'the strided copy under reshape/permute/expand/narrow (spec/kernels.spec.ts tests every copy kernel)',
  pow: 'dispatches to powScalar or powTensor, which have entries',
  EMPTY_CODE_LOG_MASS: 'a constant',
  codeSizes: 'host-side counts of a token map, no kernel',
  logCodeSizes: 'log of codeSizes, made of log (which has an entry)',
};

describe('op table coverage', () => {
  const exported = Object.entries(ops).filter(([, v]) => typeof v === 'function' || typeof v === 'number').map(([k]) => k);

  it('every exported op has an op-table entry', () => {
    const missing = exported.filter(
      (name) => !(name in NOT_OPS) && !opTable.some((e) => e.name === name || e.name.startsWith(`${name} `) || e.name.split('/').includes(name) || e.covers?.includes(name)),
    );
    expect(missing, `add an entry to spec/op-table/index.ts for each of these, or say in NOT_OPS why it is not an op`).toEqual([]);
  });

  it('lists as "not an op" only names that ops/index.ts exports', () => {
    expect(Object.keys(NOT_OPS).filter((n) => !exported.includes(n))).toEqual([]);
  });
});
