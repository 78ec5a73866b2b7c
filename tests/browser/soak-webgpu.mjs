// Soak on WebGPU (SwiftShader): SSS_PAGE_SOAK_GPU_CYCLES (default 3) cycles of open, segment
// and re-run, each stopped after its first slice (soak.mjs says what is bounded). Not part of
// the test command (its name is not a test file's, so `node --test tests/browser/` passes it
// by): a cycle takes 3-6 minutes on SwiftShader (2026-12-01); scripts/soak-page.sh runs it.
// RELIABILITY.md has its readings (the live buffers grew, 967/970/978, and that check failed:
// freed pages are dropped, not destroyed, in wgpu's web backend, so they wait for the GC;
// docs/upstream/cubecl-wgpu-web-dealloc.md).

import { after, before, test } from 'node:test';

import { WEBGPU_FLAGS, startServer } from './harness.mjs';
import { soak } from './soak.mjs';

const GPU_CYCLES = Number(process.env.SSS_PAGE_SOAK_GPU_CYCLES ?? 3);

/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.close(); });

test(`soak on WebGPU (SwiftShader): ${GPU_CYCLES} cycles of open, segment and re-run, each stopped`, { timeout: 300_000 + GPU_CYCLES * 600_000 }, async () => {
  await soak({ url: server.url, label: 'WebGPU', flags: WEBGPU_FLAGS, query: '?gpu-counters', backend: 'WebGPU', cycles: GPU_CYCLES, complete: false });
});
