/**
 * FerretDB SIGKILLed and restarted (same port, same data) under a steady load of HTTP requests through
 * express + express-session + MongoStore on 127.0.0.1. Proves: no acknowledged session is lost, no request hangs
 * past its timeout, the store recovers by itself. Prints the figures (for the README's "Failure behaviour").
 * The backend follows TEST_BACKEND (sqlite by default; postgres: same PostgreSQL db as the run, own MongoDB db).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { MongoStore } from '../src';
import { startFerretDB, tmpRoot, type FerretProcess, type Backend } from './server';
import { dbNameFor, sleep, waitFor } from './helpers';
import { unhandled, lateErrors, startApp, get, type App, tearDown } from './fixtures/reliability/kit';

const backend: Backend = process.env.TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';
const OP_TIMEOUT = 1500;
const HEARTBEAT = 1000;
/** a request with no answer after this long is a hang (the store's own bound is OP_TIMEOUT) */
const REQUEST_TIMEOUT = OP_TIMEOUT + 3000;
const CONCURRENCY = 8;
const BEFORE_KILL = 150; // requests answered before the kill
const OUTAGE_MS = 2000; // server down this long (scheduling only; nothing is asserted on time)
const AFTER_RECOVERY = 150; // acknowledged saves after the restart before the load stops
const CAP = 2000; // the loop is bounded whatever happens

let server: FerretProcess | undefined;
let dataDir: string;
let store: MongoStore;
let app: App;

test.before(async () => {
  dataDir = mkdtempSync(join(tmpRoot, 'fault-load-'));
  server = await startFerretDB({ backend, dataDir });
  store = MongoStore.create({
    mongoUrl: server.uri,
    dbName: dbNameFor(__filename),
    operationTimeoutMS: OP_TIMEOUT,
    mongoOptions: { heartbeatFrequencyMS: HEARTBEAT },
  });
  store.on('warning', () => {}); // the TTL fallback warning is expected on FerretDB
  await store.ready();
  await store.clear();
  app = await startApp(store);
});
test.after(() => tearDown({ app, store, server, dbName: dbNameFor(__filename), dataDir }));

type Phase = 'before' | 'outage' | 'after';

