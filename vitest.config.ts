// The test runner: vitest on the TypeScript sources (Vite resolves the `./x.js`
// specifiers NodeNext needs to the `./x.ts` beside them), so no tsc step comes
// first. Two projects: unit tests are pure and run in parallel; integration and
// security tests start real registries, servers and nix builds, so they run one
// file at a time and only after the unit tests are done (groupOrder).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Child processes and worker threads (the layer pool, bcrypt) need a real
    // process per file, not a shared thread.
    pool: 'forks',
    // nix builds and registries: minutes, not vitest's 5 s default. A test that
    // needs longer still says so itself.
    testTimeout: 20 * 60_000,
    hookTimeout: 20 * 60_000,
    teardownTimeout: 60_000,
    // Groups run in increasing groupOrder. Not 0: vitest runs a group-0 project
    // limited to one worker (a 2-core machine's default) last, after the others.
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/security/**/*.test.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
