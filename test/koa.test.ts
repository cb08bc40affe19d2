/**
 * End to end with the real packages: Koa 3 + koa-session 7 with `store: koaSessionStore(MongoStore.create(…))` on the
 * real server, cookies kept by hand with fetch. A counter across requests and an app restart; what the app stored comes
 * back as it was (its own `cookie` and `lastModified` fields too); logout leaves a destroyed marker; a short maxAge ends
 * the session, and maxAge: 'session' lives the store's ttl; rolling and renew saves of an unchanged session are touches
 * (expires only), none within touchAfter; koa-session's forced saves (regenerate, session.save()) are full writes; a
 * store error reaches Koa; the commands one visit costs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import session from 'koa-session';
import { MongoStore, koaSessionStore, type MongoStoreOptions } from '../src';
import { openTestDb, sleep, type TestDb } from './helpers';

let t: TestDb;
const stores: MongoStore[] = [];
const servers: Server[] = [];
test.before(async () => void (t = await openTestDb(__filename, { monitorCommands: true })));
test.after.each(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  for (const s of stores.splice(0)) await s.close();
});
test.after(async () => void (await t?.close()));

const coll = 'koa_sessions';
const docs = () => t.db.collection<{ _id: string; session: any; expires: Date }>(coll);

function openStore(extra: Partial<MongoStoreOptions> = {}) {
  const store = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName: coll, ...extra });
  store.on('warning', () => {}); // FerretDB refuses the TTL index: the interval fallback is expected
  stores.push(store);
  return store;
}

type SessionOpts = Parameters<typeof session>[0];

/** /inc counts (with autoCommit: false, by session.save()), /get reads, /put stores fields named like the store's, /logout, /regenerate. */
async function startApp(store: MongoStore, opts: SessionOpts = {}): Promise<string> {
  const app = new Koa();
  app.keys = ['koa-e2e'];
  app.silent = true; // the error test's 500 is expected; any other shows as a status that is not 200
  app.use(session({ store: koaSessionStore(store), ...opts }, app));
  app.use(async (ctx) => {
    const s = ctx.session!;
    switch (ctx.path) {
      case '/inc':
        s.n = ((s.n as number) ?? 0) + 1;
        if (!ctx.sessionOptions.autoCommit) await s.save(); // a forced save: changed: false, new data
        break;
      case '/put': Object.assign(s, { cookie: 'mine', lastModified: 'also mine', nested: { a: [1, 2] } }); break;
      case '/logout': ctx.session = null; break;
      case '/regenerate': await s.regenerate(); break; // data kept, a new key: changed: false
    }
    ctx.body = { n: ctx.session?.n ?? null, isNew: !!ctx.session?.isNew, data: ctx.session?.toJSON() ?? null, expire: ctx.session?._expire ?? null };
  });
  const server = createServer(app.callback());
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A browser's cookie jar, by hand: Set-Cookie in, Cookie out; an emptied or expired cookie leaves it. */
class Jar {
  cookies = new Map<string, string>();
  async get(url: string) {
    const res = await fetch(url, { headers: this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {} });
    assert.is(res.status, 200, `${url} answers 200`);
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
      const expires = attrs.find((a) => /^\s*expires=/i.test(a));
      if (!value || (expires && new Date(expires.split('=')[1]).getTime() <= Date.now())) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return (await res.json()) as { n: number | null; isNew: boolean; data: Record<string, unknown> | null; expire: number | null };
  }
  /** the session's key (koa-session's externalKey), never printed */
  get key() {
    return this.cookies.get('koa.sess');
  }
}

const updatesTo = (from: number) => t.commands.slice(from).filter((c) => c.commandName === 'update' && c.command.update === coll);

test('a counter across requests and an app restart; the document is under the key, expiring with the cookie', async () => {
  const base = await startApp(openStore(), { maxAge: 60_000 });
  const jar = new Jar();
  assert.is((await jar.get(`${base}/inc`)).n, 1);
  const key = jar.key!;
  assert.ok(key, 'koa-session set its cookie');
  assert.is((await jar.get(`${base}/inc`)).n, 2);
  assert.is((await jar.get(`${base}/inc`)).n, 3);
  assert.is(jar.key, key, 'one session throughout');
  const doc = (await docs().findOne({ _id: key }))!;
  assert.ok(doc, 'stored under koa-session\'s key');
  const stored = typeof doc.session === 'string' ? JSON.parse(doc.session) : doc.session;
  assert.is(doc.expires.getTime(), stored._expire, "the document expires when koa-session's _expire says");
  assert.ok(Math.abs(stored._expire - Date.now() - 60_000) < 2000, 'maxAge from now');
  // An app restart: a new store and app on the same collection.
  const base2 = await startApp(openStore(), { maxAge: 60_000 });
  assert.is((await jar.get(`${base2}/inc`)).n, 4);
});

test('get() gives koa-session what it stored: the adapter\'s cookie stripped, the app\'s own cookie and lastModified kept', async () => {
  const store = openStore({ touchAfter: 3600 }); // touchAfter: the store keeps its own lastModified too
  const base = await startApp(store);
  const jar = new Jar();
  await jar.get(`${base}/put`);
  const r = await jar.get(`${base}/get`);
  assert.equal(r.data, { cookie: 'mine', lastModified: 'also mine', nested: { a: [1, 2] } });
  const adapter = koaSessionStore(store);
  const got = (await adapter.get(jar.key!))!;
  assert.equal(Object.keys(got).sort(), ['_expire', '_maxAge', 'cookie', 'lastModified', 'nested']);
  assert.is(got._maxAge, 86_400_000, "koa-session's default maxAge, as it stored it");
  assert.is(await adapter.get('no-such-key'), null, 'an absent session is null');
});

test('logout (ctx.session = null) leaves a destroyed marker; get answers null; the old cookie opens a new session', async () => {
  const store = openStore();
  const base = await startApp(store);
  const jar = new Jar();
  await jar.get(`${base}/inc`);
  const key = jar.key!;
  const stale = new Jar();
  stale.cookies = new Map(jar.cookies);
  await jar.get(`${base}/logout`);
  assert.is(jar.key, undefined, 'the cookie is cleared');
  const doc = (await docs().findOne({ _id: key }))!;
  assert.is(doc.session, null, 'a destroyed marker: the document holds no session');
  assert.is(await koaSessionStore(store).get(key), null);
  const again = await stale.get(`${base}/get`);
  assert.equal([again.n, again.isNew], [null, true], 'the old cookie finds nothing');
});

test('a short maxAge: after it passes, a new session', async () => {
  const store = openStore();
  const base = await startApp(store, { maxAge: 1500 });
  const jar = new Jar();
  await jar.get(`${base}/inc`);
  const key = jar.key!;
  const doc = (await docs().findOne({ _id: key }))!;
  assert.ok(doc, 'stored (the machine took under 1.5 s)');
  assert.ok(doc.expires.getTime() <= Date.now() + 1500, 'the document expires with the cookie');
  await sleep(doc.expires.getTime() - Date.now() + 50);
  // The cookie is kept past its end on purpose (a clock-skewed browser): the server must not answer the session.
  const after = await jar.get(`${base}/get`);
  assert.equal([after.n, after.isNew], [null, true]);
  assert.is(await koaSessionStore(store).get(key), null, 'the store answers an expired session as none');
  const fresh = await jar.get(`${base}/inc`);
  assert.is(fresh.n, 1);
  assert.is.not(jar.key, key, 'a new key');
});

test("maxAge: 'session' (a browser-session cookie): the document lives the store's ttl", async () => {
  const base = await startApp(openStore({ ttl: 3600 }), { maxAge: 'session' });
  const jar = new Jar();
  await jar.get(`${base}/inc`);
  const doc = (await docs().findOne({ _id: jar.key! }))!;
  assert.ok(Math.abs(doc.expires.getTime() - Date.now() - 3600_000) < 5000, 'expires: now + ttl');
  assert.is((await jar.get(`${base}/inc`)).n, 2, 'the session carries on');
});

test('rolling: true — an unchanged request is a touch: an update of expires only; the next read has the new expiry', async () => {
  const base = await startApp(openStore(), { rolling: true, maxAge: 60_000 });
  const jar = new Jar();
  await jar.get(`${base}/inc`);
  const before = (await docs().findOne({ _id: jar.key! }))!;
  await sleep(20); // a later millisecond
  const mark = t.commands.length;
  const r = await jar.get(`${base}/get`);
  assert.is(r.n, 1);
  const updates = updatesTo(mark);
  assert.is(updates.length, 1, 'one write: the touch');
  const u = updates[0].command.updates[0];
  assert.ok(u.u.$set.expires, 'the touch sets expires');
  assert.not.ok('session' in u.u.$set, 'the touch does not rewrite the session');
  assert.not.ok(u.upsert, 'a touch never creates a document');
  const after = (await docs().findOne({ _id: jar.key! }))!;
  assert.ok(after.expires.getTime() > before.expires.getTime(), 'expires moved forward');
  assert.equal(after.session, before.session, 'the stored session is unchanged');
  const next = await jar.get(`${base}/get`);
  assert.ok(Math.abs(next.expire! - after.expires.getTime()) < 5, "koa-session's _expire is the touched expiry");
  // A change is still a full write.
  const mark2 = t.commands.length;
  assert.is((await jar.get(`${base}/inc`)).n, 2);
  const w = updatesTo(mark2);
  assert.is(w.length, 1);
  assert.ok('session' in (w[0].command.updates[0].u.$set ?? w[0].command.updates[0].u), 'a changed session is written');
});

test('renew: true — a renewal of an unchanged session near its end is a touch', async () => {
  const base = await startApp(openStore(), { renew: true, maxAge: 1500 });
  const jar = new Jar();
  await jar.get(`${base}/inc`);
  const { expires } = (await docs().findOne({ _id: jar.key! }))!;
  let mark = t.commands.length;
  await jar.get(`${base}/get`);
  assert.is(updatesTo(mark).length, 0, 'far from its end: no write');
  await sleep(expires.getTime() - Date.now() - 600); // under maxAge / 2 left
  mark = t.commands.length;
  const r = await jar.get(`${base}/get`);
  assert.is(r.n, 1);
  const updates = updatesTo(mark);
  assert.is(updates.length, 1, 'the renewal: one write');
  assert.not.ok('session' in updates[0].command.updates[0].u.$set, 'a touch, not a rewrite');
  await sleep(800); // past the first expiry
  assert.is((await jar.get(`${base}/get`)).n, 1, 'the renewed session lives on');
});

test('rolling with touchAfter: unchanged requests within the window send no write', async () => {
  const base = await startApp(openStore({ touchAfter: 3600 }), { rolling: true });
  const jar = new Jar();
  await jar.get(`${base}/inc`);
  const mark = t.commands.length;
  for (let i = 0; i < 3; i++) assert.is((await jar.get(`${base}/get`)).n, 1);
  assert.ok(t.commands.slice(mark).some((c) => c.commandName === 'find'), 'the requests read the session');
  assert.is(updatesTo(mark).length, 0, 'no update within touchAfter');
});

test("koa-session's forced saves (changed: false) with new data or a new key are full writes", async () => {
  // regenerate() keeping the data: the old key destroyed, the session saved under a new one with changed: false.
  const base = await startApp(openStore());
  const jar = new Jar();
  await jar.get(`${base}/inc`);
  const oldKey = jar.key!;
  assert.is((await jar.get(`${base}/regenerate`)).n, 1);
  assert.is.not(jar.key, oldKey, 'a new key');
  assert.is((await docs().findOne({ _id: oldKey }))!.session, null, 'the old session is destroyed');
  assert.is((await jar.get(`${base}/get`)).n, 1, 'the regenerated session is stored under its new key');
  // session.save() of a changed session (autoCommit: false): changed: false too, and the change must be written.
  const manual = await startApp(openStore(), { autoCommit: false });
  const jar2 = new Jar();
  assert.is((await jar2.get(`${manual}/inc`)).n, 1);
  assert.is((await jar2.get(`${manual}/inc`)).n, 2);
  assert.is((await jar2.get(`${manual}/get`)).n, 2, 'session.save() wrote the change');
});

test('errors pass through: a failing store makes the request fail (koa-session does not swallow it)', async () => {
  const store = openStore();
  const base = await startApp(store);
  const jar = new Jar();
  await jar.get(`${base}/inc`);
  await store.close();
  const res = await fetch(`${base}/get`, { headers: { cookie: [...jar.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } });
  assert.is(res.status, 500, "the store's error reaches Koa");
});

test('commands per visit: one request, then 8 in parallel with its cookie', async () => {
  const configs: [string, Partial<MongoStoreOptions>, SessionOpts][] = [
    ['default', {}, {}],
    ['rolling', {}, { rolling: true }],
    ['rolling + touchAfter', { touchAfter: 3600 }, { rolling: true }],
  ];
  const report: string[] = [];
  for (const [name, storeOpts, sessionOpts] of configs) {
    const store = openStore(storeOpts);
    await store.ready();
    const base = await startApp(store, sessionOpts);
    await new Jar().get(`${base}/inc`); // warm: the store's first use
    const mark = t.commands.length;
    const jar = new Jar();
    assert.is((await jar.get(`${base}/inc`)).n, 1);
    const reads = await Promise.all(Array.from({ length: 8 }, () => jar.get(`${base}/get`)));
    assert.ok(reads.every((r) => r.n === 1));
    const sent = t.commands.slice(mark);
    const writes = sent.filter((c) => c.commandName === 'update').length;
    report.push(`${name} ${sent.length} (${writes} of them updates)`);
    // 9 requests. The first (no cookie) reads nothing and writes the new session; each of the 8 reads it once. An
    // unchanged request writes nothing, so 9 requests cost at most 10 commands; with rolling each also touches
    // (expires only), at most one more command each (the store joins touches of one session that overlap).
    const bound = name === 'rolling' ? 9 + 8 : 9 + 1;
    assert.ok(sent.length <= bound, `${name}: ${sent.length} commands, at most ${bound}`);
    if (name !== 'rolling') assert.is(writes, 1, `${name}: the one write is the new session's`);
  }
  console.log(`\n# koa commands per visit (1 + 8 parallel requests): ${report.join('; ')}`);
});

test.run();
