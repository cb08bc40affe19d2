/**
 * Found by the soak: a half-open network that heals (toxiproxy closes the connections it starved) could leave the
 * driver's monitor waiting for ever on a closed connection (src/monitor-watchdog.ts), and with it the store: every
 * call failed "cannot reach MongoDB" long after the network was back, until the process restarted. Each cycle here
 * starves the replies while an app's client (the driver's defaults) carries its own queries and a store, heals, and
 * wants both to answer again: without the guard, about half the cycles leave that client for dead.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MongoClient } from 'mongodb';
import { MongoStore } from '../src';
import { openTestDb, serverUri, sleep, type TestDb } from './helpers';
import { startToxiproxy, uriThrough, type Toxiproxy, type ToxiProxy } from './fixtures/toxiproxy';
import { unhandled, sessionOf } from './fixtures/reliability/kit';

const OP = 2_000;
/** without the guard about half the cycles leave the client for dead: 6 of them all pass in under 1 % of runs */
const CYCLES = 6;
/** a healed network answers within this (the driver's checks come every 500 ms while a server is Unknown) */
const RECOVERY_BOUND_MS = 15_000;

let t: TestDb;
let toxi: Toxiproxy;
let proxy: ToxiProxy;
let through: string;
const test = suite('a monitor that waits on a closed connection');

test.before(async () => {
  t = await openTestDb(__filename);
  toxi = await startToxiproxy();
  proxy = await toxi.proxy('monitor-stuck', new URL(serverUri().replace(/^mongodb:/, 'http:')).host);
  through = uriThrough(serverUri(), proxy.listen);
});
test.after(async () => {
  await proxy?.heal().catch(() => {});
  await toxi?.stop();
  await t?.close();
  assert.equal(unhandled, []);
});

/** ms until `call` succeeds, or undefined when it did not within the bound */
async function recovery(call: () => Promise<unknown>): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < RECOVERY_BOUND_MS) {
    if (await call().then(() => true, () => false)) return performance.now() - started;
    await sleep(50);
  }
  return undefined;
}

test(`${CYCLES} times: an app's client and its store under load, the replies starved, then healed; both answer again`, async () => {
  const took: number[] = [];
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    // a new client each cycle (the driver's defaults), so that each heal meets its monitor between two checks
    const client = new MongoClient(through);
    const store = MongoStore.create({ client, dbName: t.dbName, autoRemove: 'disabled', operationTimeoutMS: OP });
    const app = client.db(t.dbName).collection('app');
    try {
      await store.set('s', sessionOf({ v: cycle }));
      let stop = false;
      // the app's own queries on its client, each bounded like the store's
      const load = [1, 2, 3].map(async () => {
        while (!stop) {
          await app.findOne({}, { timeoutMS: OP }).catch(() => {});
          await sleep(20);
        }
      });
      await sleep(3_000);
      const toxic = await proxy.add({ type: 'timeout', attributes: { timeout: 0 } });
      await sleep(OP + 500);
      await proxy.remove(toxic);
      const ms = await recovery(() => app.findOne({}, { timeoutMS: OP }));
      stop = true;
      await Promise.all(load);
      assert.ok(ms !== undefined, `cycle ${cycle}: the client still fails ${RECOVERY_BOUND_MS} ms after the heal`);
      assert.ok((await recovery(() => store.get('s'))) !== undefined, `cycle ${cycle}: the store still fails after the heal`);
      took.push(ms!);
    } finally {
      await store.close();
      await client.close();
    }
  }
  console.log(`# recovered after each heal in at most ${Math.round(Math.max(...took))} ms (${CYCLES} cycles)`);
});

test.run();
