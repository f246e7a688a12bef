// The thread that runs bcrypt for access.ts, so that the server's event loop
// never does: bcryptjs in the main thread runs its rounds in slices of up to
// 100 ms, and every other request (anonymous reads too) waits behind them.
// One message, one check: compare the password with each hash in turn (the
// first is the answer, the others pad the work to the same cost for every
// user), and post back the first result. Messages are handled one at a time.
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

export interface CheckRequest {
  id: number;
  password: string;
  hashes: string[];
}

export interface CheckReply {
  id: number;
  ok: boolean;
}

parentPort?.on('message', ({ id, password, hashes }: CheckRequest) => {
  let ok = false;
  hashes.forEach((hash, i) => {
    // bcryptjs reads $2y$ (PHP's and htpasswd's name for the fixed $2a$) only as $2b$: the same algorithm.
    const match = bcrypt.compareSync(password, hash.replace(/^\$2y\$/, '$2b$'));
    if (i === 0) ok = match;
  });
  parentPort!.postMessage({ id, ok } satisfies CheckReply);
});
