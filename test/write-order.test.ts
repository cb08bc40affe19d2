/**
 * A write the store reported as failed never lands over a later acknowledged write of the same session
 * (src/write-order.ts), and a get never answers a state older than its call (src/shared.ts). The faults are real:
 * a TCP proxy holds the bytes of the store's open connections, the store gives up (operationTimeoutMS), a later
 * write is acknowledged, and only then are the held bytes let go, to land on the server after it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MongoStore } from '../src';
import { lateWrites } from '../src/write-order';
import { openTestDb, type TestDb } from './helpers';
import { landHeldWrites, startProxy, timesOutOnTheWire, type Proxy } from './fixtures/proxy';
import { unhandled, sessionOf } from './fixtures/reliability/kit';
import { prng } from '../scripts/bench/stats';

// long enough for a write on a fresh connection on a busy 2-core machine (FerretDB/PostgreSQL), short for the held ones
const TIMEOUT_MS = 1000;
let t: TestDb;
let proxy: Proxy;
const stores: MongoStore[] = [];

test.before(async () => {
  t = await openTestDb(__filename);
  proxy = await startProxy();
});
test.after(async () => {
  proxy?.release();
  for (const s of stores) await s.close().catch(() => {});
  await proxy?.close();
  await t?.close();
});

/** A store whose traffic goes through the proxy, on its own collection. */
function proxied(collectionName: string, extra: Record<string, unknown> = {}) {
  const s = MongoStore.create({ mongoUrl: proxy.uri, dbName: t.dbName, collectionName, autoRemove: 'disabled', operationTimeoutMS: TIMEOUT_MS, ...extra });
  stores.push(s);
  return s;
}

/** A second instance on the same collection, straight to the server. */
function direct(collectionName: string) {
  const s = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName, autoRemove: 'disabled' });
  stores.push(s);
  return s;
}

/** The stored document of a sid, read with the driver. */
const stored = (collectionName: string, sid: string) => t.db.collection(collectionName).findOne({ _id: sid as any });



test('across instances with clocks a few ms apart: an acknowledged set or destroy is never lost to a stamp of the other instance', async () => {
  // First in the file: a later test moves this process's clock a minute ahead (it adopts a stamp from the future).
  // P's commands take 20 ms each way (the proxy), so that by the time P has read Q's stamp, P's clock has passed it
  const p = proxied('skew-small');
  const col = t.db.collection('skew-small');
  let lost = 0;
  proxy.delayMs = 20;
  for (let i = 0; i < 30; i++) {
    const sid = `q${i}`;
    // instance Q, its clock 30 ms ahead, saved the session (the raw driver writes what Q's store would)
    await col.updateOne({ _id: sid as any }, { $set: { session: JSON.stringify(sessionOf({ who: 'Q' })), expires: new Date(Date.now() + 3_600_000), stamp: Date.now() + 30, stampedBy: 'instance-q' } }, { upsert: true });
    if (i % 2) {
      await p.destroy(sid);
      if ((await p.get(sid)) !== null) lost++;
    } else {
      await p.set(sid, sessionOf({ who: 'P' }));
      if (((await p.get(sid)) as any)?.who !== 'P') lost++;
    }
  }
  proxy.delayMs = 0;
  assert.is(lost, 0, `${lost} of 30 acknowledged writes were lost`);
});

test('a set that timed out on the wire does not land over a later acknowledged set (one store)', async () => {
  const store = proxied('set-set');
  await store.set('s', sessionOf({ v: 'old' }));
  await timesOutOnTheWire(proxy, () => store.set('s', sessionOf({ v: 'failed' })));
  await store.set('s', sessionOf({ v: 'new' }));
  await landHeldWrites(proxy, t.db);
  assert.is(((await store.get('s')) as any).v, 'new');
  assert.is(JSON.parse((await stored('set-set', 's'))!.session).v, 'new');
});

