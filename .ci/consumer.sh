#!/usr/bin/env bash
# Consumer test: pack the release tarball (npm run package), install it into a fresh ESM project outside the
# repo, run README's examples there under plain node, then type-check a TypeScript consumer with module
# nodenext and run tsc's output under plain node. Prints the tarball and install sizes README quotes.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tarball=$(node .ci/pack.mjs | tee /dev/stderr | cut -d: -f1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm pkg set type=module
start=$(date +%s)
npm install "$repo/$tarball" --no-audit --no-fund --prefer-offline
echo "consumer: npm install $tarball took $(( $(date +%s) - start )) s; node_modules $(du -sh node_modules | cut -f1)," \
  "$(npm ls --all --parseable | tail -n +2 | wc -l) packages"
test ! -e node_modules/gl || { echo "consumer: gl was installed; the bundle should keep it out" >&2; exit 1; }
test ! -e node_modules/webgpu || { echo "consumer: webgpu was installed; it is an optional peer" >&2; exit 1; }

# README's examples, each block marked <!-- run: NAME.mjs -->, run as written.
node -e '
  const md = require("fs").readFileSync(process.argv[1], "utf8");
  const re = /<!-- run: ([\w.-]+) -->\s*```\w*\n([\s\S]*?)```/g;
  let m, n = 0;
  while ((m = re.exec(md))) { require("fs").writeFileSync(m[1], m[2]); n++; console.log(m[1]); }
  if (n < 2) { console.error(`consumer: found ${n} README examples marked <!-- run: NAME.mjs -->; expected 2`); process.exit(1); }
' "$repo/README.md" > examples.txt
while read -r example; do
  echo "consumer: node $example"
  TSGRAD_QUIET=1 node "$example"
done < examples.txt

# A TypeScript consumer (module nodenext, strict, skipLibCheck off): type-check, emit, run with plain node.
cp "$repo/.ci/consumer/tsconfig.json" "$repo/.ci/consumer/train.ts" .
mkdir -p node_modules/@types && cp -rL "$repo/node_modules/@types/node" node_modules/@types/ && cp -rL "$repo/node_modules/undici-types" node_modules/
"$repo/node_modules/.bin/tsc" -p tsconfig.json
TSGRAD_QUIET=1 node out/train.js
echo "consumer: all checks passed"
