/**
 * Small corners of the API, on MongoStore and its memory fallback alike: set() refuses a session that is not an
 * object before anything is sent (it would be stored and then fail every read); ids() answers a callback like every
 * other method; the memory fallback emits 'touch' only for a session that exists, as MongoStore does.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspect } from 'node:util';
import { MongoStore, MongoStoreError } from '../src';
import { openTestDb, type TestDb } from './helpers';
import { unhandled, sessionOf, quietStore } from './fixtures/reliability/kit';

let t: TestDb;
test.before(async () => void (t = await openTestDb(__filename, { monitorCommands: true })));
test.after(async () => void (await t?.close()));
process.on('warning', () => {}); // fallbackMemory's development-only warning is expected

const MARK = 'NOT-A-SESSION-MARK-41a2';
const notSessions: Array<[string, unknown]> = [
  ['null', null],
  ['a string', MARK],
  ['a number', 42],
  ['an empty array', []],
  ['an array', [MARK]],
  ['undefined', undefined],
  ['true', true],
];

const fallback = () => new MongoStore({ fallbackMemory: true });

/** set()'s answer through a callback (it must call back exactly once, with an error or not). */
function setViaCallback(store: MongoStore, sid: string, session: unknown): Promise<unknown> {
  return new Promise((resolve) => {
    let calls = 0;
    store.set(sid, session as never, (err) => {
      calls++;
      setImmediate(() => (calls === 1 ? resolve(err ?? null) : resolve(new Error(`called back ${calls} times`))));
    });
  });
}

test('set() of a session whose toJSON() answers a string, null or an array (stringify: true): refused, nothing stored', async () => {
  const store = quietStore(t);
  for (const [label, json] of [['string', 'str'], ['null', null], ['array', [1]]] as const) {
    const sid = `to-json-${label}`;
    const session = { ...sessionOf(), toJSON: () => json };
    const err = await store.set(sid, session as never).then(() => null, (e) => e);
    assert.instance(err, MongoStoreError, `${label}: ${err}`);
    assert.is((err as MongoStoreError).code, 'ERR_CONNECT_MONGO_SERIALIZE', label);
    assert.is(await store.get(sid), null, `${label} was stored (and every later get would fail)`);
  }
});

test('set() of something that is not an object: ERR_CONNECT_MONGO_SERIALIZE, nothing sent, nothing stored', async () => {
  for (const [kind, store] of [['MongoStore', quietStore(t)], ['memory fallback', fallback()]] as const) {
    for (const [label, value] of notSessions) {
      const sid = `not-a-session-${label}`;
      const since = t.commands.length;
      for (const err of [await store.set(sid, value as never).then(() => null, (e) => e), await setViaCallback(store, sid, value)]) {
        assert.instance(err, MongoStoreError, `${kind} ${label}: ${err}`);
        assert.is((err as MongoStoreError).code, 'ERR_CONNECT_MONGO_SERIALIZE', `${kind} ${label}`);
        assert.match((err as Error).message, /a session must be an object/);
        assert.not.ok(inspect(err).includes(MARK), `${kind} ${label}: the error shows the value`);
      }
      const writes = t.commands.slice(since).filter((c) => ['update', 'insert', 'findAndModify'].includes(c.commandName));
      assert.equal(writes.map((c) => c.commandName), [], `${kind} ${label}: a write was sent`);
      assert.is(await store.get(sid), null, `${kind} ${label} was stored`);
    }
    // express-session's req.session is an instance of its Session class, not a plain object: still a session.
    class Session {
      cookie = sessionOf().cookie;
      v = 1;
    }
    await store.set('class-instance', new Session() as never);
    assert.is(((await store.get('class-instance')) as { v?: number }).v, 1);
    await store.close();
  }
  assert.equal(unhandled, []);
});

test("with serialize/unserialize of the app's own, what a session is stays the app's business (connect-mongo 6)", async () => {
  const store = quietStore(t, { serialize: (s: unknown) => JSON.stringify(s), unserialize: (v: string) => JSON.parse(v), collectionName: 'custom' });
  await store.set('custom-string', MARK as never);
  assert.is(await store.get('custom-string'), MARK as never);
  await store.close();
});

test('ids(callback) calls back with the ids, and with the hashIds refusal', async () => {
  const viaCallback = (store: MongoStore) =>
    new Promise<[unknown, string[] | undefined]>((resolve) => {
      const returned = store.ids((err, ids) => resolve([err, ids]));
      assert.is(returned, undefined, 'ids(callback) returned something');
    });
  const store = quietStore(t, { collectionName: 'ids' });
  await store.set('a', sessionOf());
  await store.set('b', sessionOf());
  const [err, ids] = await viaCallback(store);
  assert.is(err, null);
  assert.equal(ids?.sort(), ['a', 'b']);
  assert.equal((await store.ids()).sort(), ['a', 'b']);
  await store.close();

  const hashed = quietStore(t, { collectionName: 'ids-hashed', hashIds: { secret: 'api-gaps-hash-secret-0123456789' } });
  const [hashErr] = await viaCallback(hashed);
  assert.is((hashErr as MongoStoreError)?.code, 'ERR_CONNECT_MONGO_UNSUPPORTED');
  await hashed.ids().then(() => assert.unreachable('ids() with hashIds resolved'), (e) => assert.is(e.code, 'ERR_CONNECT_MONGO_UNSUPPORTED'));
  await hashed.close();

  const memory = fallback();
  await memory.set('m', sessionOf());
  const [memErr, memIds] = await viaCallback(memory);
  assert.is(memErr, null);
  assert.equal(memIds, ['m']);
  await memory.close();
  assert.equal(unhandled, []);
});

test("touch of a session that is not there: no 'touch' event and nothing created, on MongoStore and the fallback", async () => {
  for (const [kind, store] of [['MongoStore', quietStore(t, { collectionName: 'touch' })], ['memory fallback', fallback()]] as const) {
    const touched: string[] = [];
    store.on('touch', (sid: string) => touched.push(sid));
    await store.touch('missing', sessionOf());
    assert.equal(touched, [], `${kind}: 'touch' for a missing session`);
    assert.is(await store.get('missing'), null, `${kind}: touch created the session`);
    await store.set('present', sessionOf());
    await store.touch('present', sessionOf());
    assert.equal(touched, ['present'], `${kind}: no 'touch' for a session that exists`);
    await store.close();
  }
});

test.run();
