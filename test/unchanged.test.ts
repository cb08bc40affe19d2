/**
 * An unchanged set() writes only the expiry (src/unchanged.ts): a set of the session this store last wrote for that
 * sid, but for its cookie's expiry, is a touch. Frameworks that save on every response (express-session's
 * resave: true, @fastify/session's rolling) then cost what express-session's touch path costs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import express from 'express';
import session from 'express-session';
import { MongoStore } from '../src';
import { AGE_MS, MAX_CHARS, MAX_ENTRIES, Unchanged, digestOf } from '../src/unchanged';
import type { SessionDocument } from '../generated';
import { openTestDb, type TestDb } from './helpers';
import { sessionOf, unhandled } from './fixtures/reliability/kit';

let t: TestDb;
const stores: MongoStore[] = [];
test.before(async () => {
  t = await openTestDb(__filename, { monitorCommands: true });
});
test.after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  await t?.close();
  assert.equal(unhandled, [], 'no unhandled rejection');
});

function store(collectionName: string, extra: Record<string, unknown> = {}) {
  const s = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName, autoRemove: 'disabled', ...extra });
  stores.push(s);
  return s;
}
/** The commands sent on a collection since `from`: name, and for an update, the fields it sets. */
const sent = (col: string, from: number) =>
  t.commands
    .slice(from)
    .filter((c) => (c.command as any)[c.commandName] === col)
    .map((c) => (c.commandName === 'update' ? `update ${Object.keys(c.command.updates[0].u.$set ?? {}).sort().join(',')}` : c.commandName));
const doc = (col: string, id: string) => t.db.collection<SessionDocument>(col).findOne({ _id: id });
/** A session as express-session saves it again on the next response: the same data, the cookie's expiry later. */
const resaved = (s: any, laterMs = 60_000) => ({ ...s, cookie: { ...s.cookie, expires: new Date(new Date(s.cookie.expires).getTime() + laterMs) } });

test('a set of the session this store last wrote, but for its expiry, sends an update of the expiry only', async () => {
  const s = store('expiry-only');
  const first = sessionOf({ n: 1 });
  await s.set('a', first);
  const before = await doc('expiry-only', 'a');
  let from = t.commands.length;
  const again = resaved(first);
  await s.set('a', again);
  assert.equal(sent('expiry-only', from), ['update expires'], 'a touch');
  const after = await doc('expiry-only', 'a');
  assert.is(after!.expires!.getTime(), again.cookie.expires.getTime(), 'the expiry moved');
  assert.is(after!.session, before!.session, 'the payload was not rewritten');
  assert.is(after!.stamp, before!.stamp, 'not a write of the session');
  assert.equal(((await s.get('a')) as any).cookie.expires, again.cookie.expires.toISOString(), 'a get answers the new expiry');
  // any change is a full write
  from = t.commands.length;
  await s.set('a', { ...again, n: 2 });
  assert.equal(sent('expiry-only', from), ['update expires,session,stamp,stampedBy']);
  // a longer maxAge (remember me) is a change too
  from = t.commands.length;
  await s.set('a', { ...again, n: 2, cookie: { ...again.cookie, originalMaxAge: 7 * 86_400_000 } });
  assert.equal(sent('expiry-only', from), ['update expires,session,stamp,stampedBy']);
});

test('with touchAfter an unchanged set within the window writes nothing, as a touch; past it, the expiry only; with encryption it is recognised (the text before the cipher)', async () => {
  const lazy = store('lazy', { touchAfter: 3600 });
  await lazy.set('a', sessionOf({ n: 1 }));
  const read = (await lazy.get('a')) as any; // carries lastModified, as express-session hands it back
  const before = await doc('lazy', 'a');
  let from = t.commands.length;
  await lazy.set('a', resaved(read));
  assert.equal(sent('lazy', from), [], 'within touchAfter: nothing sent');
  assert.equal(await doc('lazy', 'a'), before, 'nothing changed');
  from = t.commands.length;
  await lazy.set('a', { ...resaved(read), n: 2, lastModified: read.lastModified });
  assert.equal(sent('lazy', from), ['update expires,lastModified,session,stamp,stampedBy'], 'a change within the window is written');
  const again = (await lazy.get('a')) as any;
  from = t.commands.length;
  await lazy.set('a', { ...resaved(again), lastModified: new Date(Date.now() - 3601_000) });
  assert.equal(sent('lazy', from), ['update expires,lastModified'], 'past the window: the expiry, on the write it knows');
  // within the window, as a touch: another instance's later change stands (a resave does not undo it)
  const other = store('lazy', { touchAfter: 3600 });
  await other.set('a', { ...again, n: 3 });
  from = t.commands.length;
  await lazy.set('a', { ...resaved(again), lastModified: new Date() });
  assert.equal(sent('lazy', from), []);
  assert.is(((await lazy.get('a')) as any).n, 3);
  // an instance that only read the session cannot tell it unchanged: a full write, within the window too
  from = t.commands.length;
  await other.set('a', resaved((await other.get('a')) as any));
  await store('lazy', { touchAfter: 3600 }).set('a', resaved((await lazy.get('a')) as any));
  assert.equal(sent('lazy', from).filter((c) => c.startsWith('update')), ['update expires,lastModified,session,stamp,stampedBy'], 'only the instance that did not write it writes');
  const secret = store('encrypted', { encryption: { secret: 'unchanged-test-secret' } });
  const first = sessionOf({ n: 1 });
  await secret.set('e', first);
  from = t.commands.length;
  await secret.set('e', resaved(first));
  assert.equal(sent('encrypted', from), ['update expires']);
  assert.equal(((await secret.get('e')) as any).n, 1);
});

