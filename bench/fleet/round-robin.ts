// test/helpers/round-robin.ts as a process of its own, for bench/fleet.sh: the
// same proxy in front of one replica, two replicas or the upstream itself.
//
//   node --import tsx bench/fleet/round-robin.ts BACKEND_URL…
//
// Prints its URL on stdout; on SIGTERM prints {"served": [requests per backend]}
// on stderr and exits.
import { startRoundRobin } from '../../test/helpers/round-robin.js';

const backends = process.argv.slice(2);
if (backends.length === 0) throw new Error('usage: round-robin.ts BACKEND_URL…');
const rr = await startRoundRobin(backends);
process.stdout.write(`${rr.url}\n`);
process.on('SIGTERM', () => {
  process.stderr.write(`${JSON.stringify({ served: rr.served })}\n`);
  void rr.close().then(() => process.exit(0));
});
