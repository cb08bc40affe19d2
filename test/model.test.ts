/**
 * Model-based test of the sharing of concurrent work (src/shared.ts) through the store, over the real server.
 * Seeded random schedules of batches: each batch launches 1–4 concurrent get/set/touch/destroy/clear calls on two
 * stores over one collection (each with a client of its own), and awaits them all. A sequential model then says what
 * the batch may have done: some order of its calls (a touch may also share an earlier touch of the same store, as
 * shared.ts allows) must explain every answer, every `touch` event, and the stored documents read back raw. After
 * each batch an awaited get from either store must answer exactly what is stored (read-your-writes, across stores).
 * Some sets repeat a session written before (with another expiry), which src/unchanged.ts may send as an update of
 * the expiry alone: the model holds them to what a full write does. With touchAfter some of those carry a fresh
 * lastModified (as read back within the window), and may then also write nothing at all, as a touch within it.
 * A failure prints its seed and the command that replays it: MODEL_SEED=<seed> MODEL_SCHEDULES=1 npm test -- model
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MongoClient, type Collection } from 'mongodb';
import { MongoStore, type MongoStoreOptions } from '../src';
import type { SessionDocument } from '../generated';
import { hmacId } from '../src/crypto';
import { openTestDb, serverUri, TEST_POOL_SIZE, type TestDb } from './helpers';

const BASE_SEED = Number(process.env.MODEL_SEED ?? 20261202);
const SCHEDULES = Number(process.env.MODEL_SCHEDULES ?? 1000);
const HOUR = 3_600_000;
const LARGE = 'x'.repeat(100_000); // a large session widens the windows in which calls overlap

/** mulberry32: a small seeded PRNG, so a schedule replays from its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] };
}

const VARIANTS: Array<{ name: string; opts: Partial<MongoStoreOptions> }> = [
  { name: 'default', opts: {} },
  { name: 'touchAfter', opts: { touchAfter: 3600 } },
  { name: 'hashIds', opts: { hashIds: { secret: 'model-test-secret-0123456789abcdef' } } as Partial<MongoStoreOptions> },
  { name: 'stringify-false', opts: { stringify: false } },
  { name: 'timestamps', opts: { timestamps: true } },
];

type State = { tag: string; exp: number } | null;
type Call =
  | { kind: 'set'; store: number; sid: string; tag: string; exp: number; large: boolean; again?: boolean; lazy?: boolean }
  | { kind: 'touch'; store: number; sid: string; exp: number }
  | { kind: 'destroy'; store: number; sid: string }
  | { kind: 'clear'; store: number }
  | { kind: 'get'; store: number; sid: string };
/** What a call answered: a get's tag (or null), whether a touch emitted `touch` (it found the session). */
type Answer = { tag?: string | null; touched?: boolean };
/** A touch the store may share: who sent it, when, with what expiry, and what it found. */
type SentTouch = { store: number; sid: string; exp: number; at: number; batch: number; touched: boolean };

interface Pair {
  stores: MongoStore[];
  col: Collection<SessionDocument>;
  idOf: (sid: string) => string;
  stringify: boolean;
}

let t: TestDb;
const clients: MongoClient[] = [];
const pairs: Pair[] = [];
const touchedSessions = new WeakSet<object>();

test.before(async () => {
  t = await openTestDb(__filename);
  for (const [i, v] of VARIANTS.entries()) {
    const collectionName = `model_${v.name}`;
    const stores: MongoStore[] = [];
    for (let s = 0; s < 2; s++) {
      const client = new MongoClient(serverUri(), { maxPoolSize: TEST_POOL_SIZE });
      clients.push(client);
      const store = MongoStore.create({ client, dbName: t.dbName, collectionName, autoRemove: 'disabled', ...v.opts });
      store.on('touch', (_sid: string, session: object) => touchedSessions.add(session));
      stores.push(store);
    }
    await Promise.all(stores.map((s) => s.ready()));
    const hash = 'hashIds' in v.opts ? hmacId((v.opts as { hashIds: { secret: string } }).hashIds.secret) : undefined;
    pairs[i] = { stores, col: t.db.collection<SessionDocument>(collectionName), idOf: (sid) => (hash ? hash(sid) : sid), stringify: v.opts.stringify !== false };
  }
});
test.after(async () => {
  for (const p of pairs) for (const s of p.stores) await s.close();
  for (const c of clients) await c.close();
  await t?.close();
});

