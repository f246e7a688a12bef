// The examples as the suite builds them: golden straight from this checkout
// (it is made only of files kept here), hello as its prepare.sh makes it (a git
// copy with Debian's busybox brought in), and copies of either elsewhere.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from './hash.js';
import { repoRoot, sh } from './strata.js';

export type Example = 'golden' | 'hello';

/** The busybox prepare.sh copies into hello: hello's digests follow its bytes. */
export function busyboxSource(): string {
  return process.env.BUSYBOX ?? '/bin/busybox';
}

/** sha256 of that busybox, or why there is none. */
export function busyboxDigest(): { digest: string } | { missing: string } {
  const path = busyboxSource();
  if (!existsSync(path)) return { missing: `${path} not found: apt-get install busybox-static` };
  return { digest: sha256File(path) };
}

/** A self-contained copy of examples/hello in `dir` with the static busybox (see its prepare.sh); returns the flake's directory. */
export function prepareHello(dir: string): string {
  return sh(join(repoRoot, 'examples', 'hello', 'prepare.sh'), [dir]).trim();
}

/** A copy of the golden example in another place (a git repository of its own), to show the location does not matter. */
export function copyGoldenExample(dest: string): string {
  cpSync(join(repoRoot, 'nix'), join(dest, 'nix'), { recursive: true });
  cpSync(join(repoRoot, 'examples', 'golden'), join(dest, 'examples', 'golden'), { recursive: true, verbatimSymlinks: true });
  sh('git', ['init', '-q', '.'], { cwd: dest });
  sh('git', ['add', '-A'], { cwd: dest });
  return join(dest, 'examples', 'golden');
}

/** Where each example is built from: made on first use, in the run's work directory. */
export class Checkouts {
  private readonly made = new Map<string, string>();

  constructor(private readonly work: string) {}

  /** The baseline's flake: golden as users name it in this checkout, relative to the repository root. */
  baseline(example: Example): string {
    return example === 'golden' ? './examples/golden' : this.once('hello', () => prepareHello(join(this.work, 'hello')));
  }

  /** The same example in another place, by an absolute path. */
  elsewhere(example: Example): string {
    return this.once(`${example}-elsewhere`, () => {
      const dest = join(this.work, 'elsewhere', example);
      mkdirSync(dest, { recursive: true });
      return example === 'golden' ? copyGoldenExample(dest) : prepareHello(dest);
    });
  }

  private once(key: string, make: () => string): string {
    let dir = this.made.get(key);
    if (dir === undefined) this.made.set(key, (dir = make()));
    return dir;
  }
}
