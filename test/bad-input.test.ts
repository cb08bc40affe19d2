/**
 * Bad input from outside the store: session ids that are not strings (query-operator injection through the sid or
 * transformId), corrupt stored documents, and sessions that cannot be serialized. Each is refused with a clear
 * error (or, for corrupt documents with onCorruptSession: 'ignore', treated as absent with a 'corrupt' event);
 * nothing crashes, nothing reaches express-session as garbage, no message carries session data.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Collection } from 'mongodb';
import { MongoStore, MongoStoreError, SessionCorruptError } from '../src';
import { openTestDb, type TestDb } from './helpers';
import { unhandled, sessionOf, quietStore } from './fixtures/reliability/kit';

let t: TestDb;
let raw: Collection<any>;
const MARK = 'PAYLOAD-MARK-7f3a'; // recognisable session data that must never appear in an error message

test.before(async () => {
  t = await openTestDb(__filename, { monitorCommands: true });
  raw = t.db.collection('sessions');
});
test.after(async () => void (await t?.close()));

const storeOf = (extra: Record<string, unknown> = {}) => quietStore(t, extra);

/**
 * Commands this test's client sent since `since` (the store shares the client, so it sees the store's), without the
 * expired-session sweep the auto-remover runs on its own timer (a delete on `expires`, never on a sid).
 */
function sentSince(since: number) {
  return t.commands
    .slice(since)
    .filter((c) => !(c.commandName === 'delete' && 'expires' in ((c.command.deletes as Array<{ q: object }>)[0]?.q ?? {})))
    .map((c) => `${c.commandName} ${JSON.stringify(c.command.filter ?? c.command.updates ?? c.command.deletes ?? '')}`);
}

const LONG = 'x'.repeat(1025);
const HUGE = 'y'.repeat(1_000_000);
const badSids: Array<[string, unknown]> = [
  ['{ $ne: null }', { $ne: null }],
  ['{ $gt: "" }', { $gt: '' }],
  ['{ $regex: ".*" }', { $regex: '.*' }],
  ['{ $where: "1" }', { $where: '1' }],
  ['an array', ['a', 'b']],
  ['an empty array', []],
  ['a number', 42],
  ['zero', 0],
  ['NaN', NaN],
  ['true', true],
  ['empty string', ''],
  ['null', null],
  ['undefined', undefined],
  ['a 1025-character string', LONG],
  ['a 1,000,000-character string', HUGE],
  ['a String object', new String('abc')],
  ['a Buffer', Buffer.from('abc')],
  ['a function', () => 'abc'],
  ['a Symbol', Symbol('sid')],
  ['a BigInt', 10n],
  ['an ObjectId-like', { _bsontype: 'ObjectId', id: Buffer.alloc(12) }],
  // '\uD800' and '\uDFFF' both become U+FFFD in UTF-8: they would share one stored session.
  ['a lone high surrogate', 'abc\uD800'],
  ['a lone low surrogate', 'abc\uDFFF'],
];

test(`${badSids.length} malformed sids: get/set/touch/destroy refuse them before any command is sent`, async () => {
  const store = storeOf();
  await store.ready();
  await store.set('victim', sessionOf({ who: MARK }));
  const since = t.commands.length;
  let refused = 0;
  for (const [label, sid] of badSids) {
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['get', () => store.get(sid as string)],
      ['set', () => store.set(sid as string, sessionOf({ x: 1 }))],
      ['touch', () => store.touch(sid as string, sessionOf({ x: 1 }))],
      ['destroy', () => store.destroy(sid as string)],
      ['get (callback)', () => new Promise((res, rej) => store.get(sid as string, (e, v) => (e ? rej(e) : res(v))))],
    ];
    for (const [op, call] of calls) {
      const err = await call().then(
        (v) => assert.unreachable(`${op}(${label}) was accepted and answered ${String(v)}`),
        (e) => e,
      );
      assert.instance(err, MongoStoreError, `${op}(${label}): ${err}`);
      assert.is(err.code, 'ERR_CONNECT_MONGO_INVALID_SID', `${op}(${label}): ${err.message}`);
      assert.ok(!err.message.includes('yyyyyyyyyy') && !err.message.includes('xxxxxxxxxx') && !err.message.includes('$'), `${op}(${label}) echoes the sid: ${err.message}`);
      refused++;
    }
  }
  assert.equal(sentSince(since), [], 'a command was sent for a malformed sid');
  // The injection did not reach anything: the stored session is untouched.
  assert.is(((await store.get('victim')) as { who?: string }).who, MARK);
  console.log(`\n# bad input: ${badSids.length} malformed sids × 5 calls = ${refused} refusals, 0 commands sent`);
  await store.close();
});

