// What a workflow is: named checks, each with the spec's requirement level for
// the behaviour it exercises, run one after another against one registry.
import { randomBytes } from 'node:crypto';
import type { Config, WorkflowId } from './config.js';
import type { RegistryClient } from './http.js';

/** RFC 2119 level of what a check exercises; a MAY or SHOULD the registry lacks ends as optional-missing, never fail. */
export type Level = 'MUST' | 'SHOULD' | 'MAY';

export interface Context {
  client: RegistryClient;
  config: Config;
  /** A repository of its own for one check or fixture: "<namespace>/<slug>-<random>". */
  repo(slug: string, namespace?: string): string;
}

export interface Check {
  name: string;
  level: Level;
  run(ctx: Context): Promise<void>;
}

export interface Workflow {
  id: WorkflowId;
  title: string;
  checks: Check[];
}

export function newContext(client: RegistryClient, config: Config): Context {
  return {
    client,
    config,
    repo: (slug, namespace = config.namespace) => `${namespace}/${slug}-${randomBytes(4).toString('hex')}`,
  };
}

/**
 * Content several checks read (an image to pull, tags to list), made by the
 * first check that needs it. A failed setup is kept too, so every check that
 * depends on it fails with the same reason rather than retrying.
 */
export function fixture<T>(make: (ctx: Context) => Promise<T>): (ctx: Context) => Promise<T> {
  let made: Promise<T> | undefined;
  return (ctx) => (made ??= make(ctx));
}
