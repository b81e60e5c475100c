#!/usr/bin/env node
// `npm run package`: build dist/ and pack the release tarball (tsgrad-<version>.tgz in the repo root).
//
// Why not a plain `npm pack`: gpu.js 2.24.1's manifest lists two dependencies its code never loads in Node
// the way tsgrad uses it, and both hurt a project that installs tsgrad: `webgpu@0.2.9` (84 MB of Dawn
// binaries; tsgrad brings its own `webgpu@0.3.10` as an optional peer) and the optional native `gl`, whose
// install script downloads a binary from GitHub or builds ANGLE from source (minutes; needs X11 headers).
// The repo's `overrides` keep both out of this repo's own install, but overrides do not apply when tsgrad is
// a dependency. So the tarball bundles gpu.js (its code unchanged) and its two small real dependencies
// (acorn, gpu-mock.js), with those two entries removed from the bundled gpu.js manifest. A project that wants
// the headlessgl device can still `npm install gl` itself: gpu.js finds it by the usual lookup.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const stage = join(root, '.pack');
const DROPPED = { webgpu: 'webgpu@0.2.9 is never loaded by gpu.js; tsgrad uses its own optional webgpu@0.3.10', gl: 'native headless-gl: install it yourself (`npm install gl`) to use the headlessgl device' };

const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

rmSync(stage, { recursive: true, force: true });
mkdirSync(stage);
console.error('package: building dist/ (tsc -p tsconfig.build.json)');
run('npm', ['run', '--silent', 'build'], root);

const manifest = readJson(join(root, 'package.json'));
for (const f of [...manifest.files.filter((f) => !f.startsWith('!')).map((f) => f.split('/')[0]), 'README.md', 'LICENSE', 'package.json']) {
  cpSync(join(root, f), join(stage, f), { recursive: true, filter: (src) => statSync(src).isDirectory() || !/\.(tsbuildinfo)$/.test(src) });
}

// The published manifest: no scripts (prepare would run tsc in the user's project), no dev tooling.
delete manifest.scripts;
delete manifest.devDependencies;
delete manifest.overrides;
manifest.bundleDependencies = Object.keys(manifest.dependencies);
writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

// Copy each bundled package and, transitively, what it needs (minus the two dropped ones).
const copied = new Set();
function bundle(name) {
  if (copied.has(name) || name in DROPPED) return;
  const from = join(root, 'node_modules', name);
  if (!existsSync(from)) throw new Error(`package: ${name} is not installed in node_modules; run npm ci first`);
  copied.add(name);
  const to = join(stage, 'node_modules', name);
  cpSync(realpathSync(from), to, { recursive: true });
  const pkg = readJson(join(to, 'package.json'));
  const removed = Object.keys(DROPPED).filter((d) => pkg.dependencies?.[d] || pkg.optionalDependencies?.[d]);
  for (const d of removed) {
    delete pkg.dependencies?.[d];
    delete pkg.optionalDependencies?.[d];
  }
  if (removed.length) {
    pkg.tsgradBundleNote = `bundled by tsgrad with ${removed.join(' and ')} removed from this manifest: ${removed.map((d) => DROPPED[d]).join('; ')}`;
    writeFileSync(join(to, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  }
  for (const dep of Object.keys(pkg.dependencies ?? {})) bundle(dep);
}
for (const dep of manifest.bundleDependencies) bundle(dep);

const out = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', root], stage))[0];
console.error(`package: bundled ${[...copied].join(', ')}`);
console.log(`${out.filename}: ${(out.size / 1024).toFixed(0)} kB packed, ${(out.unpackedSize / 1024 / 1024).toFixed(1)} MB unpacked, ${out.entryCount} files`);
