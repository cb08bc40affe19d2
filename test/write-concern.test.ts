/**
 * "No write with w: 0": every write command the store sends (insert/update/delete/createIndexes) carries an
 * acknowledged write concern, whatever the client's default. Seen through the driver's command monitoring of a
 * client created with w: 0, from our driver and from mongodb 5 and 6 (a client the app made; the store cannot refuse
 * it, so it must override it). A connection string with w=0 in any case is refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as ours from 'mongodb';
import * as m5 from 'mongodb5';
import * as m6 from 'mongodb6';
import { MongoStore, OptionsError } from '../src';
import { openTestDb, type TestDb } from './helpers';
import { unhandled, sessionOf } from './fixtures/reliability/kit';

let t: TestDb;
const test = suite('write concern');
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => {
  await t?.close();
  assert.equal(unhandled, []);
});

const WRITES = ['insert', 'update', 'delete', 'createIndexes'];
const drivers: Array<[string, { MongoClient: new (uri: string, o: object) => any }]> = [
  ['mongodb 7 (ours)', ours as never],
  ['mongodb 6', m6 as never],
  ['mongodb 5', m5 as never],
];

for (const [label, driver] of drivers) {
  test(`${label}: a client created with w: 0 — every store write says an acknowledged w`, async () => {
    const client = new driver.MongoClient(t.uri, { w: 0, monitorCommands: true });
    const sent: Array<{ name: string; wc: unknown }> = [];
    client.on('commandStarted', (e: ours.CommandStartedEvent) => {
      if (WRITES.includes(e.commandName)) sent.push({ name: e.commandName, wc: (e.command as { writeConcern?: unknown }).writeConcern });
    });
    const coll = `wc_${label.replace(/\W/g, '')}`;
    const native = MongoStore.create({ client, dbName: t.dbName, collectionName: coll, autoRemove: 'native', touchAfter: 0 });
    native.on('warning', () => {});
    await native.ready(); // createIndexes (and, on FerretDB, the interval fallback's first delete)
    await native.set('a', sessionOf({ n: 1 }));
    await native.set('a', sessionOf({ n: 2 }));
    await native.touch('a', sessionOf({ n: 2 }));
    await native.destroy('a');
    await native.set('b', sessionOf({ n: 3 }));
    await native.clear();
    const interval = MongoStore.create({ client, dbName: t.dbName, collectionName: coll, autoRemove: 'interval' });
    await interval.ready();
    await (interval as unknown as { autoRemover: { removeExpired(): Promise<unknown> } }).autoRemover.removeExpired();
    await native.close();
    await interval.close();
    await client.close();
    const names = new Set(sent.map((s) => s.name));
    for (const n of ['update', 'delete', 'createIndexes']) assert.ok(names.has(n), `no ${n} command seen: ${[...names]}`);
    const bad = sent.filter((s) => !(s.wc && typeof s.wc === 'object' && (s.wc as { w?: unknown }).w !== 0 && (s.wc as { w?: unknown }).w !== undefined));
    assert.equal(bad, [], `${bad.length} of ${sent.length} write commands without an acknowledged write concern`);
    // And the writes landed (an unacknowledged one could still be in flight here).
    assert.is(await t.db.collection(coll).countDocuments({ session: { $ne: null } }), 0, 'every session was cleared (markers stay)');
  });
}

test('the store’s own writeOperationOptions still apply (w: 1 with a wtimeout) on a w: 0 client', async () => {
  const client = new ours.MongoClient(t.uri, { w: 0, monitorCommands: true });
  const seen: unknown[] = [];
  client.on('commandStarted', (e) => e.commandName === 'update' && seen.push((e.command as { writeConcern?: unknown }).writeConcern));
  const store = MongoStore.create({ client, dbName: t.dbName, collectionName: 'wc_opts', autoRemove: 'disabled', writeOperationOptions: { w: 1, wtimeoutMS: 5000 } });
  await store.set('x', sessionOf());
  await store.close();
  await client.close();
  assert.equal(seen, [{ w: 1, wtimeout: 5000 }]);
});

test('w=0 in a connection string is refused in any case (URI options are case-insensitive)', () => {
  for (const q of ['w=0', 'W=0', 'appName=x&W=0']) {
    assert.throws(() => new MongoStore({ mongoUrl: `mongodb://127.0.0.1:1/db?${q}` }), (e: Error) => e instanceof OptionsError && /w=0 \(unacknowledged writes\)/.test(e.message), q);
  }
});

test.run();
