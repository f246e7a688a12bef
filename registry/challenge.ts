// WWW-Authenticate challenges (RFC 7235 §4.1, §2.1) and token scopes (the
// distribution token spec's "repository:NAME:ACTIONS").
//
//   WWW-Authenticate = 1#challenge
//   challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//   auth-param       = token BWS "=" BWS ( token / quoted-string )
//
// One header may hold several challenges (and a client that joins repeated
// headers with ", " makes one such header), so a comma ends either a parameter
// or a challenge: a token followed by "=" is a parameter, any other token
// starts the next challenge. The parser is lenient: it skips what it cannot
// read rather than throwing, since a registry's challenge is advice.
import { StrataError } from '../base/errors.js';

export interface Challenge {
  /** Lower-cased: "bearer", "basic". */
  scheme: string;
  /** Parameter names lower-cased, values unquoted and unescaped. The first of a repeated name wins. */
  params: Record<string, string>;
  /** The token68 form ("Negotiate abc=="), when the challenge has one instead of parameters. */
  token68?: string;
}

/**
 * The longest WWW-Authenticate header read. Real challenges are a realm, a
 * service and a scope or two, well under 1 KiB; undici's own limit on all
 * headers together is 16 KiB.
 */
export const MAX_CHALLENGE_BYTES = 8 * 1024;

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /[A-Za-z0-9\-._~+/]+=*/y;

export function parseWwwAuthenticate(header: string): Challenge[] {
  const s = header;
  let i = 0;
  const challenges: Challenge[] = [];

  const isWs = (c: string | undefined): boolean => c === ' ' || c === '\t';
  const skipWs = (): void => {
    while (isWs(s[i])) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < s.length && TCHAR.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  const readQuoted = (): string => {
    i++; // opening quote
    let out = '';
    while (i < s.length) {
      const c = s[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c === '\\' && i + 1 < s.length) {
        out += s[i + 1];
        i += 2;
        continue;
      }
      out += c;
      i++;
    }
    return out; // unterminated: what there is
  };
  /**
   * An unquoted value. The grammar allows only a token, but servers send
   * URLs and scopes bare (realm=https://…, scope=repository:a/b:pull), so
   * read up to a comma, whitespace or quote.
   */
  const readBare = (): string => {
    const start = i;
    while (i < s.length && s[i] !== ',' && s[i] !== '"' && !isWs(s[i])) i++;
    return s.slice(start, i);
  };
  /** At a token: is it "name BWS =" (a parameter) rather than the next scheme? */
  const atParam = (): boolean => {
    let j = i;
    while (j < s.length && TCHAR.test(s[j]!)) j++;
    if (j === i) return false;
    while (isWs(s[j])) j++;
    return s[j] === '=';
  };
  /** At a token68, which must then end the challenge (end of header or a comma)? */
  const token68Here = (): string | undefined => {
    TOKEN68.lastIndex = i;
    const m = TOKEN68.exec(s);
    if (!m) return undefined;
    let j = i + m[0].length;
    while (isWs(s[j])) j++;
    return j >= s.length || s[j] === ',' ? m[0] : undefined;
  };
  /** Skip to just past the next comma outside quotes (recovery from junk). */
  const skipItem = (): void => {
    while (i < s.length && s[i] !== ',') {
      if (s[i] === '"') readQuoted();
      else i++;
    }
  };

  while (i < s.length) {
    // Empty list elements are allowed: ", , Basic".
    while (i < s.length && (isWs(s[i]) || s[i] === ',')) i++;
    if (i >= s.length) break;
    const scheme = readToken();
    if (!scheme) {
      skipItem(); // not at a comma, so this moves on
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    if (!isWs(s[i])) {
      // "Scheme" alone, or "Scheme," before the next challenge; anything else is junk to skip.
      if (i < s.length && s[i] !== ',') skipItem();
      continue;
    }
    skipWs();
    if (i >= s.length || s[i] === ',') continue;

    const t68 = token68Here();
    if (t68 !== undefined) {
      // "realm=x" is never taken for a token68: a token68 must end the challenge, and "realm=" is followed by x.
      challenge.token68 = t68;
      i += t68.length;
      continue;
    }

    // auth-params, until a token that is not followed by "=" (the next challenge).
    for (;;) {
      skipWs();
      if (!atParam()) break;
      const name = readToken().toLowerCase();
      skipWs();
      i++; // "="
      skipWs();
      let value: string;
      if (s[i] === '"') value = readQuoted();
      else value = readBare();
      if (!Object.hasOwn(challenge.params, name)) challenge.params[name] = value;
      skipWs();
      if (i >= s.length) break;
      if (s[i] !== ',') {
        // Junk after a value ("realm=a b"): skip to the next comma.
        skipItem();
        if (i >= s.length) break;
      }
      // At a comma: the next element is another parameter or the next challenge.
      i++;
      while (i < s.length && (isWs(s[i]) || s[i] === ',')) i++;
      if (i >= s.length) break;
      if (!atParam()) break;
    }
  }
  return challenges;
}

export type ScopeAction = 'pull' | 'push' | 'delete' | '*';

const ACTION_ORDER: ScopeAction[] = ['pull', 'push', 'delete', '*'];
// distribution's repository name: path components of [a-z0-9] with . _ __ - separators, joined by "/".
const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;

/**
 * The token scope for actions on a repository: "repository:org/app:pull,push".
 * Actions are de-duplicated and put in a fixed order, so equal requests make
 * equal scopes (and share cached tokens).
 */
export function scopeFor(repository: string, actions: ScopeAction[]): string {
  if (!REPOSITORY.test(repository)) throw new StrataError('reference', `"${repository}" is not a valid repository name`);
  const set = new Set(actions);
  const ordered = ACTION_ORDER.filter((a) => set.has(a));
  if (ordered.length === 0) throw new StrataError('usage', `a token scope for ${repository} needs at least one action`);
  return `repository:${repository}:${ordered.join(',')}`;
}