test('an unchanged set is exactly the full write it replaces: after another instance wrote or destroyed the session, it writes', async () => {
  const a = store('destroyed');
  const b = store('destroyed');
  const first = sessionOf({ user: 'ada' });
  await a.set('s', first);
  await b.set('s', { ...first, user: 'bob' }); // another instance's write, which a does not know of
  let from = t.commands.length;
  await a.set('s', resaved(first)); // a's request saves ada's session again: called last, it is stored
  assert.equal(sent('destroyed', from), ['update expires', 'update expires,session,stamp,stampedBy'], 'the expiry-only update found another write: a full write');
  assert.is(((await b.get('s')) as any).user, 'ada', 'the last set is stored, as a full write would have it');
  await b.destroy('s');
  from = t.commands.length;
  await a.set('s', resaved(first, 120_000));
  assert.ok(await a.get('s'), 'a set called after a destroy writes the session, as a full write does');
  // its own destroy: the next set is a full write (express-session's regenerate destroys, then saves anew)
  await a.set('own', first);
  await a.destroy('own');
  await a.set('own', resaved(first));
  assert.ok(await a.get('own'), 'a set after its own destroy writes the session');
  await a.clear();
  await a.set('own', resaved(first, 120_000));
  assert.ok(await a.get('own'), 'and after its own clear');
  // a change of content is always written, after another instance's destroy too
  await b.destroy('s');
  await a.set('s', { ...first, user: 'bob' });
  assert.is(((await a.get('s')) as any).user, 'bob');
});

test('connect-mongo 6 (which does not stamp) or a hand edit wrote the session since: the unchanged set is a full write', async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ConnectMongo6 = require('connect-mongo6').default as { create(o: object): any };
  const s = store('with-v6');
  const v6 = ConnectMongo6.create({ mongoUrl: t.uri, dbName: t.dbName, collectionName: 'with-v6', autoRemove: 'disabled' });
  try {
    const first = sessionOf({ theme: 'dark' });
    await s.set('v', first);
    await new Promise<void>((resolve, reject) => v6.set('v', { ...first, theme: 'light' }, (e: unknown) => (e ? reject(e) : resolve())));
    await s.set('v', resaved(first)); // called last: stored, as a full write
    assert.is(((await s.get('v')) as any).theme, 'dark');
    await t.db.collection('with-v6').updateOne({ _id: 'v' as any }, { $set: { session: JSON.stringify({ ...first, theme: 'edited' }) } });
    await s.set('v', resaved(first, 120_000));
    assert.is(((await s.get('v')) as any).theme, 'dark');
  } finally {
    await v6.close();
  }
});

test('concurrent sets of two sessions, then the first again: the first is stored, whichever of the two landed last', async () => {
  const s = store('concurrent');
  const x = sessionOf({ v: 'x' });
  const y = sessionOf({ v: 'y' });
  for (let round = 0; round < 10; round++) {
    const sid = `c${round}`;
    await Promise.all(round % 2 ? [s.set(sid, x), s.set(sid, y)] : [s.set(sid, y), s.set(sid, x)]);
    await s.set(sid, resaved(x));
    assert.is(((await s.get(sid)) as any).v, 'x', `round ${round}`);
  }
});

