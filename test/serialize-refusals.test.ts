/**
 * What a session may hold. With stringify: false the session goes to the server as a BSON document, and some values
 * make a server refuse it or (FerretDB) drop the connection, which the store would report as `disconnect`, and then
 * express-session serves every other user without a session. The store refuses them before anything is sent, with
 * ERR_CONNECT_MONGO_SERIALIZE, the same on every server, and no message, stack or cause carries a key or a value of
 * the session. The default (stringify: true) stores them as JSON does.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspect } from 'node:util';
import { BSON } from 'mongodb';
import { MongoStoreError, type MongoStore } from '../src';
import { openTestDb, isFerret, type TestDb } from './helpers';
import { unhandled, sessionOf, quietStore, startApp, get, pool } from './fixtures/reliability/kit';
import { walkDocument } from '../src/storable';

let t: TestDb;
test.before(async () => void (t = await openTestDb(__filename, { monitorCommands: true })));
test.after(async () => void (await t?.close()));

const MARK = 'VALUE-MARK-5d1c'; // a value of the session: never in an error
const EMAIL = 'alice.KEYMARK@example.com'; // a key that is user data (and holds a '.'): never in an error
const MiB = 1024 * 1024;

/** `n` objects nested in one another. */
function nested(n: number): Record<string, unknown> {
  let o: Record<string, unknown> = { v: MARK };
  for (let i = 1; i < n; i++) o = { d: o };
  return o;
}

const cyclic = (key: string) => {
  const inner: Record<string, unknown> = { v: MARK };
  const s = sessionOf({ byEmail: { [key]: inner } });
  inner.back = s;
  return s;
};

/** What set() must refuse with stringify: false, each with the part of the message that names the kind of problem. */
const refusedAsBson: Array<[string, () => unknown, RegExp]> = [
  ['NaN', () => sessionOf({ score: NaN, v: MARK }), /NaN at session\.<key 2>: NaN and Infinity cannot be stored/],
  ['NaN inside an array', () => sessionOf({ list: [1, { score: NaN }] }), /NaN at session\.<key 2>\[1\]\.<key 1>/],
  ['Infinity', () => sessionOf({ v: Infinity }), /Infinity/],
  ['-Infinity', () => sessionOf({ v: -Infinity }), /-Infinity/],
  ['a BSON Double NaN', () => sessionOf({ v: new BSON.Double(NaN) }), /NaN/],
  ['a key that starts with $', () => sessionOf({ [`$${EMAIL}`]: MARK }), /a key that starts with "\$" at session\.<key 2>/],
  ['an email as a key (a dot)', () => sessionOf({ byEmail: { [EMAIL]: MARK } }), /a key that contains "\." at session\.<key 2>\.<key 1>/],
  ['a key with a NUL', () => sessionOf({ [`a\0KEYMARK`]: MARK }), /a key that contains a NUL character/],
  ['a $ key in a Map', () => sessionOf({ m: new Map([[`$${EMAIL}`, MARK]]) }), /starts with "\$"/],
  ['a DBRef', () => sessionOf({ ref: new BSON.DBRef(EMAIL, MARK as never) }), /DBRef/],
  ['an array inside an array', () => sessionOf({ grid: [[MARK]] }), /an array directly inside an array at session\.<key 2>\[0\]/],
  ['a Decimal128', () => sessionOf({ price: BSON.Decimal128.fromString('1.5') }), /Decimal128/],
  ['a MinKey', () => sessionOf({ k: new BSON.MinKey() }), /MinKey/],
  ['a MaxKey', () => sessionOf({ k: new BSON.MaxKey() }), /MaxKey/],
  ['a Code', () => sessionOf({ k: new BSON.Code(MARK) }), /Code/],
  ['a BSON Symbol', () => sessionOf({ k: new BSON.BSONSymbol(MARK) }), /Symbol/],
  ['a NUL in a string', () => sessionOf({ note: `a\0${MARK}` }), /a string that contains a NUL character/],
  ['a BigInt beyond 64 bits', () => sessionOf({ n: 2n ** 70n }), /BigInt outside the 64-bit range/],
  ['99 levels', () => sessionOf({ deep: nested(98) }), /more than 98 levels/],
  ['a cycle', () => cyclic('KEYMARK-user'), /a cycle at session\.<key 2>\.<key 1>\.<key 2>/],
  ['over 16 MB by a little', () => sessionOf({ big: 'x'.repeat(16 * MiB + 100), v: MARK }), /larger than a MongoDB document/],
];

