// Expectations on responses. Each failure says what step it was, what the
// spec expects and what the registry sent, with the registry's error codes
// when its body has them (they usually say why).
import type { z } from 'zod';
import { type HttpResponse, locationOf } from './http.js';
import { fail } from './outcome.js';
import { ErrorBody } from './schemas.js';
import { checkOciValue, OciJsonError } from '../../oci/parse.js';

/** The response's JSON, or undefined when it has none that parses. */
export function jsonBody(res: HttpResponse): unknown {
  if (res.body.length === 0) return undefined;
  try {
    return JSON.parse(res.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The error codes of a spec-shaped error body; undefined when the body is not one. */
export function errorCodes(res: HttpResponse): string[] | undefined {
  const parsed = ErrorBody.safeParse(jsonBody(res));
  return parsed.success ? parsed.data.errors.map((e) => e.code) : undefined;
}

/** A short account of a response for a failure message. */
export function summary(res: HttpResponse): string {
  const codes = errorCodes(res);
  if (codes) return `${res.status} ${codes.join(', ')}`;
  const text = res.body.toString('utf8').replace(/\s+/g, ' ').trim();
  return text ? `${res.status} "${text.length > 80 ? `${text.slice(0, 80)}…` : text}"` : String(res.status);
}

export function expectStatus(res: HttpResponse, expected: number | readonly number[], step: string): void {
  const ok = typeof expected === 'number' ? [expected] : expected;
  if (!ok.includes(res.status)) fail(`${step}: expected ${ok.join(' or ')}, got ${summary(res)}`);
}

export function expectEqual<T>(got: T, expected: T, what: string): void {
  if (got !== expected) fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
}

export function expectBytes(got: Buffer, expected: Buffer, step: string): void {
  if (!got.equals(expected)) fail(`${step}: expected the ${expected.length} bytes pushed, got ${got.length} different bytes`);
}

/** A header the spec lets a registry leave out, but which must be right when present (Docker-Content-Digest, Content-Length). */
export function expectHeaderIfPresent(res: HttpResponse, name: string, expected: string, step: string): void {
  const v = res.header(name);
  if (v !== undefined && v !== expected) fail(`${step}: ${name} is ${JSON.stringify(v)}, not ${JSON.stringify(expected)}`);
}

/** The body checked against `schema` (oci/schema.ts's for OCI JSON), failing with the same one line Strata's readers give. */
export function expectJson<S extends z.ZodTypeAny>(res: HttpResponse, schema: S, step: string): z.output<S> {
  try {
    return checkOciValue(schema, jsonBody(res));
  } catch (e) {
    if (e instanceof OciJsonError) fail(`${step}: the body is not the JSON the spec defines (${e.path.length ? e.problem : `the body ${e.problem}`})`);
    throw e;
  }
}

/** The response's Location, resolved against the URL that sent it. */
export function expectLocation(res: HttpResponse, step: string): URL {
  const location = locationOf(res);
  if (!location) fail(`${step}: expected a Location header, got none`);
  return location;
}
