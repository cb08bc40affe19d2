/**
 * get()s of one session called in one turn of the event loop share one findOne (a page load sends several requests
 * with one cookie at once). Each caller still gets a session of its own, and no call is answered by a command sent
 * before it was made (src/shared.ts). Touches of one turn with expiries within a second share one update.
 * Commands are counted by command monitoring on the store's own client.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MongoClient } from "mongodb";
import { MongoStore, SessionCorruptError } from "../src";
import { BURST_MS } from "../src/shared";
import { openTestDb, TEST_POOL_SIZE, type TestDb } from "./helpers";
import { unhandled, sessionOf } from "./fixtures/reliability/kit";

let t: TestDb;
let store: MongoStore;

/** find commands of the store's client for the given _ids, since the last reset */
const finds = (...ids: string[]) =>
  t.commands.filter(
    (c) =>
      c.commandName === "find" &&
      ids.includes((c.command.filter as { _id?: string })?._id as string),
  ).length;
const reset = () => (t.commands.length = 0);

test.before(async () => {
  t = await openTestDb(__filename, { monitorCommands: true });
  store = MongoStore.create({ client: t.client, dbName: t.dbName });
  store.on("warning", () => {});
  await store.ready();
});
test.after(async () => {
  await store?.close();
  await t?.close();
});

test("8 parallel gets of one sid: one find, 8 equal sessions that share no object, 8 get events", async () => {
  await store.set(
    "page",
    sessionOf({ user: { name: "ada", roles: ["admin"] } }),
  );
  let events = 0;
  const onGet = () => events++;
  store.on("get", onGet);
  reset();
  const got = await Promise.all(
    Array.from({ length: 8 }, () => store.get("page")),
  );
  store.off("get", onGet);
  assert.is(finds("page"), 1);
  assert.is(events, 8);
  for (const s of got) assert.equal(s, got[0]);
  assert.is((got[0] as any).user.name, "ada");
  assert.is(new Set(got).size, 8);
  // Mutating one caller's session (nested objects and its cookie included) leaves every other one as read.
  const first = got[0] as any;
  first.user.name = "mallory";
  first.user.roles.push("root");
  first.cookie.path = "/elsewhere";
  for (const s of got.slice(1) as any[]) {
    assert.is(s.user.name, "ada");
    assert.equal(s.user.roles, ["admin"]);
    assert.is(s.cookie.path, "/");
  }
});

test("a get after a finished get starts a read of its own", async () => {
  reset();
  await store.get("page");
  await store.get("page");
  assert.is(finds("page"), 2);
});

test("concurrent gets of different sids are not merged", async () => {
  await store.set("a", sessionOf({ v: "a" }));
  await store.set("b", sessionOf({ v: "b" }));
  reset();
  const [a1, b1, a2, b2] = await Promise.all([
    store.get("a"),
    store.get("b"),
    store.get("a"),
    store.get("b"),
  ]);
  assert.is(finds("a"), 1);
  assert.is(finds("b"), 1);
  assert.is((a1 as any).v, "a");
  assert.is((a2 as any).v, "a");
  assert.is((b1 as any).v, "b");
  assert.is((b2 as any).v, "b");
});

test("gets of one turn share a find even with a set called between them (not yet acknowledged); a get after it reads again", async () => {
  await store.set("rw", sessionOf({ v: 1 }));
  reset();
  const before = store.get("rw");
  const write = store.set("rw", sessionOf({ v: 2 }));
  const after = store.get("rw");
  await Promise.all([before, write, after]);
  assert.is(finds("rw"), 1, "the two gets of the turn share the find sent at its end");
  assert.is(((await store.get("rw")) as any).v, 2);
  assert.is(finds("rw"), 2);
});

test("a set issued while a get is in flight, then a get: the second get sees the new value", async () => {
  for (let round = 0; round < 20; round++) {
    await store.set("rw2", sessionOf({ v: `old${round}` }));
    const first = store.get("rw2");
    await store.set("rw2", sessionOf({ v: `new${round}` }));
    const second = await store.get("rw2");
    assert.is((second as any).v, `new${round}`);
    await first;
  }
});

test("destroy then get: null, also with a get of the session in flight", async () => {
  await store.set("gone", sessionOf({ v: 1 }));
  reset();
  const before = store.get("gone");
  const destroy = store.destroy("gone");
  const during = store.get("gone");
  await Promise.all([before, destroy, during]);
  assert.is(finds("gone"), 1, "one find for the turn, sent after the destroy was");
  assert.is(await store.get("gone"), null);

  await store.set("gone", sessionOf({ v: 2 }));
  const inFlight = store.get("gone");
  await store.destroy("gone");
  assert.is(await store.get("gone"), null);
  await inFlight;
});

