/**
 * Each network fault of toxiproxy, one after the other, on one store whose every connection goes through the proxy:
 * while the fault lasts every call ends within operationTimeoutMS (plus slack for a busy machine), whatever the fault
 * (half-open included: the driver's own socket timeout is 0, wait forever); a set it acknowledged reads back; once the
 * network heals the store answers again, and a burst wider than its pool gets through (no connection the fault left
 * dead stays in the pool).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MongoStore } from '../src';
import { openTestDb, serverUri, waitFor, TEST_POOL_SIZE, type TestDb } from './helpers';
import { startToxiproxy, uriThrough, type Toxiproxy, type ToxiProxy, type Toxic } from './fixtures/toxiproxy';
import { unhandled, sessionOf } from './fixtures/reliability/kit';

const OP = 1_500;
/** every call, fault or not, settles within this: operationTimeoutMS and as much again for 2 busy cores */
const BOUND = 2 * OP;

const FAULTS: Array<{ label: string; toxic: Toxic }> = [
  { label: 'latency 400 ms, jitter 300 ms', toxic: { type: 'latency', attributes: { latency: 400, jitter: 300 } } },
  { label: 'bandwidth 1 KB/s', toxic: { type: 'bandwidth', attributes: { rate: 1 } } },
  { label: 'slicer: 24-byte pieces, 1 ms apart', toxic: { type: 'slicer', attributes: { average_size: 24, size_variation: 16, delay: 1000 } } },
  { label: 'reset_peer at once', toxic: { type: 'reset_peer', attributes: { timeout: 0 } } },
  { label: 'reset_peer after 200 ms', toxic: { type: 'reset_peer', attributes: { timeout: 200 } } },
  { label: 'timeout 0: half-open, replies dropped, no reset', toxic: { type: 'timeout', attributes: { timeout: 0 } } },
  { label: 'timeout 0 upstream: commands dropped', toxic: { type: 'timeout', stream: 'upstream', attributes: { timeout: 0 } } },
  { label: 'limit_data: cut after 250 bytes', toxic: { type: 'limit_data', attributes: { bytes: 250 } } },
];

let t: TestDb;
let toxi: Toxiproxy;
let proxy: ToxiProxy;
let store: MongoStore;
const test = suite('network faults through toxiproxy');

test.before(async () => {
  t = await openTestDb(__filename);
  toxi = await startToxiproxy();
  const upstream = new URL(serverUri().replace(/^mongodb:/, 'http:')).host;
  proxy = await toxi.proxy('fault-toxics', upstream);
  store = MongoStore.create({ mongoUrl: uriThrough(serverUri(), proxy.listen), dbName: t.dbName, autoRemove: 'disabled', operationTimeoutMS: OP });
  await store.ready();
});
test.after(async () => {
  await proxy?.heal().catch(() => {});
  await store?.close();
  await toxi?.stop();
  await t?.close();
  assert.equal(unhandled, []);
});

async function timed(p: Promise<unknown>) {
  const started = performance.now();
  try {
    const value = await p;
    return { ms: performance.now() - started, ok: true, value };
  } catch (e) {
    return { ms: performance.now() - started, ok: false, error: e as Error };
  }
}

for (const [i, { label, toxic }] of FAULTS.entries()) {
  test(label, async () => {
    await store.set(`before-${i}`, sessionOf({ v: 0 }));
    await proxy.add(toxic);
    const calls = await Promise.all([
      ...Array.from({ length: 4 }, (_, k) => timed(store.set(`during-${i}-${k}`, sessionOf({ v: k + 1 })))),
      timed(store.get(`before-${i}`)),
      timed(store.touch(`before-${i}`, sessionOf({ v: 0 }))),
      timed(store.destroy(`before-${i}`)),
    ]);
    for (const c of calls) assert.ok(c.ms < BOUND, `${label}: a call took ${Math.round(c.ms)} ms (bound ${BOUND}): ${c.error?.message ?? 'ok'}`);
    await proxy.heal();

    // Healed: the store answers again, and a burst wider than its pool all gets through.
    await waitFor(() => store.get(`during-${i}-0`).then(() => true, () => false), `${label}: a call that succeeds after the heal`, 15_000);
    const burst = await Promise.all(Array.from({ length: 3 * TEST_POOL_SIZE }, (_, k) => timed(store.get(`during-${i}-${k % 4}`))));
    assert.equal(burst.filter((b) => !b.ok).map((b) => b.error!.message), [], `${label}: calls failed after the heal`);
    // What was acknowledged during the fault is there (and nothing else changed it).
    for (let k = 0; k < 4; k++) {
      if (calls[k].ok) assert.is((await store.get(`during-${i}-${k}`) as any)?.v, k + 1, `${label}: acknowledged set ${k} reads back`);
    }
    if (calls[6].ok) assert.is(await store.get(`before-${i}`), null, `${label}: an acknowledged destroy stays`);
    console.log(`# ${label}: ${calls.filter((c) => c.ok).length}/${calls.length} calls succeeded during the fault, slowest ${Math.round(Math.max(...calls.map((c) => c.ms)))} ms`);
  });
}

test.run();