/** Commands that wrote `sid` since `since`. */
const writesOf = (sid: string, since: number) =>
  t.commands.slice(since).filter((c) => c.commandName === 'update' && JSON.stringify(c.command.updates).includes(JSON.stringify(sid)));

/** The error a set() of `session` rejects with (it must reject). */
async function refusal(store: MongoStore, sid: string, session: unknown, label: string): Promise<MongoStoreError> {
  const err = await store.set(sid, session as never).then(
    () => assert.unreachable(`set() of ${label} succeeded`),
    (e) => e,
  );
  assert.instance(err, MongoStoreError, `${label}: ${err}`);
  return err as MongoStoreError;
}

/** Everything logging the error could show: message, stack, cause, at any depth. */
function assertNothingOfTheSession(err: Error, label: string) {
  const everything = `${err.message}\n${err.stack}\n${inspect(err, { depth: Infinity, showHidden: true })}`;
  for (const secret of [MARK, 'KEYMARK', 'example.com']) assert.not.ok(everything.includes(secret), `${label}: the error shows ${secret}:\n${everything.slice(0, 2000)}`);
}

test('stringify: false: each value a server cannot store is refused before anything is sent, keys and values masked', async () => {
  const store = quietStore(t, { stringify: false });
  let disconnects = 0;
  store.on('disconnect', () => disconnects++);
  const ok = sessionOf({ kept: 'original' });
  for (const [label, make, why] of refusedAsBson) {
    const sid = `refused-${label}`;
    await store.set(sid, ok);
    const since = t.commands.length;
    const err = await refusal(store, sid, make(), label);
    assert.is(err.code, 'ERR_CONNECT_MONGO_SERIALIZE', `${label}: ${err.code} ${err.message}`);
    assert.match(err.message, /^the session cannot be serialized: /, label);
    assert.match(err.message, why, `${label}: ${err.message}`);
    assertNothingOfTheSession(err, label);
    assert.equal(writesOf(sid, since), [], `${label}: a write was sent`);
    assert.is(((await store.get(sid)) as { kept?: string }).kept, 'original', `${label}: the stored session changed`);
  }
  // What the store may send: a BigInt in range, -0, an empty key, BSON values FerretDB keeps, 98 levels, an array in
  // an object in an array, just under 16 MB.
  const fine: Array<[string, unknown]> = [
    ['a BigInt', 10n],
    ['-0', -0],
    ['an empty key', { '': 1 }],
    ['BSON values', [new BSON.ObjectId(), BSON.Long.fromNumber(5), new BSON.Int32(5), new BSON.Timestamp({ t: 1, i: 1 }), new Date(), /x/, Buffer.from('x')]],
    ['98 levels', nested(97)],
    ['an array in an object in an array', [{ a: [1] }]],
    ['just under 16 MB', 'x'.repeat(16 * MiB - 8 * 1024)],
  ];
  for (const [label, value] of fine) {
    await store.set(`fine-${label}`, sessionOf({ value }));
    assert.ok(await store.get(`fine-${label}`), `${label} was not stored`);
  }
  await store.get('refused-NaN'); // one more round trip: a dropped connection would have been reported by now
  assert.is(disconnects, 0, "a refused session made the store emit 'disconnect'");
  await store.close();
});

