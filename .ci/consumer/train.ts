// A TypeScript project that installed the tsgrad tarball: type-checked with module nodenext, then run by
// plain node from tsc's output. Exits non-zero when anything is off.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualSeed, noGrad, tensor, type Tensor } from 'tsgrad';
import { AdamW, TransformerLM, clipGradNorm, loadModule, saveModule } from 'tsgrad/nn';

function check(ok: boolean, what: string): void {
  if (!ok) {
    console.error(`consumer check failed: ${what}`);
    process.exit(1);
  }
}

manualSeed(0);
const config = { vocabSize: 20, contextLength: 8, dModel: 16, nHeads: 2, nLayers: 1 };
const lm = new TransformerLM(config);
const opt = new AdamW(lm.namedParameters(), { lr: 1e-2 });
const ids = Array.from({ length: 4 * 9 }, (_, i) => (i * 3) % 20);
const x: Tensor = tensor(ids.filter((_, i) => i % 9 !== 8), [4, 8], { dtype: 'int32' });
const y: Tensor = tensor(ids.filter((_, i) => i % 9 !== 0), [4, 8], { dtype: 'int32' });
const losses: number[] = [];
for (let step = 0; step < 8; step++) {
  const loss = lm.loss(x, y);
  loss.backward();
  clipGradNorm(lm.parameters(), 1);
  opt.step();
  opt.zeroGrad();
  losses.push(await loss.item());
}
console.log(`AdamW on TransformerLM: loss ${losses[0].toFixed(3)} -> ${losses[losses.length - 1].toFixed(3)}`);
check(losses[losses.length - 1] < losses[0] - 0.2, `loss did not fall: ${losses.join(', ')}`);

const path = join(mkdtempSync(join(tmpdir(), 'tsgrad-consumer-')), 'lm.safetensors');
await saveModule(path, lm, { config });
const copy = new TransformerLM(config);
const { meta } = loadModule(path, copy);
const a = await lm.loss(x, y).item();
const b = await copy.loss(x, y).item();
check(a === b && JSON.stringify(meta.config) === JSON.stringify(config), `checkpoint round trip: ${a} vs ${b}`);

const w = tensor([1, 2, 3], [3], { requiresGrad: true });
w.mul(w).sum().backward();
noGrad(() => w.sub_(w.grad!.mul(0.5)));
check(JSON.stringify(await w.toArray()) === '[0,0,0]', 'sub_ under noGrad');
console.log('consumer TypeScript check passed');
