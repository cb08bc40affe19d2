/**
 * Encryption at rest: `crypto` (kruptein's format, connect-mongo 3–6's), `encryption` ("cm1:", AES-256-GCM), an
 * adapter; each secret option reads both formats; bad ciphertexts are SessionCorruptErrors, never garbage.
 */
import { suite } from 'uvu';
import { inspect } from 'node:util';
import * as assert from 'uvu/assert';
import { MongoStore, SessionCorruptError, OptionsError, createKrupteinAdapter, createWebCryptoAdapter } from '../src';
import { openTestDb, rejects, type TestDb } from './helpers';

let t: TestDb;
const test = suite('crypto');
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => void (await t?.close()));

const cookie = { originalMaxAge: null, expires: null, path: '/' };
const make = (crypto: any, extra: object = {}) => new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'enc', autoRemove: 'disabled', crypto, ...extra });
const makeEnc = (secret: string | string[], extra: object = {}) => new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'enc', autoRemove: 'disabled', encryption: { secret } as any, ...extra });
const stored = async (id: string) => (await t.db.collection('enc').findOne({ _id: id as any }))!.session;
const put = (id: string, session: unknown) => t.db.collection('enc').replaceOne({ _id: id as any }, { session, expires: new Date(Date.now() + 60_000) }, { upsert: true });

test('encryption: payloads are "cm1:" at rest, with a fresh IV per write, and read back', async () => {
  const store = makeEnc('correct horse battery staple');
  await store.set('c1', { cookie, card: '4111-1111' } as any);
  const first = (await stored('c1')) as string;
  assert.match(first, /^cm1:/);
  assert.not.match(first, /4111/);
  // another store: this one would send the same session again as its expiry only (src/unchanged.ts)
  const again = makeEnc('correct horse battery staple');
  await again.set('c1', { cookie, card: '4111-1111' } as any);
  await again.close();
  assert.is.not(first, await stored('c1'), 'same plaintext, different ciphertext');
  assert.is(((await store.get('c1')) as any).card, '4111-1111');
  await store.close();
});

test("crypto: payloads are kruptein's format at rest (what connect-mongo 6's createKrupteinAdapter reads), fresh per write", async () => {
  const store = make({ secret: 'correct horse battery staple' });
  await store.set('k1', { cookie, card: '4111-1111' } as any);
  const first = (await stored('k1')) as string;
  assert.not.match(first, /^cm1:|4111/);
  // kruptein's plaintext is the JSON of what it was given: here the session's JSON string.
  assert.equal(JSON.parse(JSON.parse(await createKrupteinAdapter({ secret: 'correct horse battery staple' }).decrypt(first))).card, '4111-1111');
  const again = make({ secret: 'correct horse battery staple' }); // another store (src/unchanged.ts)
  await again.set('k1', { cookie, card: '4111-1111' } as any);
  await again.close();
  assert.is.not(first, await stored('k1'));
  assert.is(((await store.get('k1')) as any).card, '4111-1111');
  await store.close();
});

test('each secret option reads the other one\'s format (cm1 written by the previous `crypto`, kruptein by connect-mongo 6)', async () => {
  const secret = 'shared secret value';
  const enc = makeEnc(secret);
  const kru = make({ secret });
  await enc.set('x-cm1', { cookie, by: 'encryption' } as any);
  await kru.set('x-kru', { cookie, by: 'crypto' } as any);
  assert.is(((await kru.get('x-cm1')) as any).by, 'encryption');
  assert.is(((await enc.get('x-kru')) as any).by, 'crypto');
  // Rotation lists: the first secret writes, every one reads, in either format.
  const rotated = make({ secret: ['the next secret', secret] });
  assert.is(((await rotated.get('x-cm1')) as any).by, 'encryption');
  assert.is(((await rotated.get('x-kru')) as any).by, 'crypto');
  await rotated.set('x-new', { cookie, by: 'rotated' } as any);
  await rejects(() => kru.get('x-new'), /cannot be decrypted/);
  assert.is(((await make({ secret: 'the next secret' }).get('x-new')) as any).by, 'rotated');
  for (const s of [enc, kru, rotated]) await s.close();
});

test('with stringify: false, both options still round-trip', async () => {
  for (const store of [makeEnc('correct horse battery staple', { stringify: false }), make({ secret: 'correct horse battery staple' }, { stringify: false })]) {
    await store.set('c2', { cookie, list: [1, 2, 3] } as any);
    assert.equal(((await store.get('c2')) as any).list, [1, 2, 3]);
    await store.close();
  }
});