test("an app's serialize answering a document gets the same checks; with crypto the document is encrypted first", async () => {
  const custom = quietStore(t, { serialize: (s: unknown) => ({ ...(s as object), score: NaN }), unserialize: (v: unknown) => v, collectionName: 'custom' });
  const err = await refusal(custom, 'custom-nan', sessionOf({ v: MARK }), 'serialize answering NaN');
  assert.is(err.code, 'ERR_CONNECT_MONGO_SERIALIZE');
  await custom.close();
  // Encrypted, the session is a string: nothing of it reaches the server as BSON.
  const crypted = quietStore(t, { stringify: false, crypto: { secret: 'serialize-refusals-secret' }, collectionName: 'crypted' });
  await crypted.set('crypted', sessionOf({ score: NaN, grid: [[1]], [`$${EMAIL}`]: 1 }));
  const back = (await crypted.get('crypted')) as unknown as Record<string, unknown>;
  assert.equal(back.grid, [[1]]);
  assert.is(back.score, null); // the cipher's JSON
  await crypted.close();
});

test('stringify: true (the default): the same sessions are stored as JSON stores them (NaN and Infinity become null)', async () => {
  const store = quietStore(t, { collectionName: 'json' });
  const session = sessionOf({ score: NaN, inf: Infinity, [`$${EMAIL}`]: 1, byEmail: { [EMAIL]: MARK }, [`a\0b`]: 2, grid: [[1, 2]], note: 'a\0b', deep: nested(120) });
  await store.set('json', session);
  const back = (await store.get('json')) as Record<string, any>;
  assert.is(back.score, null);
  assert.is(back.inf, null);
  assert.is(back[`$${EMAIL}`], 1);
  assert.is(back.byEmail[EMAIL], MARK);
  assert.is(back['a\0b'], 2);
  assert.equal(back.grid, [[1, 2]]);
  assert.is(back.note, 'a\0b');
  // The 16 MB limit is the stored document's, whatever the form.
  const err = await refusal(store, 'json-big', sessionOf({ big: 'x'.repeat(16 * MiB + 100) }), 'over 16 MB as JSON');
  assert.is(err.code, 'ERR_CONNECT_MONGO_SERIALIZE');
  assert.match(err.message, /larger than a MongoDB document/);
  await store.close();
});

test('what JSON cannot encode (a cycle, a BigInt) is named with its keys masked, with and without crypto', async () => {
  for (const opts of [{}, { crypto: { secret: 'serialize-refusals-secret' } }, { encryption: { secret: 'serialize-refusals-secret' } }]) {
    const store = quietStore(t, { ...opts, collectionName: 'json-errors' });
    const kind = JSON.stringify(opts);
    for (const [label, session, why] of [
      ['a cycle', cyclic(EMAIL), /a cycle at session\.<key 2>\.<key 1>\.<key 2>/],
      ['a BigInt', sessionOf({ byEmail: { [EMAIL]: 10n } }), /a BigInt at session\.<key 2>\.<key 1> \(JSON has none\)/],
    ] as const) {
      const err = await refusal(store, `json-${label}`, session, `${kind} ${label}`);
      assert.is(err.code, 'ERR_CONNECT_MONGO_SERIALIZE', `${kind} ${label}`);
      assert.match(err.message, why, `${kind} ${label}: ${err.message}`);
      assertNothingOfTheSession(err, `${kind} ${label}`);
    }
    await store.close();
  }
});

test("the walk's size bound is never below the encoder's count (it skips the encoder's count below 16 MB)", () => {
  let seed = 20_261_202;
  const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const text = () => Array.from({ length: Math.floor(rand() * 12) }, () => pick(['a', '€', '😀', '\ud800', 'ß', '字', ' '])).join('');
  const leaf = (): unknown =>
    pick<() => unknown>([
      () => text(), () => Math.floor(rand() * 1e6), () => rand() * 1e9, () => 2 ** 40, () => rand() < 0.5, () => null, () => undefined,
      () => new Date(), () => Buffer.from(text()), () => new BSON.ObjectId(), () => BSON.Long.fromNumber(7), () => new BSON.Int32(3),
      () => new BSON.Double(1.5), () => new BSON.Timestamp({ t: 1, i: 2 }), () => () => 1, () => 10n,
    ])();
  const value = (depth: number, inArray: boolean): unknown => {
    const r = rand();
    if (depth > 4 || r < 0.5) return leaf();
    if (r < 0.75 && !inArray) return Array.from({ length: Math.floor(rand() * (rand() < 0.1 ? 2000 : 6)) }, () => value(depth + 1, true));
    return Object.fromEntries(Array.from({ length: Math.floor(rand() * 6) }, () => [text(), value(depth + 1, false)]));
  };
  for (let i = 0; i < 500; i++) {
    const doc = Object.fromEntries(Array.from({ length: 1 + Math.floor(rand() * 8) }, () => [text(), value(1, false)]));
    const w = walkDocument(doc);
    assert.is(w.problem, undefined, `document ${i}: ${w.problem}`);
    assert.not.ok(w.uncounted, `document ${i} has a value the walk does not count`);
    const exact = BSON.calculateObjectSize(doc);
    assert.ok(w.bytes >= exact, `document ${i}: bound ${w.bytes} < ${exact} bytes`);
  }
});

