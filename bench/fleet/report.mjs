// Tables of bench/fleet.sh from the JSON lines of bench/fleet/run.mjs (one or
// more files, e.g. two runs: rows keep their file as the run).
//
//   node bench/fleet/report.mjs RESULTS.jsonl…
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (files.length === 0) throw new Error('usage: report.mjs RESULTS.jsonl…');
const rows = files.flatMap((f, run) =>
  readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => ({ ...JSON.parse(l), run: run + 1 })),
);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f1 = (x) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(1));
const f2 = (x) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(2));
const spread = (xs, f) => (xs.length > 1 ? `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})` : f(xs[0]));
const key = (r) => `${r.run}/${r.round}`;

// ---- pull
const pull = rows.filter((r) => r.section === 'pull');
if (pull.length) {
  const first = pull[0];
  const rounds = [...new Set(pull.map((r) => r.run))].map((run) => new Set(pull.filter((r) => r.run === run).map((r) => r.round)).size);
  console.log(
    `### Pull throughput: ${first.pulls} pulls of a ${(first.imageBytes / 1e6).toFixed(0)} MB image (${first.blobs} blobs) per measurement; ${rounds.length} run(s) of ${rounds.join(' and ')} round(s)\n`,
  );
  console.log(
    'MB/s (10^6 bytes of checked blob bodies per second of wall time): median over rounds (min–max). CPU: seconds during the measurement (/proc/PID/stat; the client: this process), medians. ' +
      '"busiest replica": its CPU seconds / wall seconds (1.00 = one core all the time). "all": CPU seconds of every process of the benchmark / wall seconds (the machine has 2 cores, shared).\n',
  );
  console.log('| clients | target | MB/s | upstream CPU s | replicas CPU s | proxy CPU s | client CPU s | busiest replica, cores | all, cores | redirects |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  const clientsList = [...new Set(pull.map((r) => r.clients))];
  const targets = [...new Set(pull.map((r) => r.target))];
  for (const c of clientsList)
    for (const t of targets) {
      const rs = pull.filter((r) => r.clients === c && r.target === t);
      if (!rs.length) continue;
      const sum = (r, pred) =>
        Object.entries(r.cpu)
          .filter(([k]) => pred(k))
          .reduce((s, [, v]) => s + v, 0);
      const busiest = (r) =>
        Math.max(
          ...Object.entries(r.cpu)
            .filter(([k]) => k.startsWith('pull-'))
            .map(([, v]) => v),
        ) / r.seconds;
      const all = (r) => sum(r, () => true) / r.seconds;
      console.log(
        `| ${c} | ${t} | ${spread(
          rs.map((r) => r.mbps),
          f1,
        )} | ${f2(median(rs.map((r) => r.cpu.upstream)))} | ${f2(median(rs.map((r) => sum(r, (k) => k.startsWith('pull-')))))} | ${f2(median(rs.map((r) => sum(r, (k) => k.startsWith('proxy-')))))} | ${f2(median(rs.map((r) => r.cpu.client)))} | ${f2(median(rs.map(busiest)))} | ${f2(median(rs.map(all)))} | ${median(rs.map((r) => r.redirects))} |`,
      );
    }
  const ratio = (num, den) => {
    console.log(`\nRatio ${num} / ${den} (MB/s), per round (run/round), and the median:\n`);
    console.log('| clients | median | each round |');
    console.log('|---|---|---|');
    for (const c of clientsList) {
      const per = [...new Set(pull.map(key))]
        .map((k) => {
          const a = pull.find((r) => key(r) === k && r.clients === c && r.target === num);
          const b = pull.find((r) => key(r) === k && r.clients === c && r.target === den);
          return a && b ? { k, v: a.mbps / b.mbps } : undefined;
        })
        .filter(Boolean);
      if (per.length) console.log(`| ${c} | **${f2(median(per.map((p) => p.v)))}** | ${per.map((p) => `${p.k}: ${f2(p.v)}`).join(', ')} |`);
    }
  };
  ratio('two', 'one');
  if (targets.includes('two-redirect')) ratio('two-redirect', 'two');
  if (targets.includes('direct')) ratio('one', 'direct');
  console.log(
    `\nLoad average (1 min) at the end of each measurement: ${f1(Math.min(...pull.map((r) => r.load1)))}–${f1(Math.max(...pull.map((r) => r.load1)))}, median ${f1(median(pull.map((r) => r.load1)))}.\n`,
  );
}

// ---- bridge
const bridge = rows.filter((r) => r.section === 'bridge');
if (bridge.length) {
  const first = bridge[0];
  console.log(
    `### First pull of a bridge image on a fresh replica: ${first.installable}, ${first.layers} layers, ${(first.imageBytes / 1e6).toFixed(0)} MB of blobs\n`,
  );
  console.log(
    "Seconds from the manifest GET (after the replica started listening); median (min–max) over rounds. `layersMade` and the outcome: from the replica's JSON log, `build` event.\n",
  );
  console.log(
    '| case | outcome (each round) | layersMade (each round) | to the first manifest, s | to the whole image (skopeo copy), s | until its push to the upstream ended, s |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const c of ['built', 'found-upstream']) {
    const rs = bridge.filter((r) => r.case === c);
    if (!rs.length) continue;
    const pushed = rs.map((r) => r.pushedSeconds).filter((x) => x !== null);
    console.log(
      `| ${c} | ${rs.map((r) => r.outcome).join(', ')} | ${rs.map((r) => r.layersMade).join(', ')} | ${spread(
        rs.map((r) => r.manifestSeconds),
        f1,
      )} | ${spread(
        rs.map((r) => r.pullSeconds),
        f1,
      )} | ${pushed.length ? spread(pushed, f1) : '–'} |`,
    );
  }
  const per = [...new Set(bridge.map(key))]
    .map((k) => {
      const b = bridge.find((r) => key(r) === k && r.case === 'built');
      const f = bridge.find((r) => key(r) === k && r.case === 'found-upstream');
      return b && f ? { k, m: f.manifestSeconds / b.manifestSeconds, p: f.pullSeconds / b.pullSeconds } : undefined;
    })
    .filter(Boolean);
  if (per.length) {
    console.log('\nRatio found-upstream / built, per round (run/round):\n');
    console.log(`- to the first manifest: median **${f2(median(per.map((p) => p.m)))}** (${per.map((p) => `${p.k}: ${f2(p.m)}`).join(', ')})`);
    console.log(`- to the whole image: median **${f2(median(per.map((p) => p.p)))}** (${per.map((p) => `${p.k}: ${f2(p.p)}`).join(', ')})`);
  }
  const same = bridge.every((r) => r.digest === r.pulledDigest && r.digest === first.digest);
  console.log(`\nEvery replica served the same manifest digest, and skopeo's copy has it: ${same ? `yes (${first.digest})` : 'NO'}.`);
}
