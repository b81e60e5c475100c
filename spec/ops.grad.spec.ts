/**
 * (a) Every op in the op table: autograd's gradient equals central finite differences, float64 reference
 * device, on random shapes (broadcasting and size-1 axes included). A new table entry is tested here
 * without writing a test.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { gradcheck, setDevice } from '../core/index.js';
import { opTable, Sampler } from './op-table/index.js';
import { build } from './helpers.js';

setDevice('reference', 'gradient property tests');

describe('gradients match finite differences (float64 reference)', () => {
  for (const entry of opTable.filter((e) => e.grad !== false)) {
    it(entry.name, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
          const c = entry.sample(new Sampler(seed));
          const xs = build(c.inputs, 'reference');
          const r = gradcheck((...ts) => c.call(ts), xs);
          if (!r.ok) throw new Error(`${entry.name} (seed ${seed}, shapes ${JSON.stringify(c.inputs.map((i) => i.shape))}): ${r.message}`);
        }),
        { numRuns: 25 },
      );
    });
  }
});
