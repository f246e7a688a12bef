// The simplest load balancer: each request goes to the next backend in turn,
// streamed both ways; a backend that refuses the connection (killed) is
// skipped for the next one. The Host header is passed through, so Location
// headers point back at the proxy. It counts the requests each backend got,
// so a test can see that both replicas served.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RoundRobin {
  url: string;
  host: string;
  /** Requests answered by each backend, in the order given. */
  served: number[];
  /** Sends every request to this backend first (others only when it refuses), or back to turns with undefined. */
  pin(backend: number | undefined): void;
  close(): Promise<void>;
}

export async function startRoundRobin(backends: string[]): Promise<RoundRobin> {
  let next = 0;
  let pinned: number | undefined;
  const served = backends.map(() => 0);
  const sockets = new Set<Socket>();

  /** `after`: the backend that refused this request, whose successor takes it. */
  const forward = (req: IncomingMessage, res: ServerResponse, tries: number, after?: number) => {
    const i = after !== undefined ? (after + 1) % backends.length : (pinned ?? next++ % backends.length);
    const target = new URL(req.url!, backends[i]);
    // A connection of its own, and the body sent only once it connected: a refused one leaves the body unread for the next backend.
    const up = request(target, { method: req.method, headers: req.headers, agent: false }, (answer) => {
      served[i]!++;
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
      answer.on('aborted', () => res.destroy());
    });
    up.on('error', (e: NodeJS.ErrnoException) => {
      // Refused before anything was sent: another backend takes the request. A cut later is the client's to see.
      if (e.code === 'ECONNREFUSED' && tries < backends.length && !piped) return forward(req, res, tries + 1, i);
      res.destroy();
      req.destroy();
    });
    let piped = false;
    up.on('socket', (s) =>
      s.once('connect', () => {
        piped = true;
        req.pipe(up);
      }),
    );
  };

  const server = createServer((req, res) => forward(req, res, 1));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    served,
    pin: (backend) => {
      pinned = backend;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
