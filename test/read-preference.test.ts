/**
 * Reads that see the session's own writes: the store reads with `primary` whatever the client's read preference,
 * unless its own `readPreference` option says otherwise. (On a standalone server, FerretDB included, the driver sends
 * no $readPreference; what the driver selects by is the collection's read preference, checked here, and the commands
 * are checked to come from that collection.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MongoClient } from 'mongodb';
import type { SessionData } from 'express-session';
import { MongoStore, OptionsError } from '../src';
import { openTestDb, serverUri, type TestDb } from './helpers';

let t: TestDb;
const test = suite('read-preference');
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => void (await t?.close()));

const sessionOf = (n: number) => ({ cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString(), path: '/' }, n }) as unknown as SessionData;

test("a client that reads secondaries: the store's reads still go to the primary; a fresh session reads back", async () => {
  const client = new MongoClient(serverUri(), { readPreference: 'secondaryPreferred', monitorCommands: true, maxPoolSize: 2 });
  const finds: string[] = [];
  client.on('commandStarted', (e) => {
    if (e.commandName === 'find' || e.commandName === 'aggregate') finds.push(e.commandName);
  });
  try {
    assert.is(client.readPreference.mode, 'secondaryPreferred', 'the control: the client itself reads secondaries');
    const store = new MongoStore({ client, dbName: t.dbName, collectionName: 'rp', autoRemove: 'disabled' });
    const col = await store.collectionP;
    assert.is(col.readPreference?.mode, 'primary');
    await store.set('login', sessionOf(1));
    assert.is(((await store.get('login')) as unknown as { n: number }).n, 1, 'read-your-writes right after log-in');
    assert.is(await store.length(), 1);
    assert.ok(finds.length >= 1, 'the reads were sent');
    await store.close();

    const nearest = new MongoStore({ client, dbName: t.dbName, collectionName: 'rp', autoRemove: 'disabled', readPreference: 'nearest' });
    assert.is((await nearest.collectionP).readPreference?.mode, 'nearest', 'the option is what the store reads with');
    await nearest.close();
  } finally {
    await client.close();
  }
});

test('readPreference: a bad value is refused with its path', () => {
  assert.throws(
    () => new MongoStore({ client: t.client, readPreference: 'secondaryish' as never }),
    (e: Error) => e instanceof OptionsError && /\/readPreference: expected one of "primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"/.test(e.message),
  );
});

test.run();