test('a destroy (log-out) that timed out does not land over a later log-in', async () => {
  const store = proxied('destroy-set');
  await store.set('s', sessionOf({ user: 'before' }));
  await timesOutOnTheWire(proxy, () => store.destroy('s'));
  await store.set('s', sessionOf({ user: 'ada' }));
  await landHeldWrites(proxy, t.db);
  assert.is(((await store.get('s')) as any)?.user, 'ada', 'the user is still logged in');
});

test('a set that timed out does not bring back a session destroyed after it', async () => {
  const store = proxied('set-destroy');
  await store.set('s', sessionOf({ user: 'ada' }));
  await timesOutOnTheWire(proxy, () => store.set('s', sessionOf({ user: 'ada', cart: 1 })));
  await store.destroy('s');
  await landHeldWrites(proxy, t.db);
  assert.is(await store.get('s'), null);
  assert.is(await store.length(), 0);
  const doc = await stored('set-destroy', 's');
  assert.ok(!doc || doc.session === null, 'at most the marker of the destroy is stored');
});

test('across instances: a set that timed out on one does not land over a set acknowledged by the other', async () => {
  const a = proxied('two');
  const b = direct('two');
  await a.set('s', sessionOf({ v: 'old' }));
  await timesOutOnTheWire(proxy, () => a.set('s', sessionOf({ v: 'failed' })));
  await b.set('s', sessionOf({ v: 'new' }));
  await landHeldWrites(proxy, t.db);
  assert.is(((await a.get('s')) as any).v, 'new');
  assert.is(((await b.get('s')) as any).v, 'new');
});

test('across instances: a get never answers a state older than its call (a log-in on B, then a request on A)', async () => {
  const a = proxied('reads', { operationTimeoutMS: 10_000 });
  const b = direct('reads');
  await b.set('s', sessionOf({ user: null }));
  await a.get('s'); // the proxied store's connection is open
  proxy.hold('responses');
  const early = a.get('s'); // read on the server, its answer held on the wire
  await new Promise((r) => setTimeout(r, 100));
  await b.set('s', sessionOf({ user: 'ada' }));
  const late = a.get('s'); // called after B's write was acknowledged
  const lateAnswer = await Promise.race([late, new Promise((r) => setTimeout(() => r('held'), 2_000))]);
  proxy.release();
  assert.is((lateAnswer as any)?.user, 'ada', 'the get called after the log-in sees it (not the answer of a read sent before)');
  assert.is(((await early) as any).user, null);
});

test('a session may be set again after a destroy; the marker never counts as a session', async () => {
  const store = direct('marker');
  await store.set('s', sessionOf({ v: 1 }));
  await store.destroy('s');
  await store.destroy('never-stored');
  assert.is(await store.get('s'), null);
  assert.is(await store.get('never-stored'), null);
  assert.is(await store.length(), 0);
  assert.equal(await store.all(), []);
  assert.equal(await store.ids(), []);
  await store.touch('s', sessionOf({ v: 1 }, 7_200_000));
  assert.is(await store.length(), 0, 'a touch does not make the marker live');
  const marker = (await stored('marker', 's'))!;
  assert.is(marker.session, null);
  assert.ok(marker.expires.getTime() >= Date.now() + 240_000, 'the marker outlives any write still on its way, and a TTL monitor run');
  await store.set('s', sessionOf({ v: 2 }));
  assert.is(((await store.get('s')) as any).v, 2);
  assert.is(await store.length(), 1);
});

