/** Encryption at rest: AES-256-GCM with a secret, or a bring-your-own adapter. */
import { suite } from 'uvu';
import { inspect } from 'node:util';
import * as assert from 'uvu/assert';
import { MongoStore, SessionCorruptError } from '../src';
import { openTestDb, rejects, type TestDb } from './helpers';

let t: TestDb;
const test = suite('crypto');
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => void (await t?.close()));

const cookie = { originalMaxAge: null, expires: null, path: '/' };
const make = (crypto: any, extra: object = {}) => new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'enc', autoRemove: 'disabled', crypto, ...extra });

test('payloads are encrypted at rest, with a fresh IV per write, and read back', async () => {
  const store = make({ secret: 'correct horse battery staple' });
  await store.set('c1', { cookie, card: '4111-1111' } as any);
  const first = (await t.db.collection('enc').findOne({ _id: 'c1' as any }))!.session as string;
  assert.match(first, /^cm1:/);
  assert.not.match(first, /4111/);
  await store.set('c1', { cookie, card: '4111-1111' } as any);
  const second = (await t.db.collection('enc').findOne({ _id: 'c1' as any }))!.session as string;
  assert.is.not(first, second, 'same plaintext, different ciphertext');
  assert.is(((await store.get('c1')) as any).card, '4111-1111');
  await store.close();
});

test('with stringify: false and crypto, the session still round-trips', async () => {
  const store = make({ secret: 'correct horse battery staple' }, { stringify: false });
  await store.set('c2', { cookie, list: [1, 2, 3] } as any);
  assert.equal(((await store.get('c2')) as any).list, [1, 2, 3]);
  await store.close();
});

test('a wrong secret makes get fail with a clear error, never garbage', async () => {
  const writer = make({ secret: 'the first secret' });
  await writer.set('c3', { cookie, v: 1 } as any);
  const reader = make({ secret: 'another secret!' });
  const e = await rejects(() => reader.get('c3'), /failed authentication: wrong crypto secret, or the data was modified/);
  assert.instance(e, SessionCorruptError);
  assert.not.match(e.message, /c3|the first secret|another secret/);
  await writer.close();
  await reader.close();
});

test('an adapter object { encrypt, decrypt } (async) is used as given, with the stored id as context', async () => {
  const contexts: string[] = [];
  const adapter = {
    encrypt: async (plain: string, ctx?: { id: string }) => (contexts.push(ctx!.id), `rot:${Buffer.from(plain).toString('base64')}`),
    decrypt: async (stored: string) => Buffer.from(stored.slice(4), 'base64').toString(),
  };
  const store = make(adapter);
  await store.set('c4', { cookie, x: 'y' } as any);
  assert.match((await t.db.collection('enc').findOne({ _id: 'c4' as any }))!.session, /^rot:/);
  assert.is(((await store.get('c4')) as any).x, 'y');
  assert.equal(contexts, ['c4']);
  await store.close();
  const viaName = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'enc', autoRemove: 'disabled', cryptoAdapter: adapter });
  assert.is(((await viaName.get('c4')) as any).x, 'y');
  await viaName.close();
});

test('logging a store does not print its secrets', () => {
  const store = make({ secret: 'correct horse battery staple' }, { hashIds: { secret: 'hash-ids-secret-value' } });
  const shown = inspect(store, { depth: 6 });
  assert.not.match(shown, /correct horse|hash-ids-secret-value/);
  assert.is(store.options.hashIdsSecret, 'hash-ids-secret-value'); // still there for code that asks
  void store.close();
});

test('a secret shorter than 8 characters is refused by name', () => {
  assert.throws(() => make({ secret: 'short' }), /\/crypto\/secret: .*expected at least 8 characters/);
  assert.throws(() => make({ secret: 'short' }), (e: Error) => !e.message.includes('short"'));
});

test.run();
