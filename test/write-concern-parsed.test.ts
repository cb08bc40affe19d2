/**
 * w: 0 decided by what the driver parses, not by how it is written (issue 19, item 13). The driver reads `w=00`,
 * `w=%30`, `w=-0` (and `%77=0`, `w= 0`…) in a connection string, and "00", "-0", " " or false as `w` in options, as
 * w: 0: this file shows, on the real server, that such a client really sends unacknowledged writes, and that the store
 * refuses each form with the error it gives for `w=0`, in code and in a config file. Also: a driver timeout longer
 * than a timer holds (it would fire at once) is refused in mongoOptions and in the connection string.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { MongoStore, OptionsError } from '../src';
import { loadConfig } from '../src/config/load';
import { openTestDb, TEST_POOL_SIZE, type TestDb } from './helpers';
import { repoRoot } from './server';
import { sessionOf, unhandled } from './fixtures/reliability/kit';

let t: TestDb;
const tmp = join(repoRoot, '.tmp', `write-concern-parsed-${process.pid}`);
test.before(async () => {
  t = await openTestDb(__filename);
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'package.json'), '{"name": "write-concern-parsed-test", "private": true}');
});
test.after(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await t?.close();
  assert.equal(unhandled, []);
});

/** The run's server URI with a query added (and the test database as its path). */
function uriWith(query: string): string {
  const [, hosts, rest] = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(?:\?(.*))?$/.exec(t.uri)!;
  return `${hosts}/${t.dbName}?${[rest, query].filter(Boolean).join('&')}`;
}

const W0_URL = 'w=0 (unacknowledged writes) in the connection string is refused; use w=1 or w=majority';
const W0 = 'w: 0 (unacknowledged writes) is refused: a session store must know its writes landed; use w: 1 or "majority"';

/** The issues `new MongoStore(options)` throws (it must throw an OptionsError). */
function refusal(options: Record<string, unknown>): { path: string; message: string }[] {
  try {
    const store = new MongoStore(options);
    void store.close();
  } catch (e) {
    assert.instance(e, OptionsError, String(e));
    return (e as OptionsError).issues;
  }
  assert.unreachable(`accepted: ${JSON.stringify(options)}`);
  return [];
}

const SPELLINGS = ['w=00', 'w=%30', 'w=-0', '%77=0', 'W=%2B0', 'w=0e1'];

test('the driver reads w=00, w=%30, w=-0 (and more) as w: 0, and sends the real server unacknowledged writes with them', async () => {
  for (const q of SPELLINGS) {
    const client = new MongoClient(uriWith(q), { monitorCommands: true, maxPoolSize: TEST_POOL_SIZE });
    const seen: unknown[] = [];
    client.on('commandStarted', (e: CommandStartedEvent) => e.commandName === 'insert' && seen.push((e.command as { writeConcern?: unknown }).writeConcern));
    try {
      assert.is(client.options.writeConcern?.w, 0, q);
      await client.db(t.dbName).collection('parsed_probe').insertOne({ q });
      assert.equal(seen, [{ w: 0 }], `${q}: the insert's write concern`);
    } finally {
      await client.close();
    }
  }
});

test('new MongoStore({ mongoUrl }) refuses each spelling with the w=0 error, before any connection', () => {
  for (const q of [...SPELLINGS, 'w=0', 'appName=x&w=00']) assert.equal(refusal({ mongoUrl: uriWith(q) }), [{ path: '/mongoUrl', message: W0_URL }], q);
  // `url` (the alias) too, and the connection string's w=0 even when mongoOptions ask for w: 1.
  assert.equal(refusal({ url: uriWith('w=%30') }), [{ path: '/url', message: W0_URL }]);
  assert.equal(refusal({ mongoUrl: uriWith('w=-0'), mongoOptions: { w: 1 } }), [{ path: '/mongoUrl', message: W0_URL }]);
});

test('a config file with w=00 / w=%30 / w=-0: refused at /mongoUrl (the base and the selected env block)', async () => {
  for (const q of ['w=00', 'w=%30', 'w=-0']) {
    const configPath = join(tmp, 'c.json');
    writeFileSync(configPath, JSON.stringify({ mongoUrl: '${URI}', env: { production: { url: '${PROD_URI}' } } }));
    for (const [env, path] of [[{ URI: uriWith(q) }, '/mongoUrl'], [{ URI: uriWith('w=1'), PROD_URI: uriWith(q), NODE_ENV: 'production' }, '/env/production/url']] as const) {
      let err: unknown;
      try {
        await loadConfig({ configPath, env });
      } catch (e) {
        err = e;
      }
      assert.instance(err, OptionsError, `${q}: ${String(err)}`);
      assert.equal((err as OptionsError).issues, [{ path, message: W0_URL }], q);
    }
  }
});

