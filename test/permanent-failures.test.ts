/**
 * Failures that waiting cannot heal. For a client the store opens: refused credentials (FerretDB and mongod both
 * answer AuthenticationFailed, code 18, to a user that does not exist) and an unusable configuration (a TLS CA file
 * that does not exist, a mechanism whose optional module is not installed, options the driver refuses) stop the
 * store's connecting for good: every operation fails with one clear error that never shows the password, and no
 * new connection reaches the server (counted by a TCP relay in front of it). And which TTL-index refusals are final.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { MongoStore, MongoStoreError } from '../src';
import { isTtlRefusalFinal } from '../src/driver-errors';
import { openTestDb, sleep, waitFor, type TestDb } from './helpers';
import { unhandled, sessionOf } from './fixtures/reliability/kit';

let t: TestDb;
const test = suite('permanent failures');
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => {
  await t?.close();
  assert.equal(unhandled, []);
});

const PASSWORD = 'Sup3r-s3cret-pw';

/** A relay to the test server that counts the TCP connections made through it. */
async function relay(): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  const target = new URL(t.uri.replace(/^mongodb:/, 'http:'));
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    count++;
    const outbound = connect(Number(target.port), target.hostname);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => (inbound.destroy(), outbound.destroy()));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => count,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

async function expectPermanent(store: MongoStore, code: string, re: RegExp) {
  const ops: Array<[string, Promise<unknown>]> = ([
    ['get', store.get('s')],
    ['set', store.set('s', sessionOf())],
    ['touch', store.touch('s', sessionOf())],
    ['destroy', store.destroy('s')],
    ['length', store.length()],
    ['clear', store.clear()],
    ['ready', store.ready()],
  ] as Array<[string, Promise<unknown>]>).map(([n, p]) => [n, p.then(() => undefined, (x) => x)]);
  for (const [name, p] of ops) {
    const e = (await p) as MongoStoreError;
    assert.instance(e, MongoStoreError, `${name}: ${e}`);
    assert.is(e.code, code, `${name}: ${e.message}`);
    assert.match(e.message, re, name);
    assert.not.match(e.message, new RegExp(PASSWORD), `${name} shows the password`);
  }
}

test('refused credentials: ERR_CONNECT_MONGO_AUTH for every operation, and the store stops logging in', async () => {
  const r = await relay();
  const store = MongoStore.create({ mongoUrl: `mongodb://cm-nobody:${PASSWORD}@127.0.0.1:${r.port}/${t.dbName}`, operationTimeoutMS: 5_000 });
  try {
    await expectPermanent(store, 'ERR_CONNECT_MONGO_AUTH', /MongoDB refused the credentials .*AuthenticationFailed 18.*does not retry a refused login/);
    const after = r.connections();
    // Before the fix the store logged in again every 0.25 s, 0.5 s, 1 s, then every 2 s: 3 s sees several attempts.
    await sleep(3_000);
    assert.is(r.connections(), after, 'the store opened new connections after the server refused its credentials');
    await expectPermanent(store, 'ERR_CONNECT_MONGO_AUTH', /refused the credentials/);
  } finally {
    await store.close();
    await r.close();
  }
});

test('refused credentials in interval and disabled modes too: ready() and collection() fail with it', async () => {
  for (const autoRemove of ['interval', 'disabled'] as const) {
    const store = MongoStore.create({ mongoUrl: `mongodb://cm-nobody:${PASSWORD}@${new URL(t.uri.replace(/^mongodb:/, 'http:')).host}/${t.dbName}`, autoRemove, operationTimeoutMS: 5_000 });
    try {
      for (const [name, p] of [['ready', store.ready()], ['collection', store.collection()]] as const) {
        const e = (await (p as Promise<unknown>).then(() => undefined, (x) => x)) as MongoStoreError;
        assert.instance(e, MongoStoreError, `${autoRemove} ${name} resolved`);
        assert.is(e.code, 'ERR_CONNECT_MONGO_AUTH', `${autoRemove} ${name}`);
      }
    } finally {
      await store.close();
    }
  }
});

