/**
 * `await store.ready()` while MongoDB is down keeps its word: it resolves only once the server answered, in every
 * autoRemove mode, and whoever awaits it keeps the process alive meanwhile. Before, the store's retry timers were the
 * only thing left (unref'd), so `npm start` against a server that was down exited with code 0 after one failed
 * attempt, and with 'interval' or 'disabled' ready() resolved with no server at all. Child processes run an app
 * whose only work is `await store.ready()`; a forwarder to the run's server opens the port later.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { MongoStore, MongoStoreError } from '../src';
import { dbNameFor, serverUri, waitFor } from './helpers';
import { freePort, repoRoot } from './server';
import { unhandled, dropDatabase } from './fixtures/reliability/kit';

const dbName = dbNameFor(__filename);
let forwarder: { server: Server; sockets: Set<Socket> } | undefined;

test.after(async () => {
  if (forwarder) {
    for (const s of forwarder.sockets) s.destroy();
    await new Promise((r) => forwarder!.server.close(r));
  }
  await dropDatabase(serverUri(), dbName).catch(() => {});
  assert.equal(unhandled, []);
});

/** The run's URI (credentials and options kept) with 127.0.0.1:port as its one host. */
function uriOnPort(port: number): string {
  const [, prefix, rest] = /^(mongodb:\/\/(?:[^@/]*@)?)[^/?]*(.*)$/.exec(serverUri())!;
  const path = rest.startsWith('/') ? rest : `/${rest}`;
  return `${prefix}127.0.0.1:${port}${path}${path.includes('?') ? '&' : '?'}directConnection=true`;
}

/** From now on, `port` leads to the run's server. */
async function openPort(port: number) {
  const target = new URL(serverUri().replace(/^mongodb(\+srv)?:/, 'http:'));
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 27017), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  forwarder = { server, sockets };
}

interface Child { mode: string; proc: ChildProcess; out: string; err: string; exit?: number | null }

function startChild(port: number, mode: string): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/fixtures/ready-child.ts')], {
    cwd: repoRoot,
    env: { ...process.env, CHILD_URI: uriOnPort(port), CHILD_DB: dbName, CHILD_MODE: mode, DEBUG: 'connect-mongo' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const c: Child = { mode, proc, out: '', err: '' };
  proc.stdout!.on('data', (d) => (c.out += d));
  proc.stderr!.on('data', (d) => (c.err += d));
  proc.on('exit', (code) => (c.exit = code));
  return c;
}

const failedAttempts = (c: Child) => c.err.split('connecting failed').length - 1;
const describe = (c: Child) => `[${c.mode}] exit ${c.exit}; stdout: ${c.out.trim() || '(none)'}; stderr tail: ${c.err.trim().split('\n').slice(-4).join(' | ')}`;

test('await ready() with the server down: no silent exit 0, no early READY; it resolves once the server is up (every mode)', async () => {
  const port = await freePort();
  const children = ['native', 'interval', 'disabled'].map((mode) => startChild(port, mode));
  try {
    // Two failed attempts each: the first one's answer is in, and the store is retrying (or the process is gone).
    await waitFor(() => children.every((c) => failedAttempts(c) >= 2 || c.exit !== undefined), 'two failed connect attempts in every child', 60_000);
    for (const c of children) {
      assert.is(c.exit, undefined, `the child exited while the server was down: ${describe(c)}`);
      assert.not.match(c.out, /READY/, `ready() resolved with no server: ${describe(c)}`);
    }
    await openPort(port);
    await waitFor(() => children.every((c) => c.exit !== undefined), 'every child to finish once the server is up', 60_000);
    for (const c of children) {
      assert.is(c.exit, 0, describe(c));
      const mode = JSON.parse(/READY (.*)/.exec(c.out)?.[1] ?? 'null')?.autoRemove;
      assert.ok(c.mode === 'native' ? ['native', 'interval'].includes(mode) : mode === c.mode, describe(c));
      assert.match(c.out, /SERVES/, describe(c));
    }
  } finally {
    for (const c of children) if (c.exit === undefined) c.proc.kill('SIGKILL');
  }
});

test("an app's own client on a port where nothing listens: ready() stays pending (interval, disabled), close() rejects it", async () => {
  for (const autoRemove of ['interval', 'disabled'] as const) {
    const client = new MongoClient(`mongodb://127.0.0.1:${await freePort()}/`, { serverSelectionTimeoutMS: 200 });
    const store = MongoStore.create({ client, dbName, autoRemove, operationTimeoutMS: 1_000 });
    let settled: unknown;
    const ready = store.ready().then(
      (v) => (settled = v),
      (e) => (settled = e),
    );
    // An operation's whole timeout passes with no server: ready() must still be waiting at its end.
    const op = await store.get('x').catch((e) => e);
    assert.is((op as MongoStoreError).code, 'ERR_CONNECT_MONGO_TIMEOUT', String(op));
    assert.is(settled, undefined, `${autoRemove}: ready() settled with no server: ${JSON.stringify(settled)}`);
    await store.close();
    await ready;
    assert.instance(settled, MongoStoreError, `${autoRemove}: ${settled}`);
    assert.is((settled as MongoStoreError).code, 'ERR_CONNECT_MONGO_CLOSED');
    await client.close();
  }
});

test('native mode closed while its TTL index is still being retried: the mode it reports is no mode at all', async () => {
  const client = new MongoClient(`mongodb://127.0.0.1:${await freePort()}/`, { serverSelectionTimeoutMS: 200 });
  const store = MongoStore.create({ client, dbName, autoRemove: 'native', operationTimeoutMS: 1_000 });
  const ready = store.ready().then(() => 'resolved', (e) => e);
  // the expiry mode's own promise (what ready() ends with once the server answered): it read 'native' after close()
  const mode = (store as unknown as { autoRemover: { ready: Promise<string> } }).autoRemover.ready.then((m) => m, (e) => e);
  assert.is(((await store.get('x').catch((e) => e)) as MongoStoreError).code, 'ERR_CONNECT_MONGO_TIMEOUT');
  await store.close();
  for (const [what, p] of [['ready()', ready], ['the expiry mode', mode]] as const) {
    const r = await p;
    assert.instance(r, MongoStoreError, `${what}: ${r}`);
    assert.is((r as MongoStoreError).code, 'ERR_CONNECT_MONGO_CLOSED', `${what}: ${(r as Error).message}`);
  }
  await client.close();
});

test("an app's own client that works: ready() resolves in every mode", async () => {
  const client = new MongoClient(serverUri(), { maxPoolSize: 2 });
  try {
    for (const autoRemove of ['interval', 'disabled'] as const) {
      const store = MongoStore.create({ client, dbName, autoRemove });
      assert.equal(await store.ready(), { autoRemove });
      await store.close();
    }
  } finally {
    await client.close();
  }
});

test.run();
