/** Training checkpoints moved to nn/checkpoint.ts (part of the library's `tsgrad/nn`); this path stays for old imports. */
export * from '../../nn/checkpoint.js';
