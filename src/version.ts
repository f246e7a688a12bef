// Strata's version, from package.json: two levels above dist/src/version.js, one
// above src/version.ts when the sources run (the tests).
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  return (
    JSON.parse(readFileSync(new URL(import.meta.url.endsWith('.ts') ? '../package.json' : '../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    }
  ).version;
}
