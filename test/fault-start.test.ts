/**
 * A store created while nothing listens on the server's port: no crash, no unhandled rejection, operations fail
 * fast with a MongoStoreError, and the same store starts working on its own once a server is started on that port
 * (auto-remove set-up included). Runs its own FerretDB (test/server.ts), so it can choose when the server exists.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MongoStore, MongoStoreError } from '../src';
import { startFerretDB, freePort, tmpRoot, type FerretProcess, type Backend } from './server';
import { dbNameFor, waitFor } from './helpers';
import { unhandled, dropDatabase, startApp, get, sessionOf } from './fixtures/reliability/kit';

const backend: Backend = process.env.TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';
const OP_TIMEOUT = 1500;
let server: FerretProcess | undefined;
let dataDir: string;

test.before(() => void (dataDir = mkdtempSync(join(tmpRoot, 'fault-start-'))));
test.after(async () => {
  if (server) await dropDatabase(server.uri, dbNameFor(__filename)).catch(() => {});
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a store built while the server is down fails fast, then works on its own once the server starts', async () => {
  const port = await freePort();
  const store = MongoStore.create({ mongoUrl: `mongodb://127.0.0.1:${port}/`, dbName: dbNameFor(__filename), operationTimeoutMS: OP_TIMEOUT });
  const events: string[] = [];
  store.on('connect', () => events.push('connect'));
  store.on('disconnect', () => events.push('disconnect'));
  let readyValue: unknown;
  void store.ready().then((r) => (readyValue = r));

  // Every kind of operation, promise and callback style, answers with a MongoStoreError instead of hanging.
  const started = Date.now();
  const ops: Array<[string, Promise<unknown>]> = [
    ['get', store.get('s1')],
    ['set', store.set('s1', sessionOf({ n: 1 }))],
    ['destroy', store.destroy('s1')],
    ['length', store.length()],
    ['clear', store.clear()],
    ['get (callback)', new Promise((resolve, reject) => store.get('s1', (err, v) => (err ? reject(err) : resolve(v))))],
  ];
  // touch is the exception, on purpose: express-session touches after the response went out, so an unreachable
  // server is logged (debug) and touch succeeds without a write; the next touch extends the expiry.
  const settled = Promise.allSettled(ops.map(([, p]) => p)); // observed now: they may fail while touch is awaited
  const touched = await store.touch('s1', sessionOf({ n: 1 })).then(() => 'ok', (e) => e);
  assert.is(touched, 'ok', `touch with no server: ${touched}`);
  const results = await settled;
  for (const [i, r] of results.entries()) {
    const name = ops[i][0];
    if (r.status === 'fulfilled') assert.unreachable(`${name} succeeded with no server`);
    const err = (r as PromiseRejectedResult).reason;
    assert.instance(err, MongoStoreError, `${name}: ${err}`);
    assert.is(err.code, 'ERR_CONNECT_MONGO_TIMEOUT', `${name}: ${err.message}`);
    assert.match(err.message, /MongoStore\.\w+\(\) (timed out|cannot reach MongoDB)/);
  }
  console.log(`\n# server down at start: ${ops.length} operations all failed with MongoStoreError within ${Date.now() - started} ms (operationTimeoutMS ${OP_TIMEOUT})`);
  assert.equal(readyValue, undefined, 'ready() settled before any server existed');
  await waitFor(() => events.includes('disconnect'), "'disconnect' for a server that is down at start");

  // A later failure, after the driver's first connect gave up (it closes the client's topology for good), is still
  // a clear MongoStoreError: the store keeps reconnecting.
  const late = await store.get('s1').catch((e) => e);
  assert.instance(late, MongoStoreError);

  const upAt = Date.now();
  server = await startFerretDB({ backend, port, dataDir });
  await waitFor(() => events.includes('connect'), "'connect' once the server is up", 30_000);
  const connectMs = Date.now() - upAt;
  const mode = await store.ready();
  assert.ok(['native', 'interval'].includes(mode.autoRemove), JSON.stringify(mode));
  if (server.kind === 'ferretdb') assert.is(mode.autoRemove, 'interval', 'FerretDB refuses TTL indexes: the fallback must be in force');

  // The same store object now works.
  await store.set('s1', sessionOf({ n: 2 }));
  assert.is((await store.get('s1'))?.n, 2);
  await store.destroy('s1');
  assert.is(await store.get('s1'), null);
  console.log(`\n# server started after ${upAt - started} ms: 'connect' after ${connectMs} ms, auto-remove ${mode.autoRemove}, same store serves`);
  assert.equal(events, ['disconnect', 'connect']);
  await store.clear();
  await store.close();
  assert.equal(unhandled, []);
});

test('through express-session: a store that is down at start serves requests without sessions, then with', async () => {
  // The server from the previous test stops; a fresh port with nothing on it.
  await server?.stop();
  server = undefined;
  const port = await freePort();
  const store = MongoStore.create({ mongoUrl: `mongodb://127.0.0.1:${port}/`, dbName: dbNameFor(__filename), operationTimeoutMS: OP_TIMEOUT });
  let connected = false;
  let disconnected = false;
  store.on('connect', () => (connected = true));
  store.on('disconnect', () => (disconnected = true));
  const app = await startApp(store);
  try {
    await waitFor(() => disconnected, "'disconnect'");
    const down = await get(`${app.url}/new?v=a`, { timeoutMs: OP_TIMEOUT + 5_000 });
    assert.is(down.status, 503);
    assert.equal(down.body, { error: 'no-session' }, 'express-session ran without the store');
    assert.is(down.cookie, undefined);

    server = await startFerretDB({ backend, port, dataDir });
    await waitFor(() => connected, "'connect'", 30_000);
    const up = await get(`${app.url}/new?v=b`, { timeoutMs: OP_TIMEOUT + 5_000 });
    assert.is(up.status, 200, JSON.stringify(up.body));
    const back = await get(`${app.url}/read`, { cookie: up.cookie, timeoutMs: OP_TIMEOUT + 5_000 });
    assert.equal(back.body, { session: true, v: 'b' });
  } finally {
    await app.close();
    await store.clear().catch(() => {});
    await store.close();
  }
  assert.equal(unhandled, []);
});

test.run();
