// The development server (scripts/serve.mjs) serves the page's public files and nothing else,
// on 127.0.0.1 only, with the page's Content-Security-Policy; the page ships the same policy as
// a <meta> for static hosts (issue 11, item 6). No browser needed: plain HTTP requests.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';

import { CSP, serve } from '../../scripts/serve.mjs';

/**
 * GETs a raw path (not normalised by a URL parser, so `..` and `%2e` reach the server as sent).
 * @param {string} base the server's origin
 * @param {string} path
 * @returns {Promise<{status: number, headers: import('node:http').IncomingHttpHeaders, body: string}>}
 */
function get(base, path) {
  const { hostname, port } = new URL(base);
  return new Promise((done, fail) => {
    const req = request({ hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c) => { body += c; });
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('the development server', () => {
  /** @type {{url: string, close: () => Promise<void>}} */ let server;
  /** @type {string} */ let origin;
  before(async () => {
    server = await serve({ port: 0 });
    origin = new URL(server.url).origin;
  });
  after(() => server.close());

  it('listens on 127.0.0.1 only', () => {
    assert.equal(new URL(server.url).hostname, '127.0.0.1');
  });

  it('serves the page with its Content-Security-Policy, and / leads to it', async () => {
    const page = await get(origin, '/web/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-security-policy'], CSP);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    for (const path of ['/web/js/main.js', '/shaders/slice.wgsl', '/web/assets/weights/catalog.json']) {
      const r = await get(origin, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-security-policy'], CSP, path);
    }
    const root = await get(origin, '/');
    assert.equal(root.status, 302);
    assert.equal(root.headers.location, '/web/');
  });

  it('serves nothing outside the public folders: no traversal, no dot-files, no sources', async () => {
    const refused = [
      '/.git/HEAD', '/web/../.git/HEAD', '/web/%2e%2e/.git/HEAD', '/web/..%2f.git%2fHEAD',
      '/%2e%2e/%2e%2e/etc/passwd', '/web/../../etc/passwd', '/crate/src/lib.rs', '/Cargo.toml',
      '/results/', '/scripts/serve.mjs', '/web/.hidden', '/web%2f..%2fCargo.toml',
      '/web/%00', '/web/%E0%A4%A', '/pkg/../README.md', '/webx/', '/web-evil/x',
    ];
    for (const path of refused) {
      const r = await get(origin, path);
      assert.ok(r.status === 404 || r.status === 400, `${path}: ${r.status}`);
      assert.ok(!r.body.includes('[core]') && !r.body.includes('root:') && !r.body.includes('[workspace]'),
        `${path} leaked a file`);
    }
  });

  it('ships the same policy in the page as a <meta>, less frame-ancestors', () => {
    const html = readFileSync(new URL('../../web/index.html', import.meta.url), 'utf8');
    const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html);
    assert.ok(meta, 'a CSP <meta> in web/index.html');
    const header = CSP.split('; ').filter((d) => !d.startsWith('frame-ancestors')).join('; ');
    assert.equal(meta[1], header);
    assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/.test(html), 'no inline <script>');
    assert.ok(!/\sstyle="/.test(html) && !/<style/.test(html), 'no inline style');
  });
});
