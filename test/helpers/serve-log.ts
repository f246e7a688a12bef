// Reading a `strata serve` child's JSON log (its stderr) in tests: the events
// of one kind, and waiting until one shows up.
import type { Served } from './serve.js';

export type LogEvent = { event: string } & Record<string, unknown>;

export function events(s: Served, event: string): LogEvent[] {
  return s
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogEvent)
    .filter((e) => e.event === event);
}

/** Polls `f` until it gives a value (every `everyMs`, for at most `timeoutMs`). */
export async function eventually<T>(what: string, f: () => T | undefined, timeoutMs = 120_000, everyMs = 200): Promise<T> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, everyMs))) {
    const v = f();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}