test('a transformId that returns a non-string (or throws) is refused before any command is sent', async () => {
  const transforms: Array<[string, (sid: string) => unknown]> = [
    ['an operator object', () => ({ $ne: null })],
    ['a number', () => 42],
    ['an empty string', () => ''],
    ['undefined', () => undefined],
    ['an array', (sid) => [sid]],
    ['null', () => null],
  ];
  for (const [label, transformId] of transforms) {
    const store = storeOf({ transformId });
    await store.ready();
    const since = t.commands.length;
    for (const op of ['get', 'set', 'touch', 'destroy'] as const) {
      const call = op === 'get' || op === 'destroy' ? store[op]('good-sid') : store[op]('good-sid', sessionOf());
      const err = await (call as Promise<unknown>).then(
        () => assert.unreachable(`${op} with transformId returning ${label} was accepted`),
        (e) => e,
      );
      assert.instance(err, MongoStoreError, `${label}: ${err}`);
      assert.is(err.code, 'ERR_CONNECT_MONGO_INVALID_SID');
      assert.match(err.message, /transformId must return a non-empty string/);
    }
    assert.equal(sentSince(since), [], `transformId returning ${label}: a command was sent`);
    await store.close();
  }
  const throwing = storeOf({ transformId: () => { throw new Error('transform failed'); } });
  await throwing.ready();
  const since = t.commands.length;
  await throwing.get('good-sid').then(() => assert.unreachable(), (e) => assert.match(e.message, /transform failed/));
  assert.equal(sentSince(since), []);
  await throwing.close();
});

/** Corrupt documents inserted with the driver, as another program (or a disk, or an attacker) could leave them. */
const corrupt: Array<[string, Record<string, unknown>, { crypto?: boolean }?]> = [
  ['invalid JSON in session', { session: `{"cookie":{},"who":"${MARK}"` }],
  ['session is a number', { session: 42 }],
  ['session is an array', { session: [MARK] }],
  ['session is null', { session: null }],
  ['session is a boolean', { session: true }],
  ['session missing', { expires: new Date(Date.now() + 60_000) }],
  ['session JSON is an array', { session: JSON.stringify([{ cookie: {} }, MARK]) }],
  ['session JSON is a string', { session: JSON.stringify(MARK) }],
  ['session JSON is null', { session: 'null' }],
  ['expires is a string', { session: JSON.stringify({ cookie: {}, who: MARK }), expires: 'tomorrow' }],
  ['expires is a number', { session: JSON.stringify({ cookie: {}, who: MARK }), expires: Date.now() + 60_000 }],
  ['expires is null', { session: JSON.stringify({ cookie: {}, who: MARK }), expires: null }],
  ['lastModified is not a date', { session: JSON.stringify({ cookie: {}, who: MARK }), lastModified: 'yesterday' }],
  ['ciphertext that fails to decrypt', { session: `cm1:${Buffer.from(`${MARK}-not-a-real-ciphertext-at-all`).toString('base64')}` }, { crypto: true }],
  ['plaintext where ciphertext is expected', { session: JSON.stringify({ cookie: {}, who: MARK }) }, { crypto: true }],
  ['ciphertext too short', { session: 'cm1:AAAA' }, { crypto: true }],
  ['a sub-document where ciphertext is expected', { session: { cookie: {}, who: MARK } }, { crypto: true }],
  ['kruptein-looking base64 that is not kruptein', { session: Buffer.from(`${MARK}-not-asn1`).toString('base64') }, { crypto: true }],
  ['an empty string where ciphertext is expected', { session: '' }, { crypto: true }],
];
// (A session without a cookie is not corrupt: connect-mongo 6 stores and returns it; test/differential-codec.test.ts.)

test(`${corrupt.length} corrupt stored documents: get() fails with SessionCorruptError (default), no session data in messages`, async () => {
  const plain = storeOf();
  const crypted = storeOf({ encryption: { secret: 'bad-input-crypto-secret' } });
  for (const [i, [label, fields, o]] of corrupt.entries()) {
    const sid = `corrupt-${i}-SIDMARK`;
    await raw.deleteMany({ _id: sid });
    await raw.insertOne({ _id: sid, ...fields });
    const store = o?.crypto ? crypted : plain;
    const err = await store.get(sid).then(
      (v) => assert.unreachable(`${label}: get() answered ${JSON.stringify(v)}`),
      (e) => e,
    );
    assert.instance(err, SessionCorruptError, `${label}: ${err}`);
    assert.is(err.code, 'ERR_CONNECT_MONGO_CORRUPT');
    const text = `${err.message} ${(err.cause as Error)?.message ?? ''}`;
    assert.not.match(text, MARK, `${label}: the error carries session data: ${text}`);
    assert.not.match(text, 'SIDMARK', `${label}: the error carries the sid: ${text}`);
    // Callback style answers the same error (what express-session sees): no throw, no crash.
    const cbErr = await new Promise((resolve) => store.get(sid, (e) => resolve(e)));
    assert.instance(cbErr, SessionCorruptError);
    // The next save replaces the corrupt document (a stray lastModified included: set() unsets it without touchAfter).
    await store.set(sid, sessionOf({ healed: true }));
    assert.is(((await store.get(sid)) as { healed?: boolean }).healed, true, `${label}: set() did not replace it`);
  }
  console.log(`\n# bad input: ${corrupt.length} corrupt stored documents → SessionCorruptError, then replaced by the next set()`);
  await plain.close();
  await crypted.close();
});

