/**
 * End to end with the real packages: Fastify 5 + @fastify/cookie 11 + @fastify/session 11 with
 * `store: MongoStore.create(…)` on the real server, cookies kept by hand with fetch. A counter across requests and an
 * app restart; destroy leaves a destroyed marker; regenerate moves the session to a new id; a short maxAge ends it;
 * the commands a page load (1 request, then 8 in parallel with its cookie) costs with `rolling` at its default.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import { MongoStore, type MongoStoreOptions } from '../src';
import { openTestDb, sleep, type TestDb } from './helpers';

let t: TestDb;
const stores: MongoStore[] = [];
const apps: FastifyInstance[] = [];
test.before(async () => void (t = await openTestDb(__filename, { monitorCommands: true })));
test.after.each(async () => {
  for (const a of apps.splice(0)) await a.close();
  for (const s of stores.splice(0)) await s.close();
});
test.after(async () => void (await t?.close()));

const SECRET = 'a secret of at least thirty-two characters';
const docs = (coll: string) => t.db.collection<{ _id: string; session: any; expires: Date }>(coll);

function openStore(collectionName: string, extra: Partial<MongoStoreOptions> = {}) {
  const store = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName, ...extra });
  store.on('warning', () => {}); // FerretDB refuses the TTL index: the interval fallback is expected
  stores.push(store);
  return store;
}

/** /inc counts, /get reads, /logout destroys, /regenerate moves the session to a new id, /asset/:n touches nothing. */
async function startApp(store: MongoStore, opts: { maxAge?: number; rolling?: boolean } = {}): Promise<string> {
  const app = Fastify();
  apps.push(app);
  await app.register(fastifyCookie);
  await app.register(fastifySession, { secret: SECRET, store, rolling: opts.rolling, cookie: { secure: false, maxAge: opts.maxAge ?? 60_000 } });
  const n = (s: any) => (s.n as number | undefined) ?? null;
  app.get('/inc', async (req) => {
    (req.session as any).n = (n(req.session) ?? 0) + 1;
    return { n: n(req.session), id: req.session.sessionId };
  });
  app.get('/get', async (req) => ({ n: n(req.session), id: req.session.sessionId }));
  app.get('/logout', async (req) => {
    await req.session.destroy();
    return { n: null, id: null };
  });
  app.get('/regenerate', async (req) => {
    await req.session.regenerate(['n']);
    return { n: n(req.session), id: req.session.sessionId };
  });
  app.get('/asset/:n', async () => 'asset');
  return app.listen({ port: 0, host: '127.0.0.1' });
}

/** A browser's cookie jar, by hand: Set-Cookie in, Cookie out. */
class Jar {
  cookie?: string;
  async get(url: string): Promise<{ n: number | null; id: string | null }> {
    const res = await fetch(url, { headers: this.cookie ? { cookie: this.cookie } : {} });
    assert.is(res.status, 200, `${url} answers 200`);
    const set = res.headers.getSetCookie().find((c) => c.startsWith('sessionId='));
    if (set) this.cookie = set.split(';')[0];
    if (url.includes('/asset/')) return (await res.text(), { n: null, id: null });
    return (await res.json()) as { n: number | null; id: string | null };
  }
}

test('a counter across requests and an app restart; the document is under the session id', async () => {
  const base = await startApp(openStore('counter'));
  const jar = new Jar();
  const first = await jar.get(`${base}/inc`);
  assert.is(first.n, 1);
  assert.is((await jar.get(`${base}/inc`)).n, 2);
  assert.is((await jar.get(`${base}/inc`)).n, 3);
  const doc = (await docs('counter').findOne({ _id: first.id! }))!;
  assert.ok(doc, 'stored under the session id');
  assert.is(JSON.parse(doc.session).n, 3);
  assert.ok(Math.abs(doc.expires.getTime() - Date.now() - 60_000) < 5000, 'expires with the cookie');
  const base2 = await startApp(openStore('counter'));
  const again = await jar.get(`${base2}/inc`);
  assert.equal([again.n, again.id], [4, first.id], 'a new app and store on the same collection: the same session');
});

