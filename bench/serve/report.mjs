// Markdown tables from bench/serve/run.mjs's results (JSON lines): medians
// over rounds, the strata/distribution ratio of the medians and each round's
// own ratio (the two servers ran back to back in a round), and the issue's
// target ("at least on par with distribution") per metric.
//   node bench/serve/report.mjs results-STAMP.jsonl [--tolerance 0.05] [--alt 'what strata-alt is']
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: { tolerance: { type: 'string', default: '0.05' }, alt: { type: 'string', default: 'the change under test, --alt-strata-dir' } },
});
const tol = Number(opt.tolerance);
const rows = readFileSync(positionals[0], 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l));
const A = 'strata';
const B = 'distribution';

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const fmt = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const pick = (server, phase) => rows.filter((r) => r.server === server && r.phase === phase).sort((a, b) => a.round - b.round);
const rounds = [...new Set(rows.map((r) => r.round))].sort((a, b) => a - b);
const phases = [...new Set(rows.filter((r) => r.kind !== 'lifetime').map((r) => r.phase))];
const sizeOf = (set) => {
  const r = rows.find((x) => x.set === set && x.blobs);
  if (!r) return set;
  const b = r.bytes / r.blobs;
  return `${r.blobs} × ${b >= 2 ** 20 ? `${b / 2 ** 20} MiB` : `${b / 1024} KiB`}`;
};
const label = (phase) => {
  const r = rows.find((x) => x.phase === phase);
  if (r.kind === 'manifest') return `manifest GET by tag, ${r.requests} × ${r.manifest_bytes} B, c=${r.conc}`;
  return `blob ${r.kind.toUpperCase()} ${sizeOf(r.set)}, c=${r.conc}`;
};

const out = [];
const p = (s = '') => out.push(s);

/**
 * One metric of one phase, server a against server b: medians, the ratio of
 * the medians, each round's own ratio, and the verdict. Both estimates must
 * clear the bar for "met", both miss it for "not met"; otherwise "borderline".
 */
function metric(a, b, phase, key, unit, digits, higherBetter) {
  const ra = pick(a, phase);
  const rb = pick(b, phase);
  const ma = median(ra.map((r) => r[key]));
  const mb = median(rb.map((r) => r[key]));
  const ratio = ma / mb;
  const perRound = rounds
    .map((n) => {
      const x = ra.find((r) => r.round === n);
      const y = rb.find((r) => r.round === n);
      return x && y ? x[key] / y[key] : NaN;
    })
    .filter(Number.isFinite);
  const paired = median(perRound);
  const range = (rs) => (rs.length > 1 ? ` (${fmt(Math.min(...rs.map((r) => r[key])), digits)}–${fmt(Math.max(...rs.map((r) => r[key])), digits)})` : '');
  const ok = (x) => (higherBetter ? x >= 1 - tol : x <= 1 + tol);
  const verdict = ok(ratio) && ok(paired) ? 'met' : !ok(ratio) && !ok(paired) ? '**not met**' : 'borderline';
  return `| ${label(phase)} | ${unit} | ${fmt(ma, digits)}${range(ra)} | ${fmt(mb, digits)}${range(rb)} | **${fmt(ratio, 2)}** | ${fmt(paired, 2)} (${perRound.map((x) => fmt(x, 2)).join(', ')}) | ${verdict} |`;
}

function table(a, b) {
  p(`| workload | metric | ${a} | ${b} | ratio of medians | median of per-round ratios (each round) | on par |`);
  p('|---|---|---|---|---|---|---|');
  for (const phase of phases) {
    if (!pick(a, phase).length || !pick(b, phase).length) continue;
    const kind = rows.find((r) => r.phase === phase).kind;
    if (kind === 'manifest') {
      p(metric(a, b, phase, 'p50_ms', 'p50 ms (lower is better)', 2, false));
      p(metric(a, b, phase, 'p99_ms', 'p99 ms (lower is better)', 2, false));
      p(metric(a, b, phase, 'rps', 'requests/s', 0, true));
    } else {
      p(metric(a, b, phase, 'mbps', 'MB/s', 1, true));
      p(metric(a, b, phase, 'rps', `requests/s${kind === 'put' ? ' (POST + PUT)' : ''}`, 1, true));
    }
  }
}

const servers = [...new Set(rows.map((r) => r.server))];
p(
  `Rounds: ${rounds.length}, the order of the servers reversed every other round (${servers.join(', ')} first in odd rounds). Values: median over rounds (min–max). Ratios: ${A} / ${B}; per round, the two servers ran one after the other under the same load.`,
);
p(
  `"On par": ratio ≥ ${1 - tol} for throughput, ≤ ${1 + tol} for latency (a ${tol * 100} % allowance for this machine's noise), by both estimates; "borderline" when only one of them clears it.`,
);
p();
table(A, B);
if (servers.includes('strata-alt')) {
  p();
  p(`\`strata-alt\` (${opt.alt}) against distribution, then against strata:`);
  p();
  table('strata-alt', B);
  p();
  table('strata-alt', A);
}
p();
p(
  'Server resources per workload (medians): CPU seconds of the server process (all threads, /proc/PID/stat utime + stime) during the workload, and its peak RSS (VmHWM, reset before each workload). "gen": the load generator\'s own CPU seconds.',
);
p();
const cols = [A, B, ...servers.filter((x) => x !== A && x !== B)].filter((x) => servers.includes(x));
p(
  `| workload | ${cols.map((x) => `${x} CPU s`).join(' | ')} | CPU ${A} / ${B} | ${cols.map((x) => `${x} peak RSS MiB`).join(' | ')} | gen CPU s (${cols.join(' / ')}) |`,
);
p(`|---|${cols.map(() => '---|').join('')}---|${cols.map(() => '---|').join('')}---|`);
const cpuOf = (x, phase) => median(pick(x, phase).map((r) => r.server_cpu_s));
for (const phase of [...phases, 'lifetime']) {
  const name = phase === 'lifetime' ? "whole run of one server (warm-up and the manifest's blobs included)" : label(phase);
  const gen = phase === 'lifetime' ? '' : cols.map((x) => fmt(median(pick(x, phase).map((r) => r.gen_cpu_s)), 2)).join(' / ');
  p(
    `| ${name} | ${cols.map((x) => fmt(cpuOf(x, phase), 2)).join(' | ')} | ${fmt(cpuOf(A, phase) / cpuOf(B, phase), 2)} | ${cols.map((x) => fmt(median(pick(x, phase).map((r) => r.peak_rss_mb)), 0)).join(' | ')} | ${gen} |`,
  );
}
p();
const loads = rows.filter((r) => Number.isFinite(r.load1)).map((r) => r.load1);
if (loads.length) p(`Load average (1 min) during the workloads: ${fmt(Math.min(...loads), 1)}–${fmt(Math.max(...loads), 1)}, median ${fmt(median(loads), 1)}.`);
process.stdout.write(`${out.join('\n')}\n`);
