/**
 * Differential test of the codec against the real connect-mongo 6.0.0 (dev dependency `connect-mongo6`) and 5.1.0
 * (`connect-mongo5`): the same sessions through both stores on the same collection of the same server, each way,
 * comparing what get() returns and what is stored, for every serialization and encryption option connect-mongo has.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cookie, type Store } from 'express-session';
import { BSON, ObjectId, Binary } from 'mongodb';
import { MongoStore, SessionCorruptError, createKrupteinAdapter, createWebCryptoAdapter } from '../src';
import { openTestDb, type TestDb } from './helpers';

/* eslint-disable @typescript-eslint/no-require-imports */
const v6 = require('connect-mongo6') as { default: { create(o: object): Store }; createKrupteinAdapter(o: object): any; createWebCryptoAdapter(o: object): any };
const v5 = require('connect-mongo5') as { create(o: object): Store }; // 5.x is module.exports = MongoStore
/* eslint-enable @typescript-eslint/no-require-imports */

let t: TestDb;
const test = suite('differential codec');
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => void (await t?.close()));

const call = <T>(fn: (cb: (err: unknown, v?: T) => void) => void) => new Promise<T | undefined>((res, rej) => fn((e, v) => (e ? rej(e) : res(v))));
/** Canonical text of a value, BSON types included (ObjectId, Binary, Date), key order included. */
const canon = (v: unknown) => BSON.EJSON.stringify(v as never, { relaxed: false });

const EXPIRES = Date.now() + 3_600_000;
const OID = new ObjectId('65a1b2c3d4e5f60718293a4b');
/** A session as express-session hands it over: a real Cookie, and values BSON keeps but JSON does not. */
function sample(extra: Record<string, unknown> = {}) {
  const cookie = new (Cookie as any)({ httpOnly: true, path: '/' });
  // Fixed, so that two sessions made a few ms apart are the same.
  cookie.expires = new Date(EXPIRES);
  cookie.originalMaxAge = 3_600_000;
  return Object.assign(Object.create(null) as object, { cookie, user: 'ada', oid: OID, buf: Buffer.from('bytes'), when: new Date('2024-01-02T03:04:05.006Z'), nested: { list: [1, 'two', { three: 3 }], deep: { flag: true, none: null } }, ...extra }) as any;
}
const noCookie = () => ({ user: 'grace', nested: { n: 1 } }) as any;

type Old = 'v6' | 'v5';
const OLD = { v6: v6.default, v5 };
let n = 0;

/** Both stores on one fresh collection. The old one is never closed: it would close the shared client. */
function pair(old: Old, ours: object, theirs: object = ours) {
  const collectionName = `diff_${++n}_${old}`;
  const common = { dbName: t.dbName, collectionName, autoRemove: 'disabled' as const };
  return {
    collectionName,
    old: OLD[old].create({ ...common, clientPromise: Promise.resolve(t.client), ...theirs }),
    ours: new MongoStore({ ...common, client: t.client, ...ours } as any),
    doc: (id: string) => t.db.collection(collectionName).findOne({ _id: id as any }),
  };
}

/**
 * One scenario: the old store writes A, ours writes B; each store reads both. Ours must read A exactly as the old
 * store does, and the old store must read B exactly as it reads A. Unencrypted, the stored documents are the same.
 */
async function roundTrip(old: Old, ours: object, theirs: object, make: () => any, opts: { encrypted?: boolean; normalize?: (v: any) => any } = {}) {
  const ej = (v: unknown) => canon(opts.normalize ? opts.normalize(v) : v);
  const p = pair(old, ours, theirs);
  await call((cb) => p.old.set('A', make(), cb));
  await p.ours.set('B', make());
  const oldA = await call((cb) => p.old.get('A', cb));
  const oldB = await call((cb) => p.old.get('B', cb));
  const oursA = await p.ours.get('A');
  const oursB = await p.ours.get('B');
  assert.ok(oldA, 'the old store reads its own session');
  assert.is(ej(oursA), ej(oldA), 'ours reads the old store\'s session as the old store does');
  assert.is(ej(oldB), ej(oldA), 'the old store reads our session as it reads its own');
  assert.is(ej(oursB), ej(oldA), 'ours reads its own session as the old store reads its own');
  const [docA, docB] = [await p.doc('A'), await p.doc('B')];
  // the write-order stamp and stampedBy (src/write-order.ts) are the fields of ours connect-mongo 5/6 do not write
  assert.type(docB!.stamp, 'number');
  assert.equal(Object.keys(docB!).filter((k) => k !== 'stamp' && k !== 'stampedBy').sort(), Object.keys(docA!).sort(), 'same document fields');
  if (opts.encrypted) {
    assert.type(docA!.session, 'string');
    assert.type(docB!.session, 'string');
    assert.not.ok(docB!.session.includes('"ada"') || docB!.session.includes('"grace"'), 'encrypted at rest');
  } else {
    assert.is(ej(docB!.session), ej(docA!.session), 'the same stored session');
  }
  await p.ours.close();
  return { oursA, docA };
}