test('crypto: { secret: false } is no encryption, as in connect-mongo 6', async () => {
  const store = make({ secret: false });
  await store.set('plain', { cookie, v: 1 } as any);
  assert.is(JSON.parse((await stored('plain')) as string).v, 1);
  await store.close();
});

test('a wrong secret makes get fail with a clear error, never garbage (both options)', async () => {
  for (const [writer, reader] of [
    [makeEnc('the first secret'), makeEnc('another secret!')],
    [make({ secret: 'the first secret' }), make({ secret: 'another secret!' })],
  ]) {
    await writer.set('c3', { cookie, v: 1 } as any);
    const e = await rejects(() => reader.get('c3'), /failed authentication: wrong secret|cannot be decrypted .*wrong crypto secret/);
    assert.instance(e, SessionCorruptError);
    assert.not.match(e.message, /c3|the first secret|another secret/);
    await writer.close();
    await reader.close();
  }
});

/** Flips one bit of the decoded ciphertext at `at` (negative: from the end), keeping its encoding. */
function tamper(value: string, at: number, encoding: BufferEncoding = 'base64'): string {
  const raw = Buffer.from(value, encoding);
  raw[at < 0 ? raw.length + at : at] ^= 0x01;
  return raw.toString(encoding);
}

test('tampered, truncated and foreign ciphertexts are SessionCorruptErrors (kruptein, Web Crypto GCM and CBC, cm1)', async () => {
  const kinds: Array<[string, MongoStore, BufferEncoding]> = [
    ['kruptein', make({ secret: 'tamper-test-secret' }), 'base64'],
    ['kruptein hex', make({ secret: 'tamper-test-secret', encodeas: 'hex' }), 'hex'],
    ['web crypto GCM', new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'enc', autoRemove: 'disabled', cryptoAdapter: createWebCryptoAdapter({ secret: 'tamper-test-secret', iterations: 1000 }) }), 'base64'],
    ['web crypto CBC', new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'enc', autoRemove: 'disabled', cryptoAdapter: createWebCryptoAdapter({ secret: 'tamper-test-secret', iterations: 1000, algorithm: 'AES-CBC', encoding: 'hex' }) }), 'hex'],
    ['cm1', makeEnc('tamper-test-secret'), 'base64'],
  ];
  let cases = 0;
  for (const [label, store, enc] of kinds) {
    await store.set('tamper', { cookie, secret: 'MARK-VALUE' } as any);
    const good = (await stored('tamper')) as string;
    const body = label === 'cm1' ? good.slice(4) : good;
    const rewrap = (b: string) => (label === 'cm1' ? `cm1:${b}` : b);
    const raw = Buffer.from(body, enc);
    // (The end of kruptein's value is the base64 text of its random AAD: -20 lands in it, not in its padding.)
    const bad = [
      rewrap(tamper(body, label.startsWith('kruptein') ? -20 : -1, enc)),
      rewrap(tamper(body, Math.floor(raw.length / 2), enc)),
      // AES-CBC has no authentication: a flipped IV bit flips the same bit of the plaintext (tested below).
      ...(label === 'web crypto CBC' ? [] : [rewrap(tamper(body, 2, enc))]),
      rewrap(raw.subarray(0, Math.floor(raw.length / 2)).toString(enc)),
      rewrap(raw.subarray(0, 8).toString(enc)),
      rewrap(''),
      'not a ciphertext at all',
      JSON.stringify({ cookie, who: 'MARK-VALUE' }),
    ];
    for (const [i, value] of bad.entries()) {
      await put('tamper', value);
      const e = await store.get('tamper').then(
        (v) => assert.unreachable(`${label} #${i}: get() answered ${JSON.stringify(v)}`),
        (err) => err,
      );
      assert.instance(e, SessionCorruptError, `${label} #${i}: ${e}`);
      assert.not.match(e.message, /MARK-VALUE|tamper-test-secret/);
      cases++;
    }
    if (label === 'web crypto CBC') {
      await put('tamper', tamper(good, 2, enc));
      assert.ok(JSON.stringify(await store.get('tamper')).startsWith('{"bookie"'), 'AES-CBC (connect-mongo 6\'s option) is malleable: hence its warning');
    }
    if (label === 'kruptein') {
      // A flip in that padding changes nothing authenticated: the original session, never anything else.
      await put('tamper', tamper(good, -1));
      assert.is(((await store.get('tamper')) as any).secret, 'MARK-VALUE');
    }
    await put('tamper', good);
    assert.is(((await store.get('tamper')) as any).secret, 'MARK-VALUE', `${label}: the untouched ciphertext still reads`);
    await store.close();
  }
  console.log(`\n# crypto: ${cases} tampered/truncated/foreign ciphertexts → SessionCorruptError`);
});

