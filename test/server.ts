/**
 * The one place that decides which MongoDB-wire server the tests run against:
 *   1. MONGODB_URI, when set (a real mongod, Atlas, anything);
 *   2. otherwise FerretDB v1.24.2 built from the Go module proxy (scripts/build-ferretdb.sh), on SQLite in a temp
 *      dir under .tmp/, or on PostgreSQL (127.0.0.1:5432, db `test`) when TEST_BACKEND=postgres;
 *   3. otherwise mongodb-memory-server (it downloads a real mongod where the internet is reachable).
 * If none can be had, startTestServer() rejects with a message saying what to set; tests never skip.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';

export const repoRoot = join(__dirname, '..');
export const tmpRoot = join(repoRoot, '.tmp');

export type Backend = 'sqlite' | 'postgres';
export interface TestServer {
  uri: string;
  /** e.g. "FerretDB v1.24.2 (sqlite)" or "mongod 7.0.14" */
  name: string;
  kind: 'ferretdb' | 'external' | 'memory-server';
  backend?: Backend;
  stop(): Promise<void>;
}

let binary: string | undefined;
/** The test server's binary, built once a process (a restart must not stop the event loop for the build check). */
export function ferretdbBinary(): string {
  return (binary ??= execFileSync('bash', [join(repoRoot, 'scripts/build-ferretdb.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim());
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface FerretOptions {
  backend?: Backend;
  port?: number;
  /** SQLite data dir to reuse (a restart keeps the data); a new temp dir by default */
  dataDir?: string;
  /** PostgreSQL URL for the postgres backend */
  postgresUrl?: string;
}
export interface FerretProcess extends TestServer {
  port: number;
  dataDir?: string;
  child: ChildProcess;
  /** SIGKILL, as a crash would; the data dir stays */
  kill(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts one FerretDB process on 127.0.0.1 and waits until it answers a ping. */
export async function startFerretDB(opts: FerretOptions = {}): Promise<FerretProcess> {
  const bin = ferretdbBinary();
  const backend = opts.backend ?? 'sqlite';
  const port = opts.port ?? (await freePort());
  const ownDir = !opts.dataDir && backend === 'sqlite';
  mkdirSync(tmpRoot, { recursive: true });
  const dataDir = backend === 'sqlite' ? (opts.dataDir ?? mkdtempSync(join(tmpRoot, 'ferretdb-'))) : undefined;
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const args = [`--listen-addr=127.0.0.1:${port}`, '--log-level=error'];
  if (backend === 'sqlite') args.push('--handler=sqlite', `--sqlite-url=file:${dataDir}/`);
  else args.push('--handler=postgresql', `--postgresql-url=${opts.postgresUrl ?? process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'}`);
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DO_NOT_TRACK: '1' } });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { children.delete(child); resolve(code); }));
  const uri = `mongodb://127.0.0.1:${port}/`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const early = await Promise.race([exited, new Promise((r) => setTimeout(() => r('running'), 50))]);
    if (early !== 'running') throw new Error(`FerretDB exited (code ${early}) before it answered: ${stderr.trim()}`);
    const c = new MongoClient(uri, { serverSelectionTimeoutMS: 500 });
    try {
      await c.db('admin').command({ ping: 1 });
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`FerretDB did not answer on ${uri} within 20 s: ${(e as Error).message} ${stderr.trim()}`);
      }
    } finally {
      await c.close();
    }
  }
  const stop = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
  };
  return {
    uri,
    port,
    dataDir,
    child,
    backend,
    kind: 'ferretdb',
    name: `FerretDB v1.24.2 (${backend})`,
    kill: () => stop('SIGKILL'),
    stop: async () => {
      await stop('SIGTERM');
      if (ownDir && dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The server for a whole test run (see the comment at the top). */
export async function startTestServer(): Promise<TestServer> {
  if (process.env.MONGODB_URI) {
    return { uri: process.env.MONGODB_URI, name: 'MONGODB_URI', kind: 'external', stop: async () => {} };
  }
  const backend: Backend = process.env.TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';
  if (process.env.TEST_BACKEND && !['sqlite', 'postgres'].includes(process.env.TEST_BACKEND)) {
    throw new Error(`TEST_BACKEND must be "sqlite" or "postgres", not ${JSON.stringify(process.env.TEST_BACKEND)}`);
  }
  let ferretError: Error;
  try {
    return await startFerretDB({ backend });
  } catch (e) {
    ferretError = e as Error;
  }
  try {
    const { MongoMemoryServer } = await import('mongodb-memory-server-core');
    const mms = await MongoMemoryServer.create();
    return { uri: mms.getUri(), name: 'mongodb-memory-server', kind: 'memory-server', stop: async () => void (await mms.stop()) };
  } catch (e) {
    throw new Error(
      'No MongoDB-wire server for the tests.\n' +
        `  FerretDB (${backend}): ${ferretError.message}\n` +
        `  mongodb-memory-server: ${(e as Error).message}\n` +
        'Set MONGODB_URI to a MongoDB server, or install Go >= 1.24 (FerretDB is built from the Go module proxy)' +
        (backend === 'postgres' ? ', and make sure PostgreSQL listens on 127.0.0.1:5432 with a database "test"' : '') +
        '.',
    );
  }
}
