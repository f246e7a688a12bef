#!/usr/bin/env node
// Strata from its TypeScript sources, as the tests run it: bin/strata.js's job
// for src/cli/main.ts instead of dist/src/cli/main.js, so no compile step comes first.
// tsx (a dev dependency) loads the .ts files the `.js` specifiers name; the
// shipped bin/strata.js never comes here.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
