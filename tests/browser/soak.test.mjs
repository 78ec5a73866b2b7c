// Soak on the CPU (flex in wasm): the test command runs SSS_PAGE_SOAK_CYCLES (default 5)
// cycles of open, segment, stop, re-run (soak.mjs says what a cycle is and what is bounded);
// scripts/soak-page.sh runs 50, and the WebGPU soak (soak-webgpu.mjs), which is not part of the
// test command: a cycle there takes 3-6 minutes on SwiftShader (2026-12-01).

import { after, before, test } from 'node:test';

import { NO_WEBGPU_FLAGS, startServer } from './harness.mjs';
import { soak } from './soak.mjs';

const CPU_CYCLES = Number(process.env.SSS_PAGE_SOAK_CYCLES ?? 5);

/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.close(); });

test(`soak on the CPU (flex in wasm): ${CPU_CYCLES} cycles of open, segment, stop, re-run`, { timeout: 120_000 + CPU_CYCLES * 60_000 }, async () => {
  await soak({ url: server.url, label: 'CPU', flags: NO_WEBGPU_FLAGS, query: '', backend: 'flex (CPU)', cycles: CPU_CYCLES, complete: true });
});
