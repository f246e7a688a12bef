// A child process running a TypeScript entry of this repository (the
// conformance scripts, as the tests run them): Node loads it through tsx, a dev
// dependency, resolved here by path so the child's working directory does not matter.
import { createRequire } from 'node:module';

/** Node options that let the process run .ts files whose imports name `.js`. */
export const tsxImport: string[] = ['--import', createRequire(import.meta.url).resolve('tsx')];
