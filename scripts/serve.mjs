// A static file server for the page, bound to 127.0.0.1 only. Serves the repository root so
// that /web/, /pkg/ and /shaders/ resolve as the page expects.
// Usage: node scripts/serve.mjs [--port N] [--root DIR]; prints the page's URL.

import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.wgsl': 'text/plain; charset=utf-8',
  '.gz': 'application/gzip', '.nii': 'application/octet-stream', '.bpk': 'application/octet-stream',
  '.png': 'image/png', '.svg': 'image/svg+xml',
};

/**
 * Starts the server.
 * @param {{root?: string, port?: number}} [options] port 0 picks a free one
 * @returns {Promise<{url: string, close: () => Promise<void>}>}
 */
export function serve({ root = resolve(fileURLToPath(import.meta.url), '../..'), port = 8000 } = {}) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = normalize(join(root, path));
    if (!file.startsWith(root)) { res.writeHead(403).end(); return; }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const size = statSync(file).size;
      res.writeHead(200, {
        'content-type': TYPES[/** @type {keyof typeof TYPES} */ (extname(file))] ?? 'application/octet-stream',
        'content-length': size,
        'cache-control': 'no-cache',
      });
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
    }
  });
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const address = /** @type {import('node:net').AddressInfo} */ (server.address());
      done({
        url: `http://127.0.0.1:${address.port}/web/`,
        close: () => new Promise((closed) => server.close(() => closed())),
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (/** @type {string} */ name) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const { url } = await serve({ port: Number(arg('--port') ?? 8000), root: arg('--root') && resolve(arg('--root') ?? '.') });
  console.log(`SSS is served at ${url}  (Ctrl+C stops it)`);
}