/** A batch of calls drawn from the PRNG: expiries hours apart, or within half a second of a touch already asked. */
function drawBatch(r: ReturnType<typeof prng>, sids: string[], recentExp: number[], tagBase: string, written: Map<string, Array<{ tag: string; large: boolean }>>, touchAfter: boolean): Call[] {
  const n = 1 + r.int(4);
  const calls: Call[] = [];
  const base = Date.now() + HOUR;
  const expiry = () => (recentExp.length && r.next() < 0.5 ? r.pick(recentExp) + r.int(500) : base + r.int(4) * HOUR + r.int(1000));
  for (let i = 0; i < n; i++) {
    const store = r.int(2);
    const sid = r.pick(sids);
    const roll = r.next();
    const before = written.get(sid) ?? [];
    // a session written before, again (a framework's resave): its tag stands for the same content
    if (roll < 0.15 && before.length) {
      calls.push({ kind: 'set', store, sid, ...before[before.length - 1 - r.int(Math.min(2, before.length))], exp: expiry(), again: true });
      if (touchAfter && r.next() < 0.5) (calls.at(-1) as Call & { kind: 'set' }).lazy = true; // within touchAfter
    }
    else if (roll < 0.3) calls.push({ kind: 'set', store, sid, tag: `${tagBase}.${i}`, exp: expiry(), large: r.next() < 0.3 });
    else if (roll < 0.6) {
      const exp = expiry();
      recentExp.push(exp);
      calls.push({ kind: 'touch', store, sid, exp });
    } else if (roll < 0.72) calls.push({ kind: 'destroy', store, sid });
    else if (roll < 0.77) calls.push({ kind: 'clear', store });
    else calls.push({ kind: 'get', store, sid });
  }
  return calls;
}

function cookieOf(exp: number) {
  return { originalMaxAge: HOUR, expires: new Date(exp), httpOnly: true, path: '/' };
}

async function perform(p: Pair, c: Call): Promise<Answer> {
  const store = p.stores[c.store];
  switch (c.kind) {
    case 'set':
      await store.set(c.sid, { cookie: cookieOf(c.exp), tag: c.tag, ...(c.large ? { pad: LARGE } : {}), ...(c.lazy ? { lastModified: new Date() } : {}) } as never);
      return {};
    case 'touch': {
      const session = { cookie: cookieOf(c.exp), tag: 'touch' };
      await store.touch(c.sid, session as never);
      return { touched: touchedSessions.has(session) };
    }
    case 'destroy':
      await store.destroy(c.sid);
      return {};
    case 'clear':
      await store.clear();
      return {};
    case 'get': {
      const s = (await store.get(c.sid)) as { tag?: string } | null;
      return { tag: s ? (s.tag ?? '?') : null };
    }
  }
}

/** The stored state of a sid, read with the driver. */
async function stored(p: Pair, sid: string): Promise<State> {
  const doc = await p.col.findOne({ _id: p.idOf(sid) });
  if (!doc || doc.session === null) return null; // nothing, or a destroyed session's marker
  const session = (p.stringify ? JSON.parse(doc.session as string) : doc.session) as { tag: string };
  return { tag: session.tag, exp: doc.expires!.getTime() };
}