test('a live write meeting a newer stamp (another instance with a clock a minute ahead) lands after it; a damaged stamp does not lock the session', async () => {
  const store = direct('skew');
  const col = t.db.collection('skew');
  await store.set('s', sessionOf({ v: 1 }));
  await col.updateOne({ _id: 's' as any }, { $set: { stamp: Date.now() + 60_000, stampedBy: 'instance-q' } });
  await store.set('s', sessionOf({ v: 2 }));
  assert.is(((await store.get('s')) as any).v, 2, 'the acknowledged write is stored, not lost to the other clock');
  await store.set('s', sessionOf({ v: 3 }));
  assert.is(((await store.get('s')) as any).v, 3);
  await col.updateOne({ _id: 's' as any }, { $set: { stamp: 1e300, stampedBy: 'instance-q' } });
  await store.set('s', sessionOf({ v: 4 }));
  assert.is(((await store.get('s')) as any).v, 4);
  // our clock now runs with the instance a minute ahead (it adopted that stamp), not with 1e300
  assert.ok((await col.findOne({ _id: 's' as any }))!.stamp < Date.now() + 120_000, 'the damaged stamp is replaced, and the clock did not follow it');
  await col.updateOne({ _id: 's' as any }, { $set: { stamp: Date.now() + 60_000, stampedBy: 'instance-q' } });
  await store.destroy('s');
  assert.is(await store.get('s'), null);
});


test('a clear() that timed out on the wire does not delete a session acknowledged after it (another instance)', async () => {
  const a = proxied('clear-late');
  const b = direct('clear-late');
  await a.set('old', sessionOf({ v: 'old' }));
  await timesOutOnTheWire(proxy, () => a.clear());
  await b.set('login', sessionOf({ user: 'ada' }));
  await landHeldWrites(proxy, t.db);
  assert.is(((await b.get('login')) as any)?.user, 'ada', 'the log-in acknowledged after the failed clear is kept');
});

test('a set that timed out on the wire does not bring its session back after a later acknowledged clear() (a stored session)', async () => {
  const store = proxied('clear-after');
  await store.set('s', sessionOf({ user: 'ada' }));
  await timesOutOnTheWire(proxy, () => store.set('s', sessionOf({ user: 'ada', cart: 1 })));
  await store.clear();
  await landHeldWrites(proxy, t.db);
  assert.is(await store.get('s'), null, 'the cleared session stays gone');
  assert.is(await store.length(), 0);
});

test('a set of a new session that timed out on the wire does not create it after a later acknowledged clear()', async () => {
  const store = proxied('clear-new');
  await store.set('other', sessionOf({ v: 1 })); // the store's connection is open: the next write is held on it
  await timesOutOnTheWire(proxy, () => store.set('new', sessionOf({ user: 'ada' })));
  await store.clear();
  await landHeldWrites(proxy, t.db);
  assert.is(await store.get('new'), null, 'no session is created by a write older than the clear');
  assert.is(await store.length(), 0);
});

test("a write stamped before a clear() (any instance's, landing late) lands on nothing: clear() leaves markers", async () => {
  const store = direct('clear-marks');
  const col = t.db.collection('clear-marks');
  await store.set('s', sessionOf({ user: 'ada' }));
  const before = (await stored('clear-marks', 's'))!.stamp as number;
  await store.clear();
  const marker = (await stored('clear-marks', 's'))!;
  assert.is(marker.session, null);
  assert.ok(marker.stamp > before);
  assert.ok(marker.expires.getTime() >= Date.now() + 240_000, 'the marker outlives any write still on its way');
  // what another instance's late write of that session sends: its stamp is older than the clear's
  const late = await col
    .updateOne({ _id: 's' as any, stamp: { $not: { $gt: before } } }, { $set: { session: JSON.stringify(sessionOf({ user: 'late' })), stamp: before } }, { upsert: true })
    .then(() => 'landed', (e) => e.code);
  assert.is(late, 11000, 'the late write collides with the marker');
  assert.is(await store.get('s'), null);
  await store.set('s', sessionOf({ user: 'bob' }));
  assert.is(((await store.get('s')) as any).user, 'bob', 'a session can be saved again after a clear');
});

test('clear() removes a session another instance wrote just before it with a clock ahead of ours', async () => {
  const store = direct('clear-skew');
  const col = t.db.collection('clear-skew');
  // instance Q, its clock 10 minutes ahead (more than any stamp this file adopted before), saved a session
  await col.updateOne({ _id: 'q' as any }, { $set: { session: JSON.stringify(sessionOf({ who: 'Q' })), expires: new Date(Date.now() + 3_600_000), stamp: Date.now() + 600_000, stampedBy: 'instance-q' } }, { upsert: true });
  await store.clear();
  assert.is(await store.get('q'), null);
  assert.is(await store.length(), 0);
  await store.set('p', sessionOf({ who: 'P' }));
  assert.is(((await store.get('p')) as any).who, 'P', 'a write after the clear is kept');
});

