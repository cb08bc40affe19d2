/**
 * 'disconnect' / 'connect' come from the driver's topology (real loss and recovery), not from failed operations:
 * a FerretDB SIGKILLed and restarted on the same port and data dir, seen through express-session, which serves
 * requests without a session while the store is gone and with sessions (the old ones included) once it is back.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { MongoStore, MongoStoreError } from '../src';
import { startFerretDB, tmpRoot, type FerretProcess, type Backend } from './server';
import { dbNameFor, waitFor } from './helpers';
import { unhandled, startApp, get, sessionOf, type App, tearDown } from './fixtures/reliability/kit';

const backend: Backend = process.env.TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';
const OP_TIMEOUT = 1500;
const HEARTBEAT = 500;
const DB = dbNameFor(__filename);
let server: FerretProcess | undefined;
let dataDir: string;
let store: MongoStore;
let app: App;
const events: string[] = [];

test.before(async () => {
  dataDir = mkdtempSync(join(tmpRoot, 'fault-events-'));
  server = await startFerretDB({ backend, dataDir });
  // heartbeatFrequencyMS: how soon the driver notices a server that went away (or came back) while no operation runs.
  store = MongoStore.create({ mongoUrl: server.uri, dbName: DB, operationTimeoutMS: OP_TIMEOUT, mongoOptions: { heartbeatFrequencyMS: HEARTBEAT } });
  store.on('connect', () => events.push('connect'));
  store.on('disconnect', () => events.push('disconnect'));
  await store.ready();
  await store.clear();
  app = await startApp(store);
});
test.after(() => tearDown({ app, store, server, dbName: DB, dataDir }));

test('a healthy start emits neither disconnect nor connect; a failed operation emits neither', async () => {
  // An operation that fails on the server (a write the server refuses) is not a lost server.
  const col = await store.collection();
  await col.insertOne({ _id: 'corrupt', session: 42 as unknown as string });
  await store.get('corrupt').then(
    () => assert.unreachable('a corrupt session was returned'),
    (e) => assert.instance(e, MongoStoreError),
  );
  await store.get({ $ne: null } as unknown as string).catch(() => {});
  assert.equal(events, []);
});

test('SIGKILL → disconnect → requests served without a session → restart → connect → the old session is back', async () => {
  const created = await get(`${app.url}/new?v=before-kill`, { timeoutMs: 10_000 });
  assert.is(created.status, 200, JSON.stringify(created.body));
  const cookie = created.cookie;

  // No traffic at all: only the driver's monitoring can notice.
  const killedAt = Date.now();
  await server!.kill();
  await waitFor(() => events.includes('disconnect'), "'disconnect' after SIGKILL", 30_000);
  const disconnectMs = Date.now() - killedAt;

  // express-session without a store: no session, and no store call (so nothing waits for a dead server).
  let storeCalls = 0;
  const origGet = store.get;
  store.get = function (this: MongoStore, ...args: unknown[]) {
    storeCalls++;
    return (origGet as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof store.get;
  try {
    const read = await get(`${app.url}/read`, { cookie, timeoutMs: 10_000 });
    assert.is(read.status, 200);
    assert.equal(read.body, { session: false });
    const fresh = await get(`${app.url}/new?v=during`, { timeoutMs: 10_000 });
    assert.is(fresh.status, 503);
    assert.equal(fresh.body, { error: 'no-session' });
    assert.is(storeCalls, 0, 'express-session called the store while it was disconnected');
  } finally {
    store.get = origGet;
  }

  // Direct calls fail fast with a clear error meanwhile.
  const err = await store.get('anything').catch((e) => e);
  assert.instance(err, MongoStoreError);

  const restartAt = Date.now();
  server = await startFerretDB({ backend, port: server!.port, dataDir });
  await waitFor(() => events.includes('connect'), "'connect' after the restart", 30_000);
  const connectMs = Date.now() - restartAt;
  const back = await get(`${app.url}/read`, { cookie, timeoutMs: 10_000 });
  assert.equal(back.body, { session: true, v: 'before-kill' }, 'the session written before the kill is back');
  const again = await get(`${app.url}/new?v=after`, { timeoutMs: 10_000 });
  assert.is(again.status, 200);
  assert.equal(events, ['disconnect', 'connect']);
  console.log(`\n# ${backend}, heartbeatFrequencyMS ${HEARTBEAT}, no traffic: 'disconnect' ${disconnectMs} ms after SIGKILL, 'connect' ${connectMs} ms after the restart answered`);
  assert.equal(unhandled, []);
});

test('the same with the driver default heartbeat (10 s): events still come, only later', async () => {
  const s2 = MongoStore.create({ mongoUrl: server!.uri, dbName: DB, operationTimeoutMS: OP_TIMEOUT });
  const ev: string[] = [];
  s2.on('connect', () => ev.push('connect'));
  s2.on('disconnect', () => ev.push('disconnect'));
  await s2.set('s2', sessionOf({ n: 1 }));
  const killedAt = Date.now();
  await server!.kill();
  await waitFor(() => ev.includes('disconnect'), "'disconnect' (default heartbeat)", 40_000);
  const disconnectMs = Date.now() - killedAt;
  const restartAt = Date.now();
  server = await startFerretDB({ backend, port: server!.port, dataDir });
  await waitFor(() => ev.includes('connect'), "'connect' (default heartbeat)", 40_000);
  const connectMs = Date.now() - restartAt;
  assert.is((await s2.get('s2'))?.n, 1);
  await s2.close();
  assert.equal(ev, ['disconnect', 'connect']);
  console.log(`\n# ${backend}, driver default heartbeat, no traffic: 'disconnect' ${disconnectMs} ms after SIGKILL, 'connect' ${connectMs} ms after the restart answered`);
  // Let the first store see the server again before the file's after() hook uses it.
  await waitFor(() => events.filter((e) => e === 'connect').length === 2, "the first store's second 'connect'", 40_000);
  assert.equal(unhandled, []);
});

test.run();
