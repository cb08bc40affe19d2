/**
 * Differential test: the same scenario through the real connect-mongo 6 (dev dependency `connect-mongo6`) and this
 * store, on the same server, comparing what each method answers, the documents each stores and the events each
 * emits, for every public method and the options of connect-mongo 6's .d.ts outside the codec (timestamps, touchAfter,
 * transformId, ttl, dbName/collectionName, writeOperationOptions). The codec options (crypto, adapters, serialize,
 * stringify) have their own differential file. Where this store differs on purpose, the difference is asserted, so
 * a change of either side shows here; README "Moving from connect-mongo 6" lists them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SessionData, Store } from 'express-session';
import type { Document } from 'mongodb';
import { MongoStore } from '../src';
import { openTestDb, serverUri, type TestDb } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ConnectMongo6 = require('connect-mongo6').default as { create(o: object): Store & { close(): Promise<void>; collectionP: Promise<unknown> } };

let t: TestDb;
const test = suite('differential');
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => void (await t?.close()));

type AnyStore = Store & { close(): Promise<void> | void };
const EVENTS = ['create', 'update', 'set', 'touch', 'destroy', 'get', 'all'];
const call = <T>(fn: (cb: (err: unknown, v?: T | null) => void) => void) => new Promise<T | null | undefined>((res, rej) => fn((e, v) => (e ? rej(e) : res(v))));
// One clock for both stores' sessions, so that their cookies (and so their documents) are equal.
const T0 = Date.now();
const cookie = (ms: number | null) =>
  ms === null ? { originalMaxAge: null, expires: null, httpOnly: true, path: '/' } : { originalMaxAge: ms, expires: new Date(T0 + ms).toISOString(), httpOnly: true, path: '/' };
const sessionOf = (user: string, ms: number | null = 3_600_000) => ({ cookie: cookie(ms), user, n: 1 }) as unknown as SessionData;

/**
 * A stored document with its volatile values (dates) replaced by their type, so two stores' documents compare. The
 * write-order stamp and stampedBy (src/write-order.ts) are the fields of ours connect-mongo 6 does not write: checked, then left out.
 */
function shape(doc: Document | null) {
  if (!doc) return doc;
  const { stamp, stampedBy: _by, ...rest } = doc;
  assert.ok(stamp === undefined || typeof stamp === 'number', 'a stamp, where there is one, is a number');
  return Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, v instanceof Date ? 'Date' : v]));
}

interface Trace {
  steps: Record<string, unknown>;
  docs: Record<string, unknown>;
  events: string[];
}

/** The scenario: every public method, through callbacks as express-session calls them. */
async function scenario(store: AnyStore, collection: string, idOf: (sid: string) => string, ttlCookie: number | null): Promise<Trace> {
  const events: string[] = [];
  for (const e of EVENTS) store.on(e, (sid: unknown) => events.push(`${e}${typeof sid === 'string' ? `:${sid}` : ''}`));
  const col = t.db.collection(collection);
  const steps: Record<string, unknown> = {};
  const docs: Record<string, unknown> = {};
  steps.getMissing = await call((cb) => store.get('s1', cb));
  await call((cb) => store.set('s1', sessionOf('ada', ttlCookie), cb));
  docs.afterCreate = shape(await col.findOne({ _id: idOf('s1') as never }));
  const created = await call<SessionData>((cb) => store.get('s1', cb));
  steps.getCreated = shape(created as Document);
  const changed = { ...created, user: 'ada lovelace' } as SessionData;
  await call((cb) => store.set('s1', changed, cb));
  docs.afterUpdate = shape(await col.findOne({ _id: idOf('s1') as never }));
  await call((cb) => store.set('s2', sessionOf('grace', ttlCookie), cb));
  await call((cb) => store.touch!('s1', changed, cb as never));
  docs.afterTouch = shape(await col.findOne({ _id: idOf('s1') as never }));
  steps.all = ((await call<SessionData[]>((cb) => store.all!(cb as never))) ?? []).map((s) => (s as unknown as { user: string }).user).sort();
  steps.length = await call((cb) => store.length!(cb));
  await call((cb) => store.destroy('s1', cb));
  steps.getDestroyed = await call((cb) => store.get('s1', cb));
  steps.lengthAfterDestroy = await call((cb) => store.length!(cb));
  await call((cb) => store.clear!(cb));
  steps.lengthAfterClear = await call((cb) => store.length!(cb));
  // documents still holding a session: this store leaves markers (session: null) after destroy and clear (README)
  steps.ids = (await col.find({ session: { $ne: null } }, { projection: { _id: 1 } }).toArray()).map((d) => d._id);
  return { steps, docs, events };
}

const variants: { name: string; opts: Record<string, unknown>; idOf?: (sid: string) => string; ttlCookie?: null }[] = [
  { name: 'defaults', opts: {} },
  { name: 'timestamps', opts: { timestamps: true } },
  { name: 'touchAfter', opts: { touchAfter: 3600 } },
  { name: 'transformId', opts: { transformId: (sid: string) => `t-${sid}` }, idOf: (sid) => `t-${sid}` },
  { name: 'ttl with a browser-session cookie', opts: { ttl: 600 }, ttlCookie: null },
  { name: 'writeOperationOptions', opts: { writeOperationOptions: { w: 1, j: false } } },
];

