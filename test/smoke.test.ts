import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MongoStore } from '../src';
import { openTestDb, type TestDb } from './helpers';

let t: TestDb;
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => void (await t?.close()));

test('set / get / touch / destroy round trip', async () => {
  const store = MongoStore.create({ client: t.client, dbName: t.dbName });
  const warnings: Error[] = [];
  store.on('warning', (w) => warnings.push(w));
  const sess = { cookie: { originalMaxAge: 60000, expires: new Date(Date.now() + 60000), httpOnly: true, path: '/' }, n: 1 };
  await store.set('abc', sess as any);
  const back = await store.get('abc');
  assert.equal((back as any).n, 1);
  await store.touch('abc', sess as any);
  assert.is(await store.length(), 1);
  await store.destroy('abc');
  assert.is(await store.get('abc'), null);
  console.log('# ready', await store.ready(), warnings.map((w) => w.message));
  await store.close();
});
test.run();