test("a connection the server closes under one operation (not the server lost) is no 'disconnect'", async () => {
  // The store shares the client with code of the app's that sends FerretDB what it drops the connection for.
  const store = quietStore(t, { collectionName: 'shared-client' });
  const events: string[] = [];
  store.on('disconnect', () => events.push('disconnect'));
  store.on('connect', () => events.push('connect'));
  await store.set('before', sessionOf({ v: 1 }));
  for (let i = 0; i < 3; i++) {
    const sent = await t.db.collection('not-sessions').insertOne({ n: NaN }).then(() => 'stored', (e) => e.name);
    // FerretDB closes the connection (the pool is cleared, the server marked Unknown until the driver's next check);
    // mongod stores NaN, and this test then shows only that nothing else happens.
    assert.is(sent, isFerret ? 'MongoNetworkError' : 'stored');
    await store.set(`after-${i}`, sessionOf({ v: i }));
    assert.is(((await store.get(`after-${i}`)) as { v?: number }).v, i);
  }
  assert.equal(events, [], `the store emitted ${events.join(', ')}`);
  await store.close();
});

test("one user's session with NaN does not cost the other users their sessions (no 'disconnect')", async () => {
  const store = quietStore(t, { stringify: false, collectionName: 'app' });
  let disconnects = 0;
  store.on('disconnect', () => disconnects++);
  const app = await startApp(store, (a) =>
    a.get('/nan', (req, res) => {
      const s = req.session as unknown as { score?: number };
      s.score = NaN;
      req.session.save((err) => {
        delete s.score; // as it was loaded: express-session does not try the same save again at the response's end
        res.status(err ? 500 : 200).json({ code: (err as { code?: string } | undefined)?.code ?? null });
      });
    }),
  );
  try {
    const other = await get(`${app.url}/new?v=other`, { timeoutMs: 10_000 });
    assert.is(other.status, 200);
    const nan = await get(`${app.url}/new?v=nan-user`, { timeoutMs: 10_000 });
    const reads: Array<{ session: boolean; v: string | null }> = [];
    const nanCodes: Array<string | null> = [];
    await Promise.all([
      pool(Array.from({ length: 8 }, (_, i) => i), 2, async () => {
        nanCodes.push((await get(`${app.url}/nan`, { cookie: nan.cookie, timeoutMs: 10_000 })).body.code);
      }),
      pool(Array.from({ length: 120 }, (_, i) => i), 8, async () => {
        reads.push((await get(`${app.url}/read`, { cookie: other.cookie, timeoutMs: 10_000 })).body);
      }),
    ]);
    const without = reads.filter((r) => !r.session || r.v !== 'other').length;
    assert.is(disconnects, 0, `the store emitted 'disconnect' ${disconnects} times; ${without} of the other user's ${reads.length} requests had no session`);
    assert.is(without, 0, `${without} of the other user's ${reads.length} requests had no session`);
    assert.equal(nanCodes, Array(8).fill('ERR_CONNECT_MONGO_SERIALIZE'));
  } finally {
    await app.close();
    await store.close();
  }
  assert.equal(unhandled, []);
});

test.run();
