// Long-running children (registries, `strata serve`) that never outlive the
// process that started them, and a way to stop one.
import { type ChildProcess, spawn } from 'node:child_process';

/** Children still running, killed if this process exits without stopping them. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Spawns a long-running child that dies with this process at the latest:
 * on exit, and, when this process is killed outright, through a watchdog
 * shell that kills the child when its stdin (a pipe from us) reaches EOF.
 */
export function spawnTracked(cmd: string, args: string[], opts: Parameters<typeof spawn>[2] = {}): ChildProcess {
  const child = spawn(cmd, args, opts);
  live.add(child);
  if (child.pid !== undefined) {
    const dog = spawn('sh', ['-c', 'read _ || kill -KILL "$1" 2>/dev/null', 'sh', String(child.pid)], { stdio: ['pipe', 'ignore', 'ignore'] });
    dog.on('error', () => {});
    dog.stdin!.on('error', () => {});
    dog.unref();
    (dog.stdin as unknown as { unref(): void }).unref();
    // Once the child is gone, the watchdog is told so (a line, not EOF) and leaves without killing anything.
    child.on('exit', () => dog.stdin!.end('gone\n'));
  }
  child.on('exit', () => live.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export function killChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