test(`SIGKILL + restart under load (${backend}): no acknowledged session lost, no hang, recovery on its own`, async () => {
  const acked = new Map<string, { v: string; phase: Phase }>(); // sid → value the store acknowledged
  const cookies: Array<{ cookie: string; v: string }> = [];
  const errors: Record<Phase, number> = { before: 0, outage: 0, after: 0 };
  const requests: Record<Phase, number> = { before: 0, outage: 0, after: 0 };
  const wrong: string[] = [];
  let hangs = 0;
  let cut = 0;
  let phase: Phase = 'before';
  let done = 0;
  let ackedAfter = 0;
  let killAt = 0;
  let restartAt = 0;
  let firstOkAfterRestart = 0;
  let disconnectAt = 0;
  let connectAt = 0;
  let maxMs = 0;
  store.on('disconnect', () => (disconnectAt ||= Date.now()));
  store.on('connect', () => (connectAt ||= Date.now()));

  const one = async (n: number) => {
    const p = phase;
    requests[p]++;
    let ok = false;
    try {
      if (n % 4 === 3 && cookies.length) {
        const c = cookies[n % cookies.length];
        const r = await get(`${app.url}/read`, { cookie: c.cookie, timeoutMs: REQUEST_TIMEOUT });
        maxMs = Math.max(maxMs, r.ms);
        if (r.status === 200 && r.body.session === true) {
          ok = true;
          if (r.body.v !== c.v) wrong.push(`read gave ${JSON.stringify(r.body.v)} for a session holding ${JSON.stringify(c.v)}`);
        }
      } else {
        const v = `v${n}`;
        const r = await get(`${app.url}/new?v=${v}`, { timeoutMs: REQUEST_TIMEOUT });
        maxMs = Math.max(maxMs, r.ms);
        if (r.status === 200) {
          ok = true;
          acked.set(r.body.sid, { v, phase: p });
          cookies.push({ cookie: r.cookie!, v });
          if (phase !== 'before') {
            firstOkAfterRestart ||= restartAt ? Date.now() : 0;
            if (restartAt) ackedAfter++;
          }
        }
      }
    } catch (e) {
      if (/request hung/.test((e as Error).message)) hangs++;
      else if ((e as Error).message === 'fetch failed') cut++; // the socket was destroyed under the response
      else throw e;
    }
    // A request in flight when the server was killed fails because of the outage: count it there.
    if (!ok) errors[p === 'before' && killAt ? 'outage' : p]++;
    if (ok && p === 'outage' && restartAt) phase = 'after';
    done++;
    await sleep(ok ? 5 : 50); // a steady, modest load; no busy loop while everything fails fast
  };

  const load = (async () => {
    let n = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (n < CAP && !(phase === 'after' && ackedAfter >= AFTER_RECOVERY)) await one(n++);
      }),
    );
  })();

  await waitFor(() => done >= BEFORE_KILL, `${BEFORE_KILL} requests before the kill`, 60_000);
  const ackedBeforeKill = new Map(acked);
  phase = 'outage';
  killAt = Date.now();
  await server!.kill();
  await sleep(OUTAGE_MS);
  server = await startFerretDB({ backend, port: server!.port, dataDir });
  restartAt = Date.now();
  await load;

  const total = requests.before + requests.outage + requests.after;
  // Every acknowledged session is readable, with its own data; those acknowledged before the kill included.
  let verified = 0;
  for (const [sid, { v }] of acked) {
    const s = (await store.get(sid)) as { v?: string } | null;
    assert.ok(s, `an acknowledged session is lost (acknowledged ${acked.get(sid)!.phase} the kill)`);
    assert.is(s.v, v);
    verified++;
  }
  for (const sid of ackedBeforeKill.keys()) assert.ok(acked.has(sid));

  const figures = [
    `${backend}: ${total} requests at concurrency ${CONCURRENCY} (${requests.before} before the kill, ${requests.outage} during the outage, ${requests.after} after recovery)`,
    `server down ${restartAt - killAt} ms (SIGKILL → restarted server answering); 'disconnect' ${disconnectAt ? `${disconnectAt - killAt} ms after the kill` : 'not emitted'}, 'connect' ${connectAt ? `${connectAt - restartAt} ms after the restart` : 'not emitted'}`,
    `errors: ${errors.before} before the kill, ${errors.outage} during the outage (503/500 answered, ${hangs} hung, ${cut} cut off), ${errors.after} after recovery; slowest answer ${maxMs} ms (request timeout ${REQUEST_TIMEOUT} ms, operationTimeoutMS ${OP_TIMEOUT})`,
    `recovered ${firstOkAfterRestart - restartAt} ms after the restart (first acknowledged save), ${firstOkAfterRestart - killAt} ms after the kill`,
    `sessions verified after: ${verified} of ${acked.size} acknowledged (${ackedBeforeKill.size} acknowledged before the kill), 0 lost`,
  ];
  console.log(`\n${figures.map((f) => `# fault-load ${f}`).join('\n')}`);
  assert.ok(firstOkAfterRestart > 0, `no request succeeded after the restart (${total} requests)`);
  assert.is(hangs, 0, `${hangs} request(s) hung past ${REQUEST_TIMEOUT} ms`);
  // A store error after a response started (express-session's end-of-response touch) destroys the socket.
  assert.is(cut, 0, `${cut} response(s) cut off; late errors: ${lateErrors.map((e) => e.message).join('; ')}`);
  assert.equal(lateErrors.map((e) => e.message), [], 'store errors reached express after responses had started');
  assert.equal(wrong, [], 'a session read back with data that is not its own');
  assert.is(errors.before, 0, 'errors before the kill');

  assert.is(errors.after, 0, 'errors after the store had recovered');
  assert.equal(unhandled, []);
});

test.run();