test("a get after an acknowledged clear reads again and finds nothing", async () => {
  await store.set("tc", sessionOf({ v: 1 }));
  reset();
  const first = store.get("tc");
  await store.clear();
  assert.is(await store.get("tc"), null);
  await first;
  assert.is(finds("tc"), 2);
});

test("a corrupt document: every joined caller gets the error (onCorruptSession: error)", async () => {
  const col = await store.collection();
  await col.insertOne({
    _id: "bad",
    session: "{not json",
    expires: new Date(Date.now() + 3_600_000),
  });
  reset();
  const results = await Promise.allSettled(
    Array.from({ length: 8 }, () => store.get("bad")),
  );
  assert.is(finds("bad"), 1);
  for (const r of results) {
    assert.is(r.status, "rejected");
    assert.instance((r as PromiseRejectedResult).reason, SessionCorruptError);
  }
});

test("a failed read reaches every joined caller, and nothing is left behind", async () => {
  const client = new MongoClient(t.uri, { maxPoolSize: TEST_POOL_SIZE });
  const own = MongoStore.create({ client, dbName: t.dbName });
  own.on("warning", () => {});
  await own.set("fail", sessionOf({ v: 1 }));
  const settled = Promise.allSettled(
    Array.from({ length: 8 }, () => own.get("fail")),
  );
  await client.close(); // the reads under way fail with the client
  const results = await settled;
  // The close may come after the reads' answers; what was read must then be the session, for every caller.
  const failed = results.filter((r) => r.status === "rejected").length;
  assert.ok(failed === 0 || failed === 8, `${failed} of 8 failed`);
  for (const r of results)
    if (r.status === "rejected")
      assert.match((r.reason as Error).message, /client was closed/);
  for (const r of results)
    if (r.status === "fulfilled") assert.is((r.value as any).v, 1);
  assert.is(
    (own as unknown as { shared: { size: { reads: number } } }).shared.size.reads,
    0,
  );
  await own.close().catch(() => {});
});

test("a client from another copy of the driver (mongodb 5): joined gets of a BSON session each get their own, all succeed", async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const v5 = require("mongodb5") as typeof import("mongodb");
  const client5 = new v5.MongoClient(t.uri, { maxPoolSize: 2 });
  const store5 = MongoStore.create({ client: client5 as never, dbName: t.dbName, collectionName: "coalesce_v5", autoRemove: "disabled", stringify: false });
  try {
    const oid = new v5.ObjectId();
    await store5.set("bson", sessionOf({ owner: oid }) as never);
    const got = await Promise.all(Array.from({ length: 8 }, () => store5.get("bson")));
    for (const s of got as any[]) assert.is(String(s.owner), String(oid), "each caller reads the session");
    assert.is(new Set(got).size, 8);
  } finally {
    await store5.close();
    await client5.close();
  }
});

/** touch updates (an update without upsert that sets expires) of the store's client for the given _id */
const touchWrites = (id: string) =>
  t.commands.filter(
    (c) =>
      c.commandName === "update" &&
      (c.command.updates as Array<{ q: { _id?: string }; u: { $set?: object }; upsert?: boolean }>).some(
        (u) => u.q._id === id && !u.upsert && u.u.$set && "expires" in u.u.$set,
      ),
  ).length;
const storedExpires = async (id: string) =>
  (await (await store.collection()).findOne({ _id: id }))?.expires?.getTime();

test("8 parallel touches of one sid (a page load): one update, 8 touch events, the expiry written", async () => {
  await store.set("pt", sessionOf({ v: 1 }));
  const sessions = Array.from({ length: 8 }, () => sessionOf({ v: 1 }));
  let events = 0;
  const onTouch = () => events++;
  store.on("touch", onTouch);
  reset();
  await Promise.all(sessions.map((s) => store.touch("pt", s)));
  store.off("touch", onTouch);
  assert.is(touchWrites("pt"), 1);
  assert.is(events, 8);
  const written = await storedExpires("pt");
  for (const s of sessions) assert.ok(Math.abs(s.cookie.expires.getTime() - written!) <= 1000, "each caller's expiry within 1 s of the stored one");
});

test("touches of one sid: shared within one turn and 1 s of expiry; an awaited touch, or another expiry, writes its own", async () => {
  await store.set("ts", sessionOf({ v: 1 }));
  reset();
  await store.touch("ts", sessionOf({ v: 1 }));
  await store.touch("ts", sessionOf({ v: 1 })); // called after the first was answered: never shares its answer
  assert.is(touchWrites("ts"), 2);
  const later = sessionOf({ v: 1 }, 7_200_000); // an hour further: not the same touch
  await Promise.all([store.touch("ts", sessionOf({ v: 1 })), store.touch("ts", later), store.touch("ts", sessionOf({ v: 1 }))]);
  assert.is(touchWrites("ts"), 4, "one update for the two touches of one expiry, one for the other");
});

