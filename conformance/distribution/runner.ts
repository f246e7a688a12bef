// Runs the picked workflows against a registry, one check at a time, and
// turns each check's ending into a result. A check that throws something
// other than an Outcome (a refused connection, a timeout) fails with it.
import type { Config, WorkflowId } from './config.js';
import { RegistryClient } from './http.js';
import { Outcome } from './outcome.js';
import { type CheckResult, type Report, type WorkflowReport, summarize } from './report.js';
import { type Check, type Context, type Workflow, newContext } from './workflow.js';
import { discoveryWorkflow } from './workflows/discovery.js';
import { managementWorkflow } from './workflows/management.js';
import { pullWorkflow } from './workflows/pull.js';
import { pushWorkflow } from './workflows/push.js';

/** Fresh workflows: their fixtures belong to one run. */
const WORKFLOW: Record<WorkflowId, () => Workflow> = {
  pull: pullWorkflow,
  push: pushWorkflow,
  'content-discovery': discoveryWorkflow,
  'content-management': managementWorkflow,
};

export interface RunHooks {
  onCheck?(workflow: Workflow, result: CheckResult): void;
  onWorkflow?(report: WorkflowReport): void;
}

async function runCheck(check: Check, ctx: Context): Promise<CheckResult> {
  const started = performance.now();
  const result = (status: CheckResult['status'], reason?: string): CheckResult => ({
    name: check.name,
    level: check.level,
    status,
    ...(reason ? { reason } : {}),
    durationMs: Math.round(performance.now() - started),
  });
  try {
    await check.run(ctx);
    return result('pass');
  } catch (e) {
    if (e instanceof Outcome) return result(e.status, e.message);
    const err = e as Error & { code?: string };
    return result('fail', `error: ${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}`);
  }
}

export async function runConformance(config: Config, hooks: RunHooks = {}): Promise<Report> {
  const ctx = newContext(new RegistryClient(config.rootUrl, config.credentials, config.timeoutMs), config);
  const startedAt = new Date();
  const started = performance.now();
  const workflows: WorkflowReport[] = [];
  for (const id of config.workflows) {
    const workflow = WORKFLOW[id]();
    const wfStarted = performance.now();
    const checks: CheckResult[] = [];
    for (const check of workflow.checks) {
      const r = await runCheck(check, ctx);
      checks.push(r);
      hooks.onCheck?.(workflow, r);
    }
    const report: WorkflowReport = { id, title: workflow.title, summary: summarize(checks), durationMs: Math.round(performance.now() - wfStarted), checks };
    workflows.push(report);
    hooks.onWorkflow?.(report);
  }
  return {
    spec: 'OCI distribution-spec v1.1',
    registry: config.rootUrl.href,
    namespace: config.namespace,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - started),
    ok: workflows.every((w) => w.summary.fail === 0),
    workflows,
  };
}
