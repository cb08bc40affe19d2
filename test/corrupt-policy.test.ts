/**
 * onCorruptSession, as the README states it: with "ignore", express-session gives the browser a new session and the
 * unreadable document stays where it is (nothing is deleted: a wrong crypto secret after a deploy must be
 * recoverable by rolling back); with "error" (the default), get, all() and entries() fail loudly. length() counts
 * stored live documents without reading them, so it counts an unreadable one.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import express from 'express';
import session from 'express-session';
import request from 'supertest';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const signature = require('cookie-signature') as { sign(value: string, secret: string): string };
import { MongoStore, SessionCorruptError } from '../src';
import { openTestDb, rejects, type TestDb } from './helpers';

let t: TestDb;
const test = suite('corrupt-policy');
test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => void (await t?.close()));

const SECRET = 'corrupt-policy-secret';
const live = () => new Date(Date.now() + 3_600_000);
const good = (n: number) => JSON.stringify({ cookie: { originalMaxAge: 3_600_000, expires: live().toISOString(), path: '/' }, n });

async function seed(collectionName: string) {
  const col = t.db.collection(collectionName);
  await col.insertMany([
    { _id: 'ok-1' as never, session: good(1), expires: live() },
    { _id: 'broken' as never, session: '{"cookie": not json', expires: live() },
    { _id: 'ok-2' as never, session: good(2), expires: live() },
  ]);
  return col;
}

test('ignore: express-session issues a new sid; the unreadable document stays; one corrupt event', async () => {
  const col = await seed('ignore_express');
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'ignore_express', autoRemove: 'disabled', onCorruptSession: 'ignore' });
  const corrupt: SessionCorruptError[] = [];
  store.on('corrupt', (e) => corrupt.push(e));
  const app = express();
  app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: true }));
  app.get('/', (req, res) => res.json({ sid: req.sessionID }));
  const cookie = `connect.sid=${encodeURIComponent(`s:${signature.sign('broken', SECRET)}`)}`;
  const res = await request(app).get('/').set('Cookie', cookie).expect(200);
  assert.is.not(res.body.sid, 'broken', 'a new session');
  assert.match(String(res.headers['set-cookie']), /connect\.sid=/, 'the browser gets the new cookie');
  assert.is(corrupt.length, 1);
  assert.instance(corrupt[0], SessionCorruptError);
  assert.is((await col.findOne({ _id: 'broken' as never }))?.session, '{"cookie": not json', 'the unreadable document is left as it was');
  assert.ok(await col.findOne({ _id: res.body.sid }), 'the new session is stored under its own sid');
  await store.close();
});

test('error (default): get, all() and entries() fail with SessionCorruptError; length() counts the document', async () => {
  await seed('error_listing');
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'error_listing', autoRemove: 'disabled' });
  await rejects(() => store.get('broken'), /cannot be used: the stored session cannot be read: it is not valid JSON/);
  const e = await rejects(() => store.all(), /session in the collection cannot be used/);
  assert.instance(e, SessionCorruptError);
  await rejects(async () => {
    for await (const _ of store.entries()) void _;
  }, /session in the collection cannot be used/);
  assert.is(await store.length(), 3, 'length() does not read payloads');
  assert.is(((await store.get('ok-2')) as unknown as { n: number }).n, 2, 'readable sessions still read');
  await store.close();
});

test('ignore: all() and entries() skip the unreadable document, with a corrupt event for it', async () => {
  await seed('ignore_listing');
  const store = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'ignore_listing', autoRemove: 'disabled', onCorruptSession: 'ignore' });
  let events = 0;
  store.on('corrupt', () => events++);
  assert.equal((await store.all()).map((s) => (s as unknown as { n: number }).n).sort(), [1, 2]);
  const ids: string[] = [];
  for await (const e of store.entries()) ids.push(e.id);
  assert.equal(ids.sort(), ['ok-1', 'ok-2']);
  assert.is(events, 2, 'one per pass');
  await store.close();
});

test('a stored session that is a BSON Date or Binary (an object, not a session): SessionCorruptError, or null with ignore', async () => {
  const { Binary } = await import('mongodb');
  const col = t.db.collection('not_a_session');
  await col.insertMany([
    { _id: 'date' as never, session: new Date(), expires: live() },
    { _id: 'binary' as never, session: new Binary(Buffer.from('{}')), expires: live() },
  ]);
  const strict = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'not_a_session', autoRemove: 'disabled', stringify: false });
  const lenient = new MongoStore({ client: t.client, dbName: t.dbName, collectionName: 'not_a_session', autoRemove: 'disabled', stringify: false, onCorruptSession: 'ignore' });
  lenient.on('corrupt', () => {});
  try {
    for (const id of ['date', 'binary']) {
      assert.instance(await rejects(() => strict.get(id), /the session is not an object/), SessionCorruptError);
      assert.is(await lenient.get(id), null);
    }
  } finally {
    await strict.close();
    await lenient.close();
  }
});

test.run();
