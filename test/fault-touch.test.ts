/**
 * "Errors reach users after the response was sent": express-session touches a loaded session at the end of the
 * response, after the headers went out; if that touch fails, express-session passes the error to next(), and the
 * app's final handler can only destroy the socket: the user gets a cut-off response. The server dies between the
 * session's load and the response here (the route kills it), so the touch meets an unreachable server every time.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MongoStore } from '../src';
import { startFerretDB, tmpRoot, type FerretProcess, type Backend } from './server';
import { dbNameFor } from './helpers';
import { unhandled, lateErrors, dropDatabase, startApp, get, type App } from './fixtures/reliability/kit';

const backend: Backend = process.env.TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';
const DB = dbNameFor(__filename);
let server: FerretProcess;
let dataDir: string;
let store: MongoStore;
let app: App;

test.before(async () => {
  dataDir = mkdtempSync(join(tmpRoot, 'fault-touch-'));
  server = await startFerretDB({ backend, dataDir });
  store = MongoStore.create({ mongoUrl: server.uri, dbName: DB, operationTimeoutMS: 1500 });
  store.on('warning', () => {});
  await store.ready();
  app = await startApp(store, (a) =>
    a.get('/read-then-kill', async (req, res) => {
      await server.kill(); // the session was loaded; the server dies before the response (and its touch)
      res.json({ session: !!req.session, v: (req.session as unknown as { v?: string })?.v ?? null });
    }),
  );
});
test.after(async () => {
  await app?.close();
  server = await startFerretDB({ backend, port: server.port, dataDir });
  await dropDatabase(server.uri, DB).catch(() => {});
  await store?.close();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a touch that fails at the end of a response does not cut the response off', async () => {
  const created = await get(`${app.url}/new?v=kept`, { timeoutMs: 10_000 });
  assert.is(created.status, 200);
  const reply = await get(`${app.url}/read-then-kill`, { cookie: created.cookie, timeoutMs: 10_000 }).catch((e: Error) => e);
  assert.not.instance(reply, Error, `the response was cut off: ${(reply as Error).message} (${(reply as Error & { cause?: Error }).cause?.message ?? ''})`);
  assert.equal((reply as { body: unknown }).body, { session: true, v: 'kept' });
  assert.equal(lateErrors.map((e) => `${e.name}: ${e.message}`), [], "a store error reached express after the response had started");
  assert.equal(unhandled, []);
});

test.run();