test('destroy: a destroyed marker; the old cookie finds nothing', async () => {
  const base = await startApp(openStore('destroy'));
  const jar = new Jar();
  const { id } = await jar.get(`${base}/inc`);
  const stale = new Jar();
  stale.cookie = jar.cookie;
  await jar.get(`${base}/logout`);
  assert.is((await docs('destroy').findOne({ _id: id! }))!.session, null, 'the document holds no session');
  const after = await stale.get(`${base}/get`);
  assert.is(after.n, null, 'the old cookie opens a new session');
  assert.is.not(after.id, id);
});

test('regenerate: the old id destroyed, the kept data under a new id', async () => {
  const base = await startApp(openStore('regenerate'));
  const jar = new Jar();
  const { id } = await jar.get(`${base}/inc`);
  const moved = await jar.get(`${base}/regenerate`);
  assert.is(moved.n, 1);
  assert.is.not(moved.id, id);
  assert.is((await docs('regenerate').findOne({ _id: id! }))!.session, null, 'the old session is destroyed');
  assert.equal(await jar.get(`${base}/get`), { n: 1, id: moved.id }, 'the new id carries the session');
});

test('a short maxAge: after it passes, a new session', async () => {
  const base = await startApp(openStore('expiry'), { maxAge: 1500, rolling: false });
  const jar = new Jar();
  const { id } = await jar.get(`${base}/inc`);
  const doc = (await docs('expiry').findOne({ _id: id! }))!;
  assert.ok(doc.expires.getTime() <= Date.now() + 1500, 'the document expires with the cookie');
  await sleep(doc.expires.getTime() - Date.now() + 50);
  // The cookie is sent past its end on purpose (a clock-skewed browser): the server must not answer the session.
  const after = await jar.get(`${base}/get`);
  assert.is(after.n, null);
  assert.is.not(after.id, id, 'a new session');
});

test('rolling (the default): a page load (1 request, then 8 in parallel with its cookie) costs at most 4 commands', async () => {
  const store = openStore('visits');
  await store.ready();
  const base = await startApp(store);
  // warm: the store's first use, and open connections (a browser keeps its connections to a site between pages)
  await new Jar().get(`${base}/inc`);
  await Promise.all(Array.from({ length: 9 }, (_, i) => new Jar().get(`${base}/asset/${i}`)));
  const counts: number[] = [];
  let shape = '';
  for (let visit = 0; visit < 5; visit++) {
    const mark = t.commands.length;
    const jar = new Jar();
    assert.is((await jar.get(`${base}/inc`)).n, 1);
    await Promise.all(Array.from({ length: 8 }, (_, i) => jar.get(`${base}/asset/${i}`)));
    // @fastify/session answers after its save: nothing of this visit is still in flight
    const sent = t.commands.slice(mark).filter((c) => (c.command as any)[c.commandName] === 'visits');
    const full = sent.filter((c) => c.commandName === 'update' && 'session' in (c.command.updates[0].u.$set ?? {}));
    assert.is(full.length, 1, 'one full write, the new session\'s; the 8 saves of it unchanged move its expiry only');
    counts.push(sent.length);
    shape ||= sent.map((c) => c.commandName).join(', ');
  }
  // The 8 requests share one find and one update of the expiry when they arrive in one turn of the event loop
  // (shared.ts); one that arrives later costs its own: the median of 5 visits.
  const median = [...counts].sort((p, q) => p - q)[2];
  console.log(`\n# fastify commands per page load (rolling, 1 + 8 parallel requests): median ${median} of ${counts.join(', ')} (${shape})`);
  assert.ok(median <= 4, `${median} commands per page load (${counts.join(', ')}), at most 4`);
});

test.run();