function* permutations<T>(xs: T[]): Generator<T[]> {
  if (xs.length <= 1) {
    yield xs;
    return;
  }
  for (let i = 0; i < xs.length; i++) for (const rest of permutations([...xs.slice(0, i), ...xs.slice(i + 1)])) yield [xs[i], ...rest];
}

const sameState = (a: State, b: State) => (a === null ? b === null : b !== null && a.tag === b.tag && a.exp === b.exp);

/**
 * Whether some order of the batch's calls explains what was observed. Each touch either writes its own update or,
 * where the store may share one, takes the answer of an earlier touch of the same store and sid with an expiry
 * within 1 s: one launched before it in this batch, or one of an earlier batch sent less than 1.5 s before (a margin
 * over shared.ts's 1 s) when that store has written the sid (or cleared) neither in that batch nor since.
 */
function explains(before: Map<string, State>, calls: Call[], answers: Answer[], after: Map<string, State>, shareable: (i: number) => SentTouch[]): boolean {
  const touchOptions = calls.map((c, i): Array<undefined | 'skip' | { batchIndex: number } | { earlier: SentTouch }> => {
    if (c.kind === 'set' && c.lazy) return [undefined, 'skip']; // an unchanged set within touchAfter may write nothing
    if (c.kind !== 'touch') return [undefined];
    const inBatch = calls
      .map((o, j) => ({ o, j }))
      .filter(({ o, j }) => j < i && o.kind === 'touch' && o.store === c.store && o.sid === c.sid && Math.abs(o.exp - c.exp) <= 1000)
      .map(({ j }) => ({ batchIndex: j }) as const);
    const earlier = shareable(i).map((s) => ({ earlier: s }) as const);
    // No order may have a touch write back a session it read before a set: an update is atomic (on FerretDB too,
    // with scripts/ferretdb/update-atomic.patch).
    return [undefined, ...inBatch, ...earlier];
  });
  const choices = (i: number): Array<Array<(typeof touchOptions)[number][number]>> =>
    i === calls.length ? [[]] : touchOptions[i].flatMap((o) => choices(i + 1).map((rest) => [o, ...rest]));
  for (const choice of choices(0)) {
    for (const order of permutations(calls.map((_, i) => i))) {
      const state = new Map(before);
      const touchedAt = new Map<number, boolean>();
      let ok = true;
      for (const i of order) {
        const c = calls[i];
        const share = choice[i];
        if (c.kind === 'set') {
          if (share !== 'skip') state.set(c.sid, { tag: c.tag, exp: c.exp });
        }
        else if (c.kind === 'destroy') state.set(c.sid, null);
        else if (c.kind === 'clear') for (const k of state.keys()) state.set(k, null);
        else if (c.kind === 'get') {
          const s = state.get(c.sid) ?? null;
          if ((s?.tag ?? null) !== answers[i].tag) ok = false;
        } else if (share && share !== 'skip' && 'batchIndex' in share) {
          // it shares a touch of this batch: that one must be ordered before it, and it answers what that one found
          if (!touchedAt.has(share.batchIndex) || touchedAt.get(share.batchIndex) !== answers[i].touched) ok = false;
          touchedAt.set(i, answers[i].touched!);
        } else if (share && share !== 'skip' && 'earlier' in share) {
          if (share.earlier.touched !== answers[i].touched) ok = false;
          touchedAt.set(i, answers[i].touched!);
        } else {
          const s = state.get(c.sid) ?? null;
          if (!!s !== answers[i].touched) ok = false;
          touchedAt.set(i, !!s);
          if (s) state.set(c.sid, { tag: s.tag, exp: c.exp });
        }
        if (!ok) break;
      }
      if (ok && [...after].every(([k, v]) => sameState(state.get(k) ?? null, v))) return true;
    }
  }
  return false;
}

