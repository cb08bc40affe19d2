/**
 * The classic factory `require('connect-mongo')(x)` with the real packages of every generation: express-session
 * (Express 4/5, Connect 3), Express 3 and Connect 2 (`x.session.Store`), Express 2 (Connect 1 underneath). Each gives
 * a class whose instances are that framework's Store, works against the real server, and drives the framework's own
 * session middleware over real HTTP. Wrong arguments get an error that says what to pass.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import request from 'supertest';
import session from 'express-session';
import connectMongo, { MongoStore, MongoStoreError } from '../src';
import { openTestDb, type TestDb } from './helpers';

// Test-only aliases of the old frameworks (package.json: express3@npm:express@3, …); they ship no types.
/* eslint-disable @typescript-eslint/no-require-imports */
const express2 = require('express2');
const express3 = require('express3');
const connect2 = require('connect2');
const express4 = require('express4');
const express5 = require('express');
const connect3 = require('connect');
/* eslint-enable @typescript-eslint/no-require-imports */

let t: TestDb;
const stores: { close(): Promise<void> }[] = [];
test.before(async () => void (t = await openTestDb(__filename)));
// Each test closes its stores (a store listens on the shared client until closed).
test.after.each(async () => {
  for (const s of stores.splice(0)) await s.close();
});
test.after(async () => void (await t?.close()));

/** A store on the test database, in a collection of the test's own; FerretDB's TTL-index warning is expected. */
function open<T extends new (o: any) => any>(Cls: T, collection: string): InstanceType<T> {
  const store = new Cls({ client: t.client, dbName: t.dbName, collectionName: collection });
  store.on('warning', () => {});
  stores.push(store);
  return store;
}

const cookieOf = (res: request.Response) => (res.headers['set-cookie'] as unknown as string[] | undefined)?.[0]?.split(';')[0];
/** The sid inside a signed `connect.sid` cookie: `s:<sid>.<signature>` (Connect 2+). */
const signedSid = (cookie: string) => decodeURIComponent(cookie.split('=')[1]).replace(/^s:/, '').replace(/\.[^.]*$/, '');

const callback = <T>(fn: (cb: (err: unknown, v?: T) => void) => void) =>
  new Promise<T | undefined>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

const sample = (n: number) => ({ cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000), httpOnly: true, path: '/' }, n });

// ---- express-session (Express 4/5, Connect 3) ---------------------------------------------------------------------

test('express-session: the factory gives MongoStore itself, an express-session Store', async () => {
  const Cls = connectMongo(session);
  assert.is(Cls, MongoStore);
  const store = open(Cls, 'es');
  assert.ok(store instanceof session.Store);
  assert.ok(store instanceof connectMongo, 'instanceof the callable default export');
  await callback<void>((cb) => store.set('es-1', sample(1) as any, cb));
  assert.equal(((await callback((cb) => store.get('es-1', cb))) as any).n, 1);
  await callback<void>((cb) => store.destroy('es-1', cb));
  assert.is(await callback((cb) => store.get('es-1', cb)), null);
});

test('the default export is also the constructor, with .create and .MongoStore', async () => {
  const Ctor = connectMongo as unknown as new (o: object) => MongoStore;
  const a = open(Ctor, 'ctor');
  assert.ok(a instanceof MongoStore);
  const b = connectMongo.create({ client: t.client, dbName: t.dbName, collectionName: 'ctor' });
  b.on('warning', () => {});
  stores.push(b);
  assert.ok(b instanceof MongoStore);
  assert.is(connectMongo.MongoStore, MongoStore);
  await a.set('ctor-1', sample(7) as any);
  assert.equal(((await b.get('ctor-1')) as any).n, 7);
});

// ---- the frameworks that carried their own Store class ------------------------------------------------------------

interface Framework {
  name: string;
  /** what the classic README told users to pass */
  arg: any;
  Store: any;
  MemoryStore: any;
  /** the sid the middleware hands the store, from the Set-Cookie value */
  sidOf(cookie: string): string;
  /** an app using the framework's own session middleware with `store`, serving GET /count and GET /regenerate */
  listen(store: unknown): Promise<{ url: string; close(): Promise<void> }>;
}

