// When and how long to wait before trying a registry request again: 408, 429
// and 5xx answers and broken connections are retried with exponential backoff
// and jitter (so parallel uploads do not retry in lockstep), honouring
// Retry-After when the registry sends one.

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 30_000 };

/** The default total time of a request whose answer is small (a manifest, a token, an error body): --request-timeout. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/** Socket-level failures worth another try: the registry or a proxy dropped us. */
const RETRY_ERRORS = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_ABORTED',
]);

export function isRetryableError(e: unknown): boolean {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const code = (cur as { code?: string }).code;
    if (code && RETRY_ERRORS.has(code)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** Seconds or an HTTP date, as RFC 9110 allows; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** The wait before attempt `attempt` + 1 (attempt counts from 1). */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs?: number, random = Math.random): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxDelayMs);
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A short reason for logs: the status or the socket error code. */
export function errorReason(e: unknown): string {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const code = (cur as { code?: string }).code;
    if (code && !code.startsWith('UND_ERR_') && code !== 'ERR_STREAM_PREMATURE_CLOSE') return `${code}`;
    cur = (cur as { cause?: unknown }).cause;
  }
  return (e as Error)?.message ?? String(e);
}
