/**
 * Security: hashIds (the stored _id is an HMAC of the sid), no session data / sid / secret / password in debug output
 * or errors, and AES-256-GCM tamper resistance (flipped byte, truncation, swapped ciphertexts, wrong secret) plus key
 * rotation.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { join } from 'node:path';
import type { Collection } from 'mongodb';
import { MongoStore, MongoStoreError, SessionCorruptError } from '../src';
import { openTestDb, type TestDb } from './helpers';
import { repoRoot } from './server';
import { unhandled, sessionOf, quietStore } from './fixtures/reliability/kit';

let t: TestDb;
let raw: Collection<any>;
const HASH_SECRET = 'hash-ids-secret-0001';

test.before(async () => {
  t = await openTestDb(__filename);
  raw = t.db.collection('sessions');
});
test.after(async () => void (await t?.close()));

const storeOf = (extra: Record<string, unknown> = {}) => quietStore(t, extra);

// ---- hashIds ----------------------------------------------------------------------------------------------------

test('hashIds: the stored _id is the HMAC-SHA256 of the sid, never the sid; get/set/touch/destroy work the same', async () => {
  await raw.deleteMany({});
  const store = storeOf({ hashIds: { secret: HASH_SECRET } });
  const sid = 'plain-session-id-ABC123';
  const expectedId = createHmac('sha256', HASH_SECRET).update(sid, 'utf8').digest('base64url');

  await store.set(sid, sessionOf({ n: 1 }));
  const docs = await raw.find({}).toArray();
  assert.is(docs.length, 1);
  assert.is(docs[0]._id, expectedId);
  assert.not.ok(JSON.stringify(docs).includes(sid), 'the sid is stored somewhere in the document');
  assert.is(await raw.countDocuments({ _id: sid }), 0);

  assert.is(((await store.get(sid)) as { n?: number }).n, 1);
  const before = docs[0].expires as Date;
  await new Promise((r) => setTimeout(r, 5));
  await store.touch(sid, sessionOf({ n: 1 }, 7_200_000));
  const touched = await raw.findOne({ _id: expectedId });
  assert.ok(touched.expires > before, 'touch did not move expires of the hashed document');
  await store.set(sid, sessionOf({ n: 2 }));
  assert.is(((await store.get(sid)) as { n?: number }).n, 2);
  assert.is(await store.length(), 1);
  const entries = [];
  for await (const e of store) entries.push(e);
  assert.equal(entries.map((e) => e.id), [expectedId], 'iteration gives the stored (hashed) id');

  // Whoever holds a copy of the collection cannot turn an _id into a session: the _id is not the sid, and a store
  // with another secret (or none) finds nothing under the sid.
  assert.is(await storeOf().get(sid), null);
  assert.is(await storeOf({ hashIds: { secret: 'another-secret-000' } }).get(sid), null);
  // Using the stored _id as a cookie value resumes nothing either (it is hashed again).
  assert.is(await store.get(expectedId), null);

  const err = await store.ids().then(() => assert.unreachable('ids() answered with hashIds on'), (e) => e);
  assert.instance(err, MongoStoreError);
  assert.is(err.code, 'ERR_CONNECT_MONGO_UNSUPPORTED');
  assert.match(err.message, /hashIds/);

  await store.destroy(sid);
  assert.is(await store.get(sid), null);
  assert.is(await raw.countDocuments({ session: { $ne: null } }), 0, 'the session is gone (a destroy leaves only an expired marker without it)');
  assert.is(await raw.countDocuments({ _id: sid }), 0, 'the marker is under the HMAC too');
  await store.close();
});

test('hashIds with transformId: the HMAC is taken of the transformed id', async () => {
  await raw.deleteMany({});
  const store = storeOf({ hashIds: { secret: HASH_SECRET }, transformId: (s: string) => `app1:${s}` });
  await store.set('abc', sessionOf({ n: 3 }));
  const [doc] = await raw.find({}).toArray();
  assert.is(doc._id, createHmac('sha256', HASH_SECRET).update('app1:abc').digest('base64url'));
  assert.is(((await store.get('abc')) as { n?: number }).n, 3);
  await store.close();
});

// ---- logging ----------------------------------------------------------------------------------------------------

test('DEBUG=connect-mongo shows no sid, session data, secret or password (sids only as a short hash)', async () => {
  const secrets = {
    CHILD_SID: 'SIDMARK-do-not-log-4c1e9',
    CHILD_PAYLOAD: 'PAYLOADMARK-do-not-log-77b2',
    CHILD_PASSWORD: 'PWDMARK-s3cr3t-pa55',
    CHILD_CRYPTO_SECRET: 'CRYPTOMARK-secret-9d0',
    CHILD_HASH_SECRET: 'HASHMARK-secret-1a7',
  };
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/fixtures/reliability/debug-child.ts')], {
    cwd: repoRoot,
    env: { ...process.env, DEBUG: 'connect-mongo', DEBUG_COLORS: '0', CHILD_URI: t.uri, CHILD_DB: t.dbName, ...secrets },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.is(code, 0, `the child failed:\n${stderr.slice(-3000)}`);
  assert.match(stdout, "DONE");
  if (process.env.SHOW_CHILD_STDERR) console.log(stderr);

  // The debug output is really there (so its silence about secrets means something)…
  const debugLines = stderr.split('\n').filter((l) => /\bconnect-mongo\b/.test(l) && !l.startsWith('app log'));
  assert.ok(debugLines.length >= 10, `too little debug output to judge:\n${stderr}`);
  const tag = `#${createHash('sha256').update(secrets.CHILD_SID).digest('base64url').slice(0, 8)}`;
  assert.match(stderr, tag, 'debug output should follow the session by its short hash');
  assert.match(stderr, /alice:\*\*\*\*@/, 'the URL should be logged masked');
  assert.match(stderr, /app log: get with a password URL failed/, 'the password store did not fail as expected');
  // …and none of these appear, in debug lines or in the errors the app logged.
  for (const [name, value] of Object.entries(secrets)) {
    assert.not.ok(stderr.includes(value), `${name} appears in stderr:\n${stderr.split('\n').filter((l) => l.includes(value)).join('\n')}`);
    assert.not.ok(stderr.includes(encodeURIComponent(value)), `${name} appears (URL-encoded) in stderr`);
  }
  console.log(`\n# security: ${debugLines.length} debug lines and the app's error logs checked: no sid, payload, password or secret`);
});

// ---- encryption -------------------------------------------------------------------------------------------------

const K1 = 'crypto-secret-one-111';
const K2 = 'crypto-secret-two-222';
const MARK = 'TAMPER-PAYLOAD-MARK';

/** Rewrites the stored ciphertext of `id` with `edit(bytes)` applied to its decoded form. */
async function editCiphertext(id: string, edit: (b: Buffer) => Buffer | string) {
  const doc = await raw.findOne({ _id: id });
  assert.match(doc.session, /^cm1:/);
  const bytes = Buffer.from(doc.session.slice(4), 'base64');
  const out = edit(bytes);
  await raw.updateOne({ _id: id }, { $set: { session: typeof out === 'string' ? out : `cm1:${out.toString('base64')}` } });
}

