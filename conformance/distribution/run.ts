// The command line: npx node dist/conformance/distribution/run.js [--json FILE]
// with the registry and workflows from OCI_* variables (see config.ts).
// Exit 0 when no check failed, 1 when one did, 2 for a usage or setup error.
import { writeFileSync } from 'node:fs';
import { parseCommandLine } from '../command-line.js';
import { ConfigError, configFromEnv } from './config.js';
import { formatCheck, formatSummary } from './report.js';
import { runConformance } from './runner.js';

const USAGE = `usage: OCI_ROOT_URL=http://host:port [OCI_NAMESPACE=conformance/test] node dist/conformance/distribution/run.js [--json FILE]

Environment: OCI_ROOT_URL, OCI_NAMESPACE, OCI_CROSSMOUNT_NAMESPACE, OCI_USERNAME, OCI_PASSWORD,
OCI_TEST_PULL, OCI_TEST_PUSH, OCI_TEST_CONTENT_DISCOVERY, OCI_TEST_CONTENT_MANAGEMENT (1 picks a workflow; all by default).`;

async function main(): Promise<number> {
  const args = parseCommandLine({ json: { type: 'string' } }, USAGE);
  if (typeof args === 'number') return args;
  let config;
  try {
    config = configFromEnv();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(`${e.message}\n${USAGE}`);
    return 2;
  }

  console.log(`OCI distribution-spec v1.1 conformance: ${config.rootUrl.href} (namespace ${config.namespace})`);
  let title = '';
  const report = await runConformance(config, {
    onCheck(workflow, result) {
      if (workflow.title !== title) console.log(`\n${(title = workflow.title)}`);
      console.log(formatCheck(result));
    },
    onWorkflow: (w) => console.log(formatSummary(w)),
  });
  console.log(`\n${report.ok ? 'no failures' : 'FAILED'} in ${report.durationMs} ms`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
  return report.ok ? 0 : 1;
}

process.exitCode = await main();
