// Markdown tables from bench/push.sh's results (TSV): medians over rounds,
// strata/skopeo ratios, and the issue's targets.
//   node bench/push/report.mjs results-STAMP.tsv [more.tsv ...]   (several runs: their rows pooled)
import { readFileSync } from 'node:fs';

const rows = process.argv.slice(2).flatMap((file) => {
  const [header, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  const cols = header.split('\t');
  return lines.map((l) => Object.fromEntries(l.split('\t').map((v, i) => [cols[i], v])));
});
for (const r of rows) {
  r.wall = Number(r.wall_s);
  r.cpu = Number(r.user_s) + Number(r.sys_s);
  r.rss = Number(r.rss_kb) / 1024;
  r.reg = Number(r.reg_cpu_s);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const pick = (section, image, variant) => rows.filter((r) => r.section === section && r.image === image && (variant === undefined || r.variant === variant));
// In a stable order: as first seen, except that numbered variants (--concurrency N) go by number, defaults first.
const order = (v) => (v.startsWith('default') ? -1 : Number(v.match(/(\d+)$/)?.[1] ?? NaN));
const variants = (section, image) => {
  const vs = [...new Set(rows.filter((r) => r.section === section && r.image === image).map((r) => r.variant))];
  return vs.every((v) => !Number.isNaN(order(v))) ? vs.sort((a, b) => order(a) - order(b)) : vs;
};
const images = (section) => [...new Set(rows.filter((r) => r.section === section).map((r) => r.image))];
/** The most common request mix of a set of runs (they should all be the same). */
const requests = (rs) => {
  const count = new Map();
  for (const r of rs) count.set(r.requests, (count.get(r.requests) ?? 0) + 1);
  return [...count.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
};
const checks = (rs) =>
  rs.every((r) => r.check === 'ok')
    ? ''
    : ` **(${rs
        .filter((r) => r.check !== 'ok')
        .map((r) => r.check)
        .join(', ')})**`;
const summary = (rs) => ({
  n: rs.length,
  wall: median(rs.map((r) => r.wall)),
  min: Math.min(...rs.map((r) => r.wall)),
  max: Math.max(...rs.map((r) => r.wall)),
  rss: median(rs.map((r) => r.rss)),
  cpu: median(rs.map((r) => r.cpu)),
  reg: median(rs.map((r) => r.reg)),
  conns: median(rs.map((r) => Number(r.conns))),
  requests: requests(rs),
});
const out = [];
const p = (s = '') => out.push(s);
const verdict = (ok) => (ok ? '**met**' : '**not met**');

for (const image of images('full')) {
  p(`### Full push, ${image} layout (fresh registry each run)`);
  p();
  p('| tool | runs | wall s, median (min–max) | client CPU s | registry CPU s | peak RSS MB | requests (registry log) | TCP connections |');
  p('|---|---|---|---|---|---|---|---|');
  const s = {};
  for (const v of variants('full', image)) {
    const rs = pick('full', image, v);
    s[v] = summary(rs);
    const x = s[v];
    p(
      `| ${v} | ${x.n} | ${f(x.wall)} (${f(x.min)}–${f(x.max)}) | ${f(x.cpu, 1)} | ${f(x.reg, 1)} | ${f(x.rss, 0)} | ${x.requests} | ${x.conns} |${checks(rs)}`,
    );
  }
  if (s.strata && s.skopeo) {
    const ratio = s.strata.wall / s.skopeo.wall;
    // Paired ratios: each round's strata run against the same round's skopeo run.
    const paired = [];
    for (const r of new Set(pick('full', image, 'strata').map((x) => x.round))) {
      const a = pick('full', image, 'strata').find((x) => x.round === r);
      const b = pick('full', image, 'skopeo').find((x) => x.round === r);
      if (a && b) paired.push(a.wall / b.wall);
    }
    p();
    p(`strata/skopeo wall time: **${f(ratio)}** (ratio of medians; per round ${paired.map((x) => f(x)).join(', ')}). Target ≤ 0.8: ${verdict(ratio <= 0.8)}.`);
  }
  p();
}

for (const image of images('noop')) {
  p(`### No-op re-push, ${image} layout (same registry and tag)`);
  p();
  p('| who | runs | wall s, median (min–max) | client CPU s | registry CPU s | peak RSS MB | requests | TCP connections |');
  p('|---|---|---|---|---|---|---|---|');
  const s = {};
  for (const v of variants('noop', image)) {
    const rs = pick('noop', image, v);
    const x = (s[v] = summary(rs));
    p(`| ${v} | ${x.n} | ${f(x.wall)} (${f(x.min)}–${f(x.max)}) | ${f(x.cpu)} | ${f(x.reg, 2)} | ${f(x.rss, 0)} | ${x.requests} | ${x.conns} |${checks(rs)}`);
  }
  p();
  const st = ['strata', 'strata-fresh-runner'].filter((v) => s[v]);
  if (st.length)
    p(
      `Target ≤ 1 s (warm and fresh runner): ${verdict(st.every((v) => s[v].wall <= 1))} (medians ${st.map((v) => `${v} ${f(s[v].wall)} s`).join(', ')}; slowest run ${f(Math.max(...st.map((v) => s[v].max)))} s).`,
    );
  p();
}

const skopeoFull = (image) => summary(pick('full', image, 'skopeo')).wall;
for (const section of ['concurrency', 'chunk']) {
  for (const image of images(section)) {
    p(`### ${section === 'concurrency' ? 'Concurrency' : 'Chunked or streamed uploads'}, ${image} layout (strata push, fresh registry each run)`);
    p();
    p('| strata push | runs | wall s, median (min–max) | / skopeo full push (median above) | client CPU s | registry CPU s | peak RSS MB | requests |');
    p('|---|---|---|---|---|---|---|---|');
    const sk = skopeoFull(image);
    for (const v of variants(section, image)) {
      const rs = pick(section, image, v);
      const x = summary(rs);
      p(
        `| ${v} | ${x.n} | ${f(x.wall)} (${f(x.min)}–${f(x.max)}) | ${f(x.wall / sk)} | ${f(x.cpu, 1)} | ${f(x.reg, 1)} | ${f(x.rss, 0)} | ${x.requests} |${checks(rs)}`,
      );
    }
    p();
  }
}

if (rows.some((r) => r.section === 'n2c')) {
  p('### Cold push from the store against what a nix2container user gets (closure, fresh registry each run)');
  p();
  p('| how | runs | wall s, median (min–max) | client CPU s | registry CPU s | peak RSS MB | requests |');
  p('|---|---|---|---|---|---|---|');
  const push = pick('n2c', 'closure').filter((r) => r.variant.startsWith('strata push'));
  const sk = pick('n2c', 'closure').filter((r) => r.variant.startsWith('skopeo'));
  for (const rs of [push, sk]) {
    if (!rs.length) continue;
    const x = summary(rs);
    p(`| ${rs[0].variant} | ${x.n} | ${f(x.wall)} (${f(x.min)}–${f(x.max)}) | ${f(x.cpu, 1)} | ${f(x.reg, 1)} | ${f(x.rss, 0)} | ${x.requests} |${checks(rs)}`);
  }
  if (push.length && sk.length) {
    p();
    p(`strata push / skopeo copy --dest-compress-format gzip: **${f(summary(push).wall / summary(sk).wall)}** (target ≤ 0.8).`);
  }
  p();
}

if (rows.some((r) => r.section === 'store')) {
  p('### Store → registry from a cold cache (closure, fresh registry each run)');
  p();
  p('| how | runs | wall s, median (min–max) | client CPU s | registry CPU s | peak RSS MB | requests |');
  p('|---|---|---|---|---|---|---|');
  const push = pick('store', 'closure').filter((r) => r.variant.startsWith('strata push'));
  const s1 = pick('store', 'closure').filter((r) => r.variant.startsWith('step 1'));
  const s2 = pick('store', 'closure').filter((r) => r.variant.startsWith('step 2'));
  const two = s1.map((a) => {
    const b = s2.find((x) => x.round === a.round);
    return {
      ...a,
      variant: 'two steps together',
      wall: a.wall + b.wall,
      cpu: a.cpu + b.cpu,
      reg: a.reg + b.reg,
      rss: Math.max(a.rss, b.rss),
      conns: b.conns,
      requests: b.requests,
      check: b.check,
    };
  });
  for (const rs of [push, s1, s2, two]) {
    if (!rs.length) continue;
    const x = summary(rs);
    p(`| ${rs[0].variant} | ${x.n} | ${f(x.wall)} (${f(x.min)}–${f(x.max)}) | ${f(x.cpu, 1)} | ${f(x.reg, 1)} | ${f(x.rss, 0)} | ${x.requests} |${checks(rs)}`);
  }
  if (push.length && two.length) {
    p();
    p(`strata push / (strata build + skopeo copy): **${f(summary(push).wall / summary(two).wall)}**.`);
  }
  p();
  if (rows.some((r) => r.section === 'store-noop')) {
    p('No-op re-push of the same store path to the same tag (each checked: every blob "exists", 0 bytes sent):');
    p();
    p('| cache | runs | wall s, median (min–max) | client CPU s | registry CPU s | peak RSS MB | requests |');
    p('|---|---|---|---|---|---|---|');
    const s = {};
    for (const v of variants('store-noop', 'closure')) {
      const rs = pick('store-noop', 'closure', v);
      const x = (s[v] = summary(rs));
      p(`| ${v} | ${x.n} | ${f(x.wall)} (${f(x.min)}–${f(x.max)}) | ${f(x.cpu)} | ${f(x.reg, 2)} | ${f(x.rss, 0)} | ${x.requests} |${checks(rs)}`);
    }
    p();
    p(`Target ≤ 1 s: ${verdict(Object.values(s).every((x) => x.wall <= 1))}.`);
    p();
  }
}
console.log(out.join('\n'));
