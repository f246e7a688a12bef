// The small pieces of an HTTP exchange with a registry that the session and
// the token dance both need: the response shape, a total-time deadline, and
// the two ways a body is read when it is small or not wanted at all.
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { StrataError } from '../base/errors.js';
import { errorReason } from './retry.js';

export type RequestBody = Buffer | Readable | undefined;

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The URL answered, for resolving a relative Location. */
  url: string;
  /** The request's deadline, when it has one: reading the body ends with it. */
  deadline?: Deadline;
}

/** A total time limit for one step; its signal aborts the exchange, body included. */
export class Deadline {
  readonly signal: AbortSignal;
  private readonly end: number;
  constructor(
    readonly ms: number,
    private readonly what: string,
  ) {
    this.signal = AbortSignal.timeout(ms);
    this.end = Date.now() + ms;
  }
  get expired(): boolean {
    return this.signal.aborted || Date.now() >= this.end;
  }
  remaining(): number {
    return Math.max(0, this.end - Date.now());
  }
  /** "STEP failed: registry R did not finish within 60 s (--request-timeout)" */
  error(step: string): StrataError {
    return new StrataError('registry', `${step} failed: ${this.what} did not finish within ${formatSeconds(this.ms)} (--request-timeout)`);
  }
}

/**
 * A body not needed (a redirect's, a retried answer's, an upload's): at most
 * undici's 128 KiB of it read, for at most `ms` and not past the request's
 * deadline, then dropped with its connection: a trickled one costs no more.
 */
export async function discard(res: RegistryResponse, ms: number, deadline = res.deadline): Promise<void> {
  const timeout = AbortSignal.timeout(ms);
  const signal = deadline ? AbortSignal.any([deadline.signal, timeout]) : timeout;
  await res.body.dump({ limit: 128 * 1024, signal }).catch(() => undefined); // nothing of it was wanted
}

/**
 * A small body whole (a manifest, a token answer): refused past `limit` bytes,
 * and cut at the request's deadline (a registry trickling a byte at a time
 * never trips an idle timeout). `what` names it in errors ("the manifest"),
 * `source` who sent it ("registry example.com").
 */
export async function readBounded(res: RegistryResponse, step: string, limit: number, what: string, source: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res.body as AsyncIterable<Buffer>) {
      if ((n += c.length) > limit) {
        res.body.destroy();
        throw new StrataError('registry', `${step} failed: ${what} is larger than ${limit / 2 ** 20} MiB`);
      }
      parts.push(c);
    }
  } catch (e) {
    if (e instanceof StrataError) throw e;
    if (res.deadline?.expired) throw res.deadline.error(step);
    throw new StrataError('registry', `${step} failed: ${source} broke off ${what} (${errorReason(e)})`, { cause: e });
  }
  return Buffer.concat(parts);
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
