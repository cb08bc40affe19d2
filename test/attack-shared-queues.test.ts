/**
 * Attack on src/shared.ts: hot and cold batches of one id alive together, forget() of the touches array, get+set+get
 * across tasks and turns, two stores on one collection, close() with calls queued, hashIds/transformId ids; and seeded
 * lanes of set/get/touch/destroy amid noise calls of the same sids in microtasks, immediates and timers.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MongoStore } from "../src";
import { BURST_MS } from "../src/shared";
import { openTestDb, type TestDb } from "./helpers";
import { unhandled, sessionOf } from "./fixtures/reliability/kit";
import { prng } from "../scripts/bench/stats";

let t: TestDb;
let store: MongoStore;
type Size = { reads: number; touches: number; queued: number; remembered: number };
const sizeOf = (s: MongoStore): Size => (s as unknown as { shared: { size: Size } }).shared.size;
const reset = () => (t.commands.length = 0);
const finds = (id: string) => t.commands.filter((c) => c.commandName === "find" && (c.command.filter as any)?._id === id).length;
const touchWrites = (id: string) =>
  t.commands.filter((c) => c.commandName === "update" && (c.command.updates as any[]).some((u) => u.q?._id === id && !u.upsert && u.u?.$set && !("session" in u.u.$set))).length;
const cool = () => new Promise((r) => setTimeout(r, BURST_MS + 30));
const turn = () => new Promise((r) => setImmediate(r));

test.before(async () => {
  t = await openTestDb(__filename, { monitorCommands: true });
  store = MongoStore.create({ client: t.client, dbName: t.dbName, autoRemove: "disabled" });
  store.on("warning", () => {});
  await store.ready();
});
test.after(async () => {
  await store?.close();
  await t?.close();
  assert.equal(unhandled, []);
});

test("hot and cold touches of one id, four expiries in one task: joins by expiry, forget() keeps the others", async () => {
  await store.set("mix", sessionOf({ v: 1 }));
  await cool();
  reset();
  const base = Date.now();
  const at = (ms: number) => { const s = sessionOf({ v: 1 }); s.cookie.expires = new Date(base + ms); return s; };
  // cold: e1 (first touch of mix in BURST_MS); then hot: e2 far away, then joins of both
  const p = [store.touch("mix", at(3_600_000)), store.touch("mix", at(7_200_000)), store.touch("mix", at(3_600_500)), store.touch("mix", at(7_200_500))];
  assert.equal(sizeOf(store).queued, 2, "two batches");
  await null;
  await null;
  // the cold batch was sent: a touch near e1 now must not join it; one near e2 joins the hot one (not sent)
  const s = sizeOf(store);
  assert.is(s.queued, 1, "cold batch sent at end of task, hot waits");
  assert.is(s.touches, 1);
  p.push(store.touch("mix", at(3_600_200)), store.touch("mix", at(7_200_200)));
  assert.is(sizeOf(store).queued, 2, "a new (hot) batch for e1, the e2 one joined");
  await Promise.all(p);
  assert.is(touchWrites("mix"), 3);
  assert.equal(sizeOf(store).reads + sizeOf(store).touches + sizeOf(store).queued, 0);
});

test("set (unchanged) and touch of one id in one task: different keys, each its own update, maps drain", async () => {
  const s = sessionOf({ v: "u" });
  await store.set("unch", s);
  await cool();
  reset();
  await Promise.all([store.set("unch", s), store.touch("unch", s), store.set("unch", s), store.touch("unch", s)]);
  assert.ok(touchWrites("unch") <= 2 && touchWrites("unch") >= 1, `updates: ${touchWrites("unch")}`);
  assert.equal({ ...sizeOf(store), remembered: 0 }, { reads: 0, touches: 0, queued: 0, remembered: 0 });
});

test("cold read batch and burst read batch of one id alive together; each call's find is sent after it", async () => {
  await store.set("cb", sessionOf({ v: 0 }));
  await cool();
  for (let round = 1; round <= 10; round++) {
    await cool();
    const col = await store.collection();
    const cold = store.get("cb"); // cold: end of this task
    await null;
    await null; // cold sent
    // another writer (not through the store) changes it now; a get called after that must see it
    const w = col.updateOne({ _id: "cb" }, { $set: { session: JSON.stringify(sessionOf({ v: round })) } });
    await w;
    const hot = store.get("cb"); // burst: joins nothing sent, waits for end of turn
    const hot2 = store.get("cb");
    const [c, h, h2] = await Promise.all([cold, hot, hot2]);
    assert.ok(c);
    assert.is((h as any).v, round, `round ${round}: the get after the write reads it`);
    assert.is((h2 as any).v, round);
    assert.equal({ ...sizeOf(store), remembered: 0 }, { reads: 0, touches: 0, queued: 0, remembered: 0 });
  }
});

test("get, set, get of one id across tasks and turns reads its own writes (awaited sequences)", async () => {
  for (let round = 0; round < 15; round++) {
    const sid = `gsg${round % 3}`;
    await store.set(sid, sessionOf({ v: -1 }));
    const stray = store.get(sid); // a concurrent hot get of the same session
    if (round % 2) await turn();
    await store.set(sid, sessionOf({ v: round }));
    const mid = store.get(sid); // called after the set answered
    await null;
    const again = store.get(sid);
    if (round % 3 === 0) await turn();
    const after = await store.get(sid);
    assert.is((await mid as any).v, round);
    assert.is((await again as any).v, round);
    assert.is((after as any).v, round);
    await stray;
    await store.destroy(sid);
    const gone = store.get(sid);
    await turn();
    assert.is(await gone, null, "a get after destroy finds nothing");
    assert.is(await store.get(sid), null);
  }
});

test("two stores on one collection: a get in one after the other's acknowledged set reads it, even while a burst of it waits", async () => {
  const other = MongoStore.create({ client: t.client, dbName: t.dbName, autoRemove: "disabled" });
  try {
    for (let round = 0; round < 10; round++) {
      await store.set("two", sessionOf({ v: -1 }));
      await other.get("two"); // makes the next get in `other` a burst
      const waiting = other.get("two"); // hot, queued until end of turn
      await store.set("two", sessionOf({ v: round })); // acknowledged in a later turn
      const seen = await other.get("two");
      assert.is((seen as any).v, round);
      await waiting;
    }
    assert.equal({ ...sizeOf(other), remembered: 0 }, { reads: 0, touches: 0, queued: 0, remembered: 0 });
  } finally {
    await other.close();
  }
});

test("close() while hot and cold calls are queued ends them cleanly; calls after are refused; queues empty", async () => {
  const own = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName: "closing", autoRemove: "disabled" });
  own.on("warning", () => {});
  await own.set("c1", sessionOf({ v: 1 }));
  await own.get("c1"); // hot from here on
  const calls: Promise<unknown>[] = [];
  calls.push(own.get("c1"), own.touch("c1", sessionOf({ v: 1 })), own.get("c2"), own.touch("c2", sessionOf()), own.get("c1"));
  const closed = own.close();
  calls.push(own.get("c1").then(() => "answered", (e) => e.code));
  const settled = await Promise.allSettled(calls);
  await closed;
  const results = settled.map((r) => (r.status === "fulfilled" ? (r.value && typeof r.value === "object" ? "session" : r.value) : (r.reason as any).code ?? String(r.reason)));
  assert.equal(results.slice(0, 5).map((x) => (x === "session" || x === undefined || x === null ? "ok" : x)), ["ok", "ok", "ok", "ok", "ok"], JSON.stringify(results));
  assert.is(results[5], "ERR_CONNECT_MONGO_CLOSED");
  assert.equal({ ...sizeOf(own), remembered: 0 }, { reads: 0, touches: 0, queued: 0, remembered: 0 });
});

test("close() called in a turn while a burst of gets waits for setImmediate", async () => {
  const own = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName: "closing2", autoRemove: "disabled" });
  await own.set("c", sessionOf({ v: 1 }));
  const first = own.get("c");
  await null;
  await null;
  const burst = [own.get("c"), own.get("c"), own.get("c")];
  const closed = own.close();
  const got = await Promise.all(burst);
  for (const g of got) assert.is((g as any).v, 1);
  await first;
  await closed;
  assert.equal({ ...sizeOf(own), remembered: 0 }, { reads: 0, touches: 0, queued: 0, remembered: 0 });
});

test("hashIds and transformId: bursts are keyed by the stored id; a get after set reads the write; sharing still one find", async () => {
  for (const extra of [{ hashIds: { secret: "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t" } }, { transformId: (sid: string) => `x:${sid.toLowerCase()}` }] as any[]) {
    const own = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName: `ids${Object.keys(extra)[0]}`, autoRemove: "disabled", ...extra });
    own.on("warning", () => {});
    try {
      await own.set("Hid", sessionOf({ v: 1 }));
      reset();
      const got = await Promise.all([own.get("Hid"), own.get("Hid"), own.get("Hid")]);
      for (const g of got) assert.is((g as any)?.v, 1);
      const f = t.commands.filter((c) => c.commandName === "find").length;
      assert.is(f, 1, `one find for ${Object.keys(extra)[0]}`);
      await own.set("Hid", sessionOf({ v: 2 }));
      // after a set: a burst (wrote()) — the get waits for the end of the turn
      const g = own.get("Hid");
      for (let i = 0; i < 10; i++) await null;
      assert.is(sizeOf(own).queued, 1, "wrote() keyed by the stored id makes this a burst");
      assert.is(((await g) as any).v, 2);
    } finally {
      await own.close();
    }
  }
});

test("lanes read their own writes amid hot and cold noise of the same sids (seeded: SHARED_FUZZ_SEED)", async () => {
  const seed = Number(process.env.SHARED_FUZZ_SEED ?? 20261204);
  const r = prng(seed);
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
  assert.equal(failures, [], `seed ${seed} (replay: SHARED_FUZZ_SEED=${seed} npm test -- attack-shared-queues)`);
  const s = sizeOf(store);
  assert.equal({ reads: s.reads, touches: s.touches, queued: s.queued }, { reads: 0, touches: 0, queued: 0 });
});

test.run();
