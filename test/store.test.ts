/** MongoStore's behaviour against the real server: the express-session contract, expiry, events, options. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SessionData } from 'express-session';
import { MongoStore, MongoStoreError } from '../src';
import { openTestDb, type TestDb } from './helpers';

let t: TestDb;
const stores: MongoStore[] = [];
const future = (ms: number) => new Date(Date.now() + ms);
const cookie = (expires: Date | null = future(3_600_000)) => ({ originalMaxAge: expires ? 3_600_000 : null, expires, httpOnly: true, path: '/' });
const sess = (extra: Record<string, unknown> = {}, expires?: Date | null) => ({ cookie: cookie(expires), ...extra }) as unknown as SessionData;

function make(collectionName: string, opts: Record<string, unknown> = {}) {
  const s = new MongoStore({ client: t.client, dbName: t.dbName, collectionName, autoRemove: 'disabled', ...opts });
  stores.push(s);
  return s;
}

const test = suite('store');
test.before(async () => void (t = await openTestDb(__filename, { monitorCommands: true })));
test.after(async () => {
  for (const s of stores) await s.close();
  await t?.close();
});

test('set stores the connect-mongo document shape; get gives the session back', async () => {
  const store = make('shape');
  const expires = future(60_000);
  await store.set('sid-shape', sess({ user: 'ada', n: 1 }, expires));
  const doc = await t.db.collection('shape').findOne({ _id: 'sid-shape' as any });
  assert.ok(doc);
  // connect-mongo's fields, and the write's stamp (write-order.ts)
  assert.equal(Object.keys(doc).sort(), ['_id', 'expires', 'session', 'stamp', 'stampedBy']);
  assert.type(doc.stamp, 'number');
  assert.type(doc.session, 'string');
  assert.is(JSON.parse(doc.session).user, 'ada');
  assert.instance(doc.expires, Date);
  assert.is(doc.expires.getTime(), expires.getTime());
  const back = (await store.get('sid-shape')) as any;
  assert.is(back.user, 'ada');
  assert.is(back.cookie.expires, expires.toISOString());
});

test('get of an unknown sid is null; a callback gets (null, null)', async () => {
  const store = make('unknown');
  assert.is(await store.get('nope'), null);
  const viaCb = await new Promise((resolve, reject) => store.get('nope', (err, s) => (err ? reject(err) : resolve(s))));
  assert.is(viaCb, null);
});

test('every method takes an optional callback and returns a Promise without one', async () => {
  const store = make('callbacks');
  const cb = <T>(fn: (done: (err: unknown, v?: T) => void) => void) => new Promise<T | undefined>((res, rej) => fn((e, v) => (e ? rej(e) : res(v))));
  assert.is(store.set('a', sess(), () => {}) as unknown, undefined);
  await cb((d) => store.set('b', sess({ k: 2 }), d));
  assert.is(((await cb<SessionData | null>((d) => store.get('b', d))) as any).k, 2);
  await cb((d) => store.touch('b', sess({ k: 2 }), d));
  assert.is(await cb<number>((d) => store.length(d)), 2);
  assert.is((await cb<SessionData[]>((d) => store.all(d)))!.length, 2);
  await cb((d) => store.destroy('b', d));
  await cb((d) => store.clear(d));
  assert.is(await store.length(), 0);
  assert.instance(store.get('x'), Promise);
});

test('expiry: the cookie expires when set, else now + ttl seconds (default 14 days)', async () => {
  const store = make('expiry');
  const before = Date.now();
  await store.set('no-expiry', sess({}, null));
  let doc = await t.db.collection('expiry').findOne({ _id: 'no-expiry' as any });
  const ms = doc!.expires.getTime() - before;
  assert.ok(ms >= 14 * 86400_000 - 1000 && ms <= 14 * 86400_000 + 5000, `expected ~14 days, got ${ms} ms`);
  const short = make('expiry', { ttl: 90 });
  await short.set('ttl-90', sess({}, null));
  doc = await t.db.collection('expiry').findOne({ _id: 'ttl-90' as any });
  const ms90 = doc!.expires.getTime() - before;
  assert.ok(ms90 >= 89_000 && ms90 <= 95_000, `expected ~90 s, got ${ms90} ms`);
});

test('get never returns an expired session, even before it is removed; length and all count only live ones', async () => {
  const store = make('expired');
  await store.set('live', sess({ v: 'live' }));
  await store.set('dead', sess({ v: 'dead' }, future(-1000)));
  await store.set('soon', sess({ v: 'soon' }, future(300)));
  // A document without expires (written by hand or by an old version) never expires, as in connect-mongo.
  await t.db.collection('expired').insertOne({ _id: 'forever' as any, session: JSON.stringify(sess({ v: 'forever' })) });
  assert.is(await t.db.collection('expired').countDocuments(), 4);
  assert.is(await store.get('dead'), null);
  assert.is(((await store.get('soon')) as any).v, 'soon');
  await new Promise((r) => setTimeout(r, 400));
  assert.is(await store.get('soon'), null);
  assert.is(await store.length(), 2);
  const all = (await store.all()) as any[];
  assert.equal(all.map((s) => s.v).sort(), ['forever', 'live']);
  assert.equal((await store.ids()).sort(), ['forever', 'live']);
});

test('events: create, update, set, touch, destroy, each with the sid', async () => {
  const store = make('events');
  const seen: string[] = [];
  for (const ev of ['create', 'update', 'set', 'touch', 'destroy']) store.on(ev, (sid: string) => seen.push(`${ev}:${sid}`));
  await store.set('e1', sess());
  await store.set('e1', sess({ changed: true }));
  await store.touch('e1', sess());
  await store.destroy('e1');
  assert.equal(seen, ['create:e1', 'set:e1', 'update:e1', 'set:e1', 'touch:e1', 'destroy:e1']);
});

test('touch moves expires, changes nothing else, and is a no-op (no error, nothing created) for a missing session', async () => {
  const store = make('touch');
  await store.set('t1', sess({ keep: 'me' }, future(60_000)));
  const later = future(7_200_000);
  await store.touch('t1', sess({ keep: 'ignored' }, later));
  const doc = await t.db.collection('touch').findOne({ _id: 't1' as any });
  assert.is(doc!.expires.getTime(), later.getTime());
  assert.is(JSON.parse(doc!.session).keep, 'me');
  let touched = 0;
  store.on('touch', () => touched++);
  await store.touch('gone', sess());
  assert.is(touched, 0);
  assert.is(await t.db.collection('touch').countDocuments({ _id: 'gone' as any }), 0);
});

test('one server round trip per get / set / touch / destroy, all acknowledged (no w:0)', async () => {
  const store = make('roundtrips');
  await store.get('warm-up');
  const count = async (fn: () => Promise<unknown>) => {
    t.commands.length = 0;
    await fn();
    return t.commands.filter((c) => c.databaseName === t.dbName).map((c) => c.commandName);
  };
  assert.equal(await count(() => store.set('r', sess())), ['update']);
  assert.equal(await count(() => store.get('r')), ['find']);
  assert.equal(await count(() => store.touch('r', sess())), ['update']);
  // a destroy leaves a marker (write-order.ts): an update, one round trip too
  assert.equal(await count(() => store.destroy('r')), ['update']);
  for (const c of t.commands) assert.is.not((c.command as any).writeConcern?.w, 0);
});

test('writeOperationOptions is sent with every write', async () => {
  const store = make('wc', { writeOperationOptions: { w: 'majority', wtimeoutMS: 5000 } });
  t.commands.length = 0;
  await store.set('w', sess());
  await store.touch('w', sess());
  await store.destroy('w');
  await store.clear();
  const writes = t.commands.filter((c) => ['update', 'delete'].includes(c.commandName));
  assert.is(writes.length, 4);
  for (const c of writes) assert.equal((c.command as any).writeConcern, { w: 'majority', wtimeout: 5000 });
});

test('w: 0 is refused wherever it can be given', () => {
  for (const opts of [{ writeOperationOptions: { w: 0 } }, { writeOperationOptions: { writeConcern: { w: 0 } } }, { mongoOptions: { w: 0 } }, { mongoOptions: { writeConcern: { w: 0 } } }]) {
    assert.throws(() => new MongoStore({ client: t.client, ...(opts as object) }), /w: 0 \(unacknowledged writes\) is refused/);
  }
  assert.throws(() => new MongoStore({ mongoUrl: 'mongodb://127.0.0.1:1/x?w=0' }), /w=0/);
});

test('timestamps: createdAt on insert only, updatedAt on every write', async () => {
  const store = make('stamps', { timestamps: true });
  await store.set('ts', sess());
  const first = await t.db.collection('stamps').findOne({ _id: 'ts' as any });
  assert.instance(first!.createdAt, Date);
  assert.instance(first!.updatedAt, Date);
  await new Promise((r) => setTimeout(r, 20));
  await store.set('ts', sess({ again: 1 }));
  await store.touch('ts', sess());
  const second = await t.db.collection('stamps').findOne({ _id: 'ts' as any });
  assert.is(second!.createdAt.getTime(), first!.createdAt.getTime());
  assert.ok(second!.updatedAt.getTime() > first!.updatedAt.getTime());
});

test('stringify: false stores a sub-document (Dates stay Dates) and reads it back', async () => {
  const store = make('objects', { stringify: false });
  const when = new Date('2030-01-01T00:00:00Z');
  await store.set('o', sess({ when, nested: { a: [1, 2] } }));
  const doc = await t.db.collection('objects').findOne({ _id: 'o' as any });
  assert.type(doc!.session, 'object');
  assert.instance(doc!.session.when, Date);
  const back = (await store.get('o')) as any;
  assert.equal(back.nested, { a: [1, 2] });
  assert.is(back.when.getTime(), when.getTime());
});

test('serialize / unserialize are used both ways', async () => {
  const store = make('custom', {
    serialize: (s: any) => `v1|${JSON.stringify(s)}`,
    unserialize: (raw: string) => ({ ...JSON.parse(raw.slice(3)), viaUnserialize: true }),
  });
  await store.set('c', sess({ x: 1 }));
  const doc = await t.db.collection('custom').findOne({ _id: 'c' as any });
  assert.ok(String(doc!.session).startsWith('v1|'));
  assert.equal(((await store.get('c')) as any).viaUnserialize, true);
});

test('unserialize may answer any thenable (another library\'s promise): get and entries() apply the stored expiry to the session', async () => {
  const store = make('thenable', {
    serialize: (s: any) => JSON.stringify(s),
    unserialize: (raw: string) => ({ then: (resolve: (v: unknown) => void) => resolve(JSON.parse(raw)) }),
  });
  await store.set('t', sess({ x: 1 }));
  const later = future(7_200_000);
  await store.touch('t', sess({ x: 1 }, later));
  const got = (await store.get('t')) as any;
  assert.is(got.x, 1);
  assert.is(new Date(got.cookie.expires).getTime(), later.getTime(), 'the touched expiry, not the cookie as first saved');
  for await (const entry of store.entries()) assert.is(new Date((entry.session as any).cookie.expires).getTime(), later.getTime());
});

test('unserialize answering a string with touchAfter on: get gives the string (the app\'s business), no TypeError', async () => {
  const store = make('string-unserialize', { touchAfter: 60, serialize: (s: any) => JSON.stringify(s), unserialize: (raw: string) => `read:${raw.length}` });
  await store.set('s', sess({ x: 1 }));
  assert.match(String(await store.get('s')), /^read:\d+$/);
});

test('transformId decides the stored _id; all operations go through it', async () => {
  const store = make('transform', { transformId: (sid: string) => `app1:${sid}` });
  await store.set('abc', sess({ y: 1 }));
  assert.ok(await t.db.collection('transform').findOne({ _id: 'app1:abc' as any }));
  assert.is(((await store.get('abc')) as any).y, 1);
  assert.equal(await store.ids(), ['app1:abc']);
  await store.destroy('abc');
  const left = await t.db.collection('transform').find().toArray();
  assert.equal(left.map((d) => [d._id, d.session]), [['app1:abc', null]], 'only the marker of the destroyed session is left, under the transformed _id');
});

test('entries() / for await iterate live sessions with their ids and expiry', async () => {
  const store = make('iterate');
  for (let i = 0; i < 25; i++) await store.set(`s${i}`, sess({ i }));
  await store.set('old', sess({}, future(-5000)));
  const seen: string[] = [];
  for await (const e of store) {
    assert.instance(e.expires, Date);
    assert.is((e.session as any).i, Number(e.id.slice(1)));
    seen.push(e.id);
  }
  assert.is(seen.length, 25);
  assert.not.ok(seen.includes('old'));
});

test('clear removes every session, keeps the indexes, and is fine on a missing collection', async () => {
  const store = make('clearme');
  await store.set('a', sess());
  await t.db.collection('clearme').createIndex({ marker: 1 });
  await store.clear();
  assert.is(await t.db.collection('clearme').countDocuments({ session: { $ne: null } }), 0, 'no document holds a session');
  assert.is(await t.db.collection('clearme').countDocuments(), 1, 'the session left a marker (a late write of it lands on nothing)');
  const names = (await t.db.collection('clearme').listIndexes().toArray()).map((i) => i.name);
  assert.ok(names.includes('marker_1'));
  await make('never-created').clear();
  await store.clear();
});

test('close: idempotent, never closes a client it did not open, and later operations fail clearly', async () => {
  const store = make('closing');
  await store.set('a', sess());
  await store.close();
  await store.close();
  await new Promise<void>((resolve, reject) => store.close((e) => (e ? reject(e) : resolve())));
  // The test's client still works: close() left it alone.
  assert.is(await t.db.collection('closing').countDocuments(), 1);
  for (const op of [() => store.get('a'), () => store.set('a', sess()), () => store.length()]) {
    try {
      await op();
      assert.unreachable('should have failed');
    } catch (e) {
      assert.instance(e, MongoStoreError);
      assert.match((e as Error).message, /called after close\(\)/);
      assert.is((e as MongoStoreError).code, 'ERR_CONNECT_MONGO_CLOSED');
    }
  }
});

test('the store is generic over the session type', async () => {
  interface MySession extends SessionData {
    cart: string[];
  }
  const store = new MongoStore<MySession>({ client: t.client, dbName: t.dbName, collectionName: 'typed', autoRemove: 'disabled' });
  stores.push(store as unknown as MongoStore);
  await store.set('typed', { cookie: cookie() as any, cart: ['apple'] } as MySession);
  const back = await store.get('typed');
  assert.equal(back?.cart, ['apple']);
});

test.run();
