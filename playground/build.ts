/**
 * Build the playground into playground/dist/: the page (index.html), its script bundled by esbuild from
 * playground/page/main.ts and the library's own sources, and the Brown slice it trains on (brown-slice.txt).
 * Run by `npm run playground` and `npm run test:browser`; `npx tsx playground/build.ts` builds alone.
 * @example
 * const built = await buildPlayground();
 * console.log(built.outDir, built.bundleBytes);
 */
import { copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { brownSlice } from './corpus-slice.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface BuiltPlayground {
  outDir: string;
  bundleBytes: number;
  corpusBytes: number;
}

export async function buildPlayground(outDir: string = join(here, 'dist')): Promise<BuiltPlayground> {
  mkdirSync(outDir, { recursive: true });
  const bundle = join(outDir, 'main.js');
  await build({
    entryPoints: [join(here, 'page', 'main.ts')],
    outfile: bundle,
    bundle: true,
    format: 'esm',
    platform: 'browser', // gpu.js's "browser" field: dist/gpu-browser.js (WebGPU, WebGL2, WebAssembly, CPU)
    target: 'es2022',
    sourcemap: true,
    minify: false, // gpu.js reads kernel functions' source text; keep it as written
    // Node's WebGPU (Dawn) and the modules of its child-process probe (core/webgpu-probe.ts): imported only in Node
    external: ['webgpu', 'node:child_process', 'node:module', 'node:url'],
    logLevel: 'warning',
  });
  copyFileSync(join(here, 'page', 'index.html'), join(outDir, 'index.html'));
  const text = brownSlice();
  writeFileSync(join(outDir, 'brown-slice.txt'), text);
  return { outDir, bundleBytes: statSync(bundle).size, corpusBytes: Buffer.byteLength(text) };
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  const built = await buildPlayground();
  console.log(`built ${built.outDir}: main.js ${(built.bundleBytes / 1024).toFixed(0)} KiB, brown-slice.txt ${(built.corpusBytes / 1024).toFixed(0)} KiB`);
}
