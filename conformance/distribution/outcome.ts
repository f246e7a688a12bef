// How a check ends. It passes by returning; otherwise it throws an Outcome,
// so a check reads as the protocol's steps and the first broken expectation
// ends it with the reason.
//
//   fail              a MUST (or MUST NOT) of the spec is broken
//   optional-missing  a MAY or SHOULD the registry does not do
//   unsupported       a refusal the spec allows (a 405 on DELETE, a 404 from
//                     the referrers API on a registry without it)

export const STATUSES = ['pass', 'fail', 'optional-missing', 'unsupported'] as const;
export type Status = (typeof STATUSES)[number];

export class Outcome extends Error {
  override name = 'Outcome';
  constructor(
    readonly status: Exclude<Status, 'pass'>,
    reason: string,
  ) {
    super(reason);
  }
}

export function fail(reason: string): never {
  throw new Outcome('fail', reason);
}

export function optionalMissing(reason: string): never {
  throw new Outcome('optional-missing', reason);
}

export function unsupported(reason: string): never {
  throw new Outcome('unsupported', reason);
}
