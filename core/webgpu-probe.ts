/**
 * Looking for a WebGPU adapter in a short child process, before Dawn is loaded into this one.
 *
 * Dawn (the npm package `webgpu`) writes its warnings from native code straight to the process's stderr
 * (measured: "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file" on every run
 * of a machine without Vulkan). JavaScript cannot catch that, and we found no Dawn setting that quiets it. A
 * child process (~0.15 s, measured) can: its stderr is captured, and what Dawn said goes into the one
 * device line instead. A Dawn that crashes takes down only the child. (Node only: in a browser
 * `navigator.gpu` exists already and this is never called, hence the dynamic imports.)
 */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU emulation (SwiftShader, llvmpipe, lavapipe), slower than webasm. */
  fallback: boolean;
}

export type AdapterLookup = { found: true; adapter: AdapterInfo } | { found: false; reason: string };

const CHILD_SOURCE = `
const { create } = await import(process.env.TSGRAD_WEBGPU_MODULE);
const adapter = await create([]).requestAdapter();
const i = adapter && adapter.info;
process.stdout.write(JSON.stringify(i ? { vendor: i.vendor, architecture: i.architecture, description: i.description, isFallbackAdapter: Boolean(i.isFallbackAdapter) } : null));
process.exit(0);
`;

/** What an adapter's info says, with `fallback` also set for CPU emulations that do not flag themselves. */
export function describeAdapter(i: { vendor: string; architecture: string; description: string; isFallbackAdapter?: boolean }): AdapterInfo {
  return {
    vendor: i.vendor,
    architecture: i.architecture,
    description: i.description,
    fallback: Boolean(i.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe/i.test(`${i.architecture} ${i.description}`),
  };
}

/** Dawn's first stderr line, without its "Warning: " and source location, for a one-line reason. */
function dawnSaid(stderr: string): string {
  const line = stderr.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  return line.replace(/^Warning:\s*/, '').slice(0, 200);
}

/**
 * Ask a child process whether Dawn finds a WebGPU adapter (with this process's environment, so
 * VK_ICD_FILENAMES and LD_LIBRARY_PATH apply). Never throws; says why when there is none.
 * @example const look = await findWebGpuAdapter(); if (!look.found) console.log(look.reason);
 */
export async function findWebGpuAdapter(timeoutMs = 30_000): Promise<AdapterLookup> {
  const { execFile } = await import('node:child_process');
  const { createRequire } = await import('node:module');
  const { pathToFileURL } = await import('node:url');
  let modulePath: string;
  try {
    modulePath = createRequire(import.meta.url).resolve('webgpu');
  } catch {
    return { found: false, reason: 'the optional npm package `webgpu` (Dawn) is not installed' };
  }
  const env = { ...process.env, TSGRAD_WEBGPU_MODULE: pathToFileURL(modulePath).href };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', CHILD_SOURCE],
      { env, timeout: timeoutMs, encoding: 'utf8', windowsHide: true },
      (err, stdout, stderr) => {
        const said = dawnSaid(stderr);
        if (err) {
          const how = err.killed ? `timed out after ${timeoutMs / 1000} s` : `exited with ${err.code ?? err.signal}`;
          resolve({ found: false, reason: `the WebGPU probe process ${how}${said ? `: ${said}` : ''}` });
          return;
        }
        let info: unknown;
        try {
          info = JSON.parse(stdout);
        } catch {
          resolve({ found: false, reason: `the WebGPU probe process answered ${JSON.stringify(stdout.slice(0, 80))}${said ? ` (${said})` : ''}` });
          return;
        }
        if (info === null || typeof info !== 'object') {
          resolve({ found: false, reason: `no WebGPU adapter answered (${said ? `Dawn: ${said}` : 'no Vulkan driver found'})` });
          return;
        }
        resolve({ found: true, adapter: describeAdapter(info as Parameters<typeof describeAdapter>[0]) });
      },
    );
  });
}
