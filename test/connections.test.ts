/** Every connection kind, the priority among them, dbName, and who closes what. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import mongoose from 'mongoose';
import { MongoClient } from 'mongodb';
import type { SessionData } from 'express-session';
import { MongoStore, OptionsError } from '../src';
import { dbNameFor, openTestDb, rejects, type TestDb } from './helpers';

let t: TestDb;
const test = suite('connections');
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => void (await t?.close()));

const sess = (v: string) => ({ cookie: { originalMaxAge: null, expires: null, path: '/' }, v }) as unknown as SessionData;
const urlWithDb = () => `${t.uri.replace(/\/?(\?.*)?$/, '')}/${t.dbName}`;

/** set through the store, then read the document with the test's own client: proves where it landed. */
async function roundTrip(store: MongoStore, collection: string, sid: string) {
  await store.set(sid, sess(sid));
  assert.is(((await store.get(sid)) as any).v, sid);
  const doc = await t.db.collection(collection).findOne({ _id: sid as any });
  assert.ok(doc, `document ${sid} should be in ${t.dbName}.${collection}`);
}

test('mongoUrl (+ mongoOptions): the store opens the client, uses the URL database, and close() closes it', async () => {
  const store = MongoStore.create({ mongoUrl: urlWithDb(), mongoOptions: { appName: 'cm-test' }, collectionName: 'by_url', autoRemove: 'disabled' });
  await roundTrip(store, 'by_url', 'u1');
  await store.close();
  assert.is(await t.db.collection('by_url').countDocuments(), 1);
});

test('url is the classic alias of mongoUrl; dbName overrides the URL database', async () => {
  const store = new MongoStore({ url: `${t.uri.replace(/\/?(\?.*)?$/, '')}/elsewhere`, dbName: t.dbName, collection: 'by_alias', autoRemove: 'disabled' });
  await roundTrip(store, 'by_alias', 'u2');
  await store.close();
});

test('client: used as given and never closed by the store', async () => {
  const client = new MongoClient(t.uri);
  const store = MongoStore.create({ client, dbName: t.dbName, collectionName: 'by_client', autoRemove: 'disabled' });
  await roundTrip(store, 'by_client', 'c1');
  await store.close();
  await client.db(t.dbName).command({ ping: 1 }); // still open
  await client.close();
});

test('clientPromise: waited for; its client is not closed by the store', async () => {
  const client = new MongoClient(t.uri);
  const store = MongoStore.create({ clientPromise: client.connect(), dbName: t.dbName, collectionName: 'by_promise', autoRemove: 'disabled' });
  await roundTrip(store, 'by_promise', 'p1');
  await store.close();
  await client.db(t.dbName).command({ ping: 1 });
  await client.close();
});

test('db and dbPromise: a Db is used as it is (and a dbName override picks a sibling database)', async () => {
  const a = MongoStore.create({ db: t.db, collectionName: 'by_db', autoRemove: 'disabled' });
  await roundTrip(a, 'by_db', 'd1');
  const b = MongoStore.create({ dbPromise: Promise.resolve(t.db), collectionName: 'by_db', autoRemove: 'disabled' });
  await roundTrip(b, 'by_db', 'd2');
  const c = MongoStore.create({ db: t.client.db(dbNameFor(__filename, 'other')), dbName: t.dbName, collectionName: 'by_db', autoRemove: 'disabled' });
  await roundTrip(c, 'by_db', 'd3');
  for (const s of [a, b, c]) await s.close();
  await t.db.command({ ping: 1 });
});

test('mongooseConnection: already open, and still opening (the store waits); mongoose keeps its connection', async () => {
  const open = await mongoose.createConnection(urlWithDb()).asPromise();
  const s1 = MongoStore.create({ mongooseConnection: open, collectionName: 'by_mongoose', autoRemove: 'disabled' });
  await roundTrip(s1, 'by_mongoose', 'm1');
  await s1.close();
  assert.is(open.readyState, 1);

  const opening = mongoose.createConnection(urlWithDb());
  assert.is.not(opening.readyState, 1);
  const s2 = MongoStore.create({ mongooseConnection: opening, collectionName: 'by_mongoose', autoRemove: 'disabled' });
  await roundTrip(s2, 'by_mongoose', 'm2');
  await s2.close();
  assert.is(opening.readyState, 1);
  await open.close();
  await opening.close();
});

test('a rejected clientPromise fails operations with its error, without an unhandled rejection', async () => {
  let unhandled: unknown;
  const onUnhandled = (e: unknown) => (unhandled = e);
  process.on('unhandledRejection', onUnhandled);
  const store = MongoStore.create({ clientPromise: Promise.reject(new Error('no client for you')), autoRemove: 'native' });
  await rejects(() => store.get('x'), /no client for you/);
  await store.ready().catch(() => {});
  await new Promise((r) => setTimeout(r, 50));
  process.off('unhandledRejection', onUnhandled);
  assert.is(unhandled, undefined);
  await store.close();
});

test('priority when several are given: mongoUrl, then clientPromise, client, mongooseConnection, db, dbPromise', async () => {
  const other = t.client.db(dbNameFor(__filename, 'other'));
  const store = MongoStore.create({ client: t.client, db: other, dbName: t.dbName, collectionName: 'prio', autoRemove: 'disabled' });
  assert.is(store.options.connection?.kind, 'client');
  await roundTrip(store, 'prio', 'x1');
  await store.close();
  const s2 = new MongoStore({ mongoUrl: urlWithDb(), client: t.client, autoRemove: 'disabled' });
  assert.is(s2.options.connection?.kind, 'url');
  await s2.close();
  await other.dropDatabase();
});

test('no connection, or a wrong one, says what to give', () => {
  assert.throws(() => new MongoStore({} as any), (e: Error) => e instanceof OptionsError && /^connect-mongo: invalid MongoStore options: \/: You must provide either mongoUrl\|clientPromise\|client in options \(or url, db, dbPromise, mongooseConnection\): no connection was given$/.test(e.message));
  const cases: [object, RegExp][] = [
    [{ client: 'mongodb://x' }, /\/client: expected a MongoClient, found the string/],
    [{ db: 'sessions' }, /\/db: expected a mongodb Db .*; to name the database, use dbName/],
    [{ clientPromise: {} }, /\/clientPromise: expected a Promise, found an object/],
    [{ mongooseConnection: 42 }, /\/mongooseConnection: expected a mongoose Connection/],
    [{ mongoUrl: 'http://localhost' }, /\/mongoUrl: expected a connection string starting with mongodb:\/\//],
    [{ mongoUrl: 'mongodb://a', url: 'mongodb://b' }, /\/url: conflicts with mongoUrl/],
  ];
  for (const [opts, re] of cases) assert.throws(() => new MongoStore(opts as any), (e: Error) => e instanceof OptionsError && re.test(e.message), JSON.stringify(opts));
});

test.run();
