import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// When .ci/setup-swiftshader.sh has fetched SwiftShader into .vk/, let the webgpu device use it. The library
// search path must be set before the test processes start, hence here.
const vk = resolve('.vk');
if (existsSync(`${vk}/vk_swiftshader_icd.json`)) {
  process.env.TSGRAD_VK_DIR = vk;
  process.env.LD_LIBRARY_PATH = [vk, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
}

export default defineConfig({
  test: {
    include: ['spec/**/*.spec.ts'],
    pool: 'forks',
    poolOptions: { forks: { execArgv: ['--expose-gc'] } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { TSGRAD_QUIET: '1' },
  },
});
