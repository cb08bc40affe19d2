/**
 * require('connect-mongo/connect-mongodb-session'): connect-mongodb-session 5.0.0's calling forms, options, defaults,
 * events, callback and public properties, over this store, against the real server. The side-by-side with the real
 * package is test/cms-differential.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import session from 'express-session';
import { MongoClient, ObjectId, type Collection, type Document } from 'mongodb';
import connectMongoDBSession from '../src/compat/connect-mongodb-session';
import { MongoStore, OptionsError } from '../src';
import { openTestDb, rejects, waitFor, type TestDb } from './helpers';
import { startProxy } from './fixtures/proxy';

const MongoDBStore = connectMongoDBSession(session);
type Store = ReturnType<typeof MongoDBStore>;
let t: TestDb;
const open: Store[] = [];
const test = suite('cms-compat');
test.before(async () => void (t = await openTestDb(__filename)));
test.after.each(async () => {
  for (const s of open.splice(0)) await s.close();
});
test.after(async () => void (await t?.close()));

const unhandled: unknown[] = [];
process.on('unhandledRejection', (e) => unhandled.push(e));

/** A store on the test database; resolves once `connected` (or rejects with the callback's error). */
function store(options: Record<string, unknown> = {}, withNew = true): Promise<Store> {
  return new Promise((resolve, reject) => {
    const o = { uri: t.uri, databaseName: t.dbName, ...options };
    const s: Store = withNew ? new MongoDBStore(o, (e) => (e ? reject(e) : resolve(s))) : MongoDBStore(o, (e) => (e ? reject(e) : resolve(s)));
    s.on('warning', () => {}); // FerretDB refuses TTL indexes: the fallback's warning
    open.push(s);
  });
}
const cookie = (ms: number) => ({ originalMaxAge: ms, expires: new Date(Date.now() + ms), httpOnly: true, path: '/' });
const sess = (user: string, ms = 3_600_000) => ({ cookie: cookie(ms), user }) as unknown as session.SessionData;
const cbCall = <T>(fn: (cb: (e: unknown, v?: T) => void) => void) => new Promise<T | undefined>((res, rej) => fn((e, v) => (e ? rej(e) : res(v))));

test('calling forms: the factory of express-session, with and without new, a callback alone; instanceof either way', async () => {
  assert.is(connectMongoDBSession(session), MongoDBStore, 'one constructor per Store class');
  const a = await store({ collection: 'forms' });
  const b = await store({ collection: 'forms' }, false);
  for (const s of [a, b]) {
    assert.ok(s instanceof MongoDBStore && s instanceof MongoStore && s instanceof session.Store);
  }
  // cms's `new MongoDBStore(callback)`: every default (uri mongodb://127.0.0.1:27017/test, collection sessions)
  const c = new MongoDBStore(() => {});
  open.push(c);
  assert.equal(c.client.options.hosts.map(String), ['127.0.0.1:27017']);
  assert.is(c.db.databaseName, 'test');
  assert.is(c.collection.collectionName, 'sessions');
  assert.is(c.options.ttlMs, 1_209_600_000, 'expires: two weeks');
  assert.throws(() => connectMongoDBSession({}), /expects express-session/);
  // a subclass, as cms's constructor function allows
  class Mine extends (MongoDBStore as unknown as new (o: object) => Store) {}
  const m = new Mine({ uri: t.uri, databaseName: t.dbName, collection: 'forms' });
  open.push(m);
  m.on('warning', () => {});
  assert.ok(m instanceof Mine && m instanceof MongoDBStore);
  // databaseName null (its default): the database the uri names
  const inUri = new MongoDBStore({ uri: t.uri.replace(/\/\?/, `/${t.dbName}?`), collection: 'forms', databaseName: null });
  open.push(inUri);
  inUri.on('warning', () => {});
  assert.is(inUri.db.databaseName, t.dbName);
  await inUri.set('f1', sess('uri-db'));
  assert.ok(await t.db.collection('forms').findOne({ _id: 'f1' as never }), 'stored in the database of the uri');
});

test("Express 3's connect.session.Store, as cms's `connect.Store || connect.session.Store`", async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const express3 = require('express3');
  const Old = connectMongoDBSession(express3);
  const s = new Old({ uri: t.uri, databaseName: t.dbName, collection: 'express3' });
  open.push(s);
  s.on('warning', () => {});
  assert.ok(s instanceof express3.session.Store && s instanceof Old);
  await cbCall((cb) => s.set('x3', sess('old'), cb));
  assert.is(((await cbCall((cb) => s.get('x3', cb))) as unknown as { user: string }).user, 'old');
});

