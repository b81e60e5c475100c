/**
 * The attention variants the ComplexFormer experiment compares. Each is a TransformerLM attention factory
 * for a given seed; everything else about the model, the data, the seeds and the steps is shared.
 */
import type { AttentionFactory } from '../../nn/index.js';
import { complexAttention } from '../../nn/complex-attention.js';

export interface Variant {
  name: string;
  /** One line for tables and legends. */
  label: string;
  /** undefined = the LM's default attention (RoPE). */
  attention: ((seed: number) => AttentionFactory) | undefined;
  /** The main pair (RoPE vs CMHA) gets every seed; the ablations may get fewer. */
  main: boolean;
}

export const VARIANTS: Variant[] = [
  { name: 'rope', label: 'RoPE attention (baseline)', attention: undefined, main: true },
  { name: 'cmha', label: 'CMHA, delta ~ N(0, 1/sqrt(d_k/2)), 1/sqrt(d_k) scale', attention: (seed) => complexAttention({ deltaInit: 'normal', scale: true, seed }), main: true },
  { name: 'cmha-noscale', label: 'CMHA, delta ~ N, no scale (as the official code)', attention: (seed) => complexAttention({ deltaInit: 'normal', scale: false, seed }), main: false },
  { name: 'cmha-delta1', label: 'CMHA, delta = 1 at init (starts as RoPE), 1/sqrt(d_k) scale', attention: (seed) => complexAttention({ deltaInit: 'one', scale: true, seed }), main: false },
];
