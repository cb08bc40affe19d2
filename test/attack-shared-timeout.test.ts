/**
 * Attack on src/shared.ts: a joined call and the first caller's deadline; a find that throws synchronously in a queue.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MongoClient } from "mongodb";
import { MongoStore } from "../src";
import { BURST_MS } from "../src/shared";
import { openTestDb, type TestDb } from "./helpers";
import { unhandled, sessionOf } from "./fixtures/reliability/kit";

let t: TestDb;
const reset = () => (t.commands.length = 0);
const cool = () => new Promise((r) => setTimeout(r, BURST_MS + 30));
type Size = { reads: number; touches: number; queued: number; remembered: number };
const sizeOf = (s: MongoStore): Size => (s as unknown as { shared: { size: Size } }).shared.size;

test.before(async () => {
  t = await openTestDb(__filename, { monitorCommands: true });
});
test.after(async () => {
  await t?.close();
  assert.equal(unhandled, []);
});

test("a get that joins a find is not failed by the first caller's deadline (busy task longer than operationTimeoutMS)", async () => {
  const store = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName: "busy", autoRemove: "disabled", operationTimeoutMS: 300 });
  try {
    await store.set("b", sessionOf({ v: 1 }));
    await cool();
    const first = store.get("b").then((v) => ({ ok: v }), (e) => ({ err: e.code, message: e.message }));
    for (const end = performance.now() + 350; performance.now() < end; ); // a CPU-heavy request
    const calledAt = performance.now();
    const joined = store.get("b").then((v) => ({ ok: v, at: performance.now() - calledAt }), (e) => ({ err: e.code, message: e.message, at: performance.now() - calledAt }));
    const [f, j] = await Promise.all([first, joined]);
    console.log("first:", JSON.stringify(f), "joined:", JSON.stringify(j));
    assert.ok("ok" in j && (j.ok as any)?.v === 1, `the joined get, called with 300 ms left, answered: ${JSON.stringify(j)}`);
  } finally {
    await store.close();
  }
});

test("a get waiting for the connection that joins the first waiter's find is not failed by that waiter's deadline", async () => {
  let fails = 0;
  const rounds = 4;
  for (let r = 0; r < rounds; r++) {
    const client = new MongoClient(t.uri, { monitorCommands: true });
    // resolve the client just before the first caller's deadline (1000 ms), no loop blocked
    let resolveClient!: (c: MongoClient) => void;
    const cp = new Promise<MongoClient>((res) => (resolveClient = res));
    await client.connect();
    await client.db(t.dbName).collection("waiting").updateOne({ _id: "w" as any }, { $set: { session: JSON.stringify(sessionOf({ v: 1 })), expires: new Date(Date.now() + 3_600_000) } }, { upsert: true });
    const store = MongoStore.create({ clientPromise: cp, dbName: t.dbName, collectionName: "waiting", autoRemove: "disabled", operationTimeoutMS: 1000 });
    store.on("warning", () => {});
    const start = performance.now();
    const first = store.get("w").then((v) => ({ ok: !!v }), (e) => ({ err: e.code, message: e.message, at: performance.now() - start }));
    await new Promise((res) => setTimeout(res, 600));
    const joined = store.get("w").then((v) => ({ ok: !!v }), (e) => ({ err: e.code, message: e.message, at: performance.now() - start }));
    setTimeout(() => resolveClient(client), 1000 - (performance.now() - start) - 1);
    const [f, j] = await Promise.all([first, joined]);
    console.log(`round ${r}: first ${JSON.stringify(f)} joined ${JSON.stringify(j)}`);
    if (!("ok" in j && j.ok)) fails++;
    await store.close();
    await client.close();
  }
  assert.is(fails, 0, "joined gets (called 600 ms later, 600 ms left) failed with the first waiter's timeout");
});

test("a find that throws synchronously: its callers reject, the other batches of the queue are still sent, no leak", async () => {
  const store = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName: "throws", autoRemove: "disabled" });
  try {
    await store.set("ok", sessionOf({ v: 1 }));
    await store.set("boom", sessionOf({ v: 2 }));
    await cool();
    const col = await store.collection();
    const real = col.findOne.bind(col);
    (col as any).findOne = (filter: any, opts: any) => {
      if (filter?._id === "boom") throw new Error("sync boom");
      return real(filter, opts);
    };
    try {
      const calls = [store.get("boom"), store.get("ok"), store.get("boom"), store.get("ok")].map((p) => p.then((v) => (v as any).v, (e) => `err:${e.message}`));
      const cold = await Promise.all(calls);
      // and in the hot queue
      const hot = await Promise.all([store.get("boom"), store.get("ok"), store.get("boom")].map((p) => p.then((v) => (v as any).v, (e) => `err:${e.message}`)));
      console.log(JSON.stringify({ cold, hot }));
      assert.is(cold[1], 1);
      assert.is(cold[3], 1);
      assert.is(hot[1], 1);
      assert.ok(String(cold[0]).startsWith("err:") && String(cold[2]).startsWith("err:") && String(hot[0]).startsWith("err:") && String(hot[2]).startsWith("err:"));
      assert.equal({ ...sizeOf(store), remembered: 0 }, { reads: 0, touches: 0, queued: 0, remembered: 0 });
    } finally {
      (col as any).findOne = real;
    }
  } finally {
    await store.close();
  }
});

test("touches joined across a busy task: the joined touch still writes its expiry or times out on its own bound", async () => {
  const store = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName: "busytouch", autoRemove: "disabled", operationTimeoutMS: 300 });
  try {
    await store.set("bt", sessionOf({ v: 1 }, 3_600_000));
    await cool();
    reset();
    let touched = 0;
    store.on("touch", () => touched++);
    const a = store.touch("bt", sessionOf({ v: 1 }, 7_200_000));
    for (const end = performance.now() + 350; performance.now() < end; );
    const called = performance.now();
    const b = store.touch("bt", sessionOf({ v: 1 }, 7_200_000));
    await Promise.all([a, b]);
    const took = performance.now() - called;
    console.log(`touch events ${touched}, joined touch answered after ${took.toFixed(0)} ms`);
    const doc = await (await store.collection()).findOne({ _id: "bt" });
    const moved = Math.abs(doc!.expires!.getTime() - (Date.now() + 7_200_000)) < 10_000;
    assert.ok(moved, "the joined touch (called with 300 ms left) moved the expiry");
  } finally {
    await store.close();
  }
});
test.run();
