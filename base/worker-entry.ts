// A worker thread's entry file, beside the module that starts it. From dist/
// that is the compiled .js, run as is. From the TypeScript sources (the tests
// run them under vitest) it is the .ts, and the thread loads it through tsx, a
// dev dependency: the shipped package never takes that branch, so it never
// needs tsx.
import { createRequire } from 'node:module';

export interface WorkerEntry {
  url: URL;
  /** Node options for the thread; undefined keeps the default (the process's own). */
  execArgv?: string[];
}

/** `name` is the compiled file's name (`./worker.js`); `from` is the caller's import.meta.url. */
export function workerEntry(name: string, from: string): WorkerEntry {
  if (!from.endsWith('.ts')) return { url: new URL(name, from) };
  const tsx = createRequire(from).resolve('tsx');
  return { url: new URL(name.replace(/\.js$/, '.ts'), from), execArgv: [...process.execArgv, '--import', tsx] };
}
