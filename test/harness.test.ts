import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openTestDb, serverName, type TestDb } from './helpers';

let t: TestDb;
test.before(async () => {
  t = await openTestDb(__filename);
});
test.after(async () => {
  await t?.close();
});

test('the run has a real server and this file a database of its own', async () => {
  const info = await t.db.admin().command({ buildInfo: 1 });
  assert.type(info.version, 'string');
  assert.is(t.dbName, 'connect-mongo-test_harness');
  console.log(`# server: ${serverName}; reports MongoDB ${info.version}`);
});

test('round-trips a document with a string _id and a Date', async () => {
  const col = t.db.collection<{ _id: string; at: Date; n: number }>('roundtrip');
  const at = new Date('2031-02-03T04:05:06.789Z');
  await col.insertOne({ _id: 'sid-1', at, n: 42 });
  const back = await col.findOne({ _id: 'sid-1' });
  assert.ok(back);
  assert.is(back._id, 'sid-1');
  assert.instance(back.at, Date);
  assert.is(back.at.getTime(), at.getTime());
  assert.is(back.n, 42);
  assert.is(await col.findOne({ _id: 'sid-2' }), null);
});

test.run();
