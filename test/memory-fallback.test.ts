/**
 * fallbackMemory: what the constructor, create() and createStoreFromConfig() return is a MongoStore (a
 * MemoryFallbackStore over express-session's MemoryStore) with the whole documented surface: close() awaits,
 * ready(), iteration, events, express-session. It never talks to MongoDB.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import session, { type SessionData } from 'express-session';
import request from 'supertest';
import { MongoStore, createStoreFromConfig, MongoStoreError } from '../src';
import { MemoryFallbackStore } from '../src/memory-fallback';
import { tmpRoot } from './server';
import { rejects } from './helpers';

const test = suite('memory-fallback');
const sessionOf = (n: number) => ({ cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString(), path: '/' }, n }) as unknown as SessionData;
process.on('warning', () => {}); // the one development-only warning is expected

test('new MongoStore / MongoStore.create with fallbackMemory: a MongoStore with every method, events included', async () => {
  for (const store of [new MongoStore({ fallbackMemory: true }), MongoStore.create({ fallbackMemory: true })]) {
    assert.ok(store instanceof MongoStore && store instanceof MemoryFallbackStore);
    const events: string[] = [];
    for (const e of ['create', 'update', 'set', 'get', 'touch', 'destroy', 'all']) store.on(e, () => events.push(e));
    assert.equal(await store.ready(), { autoRemove: 'disabled' });
    assert.is(await store.get('a'), null);
    await store.set('a', sessionOf(1));
    await store.set('a', sessionOf(2));
    await store.set('b', sessionOf(3));
    assert.is(((await store.get('a')) as unknown as { n: number }).n, 2);
    await store.touch('a', sessionOf(2));
    assert.is(await store.length(), 2);
    assert.equal((await store.all()).map((s) => (s as unknown as { n: number }).n).sort(), [2, 3]);
    assert.equal((await store.ids()).sort(), ['a', 'b']);
    const seen: string[] = [];
    for await (const e of store) {
      assert.ok(e.expires instanceof Date);
      seen.push(e.id);
    }
    assert.equal(seen.sort(), ['a', 'b'], 'for await iterates the sessions');
    await store.destroy('a');
    assert.is(await store.get('a'), null);
    await new Promise<void>((res, rej) => store.clear((e) => (e ? rej(e) : res())));
    assert.is(await store.length(), 0);
    assert.equal(events, ['get', 'create', 'set', 'update', 'set', 'create', 'set', 'get', 'touch', 'all', 'destroy', 'get']);
    await rejects(() => store.collection(), /fallbackMemory is on: there is no MongoDB collection/);
    await rejects(() => store.collectionP, /fallbackMemory is on/);
    await store.close();
    await store.close(); // idempotent
    const err = await rejects(() => store.get('a'), /called after close\(\)/);
    assert.is((err as MongoStoreError).code, 'ERR_CONNECT_MONGO_CLOSED');
  }
});

test('createStoreFromConfig with fallbackMemory: the store it returns can be closed and iterated', async () => {
  const dir = mkdtempSync(join(tmpRoot, 'fallback-'));
  try {
    const configPath = join(dir, 'connect-mongo.config.json');
    writeFileSync(configPath, JSON.stringify({ fallbackMemory: true, ttl: 60 }));
    const store = await createStoreFromConfig({ configPath });
    assert.ok(store instanceof MongoStore);
    assert.is(store.options.ttlMs, 60_000, 'the options are the normalized ones');
    await store.set('x', sessionOf(1));
    const ids: string[] = [];
    for await (const e of store.entries()) ids.push(e.id);
    assert.equal(ids, ['x']);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('express-session works on it: a session persists across requests', async () => {
  const store = MongoStore.create({ fallbackMemory: true });
  const app = express();
  app.use(session({ store, secret: 'fallback-test', resave: false, saveUninitialized: false }));
  app.get('/', (req, res) => {
    const s = req.session as unknown as { n?: number };
    s.n = (s.n ?? 0) + 1;
    res.json(s.n);
  });
  const agent = request.agent(app);
  assert.is((await agent.get('/')).body, 1);
  assert.is((await agent.get('/')).body, 2);
  await store.close();
});

test.run();