test('createWebCryptoAdapter with AES-CBC (unauthenticated) warns; bad adapter options are refused by name', () => {
  const warnings: Array<Error & { code?: string }> = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  createWebCryptoAdapter({ secret: 'a-secret', algorithm: 'AES-CBC', iterations: 1000 });
  createWebCryptoAdapter({ secret: 'a-secret', iterations: 1000 });
  return new Promise<void>((resolve) =>
    setImmediate(() => {
      process.off('warning', onWarning);
      assert.equal(warnings.map((w) => w.code), ['CONNECT_MONGO_UNAUTHENTICATED_CIPHER']);
      assert.throws(() => createWebCryptoAdapter({ secret: '' }), /\/secret: createWebCryptoAdapter requires a secret/);
      assert.throws(() => createWebCryptoAdapter({ secret: 'x', encoding: 'base32' as never, iterations: 0 }), /\/encoding: expected one of base64, base64url, hex[\s\S]*\/iterations: expected a positive integer/);
      assert.throws(() => createKrupteinAdapter({ secret: false }), /createKrupteinAdapter requires a non-empty secret/);
      resolve();
    }),
  );
});

test('an adapter object { encrypt, decrypt } (async) is used as given, with the stored id as context', async () => {
  const contexts: string[] = [];
  const adapter = {
    encrypt: async (plain: string, ctx?: { id: string }) => (contexts.push(ctx!.id), `rot:${Buffer.from(plain).toString('base64')}`),
    decrypt: async (stored: string) => Buffer.from(stored.slice(4), 'base64').toString(),
  };
  const store = make(adapter);
  await store.set('c4', { cookie, x: 'y' } as any);
  assert.match((await stored('c4')) as string, /^rot:/);
  assert.is(((await store.get('c4')) as any).x, 'y');
  assert.equal(contexts, ['c4']);
  await store.close();
  const viaName = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'enc', autoRemove: 'disabled', cryptoAdapter: adapter });
  assert.is(((await viaName.get('c4')) as any).x, 'y');
  await viaName.close();
});

test('logging a store does not print its secrets', () => {
  for (const store of [make({ secret: 'correct horse battery staple' }, { hashIds: { secret: 'hash-ids-secret-value' } }), makeEnc('correct horse battery staple')]) {
    const shown = inspect(store, { depth: 6 });
    assert.not.match(shown, /correct horse|hash-ids-secret-value/);
    void store.close();
  }
});

test('encryption refuses a secret shorter than 8 characters; crypto (connect-mongo 6 took any) warns and works', async () => {
  assert.throws(() => makeEnc('short'), /\/encryption\/secret: .*expected at least 8 characters/);
  assert.throws(() => makeEnc('short'), (e: Error) => !e.message.includes('short"'));
  const warnings: Array<Error & { code?: string }> = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  const store = make({ secret: 'short' });
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.equal(warnings.map((w) => w.code), ['CONNECT_MONGO_SHORT_SECRET']);
  assert.not.match(warnings[0].message, /short"|'short'/);
  await store.set('weak', { cookie, v: 2 } as any);
  assert.is(((await store.get('weak')) as any).v, 2);
  await store.close();
});

test('crypto options kruptein cannot use are refused at start, naming them; one encryption option at a time', () => {
  for (const [opts, re] of [
    [{ algorithm: 'aes-256-ecb' }, /\/crypto: kruptein cannot .*algorithm "aes-256-ecb".*Insecure cipher mode/],
    [{ hashing: 'no-such-digest' }, /\/crypto: kruptein cannot .*hashing "no-such-digest"/],
    [{ algorithm: 'no-such-cipher' }, /\/crypto: kruptein cannot .*algorithm "no-such-cipher"/],
    [{ encodeas: 'utf8' }, /\/crypto: kruptein cannot .*encodeas "utf8"/],
  ] as const) {
    const e = (() => {
      try {
        make({ secret: 'some-long-secret', ...opts });
      } catch (err) {
        return err as Error;
      }
      return undefined;
    })();
    assert.instance(e, OptionsError, JSON.stringify(opts));
    assert.match(e!.message, re);
    assert.not.match(e!.message, /some-long-secret/);
  }
  assert.throws(() => make({ secret: 'some-long-secret' }, { encryption: { secret: 'some-long-secret' } }), /give one of crypto, encryption or cryptoAdapter/);
  assert.throws(() => makeEnc('some-long-secret', { cryptoAdapter: createKrupteinAdapter({ secret: 'x' }) }), /give one of crypto, encryption or cryptoAdapter/);
});

test.run();