for (const v of variants) {
  test(`connect-mongo 6 and this store answer, store and emit alike: ${v.name}`, async () => {
    const base = { dbName: t.dbName, autoRemove: 'disabled', ...v.opts };
    const theirs = ConnectMongo6.create({ ...base, collectionName: `v6_${v.name}`, mongoUrl: serverUri() });
    const ours = new MongoStore({ ...base, collectionName: `v7_${v.name}`, client: t.client } as never) as unknown as AnyStore;
    const idOf = v.idOf ?? ((sid: string) => sid);
    const ttlCookie = v.ttlCookie === null ? null : 3_600_000;
    try {
      const a = await scenario(theirs, `v6_${v.name}`, idOf, ttlCookie);
      const b = await scenario(ours, `v7_${v.name}`, idOf, ttlCookie);
      assert.equal(b.steps, a.steps, 'every method answers the same');
      assert.equal(b.docs, a.docs, 'the stored documents have the same fields, types and values');
      if (v.name === 'touchAfter') {
        // connect-mongo 6's set() deletes `lastModified` from the session object it is given, so its touch right
        // after a save writes; ours leaves the caller's object alone, sees the save's lastModified and skips.
        assert.ok(a.events.includes('touch:s1') && !b.events.includes('touch:s1'), 'touch right after a save: v6 writes, ours skips');
        a.events = a.events.filter((e) => e !== 'touch:s1');
      }
      assert.equal(b.events, a.events, 'the same events, in the same order, with the same sids');
    } finally {
      await theirs.close();
      await ours.close();
    }
  });
}

test('expires: a touch is visible through get here (connect-mongo 6 answers the cookie it stored before the touch)', async () => {
  const theirs = ConnectMongo6.create({ dbName: t.dbName, collectionName: 'touch_v6', autoRemove: 'disabled', mongoUrl: serverUri() });
  const ours = new MongoStore({ dbName: t.dbName, collectionName: 'touch_v7', autoRemove: 'disabled', client: t.client });
  try {
    const later = { ...sessionOf('ada'), cookie: cookie(7_200_000) } as SessionData;
    for (const s of [theirs, ours] as AnyStore[]) {
      await call((cb) => s.set('s', sessionOf('ada'), cb));
      await call((cb) => s.touch!('s', later, cb as never));
    }
    const v6 = (await call<SessionData>((cb) => theirs.get('s', cb)))!;
    const v7 = (await ours.get('s'))!;
    assert.is(v7.cookie.expires as unknown as string, (later.cookie.expires as unknown as string), 'ours: the touched expiry');
    assert.is.not(v6.cookie.expires as unknown as string, (later.cookie.expires as unknown as string), "connect-mongo 6: the stored cookie's old expiry");
    const doc = await t.db.collection('touch_v7').findOne({ _id: 's' as never });
    assert.is((doc!.expires as Date).toISOString(), later.cookie.expires as unknown as string, 'the document itself carries the touched expiry');
  } finally {
    await theirs.close();
    await ours.close();
  }
});

test('deliberate differences: touch of a missing session, length() of expired sessions, close() of a client it was given', async () => {
  const theirs = ConnectMongo6.create({ dbName: t.dbName, collectionName: 'diff_v6', autoRemove: 'disabled', mongoUrl: serverUri() });
  const ours = new MongoStore({ dbName: t.dbName, collectionName: 'diff_v7', autoRemove: 'disabled', client: t.client });
  try {
    const missing = await call((cb) => theirs.touch!('gone', sessionOf('x'), cb as never)).then(() => 'ok', (e: Error) => e.message);
    assert.is(missing, 'Unable to find the session to touch', 'connect-mongo 6 errors (after the response, in express-session)');
    await ours.touch('gone', sessionOf('x'));
    assert.is(await t.db.collection('diff_v7').countDocuments(), 0, 'ours: a no-op that creates nothing');

    for (const [name, col] of [['v6', 'diff_v6'], ['v7', 'diff_v7']] as const) {
      await t.db.collection(col).insertOne({ _id: `expired-${name}` as never, session: '{"cookie":{}}', expires: new Date(Date.now() - 1000) });
    }
    assert.is(await call((cb) => theirs.length!(cb)), 1, 'connect-mongo 6 counts an expired, not yet removed document');
    assert.is(await ours.length(), 0, 'ours counts live sessions only (as get and all see them)');
  } finally {
    await theirs.close();
    await ours.close();
  }
  // Ours never closes a client it was given: the test's own client still works.
  assert.ok(await t.db.command({ ping: 1 }));
});

test('no connection: both refuse with connect-mongo 6\'s words', () => {
  for (const create of [(o: object) => ConnectMongo6.create(o), (o: object) => MongoStore.create(o as never)]) {
    for (const o of [{}, { clientPromise: undefined }, { client: undefined }]) {
      assert.throws(() => create(o), /You must provide either mongoUrl\|clientPromise\|client/);
    }
  }
});

test('collectionP: the same public promise of the sessions collection', async () => {
  const ours = new MongoStore({ dbName: t.dbName, collectionName: 'collp', autoRemove: 'disabled', client: t.client });
  try {
    const col = (await ours.collectionP) as unknown as { collectionName: string; dbName: string };
    assert.is(col.collectionName, 'collp');
    assert.is(col.dbName, t.dbName);
  } finally {
    await ours.close();
  }
});

test('autoRemoveInterval in fractions of a minute, as connect-mongo 6 accepts', async () => {
  const ours = new MongoStore({ dbName: t.dbName, collectionName: 'frac', autoRemove: 'interval', autoRemoveInterval: 0.5, client: t.client });
  try {
    assert.is(ours.options.autoRemoveIntervalMs, 30_000);
    assert.equal(await ours.ready(), { autoRemove: 'interval' });
  } finally {
    await ours.close();
  }
  assert.throws(() => new MongoStore({ client: t.client, autoRemoveInterval: 0 }), /\/autoRemoveInterval: expected a number > 0 \(minutes/);
});

test.run();