test('options objects: every w the driver takes as 0 is refused where it is written; w: 1 and "majority" work on the server', async () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ writeOperationOptions: { w: 0 } }, '/writeOperationOptions/w', W0],
    [{ writeOperationOptions: { w: '0' } }, '/writeOperationOptions/w', W0],
    [{ writeOperationOptions: { w: '00' } }, '/writeOperationOptions/w', `${W0} (the driver reads the string "00" as 0)`],
    [{ writeOperationOptions: { w: ' ' } }, '/writeOperationOptions/w', `${W0} (the driver reads the string " " as 0)`],
    [{ writeOperationOptions: { writeConcern: { w: 0 } } }, '/writeOperationOptions/writeConcern/w', W0],
    [{ writeOperationOptions: { writeConcern: { w: '-0' } } }, '/writeOperationOptions/writeConcern/w', `${W0} (the driver reads the string "-0" as 0)`],
    [{ mongoOptions: { w: 0 } }, '/mongoOptions/w', W0],
    [{ mongoOptions: { w: '0' } }, '/mongoOptions/w', W0],
    [{ mongoOptions: { w: '00' } }, '/mongoOptions/w', `${W0} (the driver reads the string "00" as 0)`],
    [{ mongoOptions: { writeConcern: { w: 0 } } }, '/mongoOptions/writeConcern/w', W0],
    [{ mongoOptions: { writeConcern: { w: false } } }, '/mongoOptions/writeConcern/w', `${W0} (the driver reads boolean false as 0)`],
  ];
  for (const [extra, path, message] of cases) assert.equal(refusal({ mongoUrl: uriWith('w=1'), ...extra }), [{ path, message }], JSON.stringify(extra));
  // The same for a client given in code: the store's write concern is checked whatever the connection.
  assert.equal(refusal({ client: t.client, writeOperationOptions: { w: '00' } }), [{ path: '/writeOperationOptions/w', message: `${W0} (the driver reads the string "00" as 0)` }]);
  for (const [uri, wo] of [[uriWith('w=1'), undefined], [uriWith('w=majority'), { w: 'majority' }], [uriWith('appName=w0'), { w: 1 }]] as const) {
    const store = new MongoStore({ mongoUrl: uri, collectionName: 'parsed_ok', autoRemove: 'disabled', writeOperationOptions: wo });
    try {
      await store.set('ok', sessionOf({ n: 1 }));
      assert.equal(((await store.get('ok')) as { n?: number })?.n, 1, uri);
    } finally {
      await store.close();
    }
  }
});

test('a MongoClient the app made with w=00 in its URL: the store still sends acknowledged writes (w: 1) to the server', async () => {
  const client = new MongoClient(uriWith('w=00'), { monitorCommands: true, maxPoolSize: TEST_POOL_SIZE });
  const seen: unknown[] = [];
  client.on('commandStarted', (e: CommandStartedEvent) => ['insert', 'update', 'delete'].includes(e.commandName) && seen.push((e.command as { writeConcern?: unknown }).writeConcern));
  const store = new MongoStore({ client, dbName: t.dbName, collectionName: 'parsed_client', autoRemove: 'disabled' });
  try {
    await store.set('a', sessionOf({ n: 1 }));
    await store.destroy('a');
  } finally {
    await store.close();
    await client.close();
  }
  assert.ok(seen.length >= 2, `writes seen: ${seen.length}`);
  assert.equal(seen.filter((wc) => (wc as { w?: unknown } | undefined)?.w !== 1), [], 'every write says w: 1');
});

test('a driver timeout longer than a timer holds (2147483647 ms) is refused in mongoOptions and in the URL; the longest one works', async () => {
  const msg = (key: string, v: number, inUrl = false) => `${key} ${v} ms${inUrl ? ' (in the connection string)' : ''} is more than the 2147483647 ms (24.8 days) a timer can hold: the driver's timer would fire at once`;
  assert.equal(refusal({ mongoUrl: uriWith('w=1'), mongoOptions: { serverSelectionTimeoutMS: 2147483648 } }), [{ path: '/mongoOptions/serverSelectionTimeoutMS', message: msg('serverSelectionTimeoutMS', 2147483648) }]);
  assert.equal(refusal({ mongoUrl: uriWith('w=1'), mongoOptions: { heartbeatFrequencyMS: 3e9, socketTimeoutMS: 1e10 } }), [
    { path: '/mongoOptions/heartbeatFrequencyMS', message: msg('heartbeatFrequencyMS', 3e9) },
    { path: '/mongoOptions/socketTimeoutMS', message: msg('socketTimeoutMS', 1e10) },
  ]);
  assert.equal(refusal({ mongoUrl: uriWith('connectTimeoutMS=3000000000') }), [{ path: '/mongoUrl', message: msg('connectTimeoutMS', 3e9, true) }]);
  // At the limit: the store reaches the server.
  const store = new MongoStore({ mongoUrl: uriWith('w=1'), mongoOptions: { serverSelectionTimeoutMS: 2147483647 }, collectionName: 'parsed_timer', autoRemove: 'disabled' });
  try {
    await store.set('t', sessionOf({ n: 2 }));
    assert.equal(((await store.get('t')) as { n?: number })?.n, 2);
  } finally {
    await store.close();
  }
});

test.run();
