/**
 * A client from another copy of `mongodb` than the store's: the majors the peer range accepts (5, 6 through npm
 * aliases; 7 is ours) and mongoose 9's own bundled copy. Its errors are of other classes than ours, so every check
 * the store makes on them (unreachable server, E11000 upsert race, TTL refusal) must read name/code/labels.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as ours from 'mongodb';
import * as m5 from 'mongodb5';
import * as m6 from 'mongodb6';
import mongoose from 'mongoose';
import { MongoStore, MongoStoreError } from '../src';
import { isDuplicateKey, isUnreachable, isTtlRefusalFinal } from '../src/driver-errors';
import { openTestDb, isFerret, type TestDb } from './helpers';
import { freePort } from './server';
import { unhandled, sessionOf } from './fixtures/reliability/kit';

// mongoose 9 brings its own mongodb (a nested node_modules copy): the one mongoose.connect() uses.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const mongooseDriver = require(require.resolve('mongodb', { paths: [require.resolve('mongoose')] })) as typeof ours;

type Driver = { MongoClient: new (uri: string, opts?: object) => any; MongoServerError: Function };
const copies: Array<[string, Driver]> = [
  ['mongodb 5', m5 as unknown as Driver],
  ['mongodb 6', m6 as unknown as Driver],
  ['mongoose 9 bundled mongodb', mongooseDriver as unknown as Driver],
];

let t: TestDb;
const test = suite('driver copies');
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => {
  await t?.close();
  assert.equal(unhandled, []);
});

test('the copies under test really are other copies (other classes, other versions)', () => {
  for (const [label, d] of copies) assert.is.not(d.MongoServerError, ours.MongoServerError, label);
  assert.is(require('mongodb5/package.json').version.split('.')[0], '5');
  assert.is(require('mongodb6/package.json').version.split('.')[0], '6');
  assert.is.not(require(require.resolve('mongodb/package.json', { paths: [require.resolve('mongoose')] })).version, require('mongodb/package.json').version);
});

for (const [label, driver] of copies) {
  test(`${label}: get/set/touch/destroy/length/all/clear through a client of that copy`, async () => {
    const client = new driver.MongoClient(t.uri);
    const store = MongoStore.create({ client, dbName: t.dbName, collectionName: `ops_${label.replace(/\W/g, '')}`, autoRemove: 'interval' });
    await store.set('a', sessionOf({ n: 1 }));
    await store.set('b', sessionOf({ n: 2 }));
    assert.is((await store.get('a'))?.n, 1);
    await store.touch('a', sessionOf({ n: 1 }));
    assert.is(await store.length(), 2);
    assert.equal((await store.all()).map((s) => s.n).sort(), [1, 2]);
    await store.destroy('a');
    assert.is(await store.get('a'), null);
    await store.clear();
    assert.is(await store.length(), 0);
    await store.close();
    await client.close();
  });

  test(`${label}: errors of that copy are classified by name/code/labels, not by our classes`, async () => {
    const client = new driver.MongoClient(t.uri);
    const down = new driver.MongoClient(`mongodb://127.0.0.1:${await freePort()}/`, { serverSelectionTimeoutMS: 200 });
    try {
      const col = client.db(t.dbName).collection(`classify_${label.replace(/\W/g, '')}`);
      await col.insertOne({ _id: 'dup' });
      const dup = await col.insertOne({ _id: 'dup' }).catch((e: unknown) => e);
      assert.not.instance(dup, ours.MongoServerError, 'a second copy: our instanceof cannot see its errors');
      assert.ok(isDuplicateKey(dup), `E11000 of ${label} not recognised`);
      const ttl = await col.createIndex({ expires: 1 }, { expireAfterSeconds: 0, name: 'expires_1' }).catch((e: unknown) => e);
      if (isFerret) assert.ok(isTtlRefusalFinal(ttl), `FerretDB's refusal of a TTL index (${(ttl as Error).message}) not recognised`);
      const unreachable = await down.db('x').collection('y').findOne({}).catch((e: unknown) => e);
      assert.ok(isUnreachable(unreachable), `${(unreachable as Error).name} of ${label} not seen as unreachable`);
    } finally {
      await client.close();
      await down.close();
    }
  });

  test(`${label}: on FerretDB the refused TTL index still falls back to interval removal`, async () => {
    const client = new driver.MongoClient(t.uri);
    const store = MongoStore.create({ client, dbName: t.dbName, collectionName: `ttl_${label.replace(/\W/g, '')}` });
    store.on('warning', () => {});
    // Before the fix ready() never settled on FerretDB (the refusal was retried forever): a bounded wait says so.
    const mode = await Promise.race([store.ready(), new Promise((_, reject) => setTimeout(() => reject(new Error('ready() did not settle')), 15_000).unref())]);
    assert.equal(mode, { autoRemove: isFerret ? 'interval' : 'native' });
    await store.close();
    await client.close();
  });

  test(`${label}: 300 concurrent set() of one sid: every E11000 race retried, no error`, async () => {
    const client = new driver.MongoClient(t.uri, { maxPoolSize: 20 });
    const store = MongoStore.create({ client, dbName: t.dbName, collectionName: `race_${label.replace(/\W/g, '')}`, autoRemove: 'disabled' });
    for (let round = 0; round < 3; round++) {
      const results = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => store.set(`r${round}`, sessionOf({ i }))));
      const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
      assert.equal(failed.slice(0, 2), [], `${failed.length} of 300 set() failed`);
    }
    await store.close();
    await client.close();
  });

  test(`${label}: touch() while the server is unreachable succeeds without a write; get() is a MongoStoreError`, async () => {
    const client = new driver.MongoClient(`mongodb://127.0.0.1:${await freePort()}/`, { serverSelectionTimeoutMS: 300 });
    const store = MongoStore.create({ client, dbName: 'x', autoRemove: 'disabled', operationTimeoutMS: 5_000 });
    const touched = await store.touch('s', sessionOf({ n: 1 })).then(() => 'ok', (e: Error) => `${e.name}: ${e.message}`);
    assert.is(touched, 'ok');
    const err = await store.get('s').catch((e) => e);
    assert.instance(err, MongoStoreError);
    assert.is(err.code, 'ERR_CONNECT_MONGO_TIMEOUT');
    assert.match(err.message, /cannot reach MongoDB/);
    await store.close();
    await client.close();
  });
}

test('mongoose 9: mongooseConnection and the clientPromise recipe', async () => {
  const uri = new URL(t.uri);
  uri.pathname = `/${t.dbName}`;
  const m = new mongoose.Mongoose();
  const viaConnection = MongoStore.create({ mongooseConnection: m.connection, collectionName: 'by_mongoose' });
  viaConnection.on('warning', () => {});
  const viaPromise = MongoStore.create({ clientPromise: m.connect(uri.toString()).then((x) => x.connection.getClient()) as never, dbName: t.dbName, collectionName: 'by_mongoose' });
  viaPromise.on('warning', () => {});
  for (const store of [viaConnection, viaPromise]) {
    assert.equal(await store.ready(), { autoRemove: isFerret ? 'interval' : 'native' });
    const results = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => store.set('same', sessionOf({ i }))));
    assert.is(results.filter((r) => r.status === 'rejected').length, 0);
    assert.ok(await store.get('same'));
    await store.destroy('same');
    await store.close();
  }
  assert.is(m.connection.readyState, 1, 'the store does not close a mongoose connection');
  await m.disconnect();
});

test.run();
