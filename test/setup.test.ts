/**
 * One-time set-up for many instances: ensureSessionIndexes / `connect-mongo setup` create the TTL index once; stores
 * with createIndexes: false only look for it (listIndexes), never send createIndexes, and warn when it is missing.
 * FerretDB refuses TTL indexes (code 238): there the refusal is what is checked, and how the store degrades.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from './fixtures/cli-run';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoStore, ensureSessionIndexes } from '../src';
import { isFerret, openTestDb, type TestDb } from './helpers';
import { freePort, repoRoot } from './server';

let t: TestDb;
const tmp = join(repoRoot, '.tmp', `setup-test-${process.pid}`);
test.before(async () => {
  t = await openTestDb(__filename, { monitorCommands: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'package.json'), '{"name": "setup-test", "private": true}');
});
test.after(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await t?.close();
});

const sent = (name: string, collection: string) => t.commands.filter((c) => c.commandName === name && (c.command as any)[name] === collection && c.databaseName === t.dbName);
const keyOf = (k: unknown) => Object.fromEntries(k instanceof Map ? k : Object.entries(k as object));

function storeOn(collectionName: string, extra: Record<string, unknown> = {}) {
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName, createIndexes: false, ...extra });
  const warnings: (Error & { code?: string })[] = [];
  store.on('warning', (w) => warnings.push(w));
  return { store, warnings };
}

test('ensureSessionIndexes: creates the TTL index once, then finds it (MongoDB); reports the refusal (FerretDB)', async () => {
  t.commands.length = 0;
  const col = t.db.collection('setup_fresh');
  const first = await ensureSessionIndexes(col);
  const creates = sent('createIndexes', 'setup_fresh');
  assert.is(creates.length, 1);
  const idx = (creates[0].command as any).indexes[0];
  assert.equal({ key: keyOf(idx.key), name: idx.name, expireAfterSeconds: idx.expireAfterSeconds }, { key: { expires: 1 }, name: 'expires_1', expireAfterSeconds: 0 });
  console.log(`# setup on a fresh collection: ${first.index}${first.code ? ` (code ${first.code})` : ''}`);
  if (isFerret) {
    assert.is(first.index, 'refused');
    assert.is(first.code, 238);
    assert.match(first.message, /refused the TTL index on "expires" in connect-mongo-test_setup\.setup_fresh \(code 238/);
    assert.match(first.message, /use autoRemove: 'interval'/);
  } else {
    assert.is(first.index, 'created');
    const again = await ensureSessionIndexes(col);
    assert.is(again.index, 'found');
    assert.is(sent('createIndexes', 'setup_fresh').length, 1, 'the second call sends no createIndexes');
  }
});

test('ensureSessionIndexes: an index on expires with other options is reported, not replaced', async () => {
  const col = t.db.collection('setup_conflict');
  await col.createIndex({ expires: 1 }, { name: 'expires_plain' });
  t.commands.length = 0;
  const r = await ensureSessionIndexes(col);
  assert.is(r.index, 'conflict');
  assert.is(r.name, 'expires_plain');
  assert.match(r.message, /dropIndex\("expires_plain"\)/);
  assert.is(sent('createIndexes', 'setup_conflict').length, 0);
});

test('createIndexes: false: 20 instances booting at once send listIndexes, never createIndexes; a missing index is one clear warning each', async () => {
  t.commands.length = 0;
  const stores = Array.from({ length: 20 }, () => storeOn('setup_many'));
  const modes = await Promise.all(stores.map((s) => s.store.ready()));
  assert.is(sent('createIndexes', 'setup_many').length, 0, 'no createIndexes');
  assert.is(sent('listIndexes', 'setup_many').length, 20, 'one listIndexes per instance');
  for (const m of modes) assert.is(m.autoRemove, 'interval', 'no TTL index: expired sessions are removed on an interval');
  for (const { warnings } of stores) {
    assert.is(warnings.length, 1);
    assert.is(warnings[0].code, 'CONNECT_MONGO_TTL_MISSING');
    assert.match(warnings[0].message, /createIndexes is false and there is no TTL index on "expires" in connect-mongo-test_setup\.setup_many: run `connect-mongo setup` once/);
    assert.match(warnings[0].message, /removed every 10 min by this instance/);
  }
  // The store works either way.
  const { store } = stores[0];
  await store.set('s1', { cookie: { originalMaxAge: null, expires: null }, v: 1 } as any);
  assert.is(((await store.get('s1')) as any).v, 1);
  for (const s of stores) await s.store.close();
});

test('createIndexes: false: an index on expires that is not the TTL one is named in the warning', async () => {
  t.commands.length = 0;
  const { store, warnings } = storeOn('setup_conflict');
  assert.is((await store.ready()).autoRemove, 'interval');
  assert.is(sent('createIndexes', 'setup_conflict').length, 0);
  assert.is(warnings.length, 1);
  assert.match(warnings[0].message, /the index expires_plain on "expires" in connect-mongo-test_setup\.setup_conflict is not a TTL index with expireAfterSeconds 0 \(no expireAfterSeconds\)/);
  await store.close();
});

test('createIndexes: false after setup: native expiry, no warning (MongoDB); on FerretDB setup cannot make it, so the store degrades to interval', async () => {
  await ensureSessionIndexes(t.db.collection('setup_done'));
  t.commands.length = 0;
  const { store, warnings } = storeOn('setup_done');
  const { autoRemove } = await store.ready();
  assert.is(sent('createIndexes', 'setup_done').length, 0);
  assert.is(sent('listIndexes', 'setup_done').length, 1);
  if (isFerret) {
    assert.is(autoRemove, 'interval');
    assert.is(warnings[0]?.code, 'CONNECT_MONGO_TTL_MISSING');
  } else {
    assert.is(autoRemove, 'native');
    assert.equal(warnings, []);
  }
  await store.close();
});

test('createIndexes: true (default) still creates the index at start', async () => {
  t.commands.length = 0;
  const { store } = storeOn('setup_default', { createIndexes: true });
  await store.ready();
  assert.is(sent('createIndexes', 'setup_default').length, 1);
  await store.close();
});

/** The command as a subprocess, NODE_ENV unset (the shared runner of the CLI tests). */
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { cwd: tmp, env });
const config = (name: string, body: object) => {
  const p = join(tmp, name);
  writeFileSync(p, JSON.stringify(body));
  return p;
};

