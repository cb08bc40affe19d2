/**
 * A network that stops answering (the TCP proxy black-holes every byte, connections stay open): all(), entries(),
 * length() and close() each end within a bound set by operationTimeoutMS, not by the driver's 30 s connect timeout
 * or the kernel's. each batch all() or entries() fetches is one operation; close() waits for the operations in
 * flight at most operationTimeoutMS, then for the client's close at most as long, then ends its connections.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MongoStore, MongoStoreError } from '../src';
import { openTestDb, type TestDb } from './helpers';
import { startProxy, type Proxy } from './fixtures/proxy';
import { unhandled, sessionOf } from './fixtures/reliability/kit';

// Long enough for a healthy read of a batch on a busy machine, short next to the driver's 30 s connect timeout.
const OP = 3_000;
/** the bound every call must meet: a multiple of operationTimeoutMS (close() may take 2 of them), plus slack */
const BOUND = 4 * OP + 3_000;
/** more than one batch (the store reads 1000 a batch), so that entries() has a getMore to wait for */
const SESSIONS = 1_200;

let t: TestDb;
const test = suite('bounded operations');
const open: Array<{ proxy: Proxy; store: MongoStore }> = [];

test.before(async () => {
  t = await openTestDb(__filename);
  // One session through a store, copied: the documents are the store's own, written in one command.
  const seed = MongoStore.create({ client: t.client, dbName: t.dbName, autoRemove: 'disabled' });
  await seed.set('s0', sessionOf({ n: 0 }));
  const col = await seed.collection();
  const doc = (await col.findOne({ _id: 's0' }))!;
  await col.insertMany(Array.from({ length: SESSIONS - 1 }, (_, i) => ({ ...doc, _id: `s${i + 1}` })));
  await seed.close();
});
test.after(async () => {
  for (const o of open) {
    await o.store.close().catch(() => {});
    await o.proxy.close();
  }
  await t?.close();
  assert.equal(unhandled, []);
});

/** A store of its own through a proxy of its own, connected and used once before the network goes. */
async function throughProxy() {
  const proxy = await startProxy();
  const store = MongoStore.create({ mongoUrl: proxy.uri, dbName: t.dbName, autoRemove: 'disabled', operationTimeoutMS: OP });
  open.push({ proxy, store });
  await store.ready();
  assert.is((await store.get('s1'))?.cookie?.path, '/');
  return { proxy, store };
}

/** How long `p` takes to settle, and how: its value or its error. */
async function timed<T>(p: Promise<T>): Promise<{ ms: number; value?: T; error?: MongoStoreError }> {
  const started = performance.now();
  try {
    const value = await p;
    return { ms: performance.now() - started, value };
  } catch (e) {
    return { ms: performance.now() - started, error: e as MongoStoreError };
  }
}

function assertTimeout(r: { ms: number; error?: MongoStoreError }, what: string) {
  assert.ok(r.error, `${what} succeeded on a black-holed network`);
  assert.instance(r.error, MongoStoreError, `${what}: ${r.error}`);
  assert.is(r.error!.code, 'ERR_CONNECT_MONGO_TIMEOUT', `${what}: ${r.error!.message}`);
  assert.ok(r.ms < BOUND, `${what} took ${Math.round(r.ms)} ms with operationTimeoutMS ${OP} (bound ${BOUND})`);
  console.log(`# ${what}: ${r.error!.code} after ${Math.round(r.ms)} ms (operationTimeoutMS ${OP})`);
}

test('all() on a black-holed network fails within operationTimeoutMS (each batch is bounded, as in entries())', async () => {
  const { proxy, store } = await throughProxy();
  proxy.blackhole = true;
  assertTimeout(await timed(store.all()), 'all()');
  assertTimeout(await timed(new Promise((resolve, reject) => store.all((err, v) => (err ? reject(err) : resolve(v))))), 'all(callback)');
});

