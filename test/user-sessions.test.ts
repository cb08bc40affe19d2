/**
 * Sessions by user (src/user-sessions.ts): the userId option in its path and function forms, what is stored (in clear,
 * or an HMAC with hashIds or encryption), userSessions(), destroyUserSessions() with `except`, the index, the cap
 * (maxSessionsPerUser) under concurrent log-ins checked against a sequential model with seeded schedules, a config
 * file's userId, and an Express flow where one device logs the other out.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import { MongoStore, OptionsError, createStoreFromConfig, ensureSessionIndexes } from '../src';
import { ensureUserIndex } from '../src/setup';
import type { SessionDocument } from '../generated';
import { openTestDb, rejects, waitFor, type TestDb } from './helpers';
import { get, sessionOf, startApp, unhandled } from './fixtures/reliability/kit';
import { prng } from '../scripts/bench/stats';

let t: TestDb;
const stores: MongoStore[] = [];
const tmp = join(__dirname, '..', '.tmp', `user-sessions-${process.pid}`);

test.before(async () => {
  t = await openTestDb(__filename, { monitorCommands: true });
  mkdirSync(tmp, { recursive: true });
});
test.after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
  assert.equal(unhandled, [], 'no unhandled rejection');
});

function store(collectionName: string, extra: Record<string, unknown> = {}): MongoStore {
  const s = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName, autoRemove: 'disabled', userId: 'passport.user', ...extra });
  s.on('warning', () => {});
  stores.push(s);
  return s;
}
const docs = (name: string) => t.db.collection<SessionDocument>(name).find({}).toArray();
const doc = (name: string, id: string) => t.db.collection<SessionDocument>(name).findOne({ _id: id });
const user = (id: unknown, extra: Record<string, unknown> = {}) => sessionOf({ passport: { user: id }, ...extra });

test('the path form: a set stores the user id at the top level; userSessions lists them newest write first; anonymous sessions have none', async () => {
  const s = store('path');
  await s.set('a1', user('alice', { n: 1 }));
  await s.set('b1', user('bob'));
  await s.set('a2', user('alice', { n: 2 }));
  await s.set('anon', sessionOf({ n: 0 }));
  assert.is((await doc('path', 'a1'))?.userId, 'alice');
  assert.not.ok('userId' in ((await doc('path', 'anon')) ?? {}), 'an anonymous session has no userId field');
  const list = await s.userSessions('alice');
  assert.equal(list.map((e) => e.id), ['a2', 'a1'], 'newest write first');
  assert.equal((list[0].session as any).n, 2);
  assert.ok(list[0].expires instanceof Date && list[0].lastWrite instanceof Date);
  assert.ok(list[0].lastWrite!.getTime() >= list[1].lastWrite!.getTime());
  assert.equal((await s.userSessions('bob')).map((e) => e.id), ['b1']);
  assert.equal(await s.userSessions('carol'), []);
  // a log-out without regenerate: the session leaves its user
  await s.set('a1', sessionOf({ n: 3 }));
  assert.not.ok('userId' in ((await doc('path', 'a1')) ?? {}));
  assert.equal((await s.userSessions('alice')).map((e) => e.id), ['a2']);
  // the callback form
  const viaCallback = await new Promise<unknown>((resolve, reject) => s.userSessions('alice', (err, v) => (err ? reject(err) : resolve(v))));
  assert.is((viaCallback as unknown[]).length, 1);
});

test('the function form, and numbers as ids: 12 and "12" are two users; expired sessions are not listed', async () => {
  const s = store('fn', { userId: (session: any) => session.account?.id, timestamps: true });
  await s.set('n1', sessionOf({ account: { id: 12 } }));
  await s.set('s1', sessionOf({ account: { id: '12' } }));
  await s.set('old', { ...sessionOf({ account: { id: 12 } }), cookie: { expires: new Date(Date.now() - 1000), originalMaxAge: 1 } } as any);
  assert.is((await doc('fn', 'n1'))?.userId, 12);
  const numbers = await s.userSessions(12);
  assert.equal(numbers.map((e) => e.id), ['n1'], 'the expired one is not live');
  assert.ok(numbers[0].createdAt instanceof Date && numbers[0].updatedAt instanceof Date, 'timestamps are given');
  assert.equal((await s.userSessions('12')).map((e) => e.id), ['s1']);
});

test('a user id that is no string or finite number fails the set, naming the option, and nothing is written', async () => {
  const s = store('bad-ids');
  for (const [value, found] of [[{ id: 1 }, 'an object'], [true, 'a boolean'], ['', 'an empty string'], [Number.NaN, 'NaN'], [['a'], 'an array'], ['x\0y', 'NUL']] as const) {
    const e = await rejects(() => s.set('bad', user(value)), /userId/);
    assert.is((e as any).code, 'ERR_CONNECT_MONGO_USER_ID');
    assert.ok(e.message.includes('passport.user') && e.message.includes(found), e.message);
  }
  const throwing = store('bad-ids', { userId: () => { throw new Error('app bug'); } });
  const threw = await rejects(() => throwing.set('bad', sessionOf()), /userId function threw/);
  assert.is((threw as any).code, 'ERR_CONNECT_MONGO_USER_ID');
  assert.is(await doc('bad-ids', 'bad'), null, 'no session was written with a wrong owner');
  await rejects(() => s.userSessions({} as any), /a user id is a non-empty string or a finite number, got an object/);
  await rejects(() => s.destroyUserSessions(undefined as any), /got nothing/);
  const plain = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName: 'bad-ids', autoRemove: 'disabled' });
  stores.push(plain);
  assert.is(((await rejects(() => plain.userSessions('x'), /needs the userId option/)) as any).code, 'ERR_CONNECT_MONGO_UNSUPPORTED');
});

test('with hashIds or encryption the document holds an HMAC, never the id in clear; a rotated key still finds older sessions', async () => {
  const name = 'alice@example.com';
  for (const [label, extra] of [
    ['hashIds', { hashIds: { secret: 'hash-ids-secret-1' } }],
    ['encryption', { encryption: { secret: 'encryption-secret-1' } }],
    ['crypto (kruptein)', { crypto: { secret: 'kruptein-secret-1' } }],
  ] as const) {
    const col = `private-${label.split(' ')[0]}`;
    const s = store(col, extra);
    await s.set('p1', user(name));
    await s.set('p2', user(42));
    // with hashIds alone the session itself is stored in clear (only ids are hashed): its userId field is not
    const raw = JSON.stringify(label === 'hashIds' ? (await docs(col)).map((d) => d.userId) : await docs(col));
    assert.not.ok(raw.includes(name) || raw.includes('alice') || /"userId":42\b/.test(raw), `${label}: the stored documents do not name the user: ${raw.slice(0, 300)}`);
    const stored = (await docs(col)).map((d) => d.userId);
    assert.ok(stored.every((u) => typeof u === 'string' && u.startsWith('h1:')), `${label}: ${stored}`);
    assert.is((await s.userSessions(name)).length, 1, label);
    assert.is((await s.userSessions(42)).length, 1, `${label}: numbers too`);
    assert.is((await s.userSessions('42')).length, 0, `${label}: "42" is another user`);
  }
  // encryption's key rotation: the new secret first, the old one still read (and still finds its users' sessions)
  const rotated = store('private-encryption', { encryption: { secret: ['encryption-secret-2', 'encryption-secret-1'] } });
  assert.equal((await rotated.userSessions(name)).map((e) => e.id), ['p1']);
  await rotated.set('p3', user(name));
  assert.equal((await rotated.userSessions(name)).map((e) => e.id).sort(), ['p1', 'p3']);
  assert.is(await rotated.destroyUserSessions(name), 2);
});

test('destroyUserSessions: every session of the user, live or expired, except a sid or a list; events per sid; a later log-in stays', async () => {
  const s = store('revoke');
  const destroyed: string[] = [];
  s.on('destroy', (sid) => destroyed.push(sid));
  for (const sid of ['d1', 'd2', 'd3', 'd4']) await s.set(sid, user('dana'));
  await s.set('expired', { ...user('dana'), cookie: { expires: new Date(Date.now() - 1000), originalMaxAge: 1 } } as any);
  await s.set('other', user('erin'));
  assert.is(await s.destroyUserSessions('dana', { except: 'd1' }), 4, 'd2, d3, d4 and the expired one');
  assert.equal(destroyed.sort(), ['d2', 'd3', 'd4', 'expired']);
  assert.equal((await s.userSessions('dana')).map((e) => e.id), ['d1']);
  assert.is(await s.get('d2'), null);
  assert.ok(await s.get('other'), 'another user keeps theirs');
  const marker = await doc('revoke', 'd2');
  assert.is(marker?.session, null, 'a destroyed session leaves a marker (a late save cannot bring it back)');
  assert.not.ok('userId' in (marker ?? {}), 'a marker names no user');
  await s.set('d5', user('dana'));
  assert.is(await s.destroyUserSessions('dana', { except: ['d1', 'd5'] }), 0, 'a list');
  assert.is(await new Promise<number>((resolve, reject) => s.destroyUserSessions('dana', (e, n) => (e ? reject(e) : resolve(n!)))), 2, 'the callback form');
  await s.set('d6', user('dana'));
  assert.equal((await s.userSessions('dana')).map((e) => e.id), ['d6'], 'a log-in after the call stays');
  // with hashIds the stored ids are no sids: one destroyUser event with the count
  const h = store('revoke-hashed', { hashIds: { secret: 'hash-ids-secret-1' } });
  const counts: number[] = [];
  h.on('destroyUser', (n) => counts.push(n));
  h.on('destroy', () => assert.unreachable('no destroy event for a hash'));
  await h.set('x1', user('fay'));
  await h.set('x2', user('fay'));
  assert.is(await h.destroyUserSessions('fay', { except: 'x2' }), 1);
  assert.equal((await h.userSessions('fay')).map((e) => e.id), [h.storageId('x2')], 'storageId(sid) tells this device');
  assert.is.not(h.storageId('x2'), 'x2');
  assert.equal(counts, [1]);
  assert.ok(await h.get('x2'));
});

test('a session whose user changes (log-in without regenerate) moves with it', async () => {
  const s = store('moves');
  await s.set('m', sessionOf({ cart: 1 }));
  await s.set('m', user('gus', { cart: 1 }));
  assert.is((await doc('moves', 'm'))?.userId, 'gus');
  await s.set('m', user('hal', { cart: 1 }));
  assert.equal(await s.userSessions('gus'), []);
  assert.equal((await s.userSessions('hal')).map((e) => e.id), ['m']);
});

test('maxSessionsPerUser: concurrent log-ins of one user on two instances settle at the N newest (seeded schedules against the model)', async () => {
  const seed = Number(process.env.USER_CAP_SEED ?? 20261203);
  const rand = prng(seed);
  console.log(`# maxSessionsPerUser schedules: seed ${seed} (USER_CAP_SEED=${seed} replays)`);
  for (let round = 0; round < 4; round++) {
    const col = `cap-${round}`;
    const max = 1 + Math.floor(rand() * 4);
    const a = store(col, { maxSessionsPerUser: max });
    const b = store(col, { maxSessionsPerUser: max });
    const logins = round === 0 ? 12 : 5 + Math.floor(rand() * 8);
    const plan = Array.from({ length: logins }, (_, i) => ({ sid: `r${round}-s${i}`, on: rand() < 0.5 ? a : b, delay: Math.floor(rand() * 15) }));
    const context = `seed ${seed}, round ${round}: ${logins} log-ins, max ${max}`;
    await Promise.all(plan.map(async (p) => {
      await new Promise((r) => setTimeout(r, p.delay));
      await p.on.set(p.sid, user('ivy'));
    }));
    // the model: the `max` newest by last write remain, whatever the interleaving (each set's stamp, as sent)
    const written = (await t.db.collection<SessionDocument>(col).find({ session: { $ne: null } }).toArray()).map((d) => d._id);
    const setStamps = new Map<string, number>();
    for (const c of t.commands) {
      if (c.commandName !== 'update' || c.command.update !== col) continue;
      for (const u of c.command.updates) if (u.u?.$set?.session) setStamps.set(u.q._id, Math.max(setStamps.get(u.q._id) ?? 0, u.u.$set.stamp));
    }
    assert.is(setStamps.size, logins, `${context}: every log-in was sent`);
    const newest = [...setStamps].sort((x, y) => y[1] - x[1]).slice(0, max).map(([id]) => id).sort();
    assert.is(written.length, max, `${context}: ${written.length} remain`);
    assert.equal(written.sort(), newest, `${context}: the newest remain`);
    assert.is((await a.userSessions('ivy')).length, max, context);
  }
  // a session that moves to a user counts as a new one of that user
  const s = store('cap-move', { maxSessionsPerUser: 1 });
  await s.set('first', user('jo'));
  await s.set('second', sessionOf());
  await s.set('second', user('jo'));
  assert.equal((await s.userSessions('jo')).map((e) => e.id), ['second']);
});

test('the { userId: 1 } index: built by the store, by setup, and only looked for (one warning) with createIndexes: false', async () => {
  const s = store('indexed', { autoRemove: 'native' });
  await s.ready();
  await (s as any).autoRemover.userIndex;
  const names = (await t.db.collection('indexed').indexes()).map((i) => i.name);
  assert.ok(names.includes('userId_1'), `indexes: ${names}`);
  const warnings: Error[] = [];
  const checking = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName: 'not-indexed', autoRemove: 'interval', createIndexes: false, userId: 'passport.user' });
  stores.push(checking);
  checking.on('warning', (w) => warnings.push(w));
  await checking.set('x', user('kim'));
  await (checking as any).autoRemover.userIndex;
  assert.equal(warnings.map((w) => (w as any).code), ['CONNECT_MONGO_USER_INDEX_MISSING']);
  assert.match(warnings[0].message, /run `connect-mongo setup`/);
  assert.not.ok((await t.db.collection('not-indexed').indexes()).some((i) => i.name === 'userId_1'), 'nothing was created');
  assert.is((await ensureUserIndex(t.db.collection('not-indexed'))).index, 'created');
  assert.is((await ensureUserIndex(t.db.collection('not-indexed'))).index, 'found');
  void ensureSessionIndexes; // the TTL side of setup has its own test (setup.test.ts)
});

test('options: userId is a dotted path or a function; maxSessionsPerUser needs it; a cryptoAdapter needs hashIds for it', () => {
  const opts = { client: t.client };
  const issue = (extra: Record<string, unknown>) => {
    try {
      MongoStore.create({ ...opts, ...extra } as any);
    } catch (e) {
      assert.instance(e, OptionsError);
      return (e as OptionsError).issues.map((i) => `${i.path} ${i.message}`).join('\n');
    }
    return 'no error';
  };
  assert.match(issue({ userId: 12 }), /^\/userId expected a dotted path into the session such as "passport.user".*found number 12/);
  assert.match(issue({ userId: 'passport..user' }), /^\/userId expected a dotted path/);
  assert.match(issue({ userId: '' }), /^\/userId must not be empty/);
  assert.match(issue({ maxSessionsPerUser: 3 }), /^\/maxSessionsPerUser needs the userId option/);
  assert.match(issue({ userId: 'u', maxSessionsPerUser: 0 }), /^\/maxSessionsPerUser expected a number >= 1/);
  assert.match(issue({ userId: 'u', cryptoAdapter: { encrypt: (s: string) => s, decrypt: (s: string) => s } }), /^\/userId with cryptoAdapter .*add hashIds/);
  assert.is(issue({ userId: 'u', hashIds: { secret: 'hash-ids-secret-1' }, cryptoAdapter: { encrypt: (s: string) => s, decrypt: (s: string) => s } }), 'no error');
});

test('a config file: "userId": "passport.user" works; "userId": 12 is refused with its path', async () => {
  const good = join(tmp, 'good.json');
  writeFileSync(good, JSON.stringify({ mongoUrl: t.uri, dbName: t.dbName, collectionName: 'from-config', autoRemove: 'disabled', userId: 'passport.user', maxSessionsPerUser: 2 }));
  const s = await createStoreFromConfig({ configPath: good });
  stores.push(s);
  await s.set('c1', user('lee'));
  assert.equal((await s.userSessions('lee')).map((e) => e.id), ['c1']);
  const bad = join(tmp, 'bad.json');
  writeFileSync(bad, JSON.stringify({ mongoUrl: t.uri, userId: 12 }, null, 2));
  const e = await rejects(() => createStoreFromConfig({ configPath: bad }), /userId/);
  assert.instance(e, OptionsError);
  assert.equal((e as OptionsError).issues.map((i) => i.path), ['/userId']);
  assert.ok(e.message.includes('bad.json'), e.message);
});

test('Express: a second device\'s "log out everywhere else" ends the first device\'s session and keeps its own', async () => {
  const s = store('express');
  const app = await startApp(s, (a: express.Express) => {
    a.get('/login', (req, res) => {
      req.session.regenerate((err) => {
        if (err) return void res.status(500).end();
        (req.session as any).passport = { user: String(req.query.user) };
        req.session.save(() => res.json({ ok: true }));
      });
    });
    a.get('/devices', async (req, res) => res.json((await s.userSessions((req.session as any).passport.user)).map((e) => e.id === req.sessionID)));
    a.get('/logout-others', async (req, res) => res.json({ ended: await s.destroyUserSessions((req.session as any).passport.user, { except: req.sessionID }) }));
    a.get('/me', (req, res) => res.json({ user: (req.session as any)?.passport?.user ?? null }));
  });
  try {
    const opts = { timeoutMs: 10_000 };
    const first = (await get(`${app.url}/login?user=max`, opts)).cookie!;
    const second = (await get(`${app.url}/login?user=max`, opts)).cookie!;
    assert.is((await get(`${app.url}/me`, { ...opts, cookie: first })).body.user, 'max');
    assert.equal((await get(`${app.url}/devices`, { ...opts, cookie: second })).body, [true, false], 'two devices, this one first (newest)');
    assert.equal((await get(`${app.url}/logout-others`, { ...opts, cookie: second })).body, { ended: 1 });
    assert.is((await get(`${app.url}/me`, { ...opts, cookie: first })).body.user, null, 'the first device is logged out');
    assert.is((await get(`${app.url}/me`, { ...opts, cookie: second })).body.user, 'max', 'the second is not');
    await waitFor(async () => (await s.userSessions('max')).length === 1, 'one session left');
  } finally {
    await app.close();
  }
});

test('cost: a set of a logged-in session is one command, with or without userId; only a session that changes user costs a second look', async () => {
  const s = store('cost');
  const plain = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName: 'cost-plain', autoRemove: 'disabled' });
  stores.push(plain);
  const sent = (col: string, from: number) => t.commands.slice(from).filter((c) => (c.command as any)[c.commandName] === col).map((c) => c.commandName);
  await s.set('c', user('pat'));
  await plain.set('c', user('pat'));
  let from = t.commands.length;
  await s.set('c', user('pat', { n: 1 }));
  assert.equal(sent('cost', from), ['update'], 'logged in, with userId');
  from = t.commands.length;
  await plain.set('c', user('pat', { n: 1 }));
  assert.equal(sent('cost-plain', from), ['update'], 'without userId');
  from = t.commands.length;
  await s.set('c', user('quinn'));
  assert.equal(sent('cost', from), ['update', 'find', 'update'], 'a change of user: the conflict, a look, the write');
  from = t.commands.length;
  await s.set('fresh', user('quinn'));
  assert.equal(sent('cost', from), ['update'], 'a new session without maxSessionsPerUser');
  const capped = store('cost', { maxSessionsPerUser: 5 });
  await (capped as any).autoRemover.userIndex; // its start-up look for the index, not the set's
  from = t.commands.length;
  await capped.set('fresh2', user('quinn'));
  assert.equal(sent('cost', from), ['update', 'find'], 'a new session with the cap, not over it: the trim\'s find');
});

test('connect-mongo 6 on the same collection ignores userId and keeps it on its own writes', async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ConnectMongo6 = require('connect-mongo6').default as { create(o: object): any };
  const s = store('with-v6');
  // its own client: connect-mongo 6's close() closes the client it is given
  const v6 = ConnectMongo6.create({ mongoUrl: t.uri, dbName: t.dbName, collectionName: 'with-v6', autoRemove: 'disabled' });
  try {
    await s.set('v', user('rae', { n: 1 }));
    await new Promise<void>((resolve, reject) => v6.set('v', user('rae', { n: 2 }), (e: unknown) => (e ? reject(e) : resolve())));
    assert.is((await doc('with-v6', 'v'))?.userId, 'rae', 'kept by connect-mongo 6\'s write');
    const listed = await s.userSessions('rae');
    assert.equal(listed.map((e) => [e.id, (e.session as any).n]), [['v', 2]], 'listed, with connect-mongo 6\'s write');
    // connect-mongo 6 alone: no userId field, so not listed until this store writes it
    await new Promise<void>((resolve, reject) => v6.set('only6', user('rae'), (e: unknown) => (e ? reject(e) : resolve())));
    assert.equal((await s.userSessions('rae')).map((e) => e.id), ['v']);
  } finally {
    await v6.close();
  }
});

test('a trim that fails leaves the acknowledged set standing, with a warning; an index the server refuses is a warning', async () => {
  const col = t.db.collection('trim-fails');
  // a real refusal from the server: two markers of one trim share a stamp, which a unique index on stamp forbids
  await col.createIndex({ stamp: 1 }, { unique: true, name: 'stamp_unique' });
  const s = store('trim-fails');
  for (const sid of ['t1', 't2', 't3']) await s.set(sid, user('sam'));
  const capped = store('trim-fails', { maxSessionsPerUser: 1 });
  const warnings: Error[] = [];
  capped.removeAllListeners('warning');
  capped.on('warning', (w) => warnings.push(w));
  await capped.set('t4', user('sam'));
  assert.equal(warnings.map((w) => (w as any).code), ['CONNECT_MONGO_TRIM_FAILED']);
  assert.ok(await capped.get('t4'), 'the set stands');
  // an index named userId_1 on another key: the server refuses ours
  await t.db.collection('index-refused').createIndex({ other: 1 }, { name: 'userId_1' });
  const refused = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName: 'index-refused', autoRemove: 'disabled', userId: 'passport.user' });
  stores.push(refused);
  const seen: Error[] = [];
  refused.on('warning', (w) => seen.push(w));
  await refused.ready();
  await (refused as any).autoRemover.userIndex;
  assert.equal(seen.map((w) => (w as any).code), ['CONNECT_MONGO_USER_INDEX_REFUSED']);
  assert.match(seen[0].message, /scan the collection instead/);
  await refused.set('r', user('sam'));
  assert.is((await refused.userSessions('sam')).length, 1, 'the queries by user still answer');
});

test('fallbackMemory: userSessions and destroyUserSessions work on the memory too', async () => {
  const m = MongoStore.create({ fallbackMemory: true, userId: 'passport.user' });
  await m.set('f1', user('ned'));
  await m.set('f2', user('ned'));
  await m.set('f3', user('olga'));
  assert.equal((await m.userSessions('ned')).map((e) => e.id).sort(), ['f1', 'f2']);
  assert.is(await m.destroyUserSessions('ned', { except: 'f2' }), 1);
  assert.is(await m.get('f1'), null);
  await rejects(() => m.set('f4', user(true)), /passport.user is a boolean/);
  await m.close();
});

test.run();
