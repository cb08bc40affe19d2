/**
 * Attack on src/shared.ts: awaited lanes of set/get/touch/destroy on a few sids, with concurrent noise gets and touches
 * of the same sids scheduled in microtasks, immediates and timers (hot and cold batches mixed). Each lane must read
 * its own writes; queues drain; no unhandled rejection.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MongoStore } from "../src";
import { openTestDb, type TestDb } from "./helpers";
import { unhandled, sessionOf } from "./fixtures/reliability/kit";

let t: TestDb;
let store: MongoStore;
type Size = { reads: number; touches: number; queued: number; remembered: number };
const sizeOf = (s: MongoStore): Size => (s as unknown as { shared: { size: Size } }).shared.size;

test.before(async () => {
  t = await openTestDb(__filename);
  store = MongoStore.create({ client: t.client, dbName: t.dbName, autoRemove: "disabled" });
  store.on("warning", () => {});
  await store.ready();
});
test.after(async () => {
  await store?.close();
  await t?.close();
  assert.equal(unhandled, []);
});

function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

test("lanes read their own writes amid hot and cold noise of the same sids", async () => {
  const r = rng(7);
  const noise: Promise<unknown>[] = [];
  const noisy = (sid: string) => {
    const k = Math.floor(r() * 4);
    const call = () => noise.push(r() < 0.5 ? store.get(sid) : store.touch(sid, sessionOf({}, 3_600_000 + Math.floor(r() * 5000))).catch(() => {}));
    if (k === 0) call();
    else if (k === 1) queueMicrotask(call);
    else if (k === 2) setImmediate(call);
    else setTimeout(call, Math.floor(r() * 5));
  };
  const wait = async () => {
    const k = Math.floor(r() * 3);
    if (k === 0) await null;
    else if (k === 1) await new Promise((res) => setImmediate(res));
  };
  const failures: string[] = [];
  const lane = async (sid: string) => {
    let expected: number | null = null;
    for (let step = 0; step < 40; step++) {
      noisy(sid);
      const op = r();
      if (op < 0.4) {
        const v = step;
        await store.set(sid, sessionOf({ v }));
        expected = v;
      } else if (op < 0.55) {
        await store.destroy(sid);
        expected = null;
      } else if (op < 0.7) {
        let touched = 0;
        const on = (s: string) => s === sid && touched++;
        store.on("touch", on);
        await store.touch(sid, sessionOf({ v: expected }, 3_600_000 + 20_000));
        store.off("touch", on);
        if (expected === null && touched) failures.push(`${sid} step ${step}: touch event after destroy`);
      }
      noisy(sid);
      await wait();
      const got = (await store.get(sid)) as any;
      const v = got ? got.v : null;
      if (v !== expected) failures.push(`${sid} step ${step}: read ${v}, expected ${expected}`);
    }
  };
  await Promise.all(["f0", "f1", "f2", "f3"].map(lane));
  await new Promise((res) => setTimeout(res, 20));
  await Promise.allSettled(noise);
  assert.equal(failures, []);
  const s = sizeOf(store);
  assert.equal({ reads: s.reads, touches: s.touches, queued: s.queued }, { reads: 0, touches: 0, queued: 0 });
});

test.run();
