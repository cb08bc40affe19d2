/**
 * Switching between connect-mongo 6 and this store, both ways, without logging anybody out: the real connect-mongo 6
 * package (dev dependency `connect-mongo6`) and this store on the same collection of the same server.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SessionData, Store } from 'express-session';
import { MongoStore } from '../src';
import { openTestDb, type TestDb } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ConnectMongo6 = require('connect-mongo6').default as { create(o: object): Store & { close(): Promise<void> } };

let t: TestDb;
const test = suite('compat');
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => void (await t?.close()));

const call = <T>(fn: (cb: (err: unknown, v?: T) => void) => void) => new Promise<T | undefined>((res, rej) => fn((e, v) => (e ? rej(e) : res(v))));
const session = (user: string) => ({ cookie: { originalMaxAge: 3_600_000, expires: new Date(Date.now() + 3_600_000).toISOString(), httpOnly: true, path: '/' }, user }) as unknown as SessionData;

for (const stringify of [true, false]) {
  for (const touchAfter of [0, 3600]) {
    const label = `stringify ${stringify}, touchAfter ${touchAfter}`;
    const collectionName = `compat_${stringify}_${touchAfter}`;
    const opts = { collectionName, stringify, touchAfter, autoRemove: 'disabled' as const };

    test(`connect-mongo 6 → this store → connect-mongo 6 (${label})`, async () => {
      const old = ConnectMongo6.create({ ...opts, clientPromise: Promise.resolve(t.client), dbName: t.dbName });
      await call((cb) => old.set('from-old', session('ada'), cb));
      const oldDoc = await t.db.collection(collectionName).findOne({ _id: 'from-old' as any });

      const ours = new MongoStore({ ...opts, client: t.client, dbName: t.dbName });
      const read = (await ours.get('from-old')) as any;
      assert.is(read.user, 'ada', 'a connect-mongo 6 session is readable here');
      await ours.touch('from-old', read);
      read.user = 'ada lovelace';
      await ours.set('from-old', read);
      await ours.set('from-new', session('grace'));
      const ourDoc = await t.db.collection(collectionName).findOne({ _id: 'from-old' as any });
      // the write-order stamp and stampedBy (src/write-order.ts) are the fields of ours connect-mongo 6 does not write
      assert.type(ourDoc!.stamp, 'number');
      assert.equal(Object.keys(ourDoc!).filter((k) => k !== 'stamp' && k !== 'stampedBy').sort(), Object.keys(oldDoc!).sort(), 'same document fields');
      assert.is(typeof ourDoc!.session, typeof oldDoc!.session, 'same session representation');

      const back = (await call((cb) => old.get('from-old', cb))) as any;
      assert.is(back.user, 'ada lovelace', 'connect-mongo 6 reads what this store wrote');
      assert.is(((await call((cb) => old.get('from-new', cb))) as any).user, 'grace');
      await call((cb) => old.touch!('from-new', back, () => cb(null)));
      assert.is(((await ours.get('from-new')) as any).user, 'grace');
      // a session destroyed here leaves a marker (src/write-order.ts) that connect-mongo 6 reads as no session
      await ours.destroy('from-new');
      assert.is(await call((cb) => old.get('from-new', cb)), null, 'connect-mongo 6 reads the marker of a destroy as no session');
      // connect-mongo 6's length() counts every document (expired ones too), so it counts the marker; ours does not
      assert.is(await call((cb) => old.length!(cb)), 2);
      assert.is(await ours.length(), 1);
      await ours.close();
      // Not old.close(): connect-mongo 6 closes the client it was given (ours); with autoRemove disabled it has no timer.
    });
  }
}

test.run();
