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
import { build, type Plugin } from 'esbuild';
import { brownSlice } from './corpus-slice.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface BuiltPlayground {
  outDir: string;
  bundleBytes: number;
  corpusBytes: number;
}

/**
 * The library's file-backed parts (checkpoints, safetensors: node:fs, node:path, node:crypto) are in the
 * bundle because nn/ exports them, but the page never calls them. Each such module becomes a stub whose every
 * member throws a clear error if called, so the page loads in a browser.
 */
const nodeBuiltinsStub: Plugin = {
  name: 'node-builtins-stub',
  setup(b) {
    b.onResolve({ filter: /^node:(fs|path|crypto|os|worker_threads)$/ }, (args) => ({ path: args.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (args) => ({
      loader: 'js',
      contents: `module.exports = new Proxy({}, { get: (_t, name) => name === '__esModule' ? false : () => { throw new Error(${JSON.stringify('')} + String(name) + ' from ${args.path} is not available in a browser'); } });`,
    }));
  },
};

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
    plugins: [nodeBuiltinsStub],
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
