/**
 * Attacks on sessions by user (src/user-sessions.ts, the userId parts of store.ts and write-order.ts): a log-in that
 * failed on the wire and lands after destroyUserSessions(), the cap under key rotation and under a save racing its
 * trim, user id values, and what logging a store shows.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspect } from 'node:util';
import { MongoClient } from 'mongodb';
import { MongoStore } from '../src';
import type { SessionDocument } from '../generated';
import { openTestDb, type TestDb } from './helpers';
import { landHeldWrites, startProxy, timesOutOnTheWire, type Proxy } from './fixtures/proxy';
import { sessionOf, unhandled } from './fixtures/reliability/kit';

const TIMEOUT_MS = 1500;
let t: TestDb;
let proxy: Proxy;
const stores: MongoStore[] = [];
const clients: MongoClient[] = [];

test.before(async () => {
  t = await openTestDb(__filename);
  proxy = await startProxy();
});
test.after(async () => {
  proxy?.release();
  for (const s of stores) await s.close().catch(() => {});
  for (const c of clients) await c.close().catch(() => {});
  await proxy?.close();
  await t?.close();
  assert.equal(unhandled, [], 'no unhandled rejection');
});

const user = (id: unknown, extra: Record<string, unknown> = {}) => sessionOf({ passport: { user: id }, ...extra });

function direct(collectionName: string, extra: Record<string, unknown> = {}): MongoStore {
  const s = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName, autoRemove: 'disabled', userId: 'passport.user', ...extra });
  s.on('warning', () => {});
  stores.push(s);
  return s;
}

function proxied(collectionName: string, extra: Record<string, unknown> = {}): MongoStore {
  const s = MongoStore.create({ mongoUrl: proxy.uri, dbName: t.dbName, collectionName, autoRemove: 'disabled', operationTimeoutMS: TIMEOUT_MS, userId: 'passport.user', ...extra });
  s.on('warning', () => {});
  stores.push(s);
  return s;
}



test('a log-in (new session) that timed out on the wire does not become a live session of the user after destroyUserSessions() resolved', async () => {
  const a = proxied('late-login');
  const b = direct('late-login');
  await a.set('warm', sessionOf()); // a connection through the proxy
  await timesOutOnTheWire(proxy, () => a.set('late', user('uma')));
  // "log out everywhere", acknowledged after the log-in was reported failed
  await b.destroyUserSessions('uma');
  await landHeldWrites(proxy, t.db);
  assert.equal((await b.userSessions('uma')).map((e) => e.id), [], 'no session of the user after the revocation');
  assert.is(await b.get('late'), null, 'the failed log-in did not come alive after the revocation');
});

test('a log-in without regenerate (an anonymous session moving to the user) that timed out does not land after destroyUserSessions()', async () => {
  const a = proxied('late-move');
  const b = direct('late-move');
  await a.set('m', sessionOf({ cart: 1 }));
  await timesOutOnTheWire(proxy, () => a.set('m', user('vic', { cart: 1 })));
  await b.destroyUserSessions('vic');
  await landHeldWrites(proxy, t.db);
  assert.equal((await b.userSessions('vic')).map((e) => e.id), [], 'no session of the user after the revocation');
});

test('a new session whose set timed out (told at its deadline, before the driver gave up) does not land after a clear() on another instance', async () => {
  const a = proxied('late-clear');
  const b = direct('late-clear');
  await a.set('warm', sessionOf());
  await timesOutOnTheWire(proxy, () => a.set('late', sessionOf({ v: 1 })));
  await b.clear(); // at once: the driver of `a` may not have given up on the write yet
  await landHeldWrites(proxy, t.db);
  assert.is(await b.get('late'), null, 'the cleared store stays empty');
});

test('maxSessionsPerUser with a rotated key: the sessions stored under the older key count too', async () => {
  const old = direct('cap-rotate', { encryption: { secret: 'encryption-secret-1' }, maxSessionsPerUser: 2 });
  await old.set('o1', user('wes'));
  await old.set('o2', user('wes'));
  const rotated = direct('cap-rotate', { encryption: { secret: ['encryption-secret-2', 'encryption-secret-1'] }, maxSessionsPerUser: 2 });
  await rotated.set('n1', user('wes'));
  await rotated.set('n2', user('wes'));
  const live = (await rotated.userSessions('wes')).map((e) => e.id).sort();
  assert.equal(live, ['n1', 'n2'], `at most 2 sessions (the newest) remain, found ${live.length}`);
});

test('maxSessionsPerUser: a save of an older session racing the trim of a log-in does not leave the user above the cap', async () => {
  const col = 'cap-race';
  // the log-in's store: its own client through a slow proxy, watched, so that the save lands between its trim's read and write
  const client = new MongoClient(proxy.uri, { monitorCommands: true });
  clients.push(client);
  await client.connect();
  const a = MongoStore.create({ client, dbName: t.dbName, collectionName: col, autoRemove: 'disabled', userId: 'passport.user', maxSessionsPerUser: 1 });
  a.on('warning', () => {});
  stores.push(a);
  const b = direct(col, { maxSessionsPerUser: 1 });
  await b.set('old', user('xia', { n: 1 }));
  let saved: Promise<void> | undefined;
  client.on('commandStarted', (e) => {
    // the trim's write of markers is on its way (its stamp taken): the old device saves now, straight to the server
    if (e.commandName === 'update' && e.command.update === col && e.command.updates?.[0]?.u?.$set?.session === null && !saved) saved = b.set('old', user('xia', { n: 2 }));
  });
  proxy.delayMs = 150;
  try {
    await a.set('new', user('xia'));
  } finally {
    proxy.delayMs = 0;
  }
  assert.ok(saved, 'the trim ran');
  await saved;
  const live = (await b.userSessions('xia')).map((e) => e.id);
  assert.is(live.length, 1, `at most maxSessionsPerUser (1) remain once the writes settled, found ${live.length}`);
});

test('destroyUserSessions(U) does not end a session that moved to another user between its read and its write', async () => {
  const col = 'moved-away';
  // the revoking store: its own client through a slow proxy, watched, so that the move lands between its read and write
  const client = new MongoClient(proxy.uri, { monitorCommands: true });
  clients.push(client);
  await client.connect();
  const revoker = MongoStore.create({ client, dbName: t.dbName, collectionName: col, autoRemove: 'disabled', userId: 'passport.user' });
  stores.push(revoker);
  const b = direct(col);
  await b.set('x', user('yan'));
  let moved: Promise<void> | undefined;
  client.on('commandStarted', (e) => {
    // the revocation's read is on its way: once the server has answered it, and before its stamp is taken, x moves to zed
    if (e.commandName === 'find' && e.command.find === col && !moved) moved = new Promise((r) => setTimeout(r, 200)).then(() => b.set('x', user('zed')));
  });
  proxy.delayMs = 150;
  let ended: number;
  try {
    ended = await revoker.destroyUserSessions('yan');
  } finally {
    proxy.delayMs = 0;
  }
  assert.ok(moved, 'the read was seen');
  await moved;
  assert.equal((await b.userSessions('zed')).map((e) => e.id), ['x'], `zed keeps the session that was his when it was ended (ended ${ended})`);
});

test('with hashIds and encryption the user id in clear is in no stored field, event, warning, error, debug line or inspection', async () => {
  const createDebug = (await import('debug')).default;
  const lines: string[] = [];
  const log = createDebug.log;
  createDebug.log = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  createDebug.enable('connect-mongo*');
  const secretUser = 'alice-in-clear@example.com';
  const seen: string[] = [];
  const s = direct('private-all', { hashIds: { secret: 'hash-ids-secret-1' }, encryption: { secret: 'encryption-secret-1' }, maxSessionsPerUser: 1 });
  for (const ev of ['set', 'create', 'update', 'destroy', 'destroyUser', 'warning', 'corrupt']) s.on(ev, (...args: unknown[]) => seen.push(inspect(args, { depth: 5 })));
  try {
    await s.set('p1', user(secretUser));
    await s.set('p2', user(secretUser)); // trims p1
    await s.userSessions(secretUser);
    await s.destroyUserSessions(secretUser, { except: 'p2' });
    await s.destroyUserSessions(secretUser);
    for (const bad of [{ secretUser }, [secretUser], `${secretUser}\0`]) {
      const e = await s.set('p3', user(bad)).then(() => undefined, (err) => err);
      assert.ok(e, 'a bad user id fails');
      seen.push(inspect(e, { depth: 5 }));
    }
    seen.push(inspect(s, { depth: Infinity, showHidden: true }), JSON.stringify(s));
  } finally {
    createDebug.disable();
    createDebug.log = log;
  }
  const stored = JSON.stringify(await t.db.collection('private-all').find({}).toArray());
  for (const [where, text] of [['stored', stored], ['debug', lines.join('\n')], ['events, errors, inspection', seen.join('\n')]] as const) {
    assert.not.ok(text.includes('alice-in-clear') || text.includes('hash-ids-secret') || text.includes('encryption-secret'), `${where} names the user or a secret`);
  }
  assert.ok(lines.length > 0, 'debug output was captured');
});

test('two instances: log-ins racing destroyUserSessions (seeded): every session acknowledged before the call is gone, every log-in called after it resolved stays', async () => {
  const seed = 424242;
  let x = seed;
  const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 6; round++) {
    const col = `race-${round}`;
    const a = direct(col);
    const b = direct(col);
    const before: string[] = [];
    for (let i = 0; i < 4; i++) {
      await (rand() < 0.5 ? a : b).set(`r${round}-old${i}`, user('quinn'));
      before.push(`r${round}-old${i}`);
    }
    let resolvedAt = Infinity;
    const after: string[] = [];
    const logins = Array.from({ length: 10 }, (_, i) => (async () => {
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 20)));
      const sid = `r${round}-new${i}`;
      const calledAt = performance.now();
      await (rand() < 0.5 ? a : b).set(sid, user('quinn'));
      if (calledAt > resolvedAt) after.push(sid);
    })());
    const revoke = (async () => {
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 20)));
      await (rand() < 0.5 ? a : b).destroyUserSessions('quinn');
      resolvedAt = performance.now();
    })();
    await Promise.all([...logins, revoke]);
    const live = new Set((await a.userSessions('quinn')).map((e) => e.id));
    for (const sid of before) assert.not.ok(live.has(sid), `round ${round}: ${sid}, acknowledged before the call, survived it`);
    for (const sid of after) assert.ok(live.has(sid), `round ${round}: ${sid}, called after the call resolved, was ended by it`);
  }
});

test('maxSessionsPerUser on two instances with log-ins, log-outs and destroys interleaved (seeded): settles at most N, the last log-in stays', async () => {
  let x = 777;
  const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 4; round++) {
    const col = `cap-mix-${round}`;
    const max = 1 + Math.floor(rand() * 3);
    const a = direct(col, { maxSessionsPerUser: max });
    const b = direct(col, { maxSessionsPerUser: max });
    const sids = Array.from({ length: 10 }, (_, i) => `m${round}-${i}`);
    await Promise.all(sids.map(async (sid) => {
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 20)));
      const on = rand() < 0.5 ? a : b;
      await on.set(sid, user('rae'));
      const next = rand();
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 10)));
      if (next < 0.2) await on.destroy(sid);
      else if (next < 0.35) await on.set(sid, sessionOf({ anonymous: true }));
      else if (next < 0.6) await (rand() < 0.5 ? a : b).set(sid, user('rae', { more: 1 })); // a save, no log-in
    }));
    const live = (await a.userSessions('rae')).map((e) => e.id);
    assert.ok(live.length <= max, `round ${round}: ${live.length} sessions remain, max ${max}`);
  }
});

test('destroyUserSessions: a bad sid in except fails the call and ends nothing, on MongoDB and on fallbackMemory alike', async () => {
  const s = direct('except-bad');
  const m = MongoStore.create({ fallbackMemory: true, userId: 'passport.user' });
  stores.push(m);
  for (const store of [s, m]) {
    await store.set('e1', user('sam'));
    await store.set('e2', user('sam'));
    for (const except of ['', 5, null, ['e1', ''], [{}]]) {
      const e = await store.destroyUserSessions('sam', { except: except as any }).then(() => undefined, (err) => err);
      assert.is(e?.code, 'ERR_CONNECT_MONGO_INVALID_SID', `${store === m ? 'fallbackMemory' : 'MongoDB'}: except ${inspect(except)} is refused`);
    }
    assert.is((await store.userSessions('sam')).length, 2, 'nothing was ended');
  }
});

test('a re-save that timed out does not bring back a revoked session; a revocation that timed out and lands late ends nothing acknowledged after it', async () => {
  const a = proxied('late-both');
  const b = direct('late-both');
  await a.set('s', user('tia', { n: 1 }));
  await timesOutOnTheWire(proxy, () => a.set('s', user('tia', { n: 2 })));
  await b.destroyUserSessions('tia');
  await landHeldWrites(proxy, t.db);
  assert.is(await b.get('s'), null, 'the revoked session stays gone');
  // now the revocation is the late one
  await b.set('k', user('tia', { n: 1 }));
  await a.set('warm', sessionOf());
  await timesOutOnTheWire(proxy, () => a.destroyUserSessions('tia'));
  await b.set('k', user('tia', { n: 2 })); // acknowledged after the revocation failed
  await b.set('fresh', user('tia')); // a log-in after it
  await landHeldWrites(proxy, t.db);
  assert.equal((await b.userSessions('tia')).map((e) => e.id).sort(), ['fresh', 'k'], 'both writes acknowledged after the failed revocation stay');
});

test('a clear() whose last step (the markers of failed writes) times out fails with ERR_CONNECT_MONGO_TIMEOUT, not the driver\'s raw MongoBulkWriteError', async () => {
  const a = proxied('clear-bulk', { userId: undefined });
  await a.set('warm', sessionOf());
  await timesOutOnTheWire(proxy, () => a.set('failed', sessionOf())); // remembered: clear() leaves a marker for it
  await landHeldWrites(proxy, t.db);
  await a.set('warm', sessionOf());
  proxy.delayMs = 300; // findOne and updateMany answer (2 × 600 ms), the bulkWrite of the markers runs out of time
  let err: any;
  try {
    err = await a.clear().then(() => undefined, (e) => e);
  } finally {
    proxy.delayMs = 0;
  }
  assert.ok(err, 'the clear timed out');
  assert.is(err.code, 'ERR_CONNECT_MONGO_TIMEOUT', `${err.name}: ${err.message}`);
});

test('user id values: -0 is 0, 1e21, unicode, and path segments such as __proto__ or constructor read only own data', async () => {
  for (const [label, extra] of [['clear', {}], ['hmac', { hashIds: { secret: 'hash-ids-secret-1' } }]] as const) {
    const s = direct(`ids-${label}`, extra);
    await s.set('z', user(-0));
    assert.is((await s.userSessions(0)).length, 1, `${label}: -0 and 0 are one user`);
    assert.is((await s.userSessions(-0)).length, 1, label);
    await s.set('big', user(1e21));
    assert.is((await s.userSessions(1e21)).length, 1, label);
    assert.equal(await s.userSessions('1e+21'), [], `${label}: a string is another user`);
    const nfc = 'Zoë';
    await s.set('u', user(nfc));
    assert.is((await s.userSessions(nfc)).length, 1, label);
    assert.equal(await s.userSessions(nfc.normalize('NFD')), [], `${label}: two normal forms are two ids`);
    await s.set('long', user('é'.repeat(1024)));
    assert.is((await s.userSessions('é'.repeat(1024))).length, 1, label);
  }
  const proto = direct('ids-proto', { userId: '__proto__.polluted' });
  await proto.set('p', sessionOf({}));
  assert.not.ok('userId' in ((await t.db.collection<SessionDocument>('ids-proto').findOne({ _id: 'p' })) ?? {}), 'an inherited path is no user id');
  assert.is(({} as any).polluted, undefined);
  const ctor = direct('ids-ctor', { userId: 'constructor.name' });
  await ctor.set('c', sessionOf({}));
  assert.not.ok('userId' in ((await t.db.collection<SessionDocument>('ids-ctor').findOne({ _id: 'c' })) ?? {}), '"Object" is no user id');
});

test('logging a fallbackMemory store (util.inspect, JSON) shows no sid, no session and no HMAC key', async () => {
  const m = MongoStore.create({ fallbackMemory: true, userId: 'passport.user', hashIds: { secret: 'hash-ids-secret-1' } });
  stores.push(m);
  await m.set('sid-to-hide-1', user('alice@example.com'));
  for (const [how, out] of [['inspect', inspect(m, { depth: Infinity })], ['JSON', JSON.stringify(m)]] as const) {
    assert.not.ok(out.includes('sid-to-hide-1'), `${how}: no sid`);
    assert.not.ok(out.includes('alice'), `${how}: no session data`);
    assert.not.ok(/Buffer|"keys"|keys:/.test(out), `${how}: no HMAC key: ${out.slice(0, 200)}`);
  }
});

test.run();
