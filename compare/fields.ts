// Field-by-field differences of two JSON documents (manifests, configs,
// indexes), each named by its path as a reader would write it:
// config.Env, annotations["dev.strata.compressor"], history[3].comment.

export interface FieldChange {
  path: string;
  /** The value on each side; absent where that side does not have the field. */
  a?: unknown;
  b?: unknown;
  /** For lists of plain values whose lengths differ: what only one side has. */
  onlyInA?: unknown[];
  onlyInB?: unknown[];
}

function key(path: string, k: string): string {
  const name = /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
  return path === '' ? name.replace(/^\./, '') : `${path}${name}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isScalar(v: unknown): boolean {
  return v === null || typeof v !== 'object';
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && same(a[k], b[k]));
  }
  return false;
}

/** Items of `a` not matched one for one in `b` (a multiset difference, order kept). */
function minus(a: unknown[], b: unknown[]): unknown[] {
  const left = [...b];
  return a.filter((x) => {
    const i = left.findIndex((y) => same(x, y));
    if (i < 0) return true;
    left.splice(i, 1);
    return false;
  });
}

/**
 * Every difference between `a` and `b`, depth first in key order. `skip` names
 * paths compared elsewhere (a manifest's layers are compared layer by layer).
 * Lists of equal length are compared item by item; lists of plain values whose
 * lengths differ (Env, Cmd) as what each side has that the other lacks, so one
 * added variable does not shift every later one into a change.
 */
export function diffFields(a: unknown, b: unknown, skip: (path: string) => boolean = () => false, path = ''): FieldChange[] {
  if (skip(path) || same(a, b)) return [];
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => {
      const p = key(path, k);
      if (!(k in b)) return skip(p) ? [] : [{ path: p, a: a[k] }];
      if (!(k in a)) return skip(p) ? [] : [{ path: p, b: b[k] }];
      return diffFields(a[k], b[k], skip, p);
    });
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length === b.length) return a.flatMap((x, i) => diffFields(x, b[i], skip, `${path}[${i}]`));
    if (a.every(isScalar) && b.every(isScalar)) return [{ path, a, b, onlyInA: minus(a, b), onlyInB: minus(b, a) }];
    const n = Math.min(a.length, b.length);
    return [
      ...a.slice(0, n).flatMap((x, i) => diffFields(x, b[i], skip, `${path}[${i}]`)),
      ...a.slice(n).map((x, i) => ({ path: `${path}[${n + i}]`, a: x })),
      ...b.slice(n).map((x, i) => ({ path: `${path}[${n + i}]`, b: x })),
    ];
  }
  return [{ path, a, b }];
}
