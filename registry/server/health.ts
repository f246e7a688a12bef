// Liveness and readiness for a load balancer or an orchestrator: /healthz says
// the process answers; /readyz says it can do its work — its storage is
// writable, and Nix answers when it serves builds. Neither needs credentials
// nor says more than which dependency is missing (the log has the details).
import type { Hono } from 'hono';
import type { Env } from './context.js';

/** What is not ready, one short phrase each; empty when ready. */
export type ReadinessCheck = () => Promise<string[]>;

/** A probe may come every second from several balancers: one check answers them all for this long. */
const READY_CACHE_MS = 2000;

export function addHealthRoutes(app: Hono<Env>, ready: ReadinessCheck): void {
  let last: { at: number; problems: Promise<string[]> } | undefined;
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const now = performance.now();
    if (!last || now - last.at > READY_CACHE_MS) last = { at: now, problems: ready().catch((e: unknown) => [(e as Error).message]) };
    const problems = await last.problems;
    return problems.length === 0 ? c.json({ status: 'ready' }) : c.json({ status: 'not ready', problems }, 503);
  });
}
