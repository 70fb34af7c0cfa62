// Files shipped with the package (stdlib/, examples/data/), found from wherever the calling module
// runs: the sources (runtime/…), the compiled library (dist/runtime/…) or the bundled CLI (dist/cli/).
// Node only: walks up to the folder whose package.json is lily-lang's.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

function packageRoot(from: string): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'lily-lang') return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error(`lily-lang's package.json not found above ${fileURLToPath(from)}`);
    dir = up;
  }
}

/** The absolute path of `rel` inside the installed package; `from` is the caller's import.meta.url. */
export const packagePath = (rel: string, from: string): string => join(packageRoot(from), rel);