test(`the same ${corrupt.length} documents with onCorruptSession: 'ignore' → null and one 'corrupt' event each`, async () => {
  const plain = storeOf({ onCorruptSession: 'ignore' });
  const crypted = storeOf({ onCorruptSession: 'ignore', encryption: { secret: 'bad-input-crypto-secret' } });
  const seen: Error[] = [];
  plain.on('corrupt', (e) => seen.push(e));
  crypted.on('corrupt', (e) => seen.push(e));
  for (const [i, [label, fields, o]] of corrupt.entries()) {
    const sid = `ignored-${i}-SIDMARK`;
    await raw.insertOne({ _id: sid, ...fields });
    const before = seen.length;
    const v = await (o?.crypto ? crypted : plain).get(sid);
    assert.is(v, null, `${label}: answered ${JSON.stringify(v)}`);
    assert.is(seen.length, before + 1, `${label}: no 'corrupt' event`);
    assert.instance(seen.at(-1), SessionCorruptError);
    assert.not.match(seen.at(-1)!.message, MARK);
    assert.not.match(seen.at(-1)!.message, 'SIDMARK');
  }
  await plain.close();
  await crypted.close();
});

test('corrupt documents seen by all()/entries(): an _id that is not a string, a bad expires', async () => {
  await raw.deleteMany({});
  const ok = storeOf({ onCorruptSession: 'ignore' });
  await ok.set('good', sessionOf({ n: 1 }));
  await raw.insertOne({ _id: 12345 as never, session: JSON.stringify({ cookie: {}, who: MARK }), expires: new Date(Date.now() + 60_000) });
  await raw.insertOne({ _id: 'bad-expires', session: JSON.stringify({ cookie: {}, who: MARK }), expires: 'soon' });
  const events: Error[] = [];
  ok.on('corrupt', (e) => events.push(e));
  const all = await ok.all();
  assert.equal(all.map((s) => (s as { n?: number }).n), [1], 'only the good session is listed');
  assert.ok(events.length >= 1, "no 'corrupt' event for the numeric _id");
  for (const e of events) assert.not.match(e.message, MARK);
  // A sid of the same digits as a string does not find the numeric _id (no type confusion).
  assert.is(await ok.get('12345'), null);
  const strict = storeOf();
  const err = await strict.all().then(() => assert.unreachable('all() returned a corrupt session'), (e) => e);
  assert.instance(err, SessionCorruptError);
  await ok.close();
  await strict.close();
  await raw.deleteMany({});
});

test('sessions that cannot be serialized fail set() with a clear error and leave the stored one intact', async () => {
  const cyclic: Record<string, unknown> = sessionOf({ who: MARK });
  cyclic.self = cyclic;
  const deep: Record<string, unknown> = sessionOf({});
  (deep as { a: unknown }).a = { b: { c: {} } };
  ((deep as { a: { b: { c: Record<string, unknown> } } }).a.b.c).loop = deep;
  const cases: Array<[string, unknown]> = [
    ['a cycle', cyclic],
    ['a deep cycle', deep],
    ['a BigInt', sessionOf({ n: 10n, who: MARK })],
    ['a toJSON that throws', sessionOf({ who: { toJSON() { throw new Error('nope'); } } })],
    ['over 16 MB', sessionOf({ big: 'x'.repeat(17 * 1024 * 1024) })],
  ];
  for (const opts of [{}, { crypto: { secret: 'bad-input-crypto-secret' } }, { encryption: { secret: 'bad-input-crypto-secret' } }, { stringify: false }]) {
    const store = storeOf(opts);
    const kind = JSON.stringify(opts);
    for (const [label, session] of cases) {
      if (label === 'a BigInt' && 'stringify' in opts) continue; // BSON stores a BigInt (as a 64-bit integer)
      if (label === 'a toJSON that throws' && 'stringify' in opts) continue; // BSON never calls toJSON (only the cookie's, as connect-mongo 6)
      const sid = `unserializable-${label}`;
      await store.set(sid, sessionOf({ kept: 'original' }));
      const err = await store.set(sid, session as never).then(
        () => assert.unreachable(`${kind} set() of ${label} succeeded`),
        (e) => e,
      );
      assert.instance(err, MongoStoreError, `${kind} ${label}: ${err}`);
      assert.is(err.code, 'ERR_CONNECT_MONGO_SERIALIZE', `${kind} ${label}: ${err.code} ${err.message}`);
      assert.match(err.message, /cannot be serialized/);
      assert.not.match(err.message, MARK);
      assert.is(((await store.get(sid)) as { kept?: string }).kept, 'original', `${kind} ${label}: the stored session changed`);
    }
    await store.close();
  }
  assert.equal(unhandled, []);
});

test.run();
