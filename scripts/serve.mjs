// A static file server for the page, bound to 127.0.0.1 only. Serves the page's public files
// from the repository root (/web/, /pkg/, /shaders/, as the page expects) and nothing else:
// no other folder, no dot-file, no path that leaves them. Every response carries the page's
// Content-Security-Policy (the same one web/index.html ships as a <meta> for static hosts).
// Usage: node scripts/serve.mjs [--port N] [--root DIR]; prints the page's URL.

import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.wgsl': 'text/plain; charset=utf-8',
  '.gz': 'application/gzip', '.nii': 'application/octet-stream', '.bpk': 'application/octet-stream',
  '.png': 'image/png', '.svg': 'image/svg+xml',
};

/** The folders the page loads from; everything else is refused. */
export const PUBLIC_DIRS = ['web', 'pkg', 'shaders'];

/**
 * The page's Content-Security-Policy: only its own origin, no inline script or style, wasm
 * compiled (`'wasm-unsafe-eval'`), images from data:/blob: URLs (canvas snapshots, the empty
 * favicon). `frame-ancestors` works only as a header, so the <meta> copy leaves it out.
 */
export const CSP = [
  "default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "style-src 'self'",
  "img-src 'self' data: blob:", "connect-src 'self'", "worker-src 'self'", "object-src 'none'",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

/**
 * The file a request path names, or null when it is not one of the page's public files: the
 * path must stay inside one of {@link PUBLIC_DIRS} of `root` after `..` and percent-decoding,
 * and no segment may start with a dot.
 * @param {string} root absolute
 * @param {string} urlPath the request's path, still percent-encoded
 * @returns {string|null}
 */
export function publicFile(root, urlPath) {
  let path;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (path.includes('\0') || path.split('/').some((s) => s.startsWith('.'))) return null;
  const file = normalize(join(root, path));
  const inside = PUBLIC_DIRS.some((d) => file === join(root, d) || file.startsWith(join(root, d) + sep));
  return inside ? file : null;
}

/**
 * Starts the server.
 * @param {{root?: string, port?: number}} [options] port 0 picks a free one
 * @returns {Promise<{url: string, close: () => Promise<void>}>}
 */
export function serve({ root = resolve(fileURLToPath(import.meta.url), '../..'), port = 8000 } = {}) {
  const server = createServer((req, res) => {
    const security = { 'content-security-policy': CSP, 'x-content-type-options': 'nosniff' };
    const urlPath = new URL(req.url ?? '/', 'http://x').pathname;
    if (urlPath === '/') {
      res.writeHead(302, { ...security, location: '/web/' }).end();
      return;
    }
    let file = publicFile(root, urlPath);
    if (!file) {
      res.writeHead(404, { ...security, 'content-type': 'text/plain' }).end('not found');
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const size = statSync(file).size;
      res.writeHead(200, {
        ...security,
        'content-type': TYPES[/** @type {keyof typeof TYPES} */ (extname(file))] ?? 'application/octet-stream',
        'content-length': size,
        'cache-control': 'no-cache',
      });
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { ...security, 'content-type': 'text/plain' }).end('not found');
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