test('public client, db and collection: the driver objects, there before the constructor returns', async () => {
  const s = new MongoDBStore({ uri: t.uri, databaseName: t.dbName, collection: 'props' });
  open.push(s);
  assert.ok(s.client instanceof MongoClient);
  assert.is(s.db.databaseName, t.dbName);
  assert.is(s.collection.collectionName, 'props');
  await cbCall((cb) => s.set('p1', sess('ada'), cb));
  const doc = await s.collection.findOne({ _id: 'p1' as never });
  assert.is((doc?.session as { user: string }).user, 'ada', 'the session as an object, as cms writes it');
  assert.not.match(require('node:util').inspect(s, { depth: 5 }), /MongoClient|hosts/, 'inspecting the store does not show the client');
});

test('connected and the callback once connected; error and the callback on a failed connect; no listener: no crash', async () => {
  const events: string[] = [];
  const ok = new MongoDBStore({ uri: t.uri, databaseName: t.dbName, collection: 'ev' }, (e) => events.push(`cb:${e ?? null}`));
  open.push(ok);
  ok.on('connected', () => events.push('connected'));
  await waitFor(() => events.length === 2, 'connected and the callback');
  assert.equal(events.sort(), ['cb:null', 'connected']);

  const bad = { uri: 'mongodb://u:s3cret@127.0.0.1:1/x', connectionOptions: { serverSelectionTimeoutMS: 300 } };
  const failed = await new Promise<Error>((resolve) => open.push(new MongoDBStore(bad, (e) => resolve(e as Error))));
  assert.match(failed.message, /^Error connecting to db: /);
  assert.not.match(failed.message, /s3cret/);
  const viaEvent = await new Promise<Error>((resolve) => {
    const s = new MongoDBStore(bad);
    open.push(s);
    s.on('error', resolve);
  });
  assert.match(viaEvent.message, /^Error connecting to db: /);
  // neither a listener nor a callback: cms throws out of a promise (unhandled rejection); here a process warning
  const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
  open.push(new MongoDBStore(bad));
  assert.match((await warned).message, /^Error connecting to db: /);
  assert.equal(unhandled, []);
});

test('options: cms names, units and checks; a typo or connect-mongo name gets "did you mean"', () => {
  const err = (o: unknown) => {
    try {
      open.push(new MongoDBStore(o as never));
    } catch (e) {
      assert.ok(e instanceof OptionsError);
      return (e as Error).message;
    }
    throw new Error('expected an OptionsError');
  };
  assert.match(err({ urii: t.uri }), /unknown option "urii" — did you mean "uri"\?/);
  assert.match(err({ mongoUrl: t.uri }), /unknown option "mongoUrl" — did you mean "uri"\?/);
  assert.match(err({ ttl: 60 }), /did you mean "expires"\? \(in milliseconds\)/);
  assert.match(err({ expires: '1000' }), /\/expires: expected a number/);
  assert.match(err({ expiresAfterSeconds: -1 }), /\/expiresAfterSeconds/);
  assert.match(err({ idField: 'a.b' }), /\/idField/);
  assert.match(err({ expiresKey: 'session' }), /\/expiresKey/);
  assert.match(err({ uri: 'mongodb://127.0.0.1/x?w=0' }), /\/uri: w=0/);
  assert.match(err({ uri: 'mongodb://127.0.0.1/x', connectionOptions: { w: 0 } }), /\/connectionOptions/);
  assert.match(err({ uri: 'mongodb://127.0.0.1/x', connectionOptions: { noSuchOption: 1 } }), /\/connectionOptions: the driver refuses it: option nosuchoption is not supported/);
  // cms examples' no-op options (driver 7 refuses them): dropped
  const legacy = new MongoDBStore({ uri: 'mongodb://127.0.0.1:1/x', connectionOptions: { useNewUrlParser: true, useUnifiedTopology: true } });
  open.push(legacy);
  assert.ok(legacy.client instanceof MongoClient);
  const masked = err({ uri: 'mongodb://u:s3cret@127.0.0.1,/x' });
  assert.match(masked, /\/uri/);
  assert.not.match(masked, /s3cret/);
});

test('uri, databaseName, collection, connectionOptions and expires (ms) take effect', async () => {
  const s = await store({ collection: 'opts', expires: 90_000, connectionOptions: { appName: 'cms-compat' } });
  assert.is(s.client.options.appName, 'cms-compat');
  assert.is(s.client.options.serverSelectionTimeoutMS, 10_000);
  assert.is(s.client.options.heartbeatFrequencyMS, 2_000);
  const before = Date.now();
  await s.set('o1', { cookie: { originalMaxAge: null, expires: null, httpOnly: true, path: '/' } } as never);
  const doc = await t.db.collection('opts').findOne({ _id: 'o1' as never });
  const exp = (doc?.expires as Date).getTime();
  assert.ok(exp >= before + 90_000 && exp <= Date.now() + 90_000, 'a cookie without expiry: now + expires ms');
});

