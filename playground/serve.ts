/**
 * `npm run playground`: build the page, serve playground/dist/ over HTTP on 127.0.0.1 and print the URL.
 * PORT picks the port (default 8080; 0 = any free one). The headers make the page cross-origin isolated so
 * that WebAssembly threads (SharedArrayBuffer) are allowed, as they are in Node.
 * @example
 * const server = await servePlayground({ port: 0 });
 * console.log(server.url);
 * await server.close();
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPlayground } from './build.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

export interface PlaygroundServer {
  url: string;
  close(): Promise<void>;
}

export async function servePlayground(opts: { port?: number; host?: string } = {}): Promise<PlaygroundServer> {
  const { outDir } = await buildPlayground();
  const root = resolve(outDir);
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root + sep)) {
      response.writeHead(403).end('forbidden');
      return;
    }
    try {
      const body = await readFile(file);
      response.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
        'cache-control': 'no-store',
      });
      response.end(body);
    } catch {
      response.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
    }
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 8080, host, done);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  const server = await servePlayground({ port: Number(process.env.PORT ?? 8080) });
  console.log(`tsgrad playground: ${server.url}  (Ctrl-C stops)`);
}