async function runSchedule(seed: number): Promise<string | undefined> {
  const r = prng(seed);
  const variant = r.int(VARIANTS.length);
  const p = pairs[variant];
  const sids = Array.from({ length: 2 + r.int(2) }, (_, i) => `m${seed}-${i}`);
  let model = new Map<string, State>(sids.map((s) => [s, null]));
  // A clear() of another schedule's pair may leave documents of earlier schedules; this schedule's sids start absent.
  const recentExp: number[] = [];
  const sent: SentTouch[] = [];
  const writesBy: Array<{ store: number; sid?: string; batch: number }> = [];
  const log: string[] = [`variant ${VARIANTS[variant].name}, sids ${sids.join(' ')}`];
  const written = new Map<string, Array<{ tag: string; large: boolean }>>();
  const batches = 2 + r.int(4);
  for (let b = 0; b < batches; b++) {
    const calls = drawBatch(r, sids, recentExp, `${seed}.${b}`, written, 'touchAfter' in VARIANTS[variant].opts);
    const launchedAt = Date.now();
    const answers = await Promise.all(calls.map((c) => perform(p, c)));
    const after = new Map<string, State>(await Promise.all(sids.map(async (sid) => [sid, await stored(p, sid)] as const)));
    log.push(`batch ${b}: ${calls.map((c) => JSON.stringify(c)).join(' | ')} → answers ${JSON.stringify(answers)} → stored ${JSON.stringify([...after])}`);
    const shareable = (i: number) => {
      const c = calls[i] as Call & { kind: 'touch' };
      return sent.filter(
        (s) =>
          s.store === c.store && s.sid === c.sid && Math.abs(s.exp - c.exp) <= 1000 && launchedAt - s.at < 1500 &&
          !writesBy.some((w) => w.store === c.store && (w.sid === undefined || w.sid === c.sid) && w.batch >= s.batch),
      );
    };
    if (!explains(model, calls, answers, after, shareable)) return `no order of the batch's calls explains what was observed\n  ${log.join('\n  ')}`;
    // Read-your-writes across stores: an awaited get of each sid, from either store, answers what is stored.
    const gots = await Promise.all(sids.map((sid) => p.stores[r.int(2)].get(sid) as Promise<{ tag?: string } | null>));
    for (const [k, sid] of sids.entries()) {
      const got = gots[k];
      if ((got?.tag ?? null) !== (after.get(sid)?.tag ?? null)) return `an awaited get of ${sid} answered ${got?.tag ?? null}, stored is ${after.get(sid)?.tag ?? null}\n  ${log.join('\n  ')}`;
    }
    for (const c of calls) if (c.kind === 'set' && !c.again) written.set(c.sid, [...(written.get(c.sid) ?? []), { tag: c.tag, large: c.large }]);
    for (const [i, c] of calls.entries()) {
      if (c.kind === 'touch') sent.push({ store: c.store, sid: c.sid, exp: c.exp, at: launchedAt, batch: b, touched: !!answers[i].touched });
      if (c.kind === 'set' || c.kind === 'destroy') writesBy.push({ store: c.store, sid: c.sid, batch: b });
      if (c.kind === 'clear') writesBy.push({ store: c.store, batch: b });
    }
    model = after;
  }
  return undefined;
}

test(`${SCHEDULES} seeded schedules on two stores over one collection: every answer, touch event and stored document explained by a sequential order`, async () => {
  console.log(`\n# model: base seed ${BASE_SEED}, ${SCHEDULES} schedules (replay one: MODEL_SEED=<seed> MODEL_SCHEDULES=1 npm test -- model)`);
  const started = Date.now();
  let calls = 0;
  for (let i = 0; i < SCHEDULES; i++) {
    const seed = BASE_SEED + i;
    const failure = await runSchedule(seed);
    if (failure) assert.unreachable(`schedule seed ${seed} (replay: MODEL_SEED=${seed} MODEL_SCHEDULES=1 npm test -- model): ${failure}`);
    calls++;
  }
  console.log(`# model: ${calls} schedules passed in ${Date.now() - started} ms`);
});

test.run();
