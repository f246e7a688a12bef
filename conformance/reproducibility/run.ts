// The command line:
//   node dist/conformance/reproducibility/run.js [--json FILE] [--only CASE]... [--factor ID]... [--golden FILE] [--update]
// Exit 0 when every check passed, 1 when one failed, 2 for a usage or setup error.
import { writeFileSync } from 'node:fs';
import { parseCommandLine } from '../command-line.js';
import { type Case, CASES } from './cases.js';
import { type Factor, FACTORS } from './factors.js';
import { GOLDEN_FILE, readGolden, writeGolden } from './golden.js';
import { checkFormatter, formatSummary } from './report.js';
import { recordGolden, runReproducibility, SetupError, type SuiteOptions } from './runner.js';

const USAGE = `usage: node dist/conformance/reproducibility/run.js [--json FILE] [--only CASE]... [--factor ID]... [--golden FILE] [--update]

Builds every case under each factor, one changed at a time from the baseline, and compares the digests with golden.json.
  --only CASE     only this case (repeatable): ${CASES.map((c) => c.id).join(', ')}
  --factor ID     only this factor (repeatable): ${FACTORS.map((f) => f.id).join(', ')}
  --golden FILE   golden digests (default ${GOLDEN_FILE})
  --update        re-record the golden digests of the cases from the baseline and the archives (commit them saying why)
  --json FILE     also write the report as JSON
Environment: STRATA_REPRO_REGISTRY=URL pushes to that registry (anonymous push and pull) instead of a strata serve of the suite's own;
BUSYBOX=PATH is the busybox examples/hello is made with (default /bin/busybox).`;

function pick<T extends { id: string }>(all: readonly T[], ids: string[] | undefined, what: string): readonly T[] {
  if (!ids?.length) return all;
  const unknown = ids.filter((id) => !all.some((x) => x.id === id));
  if (unknown.length) throw new SetupError(`unknown ${what} ${unknown.join(', ')}`);
  return all.filter((x) => ids.includes(x.id));
}

async function main(): Promise<number> {
  const args = parseCommandLine(
    {
      json: { type: 'string' },
      only: { type: 'string', multiple: true },
      factor: { type: 'string', multiple: true },
      golden: { type: 'string' },
      update: { type: 'boolean' },
    },
    USAGE,
  );
  if (typeof args === 'number') return args;
  const goldenFile = args.golden ?? GOLDEN_FILE;
  let opts: Selected;
  try {
    opts = {
      cases: pick(CASES, args.only, 'case'),
      factors: pick(FACTORS, args.factor, 'factor'),
      golden: readGolden(goldenFile),
      goldenFile,
      ...(process.env.STRATA_REPRO_REGISTRY ? { registry: process.env.STRATA_REPRO_REGISTRY } : {}),
    };
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }

  try {
    return args.update ? await update(opts) : await check(opts, args.json);
  } catch (e) {
    console.error(`reproducibility: ${(e as Error).message}`);
    return e instanceof SetupError ? 2 : 1;
  }
}

type Selected = SuiteOptions & { cases: readonly Case[]; factors: readonly Factor[]; goldenFile: string };

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

async function check(opts: Selected, json: string | undefined): Promise<number> {
  const format = checkFormatter(Math.max(...opts.factors.map((f) => f.id.length)));
  console.log(`Strata reproducibility: ${count(opts.cases.length, 'case')}, ${count(opts.factors.length, 'factor')}, against ${opts.goldenFile}`);
  const report = await runReproducibility(opts, {
    onStart: (nodes) =>
      console.log(
        `Node: ${nodes.pinned} (the lockfile's, the baseline), ${nodes.node22}, ${nodes.node24}${nodes.newest ? `, ${nodes.newest} (the newest)` : ''}`,
      ),
    onCase: (c) => console.log(`\n${c.id}`),
    onCheck: (r) => console.log(format(r)),
  });
  console.log(`\n${report.ok ? 'every check passed' : 'FAILED'}: ${formatSummary(report)}`);
  if (json) writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  return report.ok ? 0 : 1;
}

/** Records from the baseline and the archive outputs; --factor does not apply. */
async function update(opts: Selected): Promise<number> {
  const { golden, changes } = await recordGolden(opts, (c) => console.log(`recording ${c.id}`));
  writeGolden(golden, opts.goldenFile);
  console.log(
    changes.length
      ? `${opts.goldenFile}: ${count(changes.length, 'value')} changed (commit them saying why):\n  ${changes.join('\n  ')}`
      : `${opts.goldenFile}: unchanged`,
  );
  return 0;
}

process.exitCode = await main();