/** The documents of a collection, without the store's own write-order fields. */
/** A createIndexes command's key (the driver sends it as a Map). */
const keyOf = (c: Document) => Object.fromEntries(c.indexes[0].key instanceof Map ? c.indexes[0].key : Object.entries(c.indexes[0].key));
const docsOf = async (col: Collection<Document>) => (await col.find({}).toArray()).map(({ stamp: _s, stampedBy: _b, ...d }) => d);

test('idField: the sid in that field, _id an ObjectId, a unique index; every method by it', async () => {
  const s = await store({ collection: 'idf', idField: 'sid' });
  await s.set('a', sess('ada'));
  await s.set('b', sess('bob'));
  await s.set('a', sess('ada2'));
  const docs = await docsOf(t.db.collection('idf'));
  assert.is(docs.length, 2);
  for (const d of docs) assert.ok(d._id instanceof ObjectId && typeof d.sid === 'string' && d.expires instanceof Date);
  assert.is(((await s.get('a')) as unknown as { user: string }).user, 'ada2');
  assert.is(await s.length(), 2);
  assert.equal((await s.all()).map((x) => (x as unknown as { user: string }).user).sort(), ['ada2', 'bob']);
  const ids: string[] = [];
  for await (const e of s) ids.push(e.id);
  assert.equal(ids.sort(), ['a', 'b'], 'the streaming iteration names sessions by sid');
  const before = (await t.db.collection('idf').findOne({ sid: 'b' }))?.expires as Date;
  await s.touch('b', sess('bob', 7_200_000));
  assert.ok(((await t.db.collection('idf').findOne({ sid: 'b' }))?.expires as Date) > before, 'touch moved the expiry, by sid');
  await s.destroy('a');
  assert.is(await s.get('a'), null);
  assert.is(await s.length(), 1);
  const idx = await t.db.collection('idf').indexes();
  assert.ok(idx.some((i) => i.key.sid === 1 && i.unique), 'unique index on the idField');
  await s.clear();
  assert.is(await s.length(), 0);
});

test('expiresKey: the expiry in that field, the TTL index asked on it with expiresAfterSeconds; an expired session is never returned', async () => {
  const commands: Document[] = [];
  const s = await store({ collection: 'exk', expiresKey: 'expiresAt', expiresAfterSeconds: 3600, connectionOptions: { monitorCommands: true } });
  s.client.on('commandStarted', (e) => e.commandName === 'createIndexes' && commands.push(e.command));
  await s.set('e1', sess('eve'));
  const doc = await t.db.collection('exk').findOne({ _id: 'e1' as never });
  assert.ok(doc?.expiresAt instanceof Date && !('expires' in doc));
  // a document cms wrote with this expiresKey, expired: cms's get returns it (it checks `expires`); this store does not
  await t.db.collection('exk').insertOne({ _id: 'old' as never, session: sess('old'), expiresAt: new Date(Date.now() - 1000) });
  assert.is(await s.get('old'), null);
  assert.is(await s.length(), 1);
  // the TTL index: a store started afterwards asks for it (FerretDB refuses TTL indexes: the store then removes expired sessions itself)
  const s2 = new MongoDBStore({ uri: t.uri, databaseName: t.dbName, collection: 'exk2', expiresKey: 'expiresAt', expiresAfterSeconds: 3600, connectionOptions: { monitorCommands: true } });
  open.push(s2);
  s2.on('warning', () => {});
  s2.client.on('commandStarted', (e) => e.commandName === 'createIndexes' && commands.push(e.command));
  await s2.ready();
  assert.ok(commands.some((c) => keyOf(c).expiresAt === 1 && c.indexes[0].expireAfterSeconds === 3600), JSON.stringify(commands));
});