test('entries(): a batch that does not come fails within operationTimeoutMS (the first one and a getMore)', async () => {
  const { proxy, store } = await throughProxy();
  // The first batch is read; the network goes before the second.
  const it = store.entries();
  let read = 0;
  const iterating = timed(
    (async () => {
      for await (const _ of it) {
        if (++read === 1000) proxy.blackhole = true;
      }
    })(),
  );
  const r = await iterating;
  assert.is(read, 1000, 'the first batch was read whole, then the getMore waited');
  assertTimeout(r, 'entries() getMore');

  const { proxy: p2, store: s2 } = await throughProxy();
  p2.blackhole = true;
  assertTimeout(
    await timed(
      (async () => {
        for await (const _ of s2) assert.unreachable('a session came through a black hole');
      })(),
    ),
    'entries() first batch',
  );
});

test('length() on a black-holed network fails within operationTimeoutMS', async () => {
  const { proxy, store } = await throughProxy();
  proxy.blackhole = true;
  assertTimeout(await timed(store.length()), 'length()');
});

test('close() with operations stuck on a black-holed network returns within about 2 × operationTimeoutMS', async () => {
  const { proxy, store } = await throughProxy();
  proxy.blackhole = true;
  // Each has timed out for its caller, but its command is still at the (silent) server: close() would wait for it.
  const stuck = [store.get('s1'), store.length(), store.set('new', sessionOf({ n: 1 })), store.destroy('s2')].map((p) => p.then(() => 'resolved', (e) => e));
  const results = await Promise.all(stuck);
  for (const e of results) assert.is((e as MongoStoreError).code, 'ERR_CONNECT_MONGO_TIMEOUT', String(e));
  const r = await timed(store.close());
  assert.is(r.error, undefined, `close() failed: ${r.error}`);
  assert.ok(r.ms < BOUND, `close() took ${Math.round(r.ms)} ms with operationTimeoutMS ${OP} (bound ${BOUND})`);
  console.log(`# close() with operations stuck: ${Math.round(r.ms)} ms (operationTimeoutMS ${OP})`);
  // Closed means closed: operations after it are refused at once.
  assert.is(((await store.get('s1').catch((e) => e)) as MongoStoreError).code, 'ERR_CONNECT_MONGO_CLOSED');
});

test('close() at once, while the operations still wait for the silent server', async () => {
  const { proxy, store } = await throughProxy();
  proxy.blackhole = true;
  const ops = [store.get('s1'), store.length(), store.all(), store.set('new', sessionOf({ n: 1 }))].map((p) => timed<unknown>(p));
  const r = await timed(store.close());
  assert.is(r.error, undefined, `close() failed: ${r.error}`);
  assert.ok(r.ms < BOUND, `close() took ${Math.round(r.ms)} ms with operationTimeoutMS ${OP} (bound ${BOUND})`);
  for (const o of await Promise.all(ops)) {
    assert.instance(o.error, MongoStoreError, String(o.error));
    assert.ok(['ERR_CONNECT_MONGO_TIMEOUT', 'ERR_CONNECT_MONGO_CLOSED'].includes(o.error!.code), o.error!.message);
    assert.ok(o.ms < BOUND, `an operation took ${Math.round(o.ms)} ms (bound ${BOUND})`);
  }
});

test('close() while an entries() iteration waits on a black-holed network', async () => {
  const { proxy, store } = await throughProxy();
  const it = store.entries();
  await it.next();
  proxy.blackhole = true;
  const next = timed(
    (async () => {
      for await (const _ of it);
    })(),
  );
  const r = await timed(store.close());
  assert.ok(r.ms < BOUND, `close() took ${Math.round(r.ms)} ms (bound ${BOUND})`);
  const n = await next;
  assert.ok(n.error, 'the iteration ended with an error');
  assert.instance(n.error, MongoStoreError, String(n.error));
  assert.ok(['ERR_CONNECT_MONGO_CLOSED', 'ERR_CONNECT_MONGO_TIMEOUT'].includes(n.error!.code), n.error!.message);
  assert.ok(n.ms < BOUND, `the iteration took ${Math.round(n.ms)} ms to end (bound ${BOUND})`);
});

test.run();
