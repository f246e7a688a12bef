// What every endpoint handler gets: the Hono context (with the parsed route in
// its variables), and the store and bridge it serves from.
import type { Context } from 'hono';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Bridge } from './bridge.js';
import type { Route } from './names.js';
import type { RegistryStore } from './storage.js';

export type Env = { Variables: { route: Route } };

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Deps {
  store: RegistryStore;
  bridge?: Bridge;
  maxManifestBytes: number;
}

export type Handler<R extends Route> = (c: Context<Env>, route: R, deps: Deps) => Promise<Response>;

/** An endpoint's handlers by method; a method without one is 405. */
export type Endpoint<R extends Route> = Partial<Record<Method, Handler<R>>>;

/** The request body as a Node stream (read as it arrives, never buffered whole), or undefined without one. */
export function requestBody(c: Context<Env>): Readable | undefined {
  // On @hono/node-server, the IncomingMessage itself: the web body it would
  // otherwise build (Readable.toWeb) copies every chunk, and fromWeb below
  // adds a second adapter. Untouched until here, since nothing reads c.req.raw.body.
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming instanceof Readable) return c.req.method === 'GET' || c.req.method === 'HEAD' ? undefined : incoming;
  const body = c.req.raw.body;
  return body ? Readable.fromWeb(body as WebReadableStream<Uint8Array>) : undefined;
}

/** Whether `name` is served by the bridge rather than the store. */
export function bridged(deps: Deps, name: string): Bridge | undefined {
  return deps.bridge?.handles(name) ? deps.bridge : undefined;
}