test("touches of different sids are not shared", async () => {
  await store.set("ta", sessionOf({ v: "a" }));
  await store.set("tb", sessionOf({ v: "b" }));
  reset();
  await Promise.all([store.touch("ta", sessionOf()), store.touch("tb", sessionOf()), store.touch("ta", sessionOf())]);
  assert.is(touchWrites("ta"), 1);
  assert.is(touchWrites("tb"), 1);
});

test("a set or destroy of the sid ends the sharing: the next touch writes (and a touch after destroy brings nothing back)", async () => {
  await store.set("tw", sessionOf({ v: 1 }));
  reset();
  await store.touch("tw", sessionOf({ v: 1 }));
  await store.set("tw", sessionOf({ v: 2 }));
  await store.touch("tw", sessionOf({ v: 2 }));
  assert.is(touchWrites("tw"), 2);
  // set wrote its own expiry; the touch after it wrote the touch's, not the one shared before the set
  await store.destroy("tw");
  let events = 0;
  const onTouch = () => events++;
  store.on("touch", onTouch);
  await store.touch("tw", sessionOf({ v: 2 }));
  store.off("touch", onTouch);
  assert.is(touchWrites("tw"), 3, "the touch after destroy sent its own update");
  assert.is(events, 0, "no touch event for a session that is gone");
  assert.is(await store.get("tw"), null);
  // one turn: both touches (concurrent with the destroy) share one update; neither brings the session back
  await store.set("tw", sessionOf({ v: 3 }));
  reset();
  await Promise.all([store.touch("tw", sessionOf({ v: 3 })), store.destroy("tw"), store.touch("tw", sessionOf({ v: 3 }))]);
  assert.is(touchWrites("tw"), 1);
  assert.is(await store.get("tw"), null);
});

test("touchAfter: shared touches give every caller the lastModified written", async () => {
  const own = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName: "coalesce_touch_after", autoRemove: "disabled", touchAfter: 3600 });
  try {
    await own.set("ta1", sessionOf({ v: 1 }));
    const col = await own.collection();
    await col.updateOne({ _id: "ta1" }, { $set: { lastModified: new Date(Date.now() - 7_200_000) } });
    const read = await Promise.all(Array.from({ length: 4 }, () => own.get("ta1")));
    reset();
    // Each call's body takes its `now` in its own microtask: a 2 ms spin between them gives every caller another now.
    const spin = () => { for (const end = Date.now() + 2; Date.now() < end; ); };
    await Promise.all(read.map((s, i) => (i && void Promise.resolve().then(spin), own.touch("ta1", s as any))));
    assert.is(touchWrites("ta1"), 1);
    const stored = (await col.findOne({ _id: "ta1" }))!.lastModified!.getTime();
    for (const s of read as any[]) assert.is(s.lastModified.getTime(), stored);
  } finally {
    await own.close();
  }
});

test("a touch sent while a set was under way is not shared once both are done (it may have landed first)", async () => {
  // A 1 MB session keeps the set on the wire while the touch is sent: the server may apply the touch first, and
  // the set's expiry (an hour shorter) then wins. A touch awaited after both must write its own.
  const big = "x".repeat(1_000_000);
  for (let round = 0; round < 3; round++) {
    await store.set("tso", sessionOf({ big, round }, 3_600_000));
    reset();
    const asked = sessionOf({ big }, 7_200_000);
    const setSent = new Promise<void>((resolve) => {
      const onStart = (e: { commandName: string }) => {
        if (e.commandName !== "update") return;
        t.client.off("commandStarted", onStart);
        resolve();
      };
      t.client.on("commandStarted", onStart);
    });
    // another session than the one stored: a full write (an unchanged one would be a touch, src/unchanged.ts)
    const set = store.set("tso", sessionOf({ big, round: -round - 1 }, 3_600_000));
    await setSent; // the touch goes out while the set is on the wire
    await Promise.all([set, store.touch("tso", asked)]);
    const last = sessionOf({ big }, 7_200_000);
    await store.touch("tso", last);
    assert.is(touchWrites("tso"), 2, "the touch after the set and the shared-looking touch both write");
    assert.ok(Math.abs((await storedExpires("tso"))! - last.cookie.expires.getTime()) <= 1000, "the stored expiry is the last touch's");
  }
});