test('connect-mongo setup: creates the index once (exit 0, then "already there"); FerretDB: the refusal, exit 3', async () => {
  const cfg = config('setup.json', { mongoUrl: '${CONNECT_MONGO_TEST_URI}', dbName: t.dbName, collectionName: 'setup_cli' });
  const env = { CONNECT_MONGO_TEST_URI: t.uri };
  t.commands.length = 0;
  const human = await cli(['setup', cfg, '--timeout', '5000'], env);
  console.log(`# connect-mongo setup: exit ${human.code}: ${human.stdout.trim().split('\n').at(-1)}`);
  assert.match(human.stdout, /sessions in  connect-mongo-test_setup\.setup_cli/);
  assert.not.match(human.stdout + human.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
  const json = await cli(['setup', cfg, '--json'], env);
  const r = JSON.parse(json.stdout);
  assert.is(r.file, cfg);
  assert.is(r.command, 'setup');
  assert.is(r.setup.collection, 'setup_cli');
  if (isFerret) {
    assert.is(human.code, 3);
    assert.match(human.stdout, /✗ the server refused the TTL index on "expires" in connect-mongo-test_setup\.setup_cli \(code 238/);
    assert.equal([r.setup.index, r.setup.code, r.ok, r.setup.server.kind], ['refused', 238, false, 'FerretDB']);
    assert.is(json.code, 3);
  } else {
    assert.is(human.code, 0, human.stderr);
    assert.match(human.stdout, /✓ created the TTL index expires_1 on "expires" in connect-mongo-test_setup\.setup_cli/);
    assert.equal([r.setup.index, r.ok], ['found', true]);
    assert.is(json.code, 0);
    const idx = (await t.db.collection('setup_cli').listIndexes().toArray()).find((i) => i.name === 'expires_1');
    assert.is(idx?.expireAfterSeconds, 0);
  }
});

test('connect-mongo setup: nothing to create with autoRemove "interval"; an unreachable server is exit 3 with a masked URL', async () => {
  const cfg = config('interval.json', { mongoUrl: '${CONNECT_MONGO_TEST_URI}', dbName: t.dbName, collectionName: 'setup_interval', autoRemove: 'interval' });
  const r = await cli(['setup', cfg], { CONNECT_MONGO_TEST_URI: t.uri });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /✓ autoRemove is 'interval': the store needs no TTL index, nothing was created/);
  assert.equal((await t.db.listCollections({ name: 'setup_interval' }).toArray()).length, 0);

  const port = await freePort();
  const down = config('down.json', { mongoUrl: `mongodb://app:Setup-Secret-99@127.0.0.1:${port}/app` });
  const d = await cli(['setup', down, '--timeout', '500']);
  assert.is(d.code, 3);
  assert.match(d.stderr, new RegExp(`^connect-mongo setup: cannot reach the server within 500 ms \\(mongodb://app:\\*\\*\\*\\*@127\\.0\\.0\\.1:${port}/app\\)`));
  assert.not.match(d.stdout + d.stderr, /Setup-Secret-99/);
  const help = await cli(['setup', '--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /createIndexes: false/);
});

test.run();
