/**
 * A connection that never comes (a clientPromise or dbPromise that never settles, a mongoose connection never
 * opened): every operation fails after operationTimeoutMS, and one that failed so leaves nothing behind. Before, each
 * stayed in the store's set of operations in flight and kept a closure on the pending promise, so 100k gets cost
 * +152 MB. The count is read from the store's private set; what the calls captured is checked with WeakRefs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import mongoose from 'mongoose';
import { MongoStore, MongoStoreError } from '../src';
import { openTestDb, type TestDb } from './helpers';
import { unhandled, sessionOf } from './fixtures/reliability/kit';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let t: TestDb;
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => {
  await t?.close();
  assert.equal(unhandled, []);
});

const never = () => new Promise<never>(() => {});
const held = (store: MongoStore) => {
  const s = store as unknown as { inFlight?: Set<unknown>; waiters?: { size: number } };
  return { inFlight: s.inFlight?.size ?? 0, waiting: s.waiters?.size ?? 0 };
};

const kinds: Array<[string, () => Record<string, unknown>, RegExp]> = [
  ['clientPromise', () => ({ clientPromise: never() }), /still waiting for the clientPromise to resolve/],
  ['dbPromise', () => ({ dbPromise: never() }), /still waiting for the dbPromise to resolve/],
  ['mongooseConnection', () => ({ mongooseConnection: new mongoose.Mongoose().connection }), /still waiting for the mongoose connection to open/],
];

for (const [kind, connection, why] of kinds) {
  test(`${kind} that never comes: 20000 timed-out gets leave nothing in flight or waiting`, async () => {
    const store = MongoStore.create({ ...connection(), autoRemove: 'disabled', operationTimeoutMS: 100 } as never);
    const N = 20_000;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => store.get(`s${i}`).then(() => undefined, (e) => e as MongoStoreError)));
    const wrong = results.filter((e) => !(e instanceof MongoStoreError && e.code === 'ERR_CONNECT_MONGO_TIMEOUT' && why.test(e.message)));
    assert.is(wrong.length, 0, `not a timeout naming what it waits for: ${wrong[0]?.message ?? wrong[0]}`);
    assert.equal(held(store), { inFlight: 0, waiting: 0 });
    await store.close();
  });
}

test('what a timed-out call was given (its session) is not kept by the pending connection', async () => {
  const store = MongoStore.create({ clientPromise: never(), autoRemove: 'disabled', operationTimeoutMS: 100 });
  const N = 2_000;
  const refs: WeakRef<object>[] = [];
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const session = sessionOf({ payload: 'x'.repeat(100) });
    refs.push(new WeakRef(session));
    calls.push(store.set(`s${i}`, session).then(() => assert.unreachable('set without a client'), (e) => assert.is((e as MongoStoreError).code, 'ERR_CONNECT_MONGO_TIMEOUT')));
  }
  await Promise.all(calls);
  calls.length = 0;
  await new Promise((r) => setImmediate(r));
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  // A count that does not grow with N (the engine may keep the last loop iteration's scope); before the fix: all N.
  assert.ok(alive <= 5, `${alive} of ${N} sessions of timed-out set()s are still held`);
  await store.close();
});

test('operations that wait within operationTimeoutMS run once the clientPromise resolves; the timed-out ones do not', async () => {
  let resolve!: (c: unknown) => void;
  const clientPromise = new Promise((r) => (resolve = r));
  const store = MongoStore.create({ clientPromise: clientPromise as never, dbName: t.dbName, autoRemove: 'disabled', operationTimeoutMS: 1_500 });
  const early = store.set('early', sessionOf({ n: 1 })).then(() => 'resolved', (e) => e);
  // `early` times out while the promise is pending; these three are queued when it resolves.
  await new Promise((r) => setTimeout(r, 1_700));
  const late = [store.set('late', sessionOf({ n: 2 })), store.get('missing')];
  resolve(t.client);
  const [, missing] = await Promise.all(late);
  assert.is(missing, null);
  assert.is(((await early) as MongoStoreError).code, 'ERR_CONNECT_MONGO_TIMEOUT');
  assert.is((await store.get('late'))?.n, 2);
  assert.is(await store.length(), 1, 'the timed-out set was never sent');
  assert.equal(held(store), { inFlight: 0, waiting: 0 });
  await store.close();
});

test.run();