test("a touch sent while a clear was under way is not shared once both are done: the next touch finds nothing", async () => {
  const col = await store.collection();
  await col.insertMany(Array.from({ length: 2000 }, (_, i) => ({ _id: `filler${i}`, session: "{}", expires: new Date(Date.now() + 3_600_000) })));
  await store.set("tcl", sessionOf({ v: 1 }));
  await Promise.all([store.clear(), store.touch("tcl", sessionOf({ v: 1 }))]);
  let events = 0;
  const onTouch = () => events++;
  store.on("touch", onTouch);
  reset();
  await store.touch("tcl", sessionOf({ v: 1 }));
  store.off("touch", onTouch);
  assert.is(touchWrites("tcl"), 1, "the touch after the clear sent its own update");
  assert.is(events, 0, "and no touch event: the session is gone");
  assert.is(await store.get("tcl"), null);
});

test("nothing is held once the calls are answered: the queues hold only what is not sent, the last calls only BURST_MS", async () => {
  await new Promise((r) => setTimeout(r, BURST_MS + 20)); // the other tests' calls are past
  const size = () => (store as unknown as { shared: { size: { reads: number; touches: number; queued: number; remembered: number } } }).shared.size;
  await Promise.all(Array.from({ length: 50 }, (_, i) => [store.touch(`tm${i}`, sessionOf()), store.get(`tm${i}`)]).flat());
  assert.equal(size(), { reads: 0, touches: 0, queued: 0, remembered: 100 }, "each id's last call, for BURST_MS");
  const pending = [store.get("tm0"), store.touch("tm0", sessionOf())];
  for (let i = 0; i < 20; i++) await null; // a call of an id called within BURST_MS waits for the end of the turn
  assert.equal(size(), { reads: 1, touches: 1, queued: 2, remembered: 100 }, "a burst's call waits for the end of its turn");
  await Promise.all(pending);
  assert.equal(size(), { reads: 0, touches: 0, queued: 0, remembered: 100 });
  await new Promise((r) => setTimeout(r, BURST_MS + 20));
  await store.get("tm-after");
  await store.touch("tm-after", sessionOf());
  assert.equal(size(), { reads: 0, touches: 0, queued: 0, remembered: 2 }, "the next calls let the past ones go");
});

test("when it is sent: a call of a session not called within BURST_MS goes at the end of its own task; a burst's at the end of the turn", async () => {
  const queued = () => (store as unknown as { shared: { size: { queued: number } } }).shared.size.queued;
  await new Promise((r) => setTimeout(r, BURST_MS + 20)); // no id of this test is recent
  const lone = store.get("lone");
  assert.is(queued(), 1, "queued by the call itself");
  await null;
  assert.is(queued(), 0, "sent once the caller's task is done: no turn of the loop waited for");
  await lone;
  const again = store.get("lone"); // a second request of the same session right after: a burst
  for (let i = 0; i < 20; i++) await null;
  assert.is(queued(), 1, "waits for the end of the turn, for the burst's other requests");
  await again;
});

test("calls in separate tasks of one turn: a burst's share one find, a lone session's first call does not wait for the others", async () => {
  await new Promise((r) => setTimeout(r, BURST_MS + 20));
  await store.get("burst"); // called just before: the next ones are a burst
  reset();
  // two immediates queued together run in one check phase of one turn, each a task of its own (two timers may not:
  // each takes the loop's time when it is set, so a millisecond may begin between them)
  const inTasks = (sid: string) => Promise.all([0, 1].map(() => new Promise((r) => setImmediate(() => r(store.get(sid))))));
  await inTasks("burst");
  assert.is(finds("burst"), 1, "the burst's two gets share one find");
  await inTasks("cold");
  assert.is(finds("cold"), 2, "the first get of a session not called just before is sent with its own task's calls only");
});

test("across stores: a touch after another store's acknowledged destroy is not answered by an earlier touch (no touch event)", async () => {
  const other = MongoStore.create({ client: t.client, dbName: t.dbName });
  other.on("warning", () => {});
  try {
    await store.set("xs", sessionOf({ v: 1 }));
    let events = 0;
    const onTouch = () => events++;
    store.on("touch", onTouch);
    await store.touch("xs", sessionOf({ v: 1 }));
    assert.is(events, 1);
    await other.destroy("xs");
    await store.touch("xs", sessionOf({ v: 1 })); // within a second of the first, the same expiry
    store.off("touch", onTouch);
    assert.is(events, 1, "no touch event for the session the other store destroyed");
    assert.is(await store.get("xs"), null);
  } finally {
    await other.close();
  }
});

test("no unhandled rejection", () => {
  assert.equal(unhandled, []);
});

test.run();
