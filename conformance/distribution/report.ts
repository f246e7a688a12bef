// Results: one line per check (status, name, and why when it did not pass),
// a summary line per workflow, and the same as JSON for machines.
import type { WorkflowId } from './config.js';
import { STATUSES, type Status } from './outcome.js';
import type { Level } from './workflow.js';

export interface CheckResult {
  name: string;
  level: Level;
  status: Status;
  /** Why it did not pass: the step, what the spec expects, what the registry sent. */
  reason?: string;
  durationMs: number;
}

export interface WorkflowReport {
  id: WorkflowId;
  title: string;
  summary: Record<Status, number>;
  durationMs: number;
  checks: CheckResult[];
}

export interface Report {
  spec: 'OCI distribution-spec v1.1';
  registry: string;
  namespace: string;
  startedAt: string;
  durationMs: number;
  /** No check failed (optional-missing and unsupported are not failures). */
  ok: boolean;
  workflows: WorkflowReport[];
}

export function summarize(checks: CheckResult[]): Record<Status, number> {
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  for (const c of checks) counts[c.status]++;
  return counts;
}

const WIDTH = Math.max(...STATUSES.map((s) => s.length));

export function formatCheck(r: CheckResult): string {
  const line = `  ${r.status.padEnd(WIDTH)}  ${r.name}`;
  return r.reason ? `${line}\n  ${' '.repeat(WIDTH)}  ${r.reason}` : line;
}

export function formatSummary(w: WorkflowReport): string {
  return `${w.title}: ${STATUSES.map((s) => `${w.summary[s]} ${s}`).join(', ')} (${w.durationMs} ms)`;
}
