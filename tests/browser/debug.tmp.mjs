import { launch, openPage, startServer, WEBGPU_FLAGS } from '/work/main/tests/browser/harness.mjs';
const server = await startServer();
const browser = await launch(WEBGPU_FLAGS);
const context = await browser.newContext();
const page = await context.newPage();
page.on('console', m => console.log('page:', m.type(), m.text()));
page.on('worker', w => { console.log('worker started'); w.on('console', m => console.log('worker:', m.type(), m.text())); });
page.on('pageerror', e => console.log('pageerror', e.message));
await page.goto(server.url);
await page.waitForFunction(() => window.sss?.ready, null, { timeout: 300000 });
console.log(JSON.stringify(await page.evaluate(() => ({b: sss.backend, r: sss.fallbackReason, e: sss.errors, renderer: sss.renderer}))));
const t = Date.now();
await page.click('#segment');
try { await page.waitForFunction(() => window.sss.lastMask || window.sss.errors.length, null, { timeout: 500000 }); } catch (e) { console.log('timeout'); }
console.log(Date.now() - t, 'ms', JSON.stringify(await page.evaluate(() => ({m: sss.lastMask, e: sss.errors}))));
await page.screenshot({ path: '/tmp/shot.png' });
await browser.close(); await server.close();
