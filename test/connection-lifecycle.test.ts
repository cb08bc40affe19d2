/**
 * A connection that is not there yet, and a store that goes away: a mongoose connection opened after the store (or
 * after a failed first attempt), operations in flight when close() runs, and stores closed before their
 * clientPromise / dbPromise / mongoose connection resolved (nothing of theirs may stay on the app's objects).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import mongoose from 'mongoose';
import { MongoClient } from 'mongodb';
import { MongoStore, MongoStoreError } from '../src';
import { openTestDb, TEST_POOL_SIZE, type TestDb } from './helpers';
import { freePort } from './server';
import { unhandled, sessionOf } from './fixtures/reliability/kit';

let t: TestDb;
const test = suite('connection lifecycle');
const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);
test.before(async () => {
  t = await openTestDb(__filename);
  process.on('warning', onWarning);
});
test.after(async () => {
  process.off('warning', onWarning);
  await t?.close();
  assert.equal(unhandled, []);
});

const dbUri = () => {
  const u = new URL(t.uri);
  u.pathname = `/${t.dbName}`;
  return u.toString();
};
const tick = () => new Promise((r) => setImmediate(r));

test('mongooseConnection: the store is built first, mongoose.connect() follows in the same tick', async () => {
  const m = new mongoose.Mongoose();
  const store = MongoStore.create({ mongooseConnection: m.connection, collectionName: 'late', autoRemove: 'disabled' });
  const connecting = m.connect(dbUri());
  await store.set('a', sessionOf({ n: 1 }));
  assert.is((await store.get('a'))?.n, 1);
  await connecting;
  await store.close();
  await m.disconnect();
});

test('mongooseConnection: a first connect that fails, then one that succeeds: the store uses the second', async () => {
  const m = new mongoose.Mongoose();
  const store = MongoStore.create({ mongooseConnection: m.connection, collectionName: 'late', autoRemove: 'disabled', operationTimeoutMS: 20_000 });
  await m.connect(`mongodb://127.0.0.1:${await freePort()}/`, { serverSelectionTimeoutMS: 200 }).then(
    () => assert.unreachable('connected to a port where nothing listens'),
    () => {},
  );
  const pending = store.set('b', sessionOf({ n: 2 })); // waits: the connection can still come up
  await m.connect(dbUri());
  await pending;
  assert.is((await store.get('b'))?.n, 2);
  await store.close();
  await m.disconnect();
});

test('mongooseConnection never opened: operations time out saying what they wait for', async () => {
  const m = new mongoose.Mongoose();
  const store = MongoStore.create({ mongooseConnection: m.connection, autoRemove: 'disabled', operationTimeoutMS: 300 });
  const err = await store.get('x').catch((e) => e);
  assert.instance(err, MongoStoreError);
  assert.is(err.code, 'ERR_CONNECT_MONGO_TIMEOUT');
  assert.match(err.message, /still waiting for the mongoose connection to open/);
  await store.close();
  assert.is(m.connection.listenerCount('connected') + m.connection.listenerCount('open'), 0, 'close() left a listener on the mongoose connection');
});

test('12 stores closed before their clientPromise / dbPromise / mongoose connection resolved leave no listener', async () => {
  const client = new MongoClient(t.uri);
  await client.connect();
  const base = client.listenerCount('topologyDescriptionChanged');
  const clients: Array<(c: MongoClient) => void> = [];
  const dbs: Array<(d: unknown) => void> = [];
  const m = new mongoose.Mongoose();
  const mBase = m.connection.listenerCount('connected') + m.connection.listenerCount('open');
  const stores: MongoStore[] = [];
  for (let i = 0; i < 12; i++) {
    stores.push(MongoStore.create({ clientPromise: new Promise<MongoClient>((r) => clients.push(r)), dbName: t.dbName, autoRemove: 'disabled' }));
    stores.push(MongoStore.create({ dbPromise: new Promise<any>((r) => dbs.push(r)), autoRemove: 'disabled' }));
    stores.push(MongoStore.create({ mongooseConnection: m.connection, autoRemove: 'disabled' }));
  }
  const closedOps = stores.map((s) => s.get('x').catch((e) => e));
  await Promise.all(stores.map((s) => s.close()));
  // Operations that were waiting for the connection end with the store, not at their timeout.
  for (const e of await Promise.all(closedOps)) assert.is(e?.code, 'ERR_CONNECT_MONGO_CLOSED', String(e));
  for (const r of clients) r(client);
  for (const r of dbs) r(client.db(t.dbName));
  await m.connect(dbUri());
  await tick();
  await tick();
  assert.is(client.listenerCount('topologyDescriptionChanged'), base, 'listeners left on the app client');
  assert.is(m.connection.listenerCount('connected') + m.connection.listenerCount('open'), mBase, 'listeners left on the mongoose connection');
  const mClient = m.connection.getClient();
  assert.is(mClient.listenerCount('topologyDescriptionChanged'), 0, 'listeners left on the mongoose client');
  assert.equal(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map(String), []);
  await m.disconnect();
  await client.close();
});

test('close() with operations in flight on a client the store opened: they finish, or fail with ERR_CONNECT_MONGO_CLOSED', async () => {
  for (let round = 0; round < 3; round++) {
    const store = MongoStore.create({ mongoUrl: dbUri(), collectionName: 'inflight', autoRemove: 'disabled' });
    if (round > 0) await store.get('warm'); // rounds 1-2: an open pool; round 0: close() during the first connect
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      ops.push(store.set(`s${round}-${i}`, sessionOf({ i })));
      ops.push(store.get(`s${round}-${i}`));
      ops.push(store.length());
    }
    await store.close();
    const results = await Promise.allSettled(ops);
    const raw = results.filter((r) => r.status === 'rejected' && !(r.reason instanceof MongoStoreError && r.reason.code === 'ERR_CONNECT_MONGO_CLOSED'));
    assert.equal(raw.map((r) => String((r as PromiseRejectedResult).reason)).slice(0, 3), [], `round ${round}: ${raw.length} operations failed with another error`);
    // Every set() that said "done" is really there.
    const done = results.filter((r, k) => k % 3 === 0 && r.status === 'fulfilled').length;
    assert.is(await t.db.collection('inflight').countDocuments({ _id: { $regex: `^s${round}-` } as never }), done);
  }
});

test('the app closes its own client under running operations: ERR_CONNECT_MONGO_CLOSED, never the raw driver error', async () => {
  const client = new MongoClient(t.uri, { maxPoolSize: TEST_POOL_SIZE });
  const store = MongoStore.create({ client, dbName: t.dbName, collectionName: 'app_closes', autoRemove: 'disabled' });
  const big = 'x'.repeat(2_000_000); // slow enough on the wire to be under way when the client goes
  await store.set('s', sessionOf({ big }));
  const ops = Promise.allSettled([store.get('s'), store.set('s2', sessionOf({ big })), store.touch('s', sessionOf({ big }))]);
  await new Promise((r) => setImmediate(r));
  await client.close();
  for (const r of await ops) {
    if (r.status === 'fulfilled') continue;
    assert.instance(r.reason, MongoStoreError, String(r.reason));
    assert.is(r.reason.code, 'ERR_CONNECT_MONGO_CLOSED', String(r.reason));
  }
  await store.close();
});

test('ready() just before close() on an app client the app then closes: a closed error, no ping sent, no unhandled rejection', async () => {
  const client = new MongoClient(t.uri, { maxPoolSize: TEST_POOL_SIZE, monitorCommands: true });
  await client.connect();
  const store = MongoStore.create({ client, dbName: t.dbName, collectionName: 'ready_after_close', autoRemove: 'disabled' });
  await store.collection();
  const pings: string[] = [];
  client.on('commandStarted', (e) => e.commandName === 'ping' && pings.push(e.commandName));
  const ready = store.ready().then(() => 'ready', (e: MongoStoreError) => e.code);
  const closed = store.close();
  const closing = closed.then(() => client.close());
  assert.is(await ready, 'ERR_CONNECT_MONGO_CLOSED');
  await closing;
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(pings, []);
  assert.equal(unhandled, []);
});

test('entries() iterating across close(): a MongoStoreError, never a raw driver error', async () => {
  const store = MongoStore.create({ mongoUrl: dbUri(), collectionName: 'iter', autoRemove: 'disabled' });
  const col = await store.collection();
  await col.insertMany(Array.from({ length: 1500 }, (_, i) => ({ _id: `e${i}`, session: JSON.stringify(sessionOf({ i })), expires: new Date(Date.now() + 3_600_000) })));
  let seen = 0;
  const err = await (async () => {
    for await (const _ of store) {
      if (seen++ === 0) await store.close();
    }
  })().catch((e) => e);
  if (err !== undefined) {
    assert.instance(err, MongoStoreError, String(err));
    assert.is(err.code, 'ERR_CONNECT_MONGO_CLOSED');
  }
  assert.ok(seen >= 1);
});

test('15 live stores on one client add one topology listener, not 15 (no MaxListenersExceededWarning); closing them removes it', async () => {
  const client = new MongoClient(t.uri, { maxPoolSize: 2 });
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    const base = client.listenerCount('topologyDescriptionChanged');
    const stores = Array.from({ length: 15 }, (_, i) => new MongoStore({ client, dbName: t.dbName, collectionName: `many_${i}`, autoRemove: 'disabled' }));
    await Promise.all(stores.map((s) => s.ready()));
    assert.is(client.listenerCount('topologyDescriptionChanged'), base + 1);
    await stores[0].set('s', sessionOf());
    assert.ok(await stores[0].get('s'));
    for (const s of stores) await s.close();
    assert.is(client.listenerCount('topologyDescriptionChanged'), base);
    await new Promise((r) => setImmediate(r));
    assert.not.ok(warnings.includes('MaxListenersExceededWarning'), warnings.join());
  } finally {
    process.off('warning', onWarning);
    await client.close();
  }
});

test.run();