const KRUPTEIN_ALT = { secret: 'differential-secret', algorithm: 'aes-128-gcm', hashing: 'sha256', encodeas: 'hex' };
const configs: Array<{ name: string; ours: object; theirs?: object; encrypted?: boolean; v5?: boolean }> = [
  { name: 'defaults (stringify: true)', ours: {}, v5: true },
  { name: 'stringify: false', ours: { stringify: false }, v5: true },
  { name: 'crypto, default kruptein options', ours: { crypto: { secret: 'differential-secret' } }, encrypted: true, v5: true },
  { name: 'crypto, non-default kruptein options', ours: { crypto: KRUPTEIN_ALT }, encrypted: true, v5: true },
  { name: 'crypto with stringify: false', ours: { crypto: { secret: 'differential-secret' }, stringify: false }, encrypted: true },
  { name: 'crypto, a 5-character secret (a warning here)', ours: { crypto: { secret: 'short' } }, encrypted: true, v5: true },
];

for (const c of configs) {
  for (const old of ['v6', ...(c.v5 ? ['v5'] : [])] as Old[]) {
    test(`${old} ⇄ ours: ${c.name}: sessions with BSON values, and without a cookie`, async () => {
      const { oursA, docA }: { oursA: any; docA: any } = await roundTrip(old, c.ours, c.theirs ?? c.ours, sample, c);
      if ('stringify' in c.ours && !c.encrypted) {
        // stringify: false: only the cookie went through toJSON; the rest is BSON, as connect-mongo 6 stores it.
        assert.instance(oursA.oid, ObjectId);
        assert.instance(oursA.buf, Binary);
        assert.instance(oursA.when, Date);
        assert.instance(docA!.session.oid, ObjectId);
        assert.not.instance(docA!.session.cookie, Cookie);
      }
      // connect-mongo 5 leaves a missing cookie out of a BSON session; 6 (and ours) store cookie: null. Both read.
      const v5Bson = old === 'v5' && 'stringify' in c.ours && !c.encrypted;
      const { docA: bare }: { docA: any } = await roundTrip(old, c.ours, c.theirs ?? c.ours, noCookie, { ...c, normalize: v5Bson ? ({ cookie, ...rest }: any) => (cookie == null ? rest : { cookie, ...rest }) : undefined });
      if (v5Bson) assert.not.ok('cookie' in bare.session);
    });
  }
}

test('v6 ⇄ ours: cryptoAdapter createKrupteinAdapter (ours in ours, v6\'s in v6), default and non-default options', async () => {
  for (const o of [{ secret: 'differential-secret' }, KRUPTEIN_ALT]) {
    await roundTrip('v6', { cryptoAdapter: createKrupteinAdapter(o) }, { cryptoAdapter: v6.createKrupteinAdapter(o) }, sample, { encrypted: true });
    // The adapters themselves, crosswise.
    const plain = JSON.stringify({ x: 1 });
    assert.is(await v6.createKrupteinAdapter(o).decrypt(await createKrupteinAdapter(o).encrypt(plain)), await createKrupteinAdapter(o).decrypt(await v6.createKrupteinAdapter(o).encrypt(plain)));
  }
  // The adapter and the crypto option write the same format: one reads the other's sessions.
  const p = pair('v6', { crypto: { secret: 'differential-secret' } }, { cryptoAdapter: v6.createKrupteinAdapter({ secret: 'differential-secret' }) });
  await call((cb) => p.old.set('A', sample(), cb));
  assert.is((await p.ours.get('A') as any).user, 'ada');
  await p.ours.close();
});

test('v6 ⇄ ours: cryptoAdapter createWebCryptoAdapter (GCM defaults; CBC, hex, salt, iterations, ivLength)', async () => {
  for (const o of [{ secret: 'differential-secret' }, { secret: Buffer.from('differential-secret'), algorithm: 'AES-CBC' as const, encoding: 'hex' as const, salt: 'pepper', iterations: 1000 }, { secret: 'differential-secret', encoding: 'base64url' as const, ivLength: 16, iterations: 2000 }]) {
    for (const stringify of [true, false]) {
      await roundTrip('v6', { cryptoAdapter: createWebCryptoAdapter(o), stringify }, { cryptoAdapter: v6.createWebCryptoAdapter(o), stringify }, sample, { encrypted: true });
    }
  }
});

