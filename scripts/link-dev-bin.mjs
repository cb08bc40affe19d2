#!/usr/bin/env node
// npm's `prepare` (run by `npm ci` / `npm install` in a clone): links node_modules/.bin/connect-mongo to
// scripts/connect-mongo-dev.cjs, so that `npx connect-mongo …` works in the clone. npm links the bins of the
// dependencies only, never the project's own. Does nothing where node_modules is not this clone's own (the copy that
// test/pack.test.ts packs borrows the repo's node_modules through a symlink, and must not re-point its link).
import { existsSync, lstatSync, mkdirSync, readlinkSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const modules = join(root, 'node_modules');
const target = join(root, 'scripts', 'connect-mongo-dev.cjs');
if (!existsSync(modules) || realpathSync(modules) !== realpathSync(root) + '/node_modules' || !existsSync(join(root, 'src', 'cli.ts'))) process.exit(0);
const bin = join(modules, '.bin');
const link = join(bin, 'connect-mongo');
const rel = relative(bin, target);
mkdirSync(bin, { recursive: true });
const current = (() => {
  try {
    return lstatSync(link).isSymbolicLink() ? readlinkSync(link) : 'not a link';
  } catch {
    return undefined;
  }
})();
if (current !== rel) {
  rmSync(link, { force: true });
  symlinkSync(rel, link);
}
