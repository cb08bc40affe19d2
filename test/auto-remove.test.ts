/**
 * Removal of expired sessions. FerretDB refuses TTL indexes (code 238), so there we check the command the store
 * sends (driver command monitoring) and the fallback; on a real mongod the same test sees the index itself.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MongoClient } from 'mongodb';
import { MongoStore } from '../src';
import { openTestDb, isFerret, waitFor, type TestDb } from './helpers';

let t: TestDb;
const test = suite('auto-remove');
test.before(async () => void (t = await openTestDb(__filename, { monitorCommands: true })));
test.after(async () => void (await t?.close()));

const doc = (id: string, offsetMs: number) => ({ _id: id as any, session: '{"cookie":{}}', expires: new Date(Date.now() + offsetMs) });
const commandsOn = (collection: string, name: string) =>
  t.commands.filter((c) => c.commandName === name && (c.command as any)[name] === collection && c.databaseName === t.dbName);

function capture(store: MongoStore) {
  const warnings: (Error & { code?: string })[] = [];
  store.on('warning', (w) => warnings.push(w));
  return warnings;
}

test("native (default): one TTL index {expires: 1}, expireAfterSeconds 0, created once at start", async () => {
  t.commands.length = 0;
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'native' });
  const warnings = capture(store);
  const { autoRemove } = await store.ready();
  const sent = commandsOn('native', 'createIndexes');
  assert.is(sent.length, 1);
  const indexes = (sent[0].command as any).indexes.map((i: any) => ({ ...i, key: Object.fromEntries(i.key instanceof Map ? i.key : Object.entries(i.key)) }));
  assert.equal(indexes, [{ key: { expires: 1 }, name: 'expires_1', expireAfterSeconds: 0 }]);
  if (isFerret) {
    assert.is(autoRemove, 'interval');
    assert.is(warnings.length, 1);
    assert.is(warnings[0].code, 'CONNECT_MONGO_TTL_FALLBACK');
    assert.match(warnings[0].message, /refused the TTL index on "expires" \(code 238/);
    assert.match(warnings[0].message, /every 10 min instead/);
  } else {
    assert.is(autoRemove, 'native');
    assert.is(warnings.length, 0);
    const idx = (await t.db.collection('native').listIndexes().toArray()).find((i) => i.name === 'expires_1');
    assert.is(idx?.expireAfterSeconds, 0);
  }
  // The store works either way.
  await store.set('s', { cookie: { originalMaxAge: null, expires: null } } as any);
  assert.ok(await store.get('s'));
  await store.close();
});

test('an existing, conflicting index on expires does not break the store: it falls back with one warning', async () => {
  await t.db.collection('conflict').createIndex({ expires: 1 }, { name: 'expires_1', unique: false });
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'conflict' });
  const warnings = capture(store);
  assert.is((await store.ready()).autoRemove, 'interval');
  assert.is(warnings.length, 1);
  assert.match(warnings[0].message, /code (85|86|238)/);
  await store.set('c', { cookie: { originalMaxAge: null, expires: null } } as any);
  assert.ok(await store.get('c'));
  await store.close();
});

test('without a warning listener, the fallback warning goes to process.emitWarning (once)', async () => {
  await t.db.collection('conflict2').createIndex({ expires: 1 }, { name: 'expires_1', unique: false });
  const seen: Error[] = [];
  const onWarning = (w: Error) => (w as any).code === 'CONNECT_MONGO_TTL_FALLBACK' && seen.push(w);
  process.on('warning', onWarning);
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'conflict2' });
  await store.ready();
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.is(seen.length, 1); // a conflicting index refuses the TTL index on any server
  await store.close();
});

test('three stores on one server and collection: one fallback warning in the process, not three', async () => {
  await t.db.collection('conflict3').createIndex({ expires: 1 }, { name: 'expires_1', unique: false });
  const seen: Error[] = [];
  const onWarning = (w: Error) => (w as any).code === 'CONNECT_MONGO_TTL_FALLBACK' && seen.push(w);
  process.on('warning', onWarning);
  const other = new MongoClient(t.uri); // another client on the same server: still the same server and collection
  const stores = [
    new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'conflict3' }),
    new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'conflict3' }),
    new MongoStore({ client: other, dbName: t.dbName, collectionName: 'conflict3' }),
  ];
  for (const s of stores) assert.is((await s.ready()).autoRemove, 'interval');
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.is(seen.length, 1);
  for (const s of stores) await s.close();
  await other.close();
});

test('interval: an acknowledged deleteMany of expired sessions every autoRemoveInterval; live ones stay', async () => {
  const col = t.db.collection('interval');
  await col.insertMany([doc('old1', -60_000), doc('old2', -1), doc('live', 60_000)]);
  t.commands.length = 0;
  // 0.005 min = 300 ms: fractions of a minute are accepted (tests, and apps that want sub-minute removal)
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'interval', autoRemove: 'interval', autoRemoveInterval: 0.005 });
  assert.is((await store.ready()).autoRemove, 'interval');
  await waitFor(async () => (await col.countDocuments()) === 1, 'expired sessions removed');
  assert.ok(await col.findOne({ _id: 'live' as any }));
  const deletes = commandsOn('interval', 'delete');
  assert.ok(deletes.length >= 1);
  const cmd = deletes[0].command as any;
  assert.ok(cmd.deletes[0].q.expires.$lt instanceof Date);
  assert.is.not(cmd.writeConcern?.w, 0);
  assert.is(commandsOn('interval', 'createIndexes').length, 0);
  // The timer does not keep the process alive, and runs never overlap.
  const remover = (store as any).autoRemover;
  assert.is(remover.timer.hasRef(), false);
  await store.close();
  t.commands.length = 0;
  const a = remover.removeExpired();
  const b = remover.removeExpired();
  assert.is(a, b);
  await a;
  assert.is(commandsOn('interval', 'delete').length, 1);
  assert.is(remover.stopped, true);
});

test('interval, many instances: no removal at boot; each tick removes after its own random delay (up to 40 % of the interval)', async () => {
  t.commands.length = 0;
  const stores = Array.from({ length: 8 }, () => new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'jitter', autoRemove: 'interval', autoRemoveInterval: 10 }));
  await Promise.all(stores.map((s) => s.ready()));
  await new Promise((r) => setTimeout(r, 50)); // a removal sent at boot would have been sent by now
  assert.is(commandsOn('jitter', 'delete').length, 0, 'no instance removes at boot');
  for (const s of stores) await s.close();

  // 300 ms interval, so that a few ticks happen: each draws a delay of its own in [0, 120) ms.
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'jitter', autoRemove: 'interval', autoRemoveInterval: 0.005 });
  const remover = (store as any).autoRemover;
  const delays: number[] = [];
  let seen: number | undefined;
  await waitFor(() => {
    if (remover.nextRunInMs !== undefined && remover.nextRunInMs !== seen) delays.push((seen = remover.nextRunInMs));
    return delays.length >= 4;
  }, 'four ticks');
  await waitFor(() => commandsOn('jitter', 'delete').length >= 2, 'removals after the jitter');
  await store.close();
  for (const ms of delays) assert.ok(ms >= 0 && ms < 0.4 * 300, `a delay within 40 % of the interval, got ${ms} ms`);
  assert.ok(new Set(delays).size > 1, 'each tick draws its own delay');
});

test("interval: connect-mongo 6's longest autoRemoveInterval (71582 min) does not overflow Node's timer into a 1 ms loop", async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'longest', autoRemove: 'interval', autoRemoveInterval: 71582 });
  await store.ready();
  await new Promise((r) => setTimeout(r, 20));
  process.off('warning', onWarning);
  const remover = (store as any).autoRemover;
  assert.is(remover.timer._idleTimeout, 2 ** 31 - 1, 'the longest period a timer holds');
  assert.not.ok(warnings.includes('TimeoutOverflowWarning'), warnings.join());
  await store.close();
});

test('disabled: no index, no removal; get still hides expired sessions', async () => {
  const col = t.db.collection('disabled');
  await col.insertOne(doc('old', -1000));
  t.commands.length = 0;
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'disabled', autoRemove: 'disabled' });
  assert.is((await store.ready()).autoRemove, 'disabled');
  assert.is(await store.get('old'), null);
  assert.is(commandsOn('disabled', 'createIndexes').length + commandsOn('disabled', 'delete').length, 0);
  assert.is(await col.countDocuments(), 1);
  await store.close();
});

test.run();