test("Azure Cosmos DB's expiresKey '_ts': the expiry stays in expires, a TTL index is asked on _ts, a _ts of either kind expires", async () => {
  const commands: Document[] = [];
  const s = new MongoDBStore({ uri: t.uri, databaseName: t.dbName, collection: 'cosmos', expiresKey: '_ts', expiresAfterSeconds: 600, connectionOptions: { monitorCommands: true } });
  open.push(s);
  s.on('warning', () => {});
  s.client.on('commandStarted', (e) => e.commandName === 'createIndexes' && commands.push(e.command));
  await new Promise((r) => s.once('connected', r));
  assert.ok(commands.some((c) => keyOf(c)._ts === 1 && c.indexes[0].expireAfterSeconds === 600), JSON.stringify(commands));
  await s.set('c1', sess('cos'));
  const doc = await t.db.collection('cosmos').findOne({ _id: 'c1' as never });
  assert.ok(doc?.expires instanceof Date && !('_ts' in doc), 'never writes _ts (Cosmos DB keeps it)');
  const col = t.db.collection('cosmos');
  // Cosmos DB's _ts: seconds of the last write; expired once expiresAfterSeconds have passed since
  await col.insertOne({ _id: 'n' as never, session: sess('n'), _ts: Math.floor(Date.now() / 1000) - 700 });
  await col.insertOne({ _id: 'm' as never, session: sess('m'), _ts: Math.floor(Date.now() / 1000) - 10 });
  // what cms wrote on a server that stores its _ts: a date
  await col.insertOne({ _id: 'd' as never, session: sess('d'), _ts: new Date(Date.now() - 1000) });
  assert.is(await s.get('n'), null);
  assert.is(((await s.get('m')) as unknown as { user: string }).user, 'm');
  assert.is(await s.get('d'), null);
  assert.is(await s.length(), 2, 'length counts c1 and m: a _ts of either kind in the past is expired');
  assert.equal((await s.all()).map((x) => (x as unknown as { user: string }).user).sort(), ['cos', 'm']);
  // the fallback's removal (FerretDB refuses TTL indexes) removes what a _ts says expired
  await (s as unknown as { autoRemover: { removeExpired(): Promise<unknown> } }).autoRemover.removeExpired();
  assert.equal((await col.find({}).toArray()).map((d) => d._id).sort(), ['c1', 'm']);
});

test('sids are checked, writes are acknowledged (w: 0 refused), close() closes the client and is idempotent', async () => {
  const s = await store({ collection: 'misc' });
  await rejects(() => s.get(''), /session id must be/);
  await s.close();
  await s.close();
  await rejects(() => s.get('x'), /after close/);
  await rejects(() => s.client.db('x').command({ ping: 1 }), /must be connected/);
});

test('idField: writes made at once (before connected) from two stores leave one document a sid (the unique index first)', async () => {
  const o = { uri: t.uri, databaseName: t.dbName, collection: 'idrace', idField: 'sid' };
  const a = new MongoDBStore(o);
  const b = new MongoDBStore(o);
  for (const s of [a, b]) (open.push(s), s.on('warning', () => {}));
  await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).set(`r${i % 3}`, sess(`u${i}`))));
  const docs = await t.db.collection('idrace').find({}).toArray();
  assert.equal(docs.map((d) => d.sid).sort(), ['r0', 'r1', 'r2']);
});

test('idField over cms data with a sid twice: "Error creating index" through the callback and error, then connected', async () => {
  await t.db.collection('iddup').insertMany([{ sid: 'x', session: sess('a') }, { sid: 'x', session: sess('b') }]);
  const seen: string[] = [];
  const s = new MongoDBStore({ uri: t.uri, databaseName: t.dbName, collection: 'iddup', idField: 'sid' }, (e) => seen.push(`cb:${(e as Error)?.message.split(':')[0]}`));
  open.push(s);
  s.on('warning', () => {});
  s.on('error', (e: Error) => seen.push(`error:${e.message.split(':')[0]}`));
  s.on('connected', () => seen.push('connected'));
  await waitFor(() => seen.includes('connected'), 'connected');
  assert.equal(seen.sort(), ['cb:Error creating index', 'connected', 'error:Error creating index']);
});

test('a failed first connect: error and the callback once; the store keeps trying, then connected and working', async () => {
  const proxy = await startProxy();
  try {
    proxy.blackhole = true;
    const seen: string[] = [];
    const s = new MongoDBStore({ uri: proxy.uri, databaseName: t.dbName, collection: 'retry', connectionOptions: { serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 } }, (e) => seen.push(`cb:${e ? 'error' : 'ok'}`));
    open.push(s);
    s.on('warning', () => {});
    s.on('error', () => seen.push('error'));
    s.on('connected', () => seen.push('connected'));
    await waitFor(() => seen.length === 2, 'the error');
    assert.equal(seen.sort(), ['cb:error', 'error']);
    proxy.blackhole = false;
    proxy.cut();
    await waitFor(() => seen.includes('connected'), 'connected after the server came back', 30_000);
    await s.set('r1', sess('back'));
    assert.is(((await s.get('r1')) as unknown as { user: string }).user, 'back');
    assert.equal(seen.filter((x) => x.startsWith('cb')), ['cb:error'], 'the callback once');
    await s.close();
  } finally {
    await proxy.close();
  }
});

test.run();