const routes = (req: any, res: any) => {
  if (req.url === '/regenerate') {
    return req.session.regenerate((err: unknown) => {
      if (err) throw err;
      req.session.n = 100;
      res.end('100');
    });
  }
  req.session.n = (req.session.n ?? 0) + 1;
  res.end(String(req.session.n));
};

async function serve(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => {
      (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      server.close(() => r());
    }),
  };
}

const frameworks: Framework[] = [
  {
    name: 'Express 3',
    arg: express3,
    Store: express3.session.Store,
    MemoryStore: express3.session.MemoryStore,
    sidOf: signedSid,
    listen: (store) => {
      const app = express3();
      app.use(express3.cookieParser());
      app.use(express3.session({ secret: 'legacy-test', store }));
      app.get('/count', routes);
      app.get('/regenerate', routes);
      return serve(require('node:http').createServer(app));
    },
  },
  {
    name: 'Connect 2',
    arg: connect2,
    Store: connect2.session.Store,
    MemoryStore: connect2.session.MemoryStore,
    sidOf: signedSid,
    listen: (store) => {
      const app = connect2();
      app.use(connect2.cookieParser());
      app.use(connect2.session({ secret: 'legacy-test', store }));
      app.use(routes);
      return serve(require('node:http').createServer(app));
    },
  },
  {
    name: 'Express 2',
    arg: express2,
    Store: express2.session.Store,
    MemoryStore: express2.session.MemoryStore,
    // Connect 1 uses the whole cookie value (`<base>.<fingerprint hash>`) as the session id.
    sidOf: (cookie) => decodeURIComponent(cookie.split('=')[1]),
    listen: (store) => {
      // Express 2's app is itself an http.Server (Connect 1's HTTPServer).
      const app = express2.createServer();
      app.use(express2.cookieParser());
      app.use(express2.session({ secret: 'legacy-test', store }));
      app.get('/count', routes);
      app.get('/regenerate', routes);
      return serve(app);
    },
  },
];

