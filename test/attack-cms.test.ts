/**
 * connect-mongo/connect-mongodb-session attacked, on the real server: every command the store sends through the field
 * view with a custom idField and expiresKey (the write order's collision path, a write that failed then clear()'s
 * markers for it, destroy's marker, the interval fallback's removal), looked at as the driver sends it: none names
 * `_id` or `expires`. Options that would put two of the store's fields in one. What an app can log of the store.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { inspect } from 'node:util';
import session from 'express-session';
import { ObjectId, type CommandStartedEvent, type Document } from 'mongodb';
import connectMongoDBSession from '../src/compat/connect-mongodb-session';
import { OptionsError } from '../src';
import { openTestDb, rejects, type TestDb } from './helpers';
import { startProxy, type Proxy } from './fixtures/proxy';

const MongoDBStore = connectMongoDBSession(session);
type Store = ReturnType<typeof MongoDBStore>;
let t: TestDb;
let proxy: Proxy;
const open: Store[] = [];
const test = suite('attack-cms');
test.before(async () => {
  t = await openTestDb(__filename);
  proxy = await startProxy();
});
test.after.each(async () => {
  proxy.release();
  for (const s of open.splice(0)) await s.close();
});
test.after(async () => {
  await proxy?.close();
  await t?.close();
});

function store(options: Record<string, unknown>): Promise<Store> {
  return new Promise((resolve, reject) => {
    const s: Store = new MongoDBStore({ uri: t.uri, databaseName: t.dbName, ...options }, (e) => (e ? reject(e) : resolve(s)));
    s.on('warning', () => {}); // FerretDB refuses TTL indexes: the fallback's warning
    s.on('error', () => {});
    open.push(s);
  });
}
const sess = (user: string, ms = 3_600_000) => ({ cookie: { originalMaxAge: ms, expires: new Date(Date.now() + ms), httpOnly: true, path: '/' }, user }) as unknown as session.SessionData;
const userOf = (s: unknown) => (s as { user?: string } | null)?.user;

/** Every field name a command's filter, update, sort, projection or index key uses ($group's _id is the group's key, not a field). */
function fieldNames(v: unknown, out: string[] = [], under = ''): string[] {
  if (v instanceof Map) v = Object.fromEntries(v);
  if (Array.isArray(v)) v.forEach((x) => fieldNames(x, out, under));
  else if (v && typeof v === 'object' && !(v instanceof Date) && !(v instanceof ObjectId) && !ArrayBuffer.isView(v) && (v as object).constructor?.name !== 'Binary') {
    for (const [k, x] of Object.entries(v)) {
      if (!(under === '$group' && k === '_id')) out.push(k);
      if (k !== 'session') fieldNames(x, out, k); // the session's own content (its cookie has an expires)
    }
  } else if (typeof v === 'string' && v.startsWith('$')) out.push(v.slice(1));
  return out;
}
const PARTS = ['filter', 'sort', 'projection', 'updates', 'deletes', 'pipeline', 'indexes', 'query'];

test('idField and expiresKey: no command of any method names _id or expires; one document a sid, in cms shape', async () => {
  const o = { collection: 'esc', idField: 'sid', expiresKey: 'exp', connectionOptions: { monitorCommands: true, retryWrites: false } };
  const a = await store({ ...o, uri: proxy.uri });
  const b = await store(o);
  const sent: CommandStartedEvent[] = [];
  for (const s of [a, b]) s.client.on('commandStarted', (e) => sent.push(e));
  await a.set('s1', sess('ada'));
  await a.set('s1', sess('ada2'));
  await b.set('s2', sess('bob'));
  // the write order's collision: a's write, stamped first, lands after b's (a unique-index E11000, then a read by sid)
  proxy.hold();
  const late = a.set('s2', sess('old'));
  await b.set('s2', sess('new'));
  proxy.release();
  await late;
  assert.is(userOf(await a.get('s2')), 'new', 'the newer write stays');
  await a.touch('s1', sess('ada2', 7_200_000));
  assert.is(await a.length(), 2);
  assert.equal((await a.ids()).sort(), ['s1', 's2']);
  assert.equal((await a.all()).map(userOf).sort(), ['ada2', 'new']);
  const it: string[] = [];
  for await (const e of a) it.push(e.id);
  assert.equal(it.sort(), ['s1', 's2']);
  await a.destroy('s1');
  assert.is(await a.get('s1'), null);
  // a write that failed (its connection cut) is remembered: clear() leaves a marker for its sid
  proxy.hold();
  const failed = a.set('s3', sess('cut'));
  await new Promise((r) => setTimeout(r, 50));
  proxy.cut();
  proxy.release();
  await failed.catch(() => {});
  await b.set('s4', sess('dan'));
  await a.clear();
  assert.is(await b.length(), 0);
  await b.set('s5', sess('eve'));
  await (b as unknown as { autoRemover: { removeExpired(): Promise<unknown> } }).autoRemover.removeExpired();
  const escaped = sent.filter((e) => e.databaseName === t.dbName).flatMap((e) => PARTS.flatMap((p) => fieldNames(e.command[p]).filter((f) => /^(_id|expires)(\.|$)/.test(f)).map((f) => `${e.commandName}: ${f}`)));
  assert.equal(escaped, [], 'a command named the store\'s own field');
  const docs = await t.db.collection('esc').find({}).toArray();
  for (const d of docs) assert.ok(d._id instanceof ObjectId && !('expires' in d) && d.exp instanceof Date && typeof d.sid === 'string', JSON.stringify(d));
  assert.is(new Set(docs.map((d) => d.sid)).size, docs.length, 'one document a sid');
  assert.is(userOf(await a.get('s5')), 'eve');
});

test('options: idField and expiresKey the same field is refused, naming both', () => {
  for (const [idField, expiresKey] of [['k', 'k'], ['_ts', '_ts']]) {
    const e = (() => {
      try {
        new MongoDBStore({ uri: 'mongodb://127.0.0.1:1/x', idField, expiresKey });
      } catch (err) {
        return err;
      }
    })();
    assert.instance(e, OptionsError, `${idField}/${expiresKey}`);
    assert.match((e as Error).message, /\/expiresKey: .*idField/);
  }
});

test('what an app can log: util.inspect of the store and its errors show no password of the uri or connectionOptions', async () => {
  const s = new MongoDBStore({ uri: 'mongodb://bob:pa55word@127.0.0.1:1/x', connectionOptions: { serverSelectionTimeoutMS: 200, auth: { username: 'bob', password: 'optpass1' } } });
  const errors: unknown[] = [];
  s.on('error', (e) => errors.push(e));
  open.push(s);
  await rejects(() => s.get('sid-secret-1'), /./).catch(() => {});
  await s.get('sid-secret-1').catch((e) => errors.push(e));
  const shown = inspect(s, { depth: 8 }) + inspect(errors, { depth: 8 }) + errors.map((e) => `${(e as Error).message}${(e as Error).stack}`).join('');
  assert.not.match(shown, /pa55word|optpass1|sid-secret-1/);
});

test.run();