test('close() while the first connect is still failing: waiting operations end with ERR_CONNECT_MONGO_CLOSED at once', async () => {
  // Nothing listens on this port. operationTimeoutMS is 10 minutes: before the fix, close() and the get waited for it
  // (the runner's per-file hang guard is then what fails this test; no wall-clock threshold here).
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  const store = MongoStore.create({ mongoUrl: `mongodb://127.0.0.1:${port}/${t.dbName}`, autoRemove: 'disabled', operationTimeoutMS: 600_000 });
  const pending = store.get('s').then(() => undefined, (e) => e as MongoStoreError);
  await sleep(100);
  await store.close();
  const e = await pending;
  assert.is(e?.code, 'ERR_CONNECT_MONGO_CLOSED', String(e));
});

const configCases: Array<[string, string, object, RegExp]> = [
  ['a TLS CA file that does not exist', '?tls=true&tlsCAFile=/nonexistent/connect-mongo-ca.pem', {}, /ENOENT/],
  ['GSSAPI without the kerberos module', '?authMechanism=GSSAPI', {}, /MongoMissingDependencyError.*kerberos/],
  ['autoEncryption without mongodb-client-encryption', '', { autoEncryption: { keyVaultNamespace: 'a.b', kmsProviders: { local: { key: Buffer.alloc(96) } } } }, /MongoMissingDependencyError/],
];
for (const [label, query, mongoOptions, re] of configCases) {
  test(`configuration that cannot work (${label}): ERR_CONNECT_MONGO_OPTIONS for every operation, no retry`, async () => {
    const r = await relay();
    const user = query.includes('GSSAPI') ? `cm-nobody:${PASSWORD}@` : '';
    const store = MongoStore.create({ mongoUrl: `mongodb://${user}127.0.0.1:${r.port}/${t.dbName}${query}`, mongoOptions, operationTimeoutMS: 5_000 });
    try {
      await expectPermanent(store, 'ERR_CONNECT_MONGO_OPTIONS', new RegExp(`the connection cannot work as configured .*${re.source}.*does not retry`));
      const after = r.connections();
      await sleep(3_000);
      assert.is(r.connections(), after, 'the store kept connecting');
    } finally {
      await store.close();
      await r.close();
    }
  });
}

test('a client the app made is not given up on: its auth failure is reported clearly, each time', async () => {
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(`mongodb://cm-nobody:${PASSWORD}@${new URL(t.uri.replace(/^mongodb:/, 'http:')).host}/`, { serverSelectionTimeoutMS: 2_000 });
  const store = MongoStore.create({ client, dbName: t.dbName, autoRemove: 'disabled' });
  for (let i = 0; i < 2; i++) {
    const e = await store.get('s').catch((x) => x);
    assert.is(e?.code, 'ERR_CONNECT_MONGO_AUTH', String(e));
    assert.not.match(e.message, new RegExp(PASSWORD));
  }
  await store.close();
  await client.close();
});

test('TTL index refusals: "never" codes fall back; transient ones are retried', async () => {
  // Real refusals from this server: FerretDB's 238 (and 85/86 on any server: an existing index with other options).
  const col = t.db.collection('ttl_codes');
  await col.createIndex({ expires: 1 }, { name: 'expires_1' });
  const conflict = await col.createIndex({ expires: 1 }, { expireAfterSeconds: 0, name: 'expires_1' }).catch((e) => e);
  assert.ok(isTtlRefusalFinal(conflict), `${conflict?.code} ${conflict?.message}`);
  // The classification of codes this server cannot produce on demand (a stepdown, a shutdown, an interrupted build).
  const err = (code: number) => Object.assign(new Error('x'), { name: 'MongoServerError', code });
  for (const code of [238, 85, 86, 13, 67, 197]) assert.ok(isTtlRefusalFinal(err(code)), `code ${code} should be final`);
  for (const code of [189, 91, 11600, 11602, 10107, 13435, 262, 50, 6, 7, 89]) assert.not.ok(isTtlRefusalFinal(err(code)), `code ${code} should be retried`);
  assert.not.ok(isTtlRefusalFinal(Object.assign(new Error('x'), { name: 'MongoNetworkError' })));
});

test.run();