test('v6/v5 ⇄ ours: serialize alone, unserialize alone, both: what is stored and what unserialize receives', async () => {
  const received: Record<string, string[]> = {};
  const spy = (who: string) => (v: any) => {
    (received[who] ??= []).push(typeof v);
    return typeof v === 'string' ? { ...JSON.parse(v), via: 'unserialize' } : { ...v, via: 'unserialize' };
  };
  const serializeObj = (s: any) => ({ ...s, cookie: s.cookie.toJSON(), stamped: 'by serialize' });
  const serializeStr = (s: any) => JSON.stringify({ ...s, stamped: 'by serialize' });
  for (const old of ['v6', 'v5'] as Old[]) {
    // serialize alone, returning an object: stored as BSON, returned as stored.
    await roundTrip(old, { serialize: serializeObj }, { serialize: serializeObj }, sample);
    // unserialize alone: the session is stored as BSON (cookie through toJSON) and unserialize gets that object.
    received[`${old}-ours`] = [];
    received[`${old}-old`] = [];
    const { docA } = await roundTrip(old, { unserialize: spy(`${old}-ours`) }, { unserialize: spy(`${old}-old`) }, sample);
    assert.type(docA!.session, 'object');
    assert.equal(received[`${old}-ours`], received[`${old}-old`]);
    assert.ok(received[`${old}-ours`].every((x) => x === 'object'), 'unserialize receives an object');
    // both, with strings.
    await roundTrip(old, { serialize: serializeStr, unserialize: spy('x') }, { serialize: serializeStr, unserialize: spy('y') }, sample);
  }
  // With encryption too (connect-mongo 6's rules for the decrypted text).
  for (const crypto of [{ secret: 'differential-secret' }]) {
    received.a = [];
    received.b = [];
    await roundTrip('v6', { crypto, serialize: serializeStr, unserialize: spy('a') }, { crypto, serialize: serializeStr, unserialize: spy('b') }, sample, { encrypted: true });
    await roundTrip('v6', { crypto, unserialize: spy('a') }, { crypto, unserialize: spy('b') }, sample, { encrypted: true });
    assert.equal(received.a, received.b, 'unserialize receives the same types here and in connect-mongo 6');
  }
});

test('an encrypted database moved v6 → ours → v6 (and 5.1 → ours → 5.1) loses no session', async () => {
  for (const old of ['v6', 'v5'] as Old[]) {
    const crypto = { secret: 'differential-secret' };
    const p = pair(old, { crypto });
    for (let i = 0; i < 5; i++) await call((cb) => p.old.set(`s${i}`, sample({ i }), cb));
    await call((cb) => p.old.set('bare', noCookie(), cb));
    const all = await p.ours.all();
    assert.equal(all.map((s: any) => s.i ?? 'bare').sort(), [0, 1, 2, 3, 4, 'bare'], 'all() reads every one, the cookieless one included');
    // Ours rewrites two, touches one, adds one; then the old store reads them all.
    for (const i of [1, 3]) await p.ours.set(`s${i}`, { ...(await p.ours.get(`s${i}`)), rewritten: true } as any);
    await p.ours.touch('s2', (await p.ours.get('s2'))!);
    await p.ours.set('new', sample({ i: 5 }));
    for (const [sid, i] of [['s0', 0], ['s1', 1], ['s2', 2], ['s3', 3], ['s4', 4], ['new', 5]] as const) {
      const s = (await call((cb) => p.old.get(sid, cb))) as any;
      assert.is(s?.i, i, `${old} reads ${sid} after ours`);
      assert.is(s.rewritten, i === 1 || i === 3 ? true : undefined);
    }
    assert.is(((await call((cb) => p.old.get('bare', cb))) as any).user, 'grace');
    await p.ours.close();
  }
});

test('deliberate differences: ours reads a stored value whichever stringify wrote it; serialize alone answers what is stored, as connect-mongo 6', async () => {
  // connect-mongo 6 with stringify: true fails on a BSON sub-document (JSON.parse of an object); ours reads it.
  const p = pair('v6', { stringify: true }, { stringify: false });
  await call((cb) => p.old.set('bson', sample(), cb));
  const oursTrue = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: p.collectionName, autoRemove: 'disabled' });
  assert.is(((await oursTrue.get('bson')) as any).user, 'ada');
  const v6True = v6.default.create({ clientPromise: Promise.resolve(t.client), dbName: t.dbName, collectionName: p.collectionName, autoRemove: 'disabled' });
  await call((cb) => v6True.get('bson', cb)).then(() => assert.unreachable('connect-mongo 6 read it'), (e) => assert.instance(e, SyntaxError));
  // serialize alone returning a string: both answer the stored string as it is (connect-mongo 6's `unit`
  // unserialize; express-session then reports the error), and the app's own serialize error passes through as is.
  const serialize = (s: any) => `v1|${JSON.stringify(s)}`;
  const q = pair('v6', { serialize }, { serialize });
  await call((cb) => q.old.set('str', sample(), cb));
  const stored = await call((cb) => q.old.get('str', cb));
  assert.type(stored, 'string');
  assert.is(await q.ours.get('str'), stored);
  const boom = new Error('serialize-fail');
  const failing = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: p.collectionName, autoRemove: 'disabled', serialize: () => { throw boom; } });
  assert.is(await failing.set('x', sample()).then(() => undefined, (e) => e), boom, "the app's serialize() error, not a wrapper");
  await failing.close();
  await p.ours.close();
  await oursTrue.close();
  await q.ours.close();
});

test.run();
