/**
 * The browser for the example app's browser test, with no root and nothing installed by hand:
 *   1. CHROMIUM_PATH, when set (any Chromium or Chrome);
 *   2. otherwise the headless Chromium that the @sparticuz/chromium dev dependency ships brotli-packed inside its npm
 *      tarball, unpacked once into .cache/chromium/<version>/ (with the SwiftShader libraries it loads beside it).
 * It needs the system's libnss3 and libnspr4 (Debian: libnss3), which a Node machine normally has.
 */
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';
import { repoRoot } from './server';

export interface Browser {
  path: string;
  /** where it came from, for the test's log line */
  source: string;
}

/**
 * Flags that keep the browser off the network beyond 127.0.0.1 (no DNS at all: every host name but 127.0.0.1 fails
 * to resolve), with no background services, updates, sync or crash uploads. Playwright adds some of them itself;
 * they are listed here so that the guarantee does not depend on its defaults.
 */
export const OFFLINE_ARGS = [
  '--no-sandbox', // no setuid helper: the tests run as any user
  '--disable-gpu',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--disable-sync',
  '--disable-quic',
  '--disable-breakpad',
  '--dns-prefetch-disable',
  '--no-pings',
  '--no-first-run',
  '--no-default-browser-check',
  '--no-proxy-server',
];

export async function findBrowser(): Promise<Browser> {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH is set to ${fromEnv}, which does not exist`);
    return { path: fromEnv, source: 'CHROMIUM_PATH' };
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`@sparticuz/chromium ships a Chromium for linux-x64 only (this is ${process.platform}-${process.arch}): set CHROMIUM_PATH to a Chromium or Chrome`);
  }
  const pkgDir = join(dirname(require.resolve('@sparticuz/chromium')), '..');
  const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version as string;
  const dir = join(repoRoot, '.cache', 'chromium', version);
  const exe = join(dir, 'chromium');
  if (!existsSync(exe)) await unpack(join(pkgDir, 'bin'), dir);
  return { path: exe, source: `@sparticuz/chromium ${version}, unpacked in ${join('.cache', 'chromium', version)}` };
}

/** Unpacks into a temp dir renamed into place, so that a concurrent or interrupted unpack never leaves half a browser. */
async function unpack(bin: string, dir: string): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await pipeline(createReadStream(join(bin, 'chromium.br')), createBrotliDecompress(), createWriteStream(join(tmp, 'chromium'), { mode: 0o755 }));
    // The GL libraries (SwiftShader) Chromium loads from its own directory; without them it dies at start.
    await untarBrotli(join(bin, 'swiftshader.tar.br'), tmp);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      if (!existsSync(join(dir, 'chromium'))) throw e; // else another process won the race: use its copy
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function untarBrotli(file: string, into: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-x', '-C', into], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    tar.stderr.on('data', (d) => (err += d));
    tar.on('error', reject);
    // tar's exit status decides: tar may close its stdin at the archive's end marker before the padding after it is
    // written, which the pipeline reports as "Premature close" although everything was extracted.
    let piped: Error | undefined;
    tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar -x of ${file} failed (${code}): ${err.trim()}${piped ? ` (${piped.message})` : ''}`))));
    pipeline(createReadStream(file), createBrotliDecompress(), tar.stdin).catch((e: Error) => (piped = e));
  });
}
