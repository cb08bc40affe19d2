/** Lazy touches: within touchAfter seconds, touch() of an unmodified session sends no write at all. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MongoStore } from '../src';
import { openTestDb, sleep, type TestDb } from './helpers';

let t: TestDb;
const test = suite('touchAfter');
test.before(async () => void (t = await openTestDb(__filename, { monitorCommands: true })));
test.after(async () => void (await t?.close()));

const updates = () => t.commands.filter((c) => c.commandName === 'update' && c.databaseName === t.dbName).length;
const cookie = () => ({ originalMaxAge: 3_600_000, expires: new Date(Date.now() + 3_600_000), path: '/' });

test('within the window: no write; after it: exactly one, which restarts the window', async () => {
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'lazy', touchAfter: 1, autoRemove: 'disabled' });
  await store.set('s', { cookie: cookie(), n: 1 } as any);
  const doc = await t.db.collection('lazy').findOne({ _id: 's' as any });
  assert.instance(doc!.lastModified, Date);
  // get hands lastModified to express-session, which gives it back to touch().
  const loaded = (await store.get('s')) as any;
  assert.is(loaded.lastModified.getTime(), doc!.lastModified.getTime());
  t.commands.length = 0;
  for (let i = 0; i < 20; i++) await store.touch('s', loaded);
  assert.is(updates(), 0, 'no write inside the window');
  await sleep(1100);
  for (let i = 0; i < 20; i++) await store.touch('s', loaded);
  assert.is(updates(), 1, 'one write once the window has passed');
  const after = await t.db.collection('lazy').findOne({ _id: 's' as any });
  assert.ok(after!.lastModified.getTime() > doc!.lastModified.getTime());
  await store.close();
});

test('lastModified is bookkeeping: never stored inside the session payload', async () => {
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'lazy', touchAfter: 60, autoRemove: 'disabled' });
  await store.set('p', { cookie: cookie(), a: 1 } as any);
  const loaded = (await store.get('p')) as any;
  loaded.a = 2;
  await store.set('p', loaded);
  const doc = await t.db.collection('lazy').findOne({ _id: 'p' as any });
  assert.not.ok('lastModified' in JSON.parse(doc!.session));
  await store.close();
});

test('touchAfter: 0 (default) writes on every touch (concurrent touches with one expiry within a second: one write)', async () => {
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'eager', autoRemove: 'disabled' });
  await store.set('e', { cookie: cookie() } as any);
  t.commands.length = 0;
  for (let i = 1; i <= 3; i++) await store.touch('e', { cookie: { ...cookie(), expires: new Date(Date.now() + i * 3_600_000) } } as any);
  assert.is(updates(), 3);
  await Promise.all([0, 1, 2].map(() => store.touch('e', { cookie: cookie() } as any)));
  assert.is(updates(), 4, 'three concurrent touches with one expiry within a second share one write');
  const doc = await t.db.collection('eager').findOne({ _id: 'e' as any });
  assert.not.ok('lastModified' in doc!);
  await store.close();
});

test.run();