for (const fw of frameworks) {
  const coll = fw.name.replace(/\W/g, '').toLowerCase();

  test(`${fw.name}: the factory gives a class whose instances are the framework's Store`, () => {
    const Cls = connectMongo(fw.arg);
    assert.type(Cls, 'function');
    assert.is(connectMongo(fw.arg), Cls, 'one class per framework, not a new one per call');
    const store = open(Cls, coll);
    assert.ok(store instanceof fw.Store, `instanceof ${fw.name}'s session.Store`);
    assert.type(store.on, 'function', 'an EventEmitter, as the middleware needs');
    // The framework's own regenerate/load/createSession are the ones used (its Session and Cookie classes).
    assert.is(store.regenerate, fw.Store.prototype.regenerate);
    assert.is(store.createSession, fw.Store.prototype.createSession);
    assert.type(Cls.create, 'function');
    const created = Cls.create({ client: t.client, dbName: t.dbName, collectionName: coll });
    created.on('warning', () => {});
    stores.push(created);
    assert.ok(created instanceof fw.Store);
  });

  test(`${fw.name}: the store works against the server with callbacks and promises`, async () => {
    const store = open(connectMongo(fw.arg), coll);
    await callback<void>((cb) => store.set('cb-1', sample(1), cb));
    assert.equal(((await callback((cb) => store.get('cb-1', cb))) as any).n, 1);
    await store.set('p-1', sample(2));
    assert.equal(((await store.get('p-1')) as any).n, 2);
    const doc = await t.db.collection(coll).findOne({ _id: 'p-1' as any });
    assert.ok(doc, 'stored in the configured collection');
    assert.ok(doc!.expires instanceof Date);
    await callback<void>((cb) => store.destroy('cb-1', cb));
    await store.destroy('p-1');
    assert.is(await store.get('cb-1'), null);
    assert.is(await t.db.collection(coll).countDocuments({ _id: { $in: ['cb-1', 'p-1'] } as any, session: { $ne: null } }), 0, 'the sessions are gone (a destroy leaves only expired markers without them)');
  });

  test(`${fw.name}: the framework's session middleware keeps a session across requests`, async () => {
    const store = open(connectMongo(fw.arg), coll);
    const app = await fw.listen(store);
    try {
      const agent = request(app.url);
      const first = await agent.get('/count').set('Connection', 'close');
      assert.is(first.status, 200);
      assert.is(first.text, '1');
      const cookie = cookieOf(first);
      assert.ok(cookie, 'a session cookie was set');
      const sid = fw.sidOf(cookie!);
      const doc = await t.db.collection(coll).findOne({ _id: sid as any });
      assert.ok(doc, 'the session document is stored under the cookie\'s sid');

      const second = await agent.get('/count').set('Cookie', cookie!).set('Connection', 'close');
      assert.is(second.text, '2', 'the next request sees the stored session');
      assert.equal(((await store.get(sid)) as any).n, 2);

      // The framework's regenerate (Store.prototype.regenerate → our destroy) removes the old document.
      const third = await agent.get('/regenerate').set('Cookie', cookie!).set('Connection', 'close');
      assert.is(third.text, '100');
      const newCookie = cookieOf(third);
      assert.ok(newCookie && fw.sidOf(newCookie) !== sid, 'a new sid after regenerate');
      assert.is(await t.db.collection(coll).countDocuments({ _id: sid as any, session: { $ne: null } }), 0, 'the old session is gone (a destroy leaves only an expired marker without it)');
      assert.equal(((await store.get(fw.sidOf(newCookie!))) as any).n, 100);
    } finally {
      await app.close();
    }
  });

  test(`${fw.name}: fallbackMemory gives the framework's own MemoryStore (the classic meaning)`, () => {
    const Cls = connectMongo(fw.arg);
    const store = new Cls({ fallbackMemory: true } as any);
    assert.ok(store instanceof fw.MemoryStore, `instanceof ${fw.name}'s MemoryStore`);
  });
}

// ---- wrong arguments ------------------------------------------------------------------------------------------------

function factoryError(arg: unknown): MongoStoreError {
  try {
    connectMongo(arg);
  } catch (e) {
    assert.instance(e, MongoStoreError);
    const err = e as MongoStoreError;
    assert.not.match(err.message, /Cannot read|undefined \(reading|is not a function|no longer bundled/);
    assert.is((err as { code?: string }).code, 'ERR_CONNECT_MONGO_OPTIONS');
    return err;
  }
  return assert.unreachable(`connectMongo(${String(arg)}) did not throw`) as never;
}

const saysWhatToPass = /require\("express-session"\)/;

for (const [label, arg] of [
  ['undefined', undefined],
  ['null', null],
  ['{}', {}],
  ['a number', 42],
  ['a string', 'express-session'],
  ['a plain function', () => {}],
] as const) {
  test(`factory(${label}): a MongoStoreError saying what to pass`, () => {
    const err = factoryError(arg);
    assert.match(err.message, saysWhatToPass);
    assert.match(err.message, /MongoStore\.create\(options\)/);
  });
}

test('factory(store options): says to use new MongoStore / MongoStore.create, never echoes the URL', () => {
  const err = factoryError({ mongoUrl: 'mongodb://user:hunter2@127.0.0.1:1/x' });
  assert.match(err.message, /store options/);
  assert.match(err.message, /MongoStore\.create\(options\)/);
  assert.not.match(err.message, /hunter2/);
});

for (const [label, arg] of [
  ['Express 4 itself', express4],
  ['Express 5 itself', express5],
  ['Connect 3 itself', connect3],
] as const) {
  test(`factory(${label}): explains that sessions now come from express-session`, () => {
    const err = factoryError(arg);
    assert.match(err.message, /no longer carry sessions/);
    assert.match(err.message, saysWhatToPass);
  });
}

test.run();