test('a touch that timed out on the wire does not move back the expiry of a later acknowledged set', async () => {
  const store = proxied('touch-set');
  await store.set('s', sessionOf({ user: 'ada' }, 3_600_000));
  proxy.hold();
  await store.touch('s', sessionOf({ user: 'ada' }, 3_600_000)); // a timed-out touch is not an error (README)
  const month = 30 * 86_400_000;
  await store.set('s', sessionOf({ user: 'ada', remember: true }, month));
  await landHeldWrites(proxy, t.db);
  const expires = (await stored('touch-set', 's'))!.expires.getTime();
  assert.ok(expires > Date.now() + month - 3_600_000, `the later save's expiry stays (found ${Math.round((expires - Date.now()) / 60_000)} min on)`);
});

test('a touch that timed out answers no sooner than its deadline (its bound), so a write called after it is ordered after it', async () => {
  const op = 200;
  const store = proxied('touch-deadline', { operationTimeoutMS: op });
  await store.set('s', sessionOf({ user: 'ada' }));
  const early: number[] = [];
  let timedOut = 0;
  let touched = 0;
  store.on('touch', () => touched++);
  for (let i = 0; i < 20; i++) {
    proxy.hold();
    const before = touched;
    const called = performance.now(); // the touch's deadline is at least op after this
    await store.touch('s', sessionOf({ user: 'ada' }));
    const d = performance.now() - (called + op);
    proxy.release();
    // one that went through (on a connection opened after the hold, or slowly on a busy machine) emitted 'touch';
    // the others timed out: they must not answer before their deadline
    if (touched === before) {
      timedOut++;
      if (d < 0) early.push(Math.round(d * 1000) / 1000);
    }
    await landHeldWrites(proxy, t.db);
  }
  assert.ok(timedOut >= 5, `${timedOut} touches timed out`);
  assert.equal(early, [], 'ms before the deadline that timed-out touches answered');
});

test('a stamp that is not a number (damaged) does not lock the session: set and destroy replace it', async () => {
  const store = direct('stamp-array');
  const col = t.db.collection('stamp-array');
  await store.set('s', sessionOf({ v: 1 }));
  await col.updateOne({ _id: 's' as any }, { $set: { stamp: [Date.now() + 1_000_000] as any } });
  await store.set('s', sessionOf({ v: 2 }));
  assert.is(((await store.get('s')) as any).v, 2);
  await col.updateOne({ _id: 's' as any }, { $set: { stamp: [Date.now() + 1_000_000] as any } });
  await store.destroy('s');
  assert.is(await store.get('s'), null);
});

const SEED = Number(process.env.WRITE_ORDER_SEED ?? 20261202);
const ROUNDS = Number(process.env.WRITE_ORDER_ROUNDS ?? 6);

