/**
 * Op-table entries of the complex-number ops of ops/complex.ts; spec/op-table/index.ts lists them.
 */
import type { Tensor } from '../../core/tensor.js';
import { complexAbs, complexAngle, complexInvAbs2 } from '../../ops/complex.js';
import type { OpEntry, Sampler } from './index.js';

/** (re, im) test cases with broadcasting; im is kept away from 0 (the angle's jump, the origin). */
function complexCase(r: Sampler, call: (re: Tensor, im: Tensor) => Tensor) {
  const s = r.shape();
  const [sa, sb] = r.g.random() < 0.5 ? [s, r.broadcastOf(s)] : [r.broadcastOf(s), s];
  return { inputs: [r.floats(sa), r.floats(sb, 'nonzero')], call: ([a, b]: Tensor[]) => call(a, b) };
}

export const complexOpTable: OpEntry[] = [
  { name: 'complexAbs', sample: (r) => complexCase(r, complexAbs) },
  { name: 'complexAngle', sample: (r) => complexCase(r, complexAngle) },
  { name: 'complexInvAbs2', sample: (r) => complexCase(r, complexInvAbs2) },
];