async function pageLoads(resave: boolean, collectionName: string) {
  const s = store(collectionName);
  const app = express();
  app.use(session({ store: s, secret: 'unchanged-test', resave, saveUninitialized: false, cookie: { maxAge: 3_600_000 } }));
  app.get('/', (req, res) => {
    (req.session as any).user ??= 'ada';
    res.send('page');
  });
  app.get('/asset/:n', (_req, res) => void res.send('asset'));
  const server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const counts: number[] = [];
  try {
    for (let visit = 0; visit < 5; visit++) {
      const from = t.commands.length;
      const first = await fetch(`${url}/`);
      const cookie = first.headers.get('set-cookie')!.split(';')[0];
      await first.text();
      await Promise.all(Array.from({ length: 8 }, (_, i) => fetch(`${url}/asset/${i}`, { headers: { cookie } }).then((r) => r.text())));
      // express-session answers before its save or touch ends: wait until no command of this visit is in flight
      await new Promise((r) => setTimeout(r, 300));
      counts.push(sent(collectionName, from).length);
    }
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  return counts.sort((p, q) => p - q)[2];
}

test('a page load (1 request, then 8 with its cookie) under express-session with resave: true costs what it costs with resave: false', async () => {
  const off = await pageLoads(false, 'visits-resave-false');
  const on = await pageLoads(true, 'visits-resave-true');
  console.log(`# commands per page load (median of 5): resave: false ${off}, resave: true ${on}`);
  assert.ok(on <= off, `resave: true ${on} commands, resave: false ${off}`);
  assert.ok(on <= 5, `resave: true: ${on} commands per visit`);
});

test(`the digests are bounded: ${MAX_ENTRIES} sids at most, each trusted ${AGE_MS / 60_000} min; 100k distinct sids`, () => {
  // the heap after a full collection, before and after (node's gc, reached without --expose-gc)
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const u = new Unchanged();
  gc();
  const heap = process.memoryUsage().heapUsed;
  const json = (i: number) => `{"cookie":{"originalMaxAge":3600000,"expires":"2026-12-03T00:00:00.000Z","httpOnly":true,"path":"/"},"passport":{"user":"user-${i}"},"views":${i}}`;
  const d = digestOf(json(0));
  for (let i = 0; i < 100_000; i++) u.remember(`session-id-of-32-characters-${String(i).padStart(5, '0')}`, i === 99_999 || i === 0 ? d : digestOf(json(i)), json(i), i + 1);
  assert.is(u.size, MAX_ENTRIES);
  gc();
  const grown = process.memoryUsage().heapUsed - heap;
  console.log(`# digests: 100k sids remembered, ${u.size} kept, heap +${(grown / 1e6).toFixed(2)} MB (${Math.round(grown / u.size)} bytes a sid)`);
  assert.equal(u.lastWrite('session-id-of-32-characters-99999', d), { stamp: 100_000, stored: json(99_999) }, 'the newest are kept');
  assert.is(u.lastWrite('session-id-of-32-characters-00000', d), undefined, 'the oldest went');
  // the stored values kept are bounded in characters too: 4 KB sessions keep fewer
  const big = new Unchanged();
  for (let i = 0; i < 2_000; i++) big.remember(`b${i}`, 'x', 'y'.repeat(4000), i + 1);
  assert.ok(big.size <= MAX_CHARS / 4000, `${big.size} of 4000-character sessions kept`);
  assert.is(digestOf(json(0).replace('2026-12-03', '2027-01-01')), d, 'the expiry does not count');
  assert.is.not(digestOf(json(0).replace('"views":0', '"views":1')), d, 'anything else does');
  // @fastify/session's cookie: originalExpires (the expiry it read) moves with every save, and is absent on the first
  const fastify = (expires: string, original?: string) => `{"cookie":{"expires":"${expires}","originalMaxAge":60000,${original ? `"originalExpires":"${original}",` : ''}"sameSite":null,"secure":false,"path":"/","httpOnly":true,"domain":null},"n":1}`;
  assert.is(digestOf(fastify('2026-12-03T10:00:00.000Z')), digestOf(fastify('2026-12-03T10:01:00.000Z', '2026-12-03T10:00:00.000Z')), 'originalExpires does not count');
  assert.is.not(digestOf(fastify('2026-12-03T10:00:00.000Z')), digestOf(fastify('2026-12-03T10:00:00.000Z').replace('"n":1', '"n":2')));
  // an older write's digest does not replace a newer one's (nor a destroy's)
  u.remember('x', 'new', 'N', 200_001);
  u.remember('x', 'old', 'O', 200_000);
  assert.equal(u.lastWrite('x', 'new'), { stamp: 200_001, stored: 'N' });
  u.remember('x', undefined, undefined, 200_002);
  u.remember('x', 'new', 'N', 200_001);
  assert.is(u.lastWrite('x', 'new'), undefined);
});

test.run();