test(`seeded schedules of sets and destroys on two instances, some held on the wire until the end: the stored state is the last acknowledged write's, or a later failed one's (seed ${SEED}, ${ROUNDS} rounds; replay: WRITE_ORDER_SEED=<seed> WRITE_ORDER_ROUNDS=1)`, async () => {
  const a = proxied('schedules');
  const b = direct('schedules');
  let outcomes = { acked: 0, failed: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const seed = SEED + round;
    const rnd = prng(seed); // mulberry32: a failing schedule replays from its printed seed
    const sid = `sched-${seed}`;
    const log: string[] = [];
    /** each op: what it writes (a tag, or null for destroy), and whether its caller was told it succeeded */
    const ops: Array<{ writes: string | null; acked: boolean }> = [];
    await b.set(sid, sessionOf({ tag: 'initial' }));
    for (let k = 0; k < 6; k++) {
      const store = rnd() < 0.6 ? a : b;
      const destroy = rnd() < 0.3;
      const hold = store === a && rnd() < 0.5;
      const tag = `${seed}.${k}`;
      if (hold) proxy.hold();
      const ok = await (destroy ? store.destroy(sid) : store.set(sid, sessionOf({ tag }))).then(
        () => true,
        (e) => {
          assert.is(e.code, 'ERR_CONNECT_MONGO_TIMEOUT', e.message);
          return false;
        },
      );
      ops.push({ writes: destroy ? null : tag, acked: ok });
      outcomes = { acked: outcomes.acked + (ok ? 1 : 0), failed: outcomes.failed + (ok ? 0 : 1) };
      log.push(`${store === a ? 'A' : 'B'}.${destroy ? 'destroy' : `set(${tag})`}${hold ? ' held' : ''} → ${ok ? 'ok' : 'timed out'}`);
    }
    await landHeldWrites(proxy, t.db);
    const doc = await stored('schedules', sid);
    const final = doc && doc.session !== null ? JSON.parse(doc.session).tag : null;
    const last = ops.map((o) => o.acked).lastIndexOf(true);
    const allowed = new Set<string | null>(last < 0 ? ['initial'] : [ops[last].writes]);
    ops.forEach((o, i) => i > last && !o.acked && allowed.add(o.writes));
    assert.ok(allowed.has(final), `seed ${seed}: stored ${JSON.stringify(final)}, allowed ${JSON.stringify([...allowed])}\n  ${log.join('\n  ')}`);
  }
  console.log(`# write order: ${ROUNDS} schedules, ${outcomes.acked} acknowledged and ${outcomes.failed} timed-out writes, every stored state explained`);
  assert.ok(outcomes.failed > 0 && outcomes.acked > 0, 'the schedules had both outcomes');
});

test('on a network that stops answering, every call times out as ERR_CONNECT_MONGO_TIMEOUT (the time-left signal included) and touch succeeds without a write', async () => {
  const store = proxied('blackhole', { operationTimeoutMS: 500 });
  await store.set('s', sessionOf({ v: 1 }));
  proxy.blackhole = true;
  try {
    const calls = [store.get('s'), store.set('s', sessionOf({ v: 2 })), store.destroy('x'), store.length(), store.clear()];
    const touches = Array.from({ length: 8 }, (_, i) => store.touch('s', sessionOf({ v: 1 }, 3_600_000 + i * 7_200_000)));
    const codes = (await Promise.allSettled(calls)).map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code ?? (r.reason as Error).name : 'ok'));
    assert.equal(codes, Array(5).fill('ERR_CONNECT_MONGO_TIMEOUT'));
    const touched = (await Promise.allSettled(touches)).map((r) => (r.status === 'rejected' ? (r.reason as Error).name : 'ok'));
    assert.equal(touched, Array(8).fill('ok'), 'express-session touches after the response went out: no error there');
  } finally {
    proxy.blackhole = false;
  }
});

test('the failed writes clear() remembers are forgotten once past their marker lifetime, by the next write', async () => {
  const store = proxied('late-forget');
  const ns = `${t.dbName}.late-forget`;
  await store.set('ok', sessionOf({ n: 0 }));
  await timesOutOnTheWire(proxy, () => store.set('failed', sessionOf({ n: 1 })));
  await landHeldWrites(proxy, t.db);
  assert.ok(lateWrites(ns).remembered >= 1, 'the failed write is remembered');
  const realNow = Date.now;
  try {
    // past the lifetime of a destroy's marker (5 min at least): nothing of it can still land over a clear()
    Date.now = () => realNow() + 301_000 + 2 * TIMEOUT_MS;
    assert.ok(lateWrites(ns).past >= 1);
    await store.set('ok', sessionOf({ n: 2 }));
    assert.equal(lateWrites(ns), { remembered: 0, past: 0 }, 'a write after the fault forgets the ids past their time');
  } finally {
    Date.now = realNow;
  }
});

test('no unhandled rejection', () => {
  assert.equal(unhandled, []);
});

test.run();
