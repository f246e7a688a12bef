// Untrusted OCI JSON (oci/schema.ts) into Strata's errors: one line naming
// where it came from and the field, exit 7 for what a registry sent, 2 for a
// layout or archive given on the command line.
import type { z } from 'zod';
import { checkOci, checkOciValue, OciJsonError } from '../oci/parse.js';
import { StrataError } from '../base/errors.js';

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