async function expectCorrupt(store: MongoStore, sid: string, label: string) {
  const err = await store.get(sid).then((v) => assert.unreachable(`${label}: get() answered ${JSON.stringify(v)}`), (e) => e);
  assert.instance(err, SessionCorruptError, `${label}: ${err}`);
  assert.not.match(err.message, MARK);
  assert.not.match(err.message, sid);
}

test('encryption: the payload is not readable at rest; flipped bytes (IV, tag, body), truncation, swaps, wrong secret all fail authentication', async () => {
  await raw.deleteMany({});
  const store = storeOf({ encryption: { secret: K1 } });
  const put = async (sid: string) => store.set(sid, sessionOf({ who: `${MARK}-${sid}` }));
  await put('sess-alpha');
  await put('sess-bravo');
  const stored = await raw.findOne({ _id: 'sess-alpha' });
  assert.not.ok(JSON.stringify(stored).includes(MARK), 'the payload is stored in clear');
  assert.is(((await store.get('sess-alpha')) as { who?: string }).who, `${MARK}-sess-alpha`);

  let cases = 0;
  const tamper = async (label: string, edit: (b: Buffer) => Buffer | string) => {
    // a session of its own each time: the restoring write is then a full write whatever src/unchanged.ts makes of
    // the same session sent again
    await store.set('sess-victim', sessionOf({ who: `${MARK}-sess-victim`, case: cases }));
    await editCiphertext('sess-victim', edit);
    await expectCorrupt(store, 'sess-victim', label);
    cases++;
  };
  await tamper('a flipped IV byte', (b) => (b[0] ^= 1, b));
  await tamper('a flipped tag byte', (b) => (b[12] ^= 0x80, b));
  await tamper('a flipped body byte', (b) => (b[b.length - 1] ^= 1, b));
  await tamper('a flipped middle body byte', (b) => (b[28 + ((b.length - 28) >> 1)] ^= 0x10, b));
  await tamper('truncated by one byte', (b) => b.subarray(0, b.length - 1));
  await tamper('truncated to the IV and tag', (b) => b.subarray(0, 28));
  await tamper('truncated below the IV and tag', (b) => b.subarray(0, 20));
  await tamper('an empty ciphertext', () => 'cm1:');
  await tamper('a byte appended', (b) => Buffer.concat([b, Buffer.from([0])]));
  await tamper('the tag zeroed', (b) => (b.fill(0, 12, 28), b));
  await tamper('base64 garbage', () => 'cm1:!!!not base64!!!');
  await tamper('the prefix removed', (b) => b.toString('base64'));

  // Swap the ciphertexts of two sessions: each is bound to its own _id (the AAD), so both fail.
  const a = (await raw.findOne({ _id: 'sess-alpha' })).session;
  const b = (await raw.findOne({ _id: 'sess-bravo' })).session;
  await raw.updateOne({ _id: 'sess-alpha' }, { $set: { session: b } });
  await raw.updateOne({ _id: 'sess-bravo' }, { $set: { session: a } });
  await expectCorrupt(store, 'sess-alpha', "b's ciphertext under a");
  await expectCorrupt(store, 'sess-bravo', "a's ciphertext under b");
  // Copied (not swapped) to a new _id: also refused.
  await raw.insertOne({ _id: 'sess-copy', session: a, expires: new Date(Date.now() + 60_000) });
  await expectCorrupt(store, 'sess-copy', "a's ciphertext copied under another _id");
  cases += 3;

  // Wrong secret.
  await put('sess-charlie');
  await expectCorrupt(storeOf({ encryption: { secret: K2 } }), 'sess-charlie', 'the wrong secret');
  cases++;
  // With onCorruptSession: 'ignore', a tampered session is simply absent (and reported).
  const lenient = storeOf({ encryption: { secret: K1 }, onCorruptSession: 'ignore' });
  const reported: Error[] = [];
  lenient.on('corrupt', (e) => reported.push(e));
  assert.is(await lenient.get('sess-alpha'), null);
  assert.is(reported.length, 1);
  assert.instance(reported[0], SessionCorruptError);
  console.log(`\n# security: ${cases} tampered/misplaced ciphertexts, all refused with SessionCorruptError`);
  await store.close();
});

test('encryption key rotation: secret [new, old] reads old sessions and writes with the new key', async () => {
  await raw.deleteMany({});
  const old = storeOf({ encryption: { secret: K1 } });
  await old.set('rot', sessionOf({ who: 'old-key' }));
  const rotated = storeOf({ encryption: { secret: [K2, K1] } });
  assert.is(((await rotated.get('rot')) as { who?: string }).who, 'old-key');
  await rotated.set('rot', sessionOf({ who: 'new-key' }));
  // Written with K2: a K2-only store reads it, a K1-only store cannot.
  assert.is(((await storeOf({ encryption: { secret: K2 } }).get('rot')) as { who?: string }).who, 'new-key');
  await expectCorrupt(old, 'rot', 'a session rewritten with the new key, read with only the old one');
  assert.equal(unhandled, []);
});

test.run();
