/**
 * "this store" as users run it: src/ compiled by tsc (the same compiler and tsconfig as the published dist/), into
 * .cache/bench-build/ so that the repo's dist/ is never touched while tests run. Not src/ through tsx: its esbuild
 * transform wraps every closure the hot path creates in a __name() call (Object.defineProperty), a cost users do not
 * pay. run.ts calls buildThisStore() before any workload; the children import the build it made.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { MongoStore as MongoStoreClass } from '../../src';

const repoRoot = join(__dirname, '../..');
const buildDir = join(repoRoot, '.cache', 'bench-build');

export function buildThisStore(): void {
  execFileSync(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', join(repoRoot, 'tsconfig.json'), '--outDir', buildDir, '--declaration', 'false', '--sourceMap', 'false'], { stdio: 'inherit' });
}

export function loadThisStore(): typeof MongoStoreClass {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(join(buildDir, 'src', 'index.js')) as typeof import('../../src')).MongoStore;
}
