// Lines up two layer lists the way `diff` lines up two files: the longest
// common subsequence of equal keys (diffIDs: the same tar, however it is
// compressed) are the shared layers; between two shared ones, the layers left
// on each side are paired in order, and the rest belong to one side only.

export type Aligned = { a: number; b: number; same: boolean } | { a: number; b?: undefined } | { a?: undefined; b: number };

export function alignLayers(a: string[], b: string[]): Aligned[] {
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: Aligned[] = [];
  let pendingA: number[] = [];
  let pendingB: number[] = [];
  const flush = () => {
    const n = Math.min(pendingA.length, pendingB.length);
    for (let k = 0; k < n; k++) out.push({ a: pendingA[k]!, b: pendingB[k]!, same: false });
    for (const i of pendingA.slice(n)) out.push({ a: i });
    for (const j of pendingB.slice(n)) out.push({ b: j });
    pendingA = [];
    pendingB = [];
  };
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      flush();
      out.push({ a: i++, b: j++, same: true });
    } else if (j >= b.length || (i < a.length && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      pendingA.push(i++);
    } else {
      pendingB.push(j++);
    }
  }
  flush();
  return out;
}
