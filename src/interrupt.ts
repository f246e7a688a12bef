// Ctrl-C or a TERM while an image is written: undo what is half-done (staging
// directories, temporary blobs, GC roots) before exiting, so an interrupt
// leaves no debris. Cleanups register for the span of the work they guard.
const cleanups = new Set<() => Promise<void>>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`strata: interrupted (${signal}); cleaning up\n`);
      void Promise.allSettled([...cleanups].map((c) => c())).then(() => process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const)[signal]));
    });
  }
}

/** Runs `work`; if the process is interrupted meanwhile, `cleanup` runs before it exits. */
export async function guarded<T>(cleanup: () => Promise<void>, work: () => Promise<T>): Promise<T> {
  install();
  cleanups.add(cleanup);
  try {
    return await work();
  } finally {
    cleanups.delete(cleanup);
  }
}
