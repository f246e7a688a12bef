// Untrusted JSON against a schema of schema.ts, with ONE line for the first
// problem: the field's path as it is written in the JSON, what it holds, and
// why that is refused, e.g.
//   layers[0].digest "sha256:../../x" is not a sha256 digest
// Every reader of OCI JSON goes through parseOci (or checkOciPart for a part
// of a larger document): the caller names where the JSON came from and whose
// fault a refusal is, which picks the exit code (7 for what a registry sent, 2
// for a layout or archive given on the command line). checkOci is the same
// check without Strata's error, for code that reports problems its own way
// (the server, the conformance suite).
import type { z } from 'zod';
import { StrataError } from '../base/errors.js';

export class OciJsonError extends Error {
  constructor(
    /** The line without its origin: `layers[0].size -1 is negative`. */
    readonly problem: string,
    /** The field's path, e.g. ['layers', 0, 'size']. */
    readonly path: (string | number)[],
  ) {
    super(problem);
    this.name = 'OciJsonError';
  }
}

/** `layers[0].digest`, `annotations["org.example"]`. */
export function fieldPath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `${i ? '.' : ''}${p}` : `[${JSON.stringify(p)}]`)).join('');
}

/** C1 controls (U+0080..U+009F), which JSON leaves as they are and a terminal may obey (U+009B is CSI). */
const escapeC1 = (s: string) => s.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** A value as one short line that a terminal prints as it is: JSON escapes newlines and C0 controls, escapeC1 the rest. */
export function shown(v: unknown): string {
  const s = escapeC1(JSON.stringify(v) ?? String(v));
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function at(root: unknown, path: (string | number)[]): unknown {
  let v = root;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[p] : undefined;
  return v;
}

const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

function reason(issue: z.ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.received === 'undefined' ? 'is missing' : `is not ${article(issue.expected === 'integer' ? 'whole number' : issue.expected)}`;
    case 'invalid_literal':
      return `is not ${shown(issue.expected)}`;
    case 'invalid_union':
    case 'invalid_enum_value':
      return 'is none of the values allowed here';
    default:
      return issue.message;
  }
}

/** Parses `json` (text or bytes) and checks it against `schema`; throws OciJsonError naming the first bad field. */
export function checkOci<S extends z.ZodTypeAny>(schema: S, json: string | Uint8Array): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof json === 'string' ? json : Buffer.from(json).toString('utf8'));
  } catch (e) {
    // JSON.parse quotes a piece of the text: its controls are shown escaped, not sent to the terminal.
    throw new OciJsonError(`is not JSON (${escapeC1(JSON.stringify((e as Error).message.split('\n')[0]).slice(1, -1))})`, []);
  }
  return checkOciValue(schema, raw);
}

/** The same for a value already parsed. */
export function checkOciValue<S extends z.ZodTypeAny>(schema: S, raw: unknown): z.output<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data as z.output<S>;
  const issue = r.error.issues[0]!;
  const value = at(raw, issue.path);
  const why = value === undefined && issue.path.length ? 'is missing' : reason(issue);
  if (issue.path.length === 0) throw new OciJsonError(issue.code === 'invalid_type' ? `is not a JSON ${issue.expected}` : why, []);
  throw new OciJsonError(`${fieldPath(issue.path)}${value === undefined ? '' : ` ${shown(value)}`} ${why}`, issue.path);
}

/** Whose fault bad JSON is: a registry's (exit 7) or the user's, who named the layout or archive (exit 2). */
export type JsonOrigin = 'registry' | 'usage';

function rethrow(e: unknown, where: string, code: JsonOrigin): never {
  if (e instanceof OciJsonError) throw new StrataError(code, e.path.length ? `${where}: ${e.problem}` : `${where} ${e.problem}`, { cause: e });
  throw e;
}

/** `json` checked against `schema`; a StrataError of `code` whose one line names `where` and the field. */
export function parseOci<S extends z.ZodTypeAny>(schema: S, json: string | Uint8Array, where: string, code: JsonOrigin): z.output<S> {
  try {
    return checkOci(schema, json);
  } catch (e) {
    rethrow(e, where, code);
  }
}

/** The same for a value already parsed (a part of a larger document). */
export function checkOciPart<S extends z.ZodTypeAny>(schema: S, value: unknown, where: string, code: JsonOrigin): z.output<S> {
  try {
    return checkOciValue(schema, value);
  } catch (e) {
    rethrow(e, where, code);
  }
}
