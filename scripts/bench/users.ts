/**
 * `npm run bench -- --users [--n=100000] [--rounds=5] [--backend=sqlite]`: sessions by user (the userId option).
 * On a collection of N sessions (most of them logged in, about 2 per user) with the { userId: 1 } index the store
 * builds at start, and one user with 5 sessions:
 *   - the median time of userSessions(user) and destroyUserSessions(user) (the 5 re-created, untimed, before each)
 *     against a get() of one session, and the raw driver's find({ userId }) against its findOne({ _id }); also a set()
 *     of a logged-in session, and a log-in (a set() creating a new user's session) with maxSessionsPerUser: 10;
 *   - the server's plan for the query userSessions sends (caught by command monitoring, then explained);
 *   - the commands a set() sends, with and without the userId option and maxSessionsPerUser (CommandStarted events).
 * `--smoke` (and `npm run bench -- --smoke`, which runs this at N=200) only checks that it all still runs.
 */
import { MongoClient, type CommandStartedEvent, type Document } from 'mongodb';
import type { MongoStore } from '../../src';
import { makeSession, sidOf } from './contenders';
import { summarizePlan, type IdPlan } from './plan';
import { fmtN, fmtNum, fmtRatio, median, medianRatio, prng } from './stats';
import { loadThisStore } from './this-store';
import { rotate } from './workloads';

export interface UsersConfig {
  uri: string;
  dbName: string;
  n: number;
  rounds: number;
  /** time box of one (op, round) measurement; at least 3 ops are timed whatever it says */
  opBudgetMs: number;
  opCap: number;
  log: (msg: string) => void;
}

export const USER_OPS = ['get', 'raw findOne({_id})', 'set, logged in', 'set, new user, max 10', 'userSessions', 'raw find({userId})', 'destroyUserSessions'] as const;
export type UserOp = (typeof USER_OPS)[number];

export interface CommandRow {
  what: string;
  expected: number;
  commands: string[];
}

/** plan.ts's summary, and FerretDB's word on the sort */
export interface UserPlan extends IdPlan {
  sortPushdown?: boolean;
}

export interface UsersResult {
  server: string;
  n: number;
  /** sessions of the bulk insert that have a user */
  loggedIn: number;
  setupMs: number;
  indexes: string[];
  /** p50[op] = the median ms of one op, per round */
  p50: Record<UserOp, number[]>;
  plans: Array<{ query: string; plan: UserPlan }>;
  commands: CommandRow[];
}

/** The user whose sessions are listed and ended; every other user has at most 2. */
const TARGET = 'bench-user-target';
const PER_TARGET = 5;
const COL = 'users_bench';

const sessionOf = (i: number, user?: string) => ({ ...makeSession(i), ...(user === undefined ? {} : { passport: { user } }) });

async function p50Of(count: number, budgetMs: number, step: (k: number) => Promise<unknown>, before?: (k: number) => Promise<unknown>): Promise<number> {
  const each: number[] = [];
  const t0 = performance.now();
  for (let k = 0; k < count && (k < 3 || performance.now() - t0 < budgetMs); k++) {
    await before?.(k); // untimed set-up of this op
    const t = performance.now();
    await step(k);
    each.push(performance.now() - t);
  }
  return median(each);
}

/** The commands `fn` made the client send, by name, in order. */
async function commandsOf(client: MongoClient, fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const on = (e: CommandStartedEvent) => seen.push(e.commandName);
  client.on('commandStarted', on);
  try {
    await fn();
  } finally {
    client.off('commandStarted', on);
  }
  return seen;
}

async function waitForUserIndex(client: MongoClient, dbName: string, collection: string): Promise<string[]> {
  const t0 = Date.now();
  for (;;) {
    // the store creates the collection with the index, in the background: until then there is no namespace (26)
    const names: string[] = await client.db(dbName).collection(collection).indexes().then(
      (ix) => ix.map((i) => String(i.name)),
      (e: { code?: number }) => {
        if (e.code === 26) return [] as string[];
        throw e;
      },
    );
    if (names.includes('userId_1')) return names;
    if (Date.now() - t0 > 60_000) throw new Error(`users bench: the store did not build userId_1 within 60 s (indexes: ${names.join(', ')})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The commands of set() (and of the two user methods) on a small collection of its own per store. */
async function commandCounts(uri: string, dbName: string): Promise<CommandRow[]> {
  const client = new MongoClient(uri, { monitorCommands: true, serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  const Store = loadThisStore();
  const stores: MongoStore[] = [];
  const make = async (name: string, extra: Record<string, unknown>) => {
    const s = new Store({ client, dbName, collectionName: `users_cmd_${name}`, autoRemove: 'disabled', ...extra } as never);
    stores.push(s);
    await s.ready();
    if (extra.userId) await waitForUserIndex(client, dbName, `users_cmd_${name}`);
    return s;
  };
  const rows: CommandRow[] = [];
  const row = async (what: string, expected: number, fn: () => Promise<unknown>) => rows.push({ what, expected, commands: await commandsOf(client, fn) });
  try {
    const plain = await make('plain', {});
    await row('no userId option: set() creating a session', 1, () => plain.set('p1', sessionOf(1, 'alice') as never));
    await row('no userId option: set() of an existing session', 1, () => plain.set('p1', sessionOf(2, 'alice') as never));

    const users = await make('users', { userId: 'passport.user' });
    await row('userId: set() creating a logged-in session', 1, () => users.set('u1', sessionOf(1, 'alice') as never));
    await row('userId: set() of an existing logged-in session (same user)', 1, () => users.set('u1', sessionOf(2, 'alice') as never));
    await row('userId: set() creating an anonymous session', 1, () => users.set('a1', sessionOf(3) as never));
    await row('userId: an anonymous session logs in without regenerate', 3, () => users.set('a1', sessionOf(4, 'alice') as never));
    await row('userId: userSessions()', 1, () => users.userSessions('alice'));
    await row('userId: destroyUserSessions() of 2 sessions', 2, () => users.destroyUserSessions('alice'));

    const capped = await make('capped', { userId: 'passport.user', maxSessionsPerUser: 3 });
    await row('maxSessionsPerUser 3: set() creating the 1st session of a user', 2, () => capped.set('c1', sessionOf(1, 'bob') as never));
    await row('maxSessionsPerUser 3: set() of an existing session', 1, () => capped.set('c1', sessionOf(2, 'bob') as never));
    await capped.set('c2', sessionOf(3, 'bob') as never);
    await row('maxSessionsPerUser 3: set() creating the 3rd session (not over N)', 2, () => capped.set('c3', sessionOf(4, 'bob') as never));
    await row('maxSessionsPerUser 3: set() creating the 4th session (over N: the oldest ends)', 3, () => capped.set('c4', sessionOf(5, 'bob') as never));
    await row('maxSessionsPerUser 3: set() creating an anonymous session', 1, () => capped.set('c5', sessionOf(6) as never));
    await row('maxSessionsPerUser 3: an anonymous session logs in without regenerate (over N)', 5, () => capped.set('c5', sessionOf(7, 'bob') as never));
    const left = (await capped.userSessions('bob')).length;
    if (left !== 3) throw new Error(`users bench: maxSessionsPerUser 3 left ${left} sessions`);
    return rows;
  } finally {
    for (const s of stores) await s.close().catch(() => {});
    await client.close();
  }
}

/** The server's plan of a find, summarized (plan.ts). */
async function findPlan(client: MongoClient, dbName: string, find: Document): Promise<UserPlan> {
  const { find: collection, filter, sort, projection } = find;
  const explain = await client.db(dbName).command({ explain: { find: collection, filter, ...(sort && { sort }), ...(projection && { projection }) }, verbosity: 'queryPlanner' });
  return { ...summarizePlan(explain), ...(typeof explain.sortPushdown === 'boolean' && { sortPushdown: explain.sortPushdown }) };
}

/** the driver hands the command's sort over as a Map */
const plain = (v: unknown) => JSON.stringify(v instanceof Map ? Object.fromEntries(v) : v);

export async function usersWorkload(server: string, cfg: UsersConfig): Promise<UsersResult> {
  const Store = loadThisStore();
  // A client each, as the contenders have: the store's is not monitored (the events cost CPU); the probe's is.
  const storeClient = new MongoClient(cfg.uri, { serverSelectionTimeoutMS: 10_000 });
  const rawClient = new MongoClient(cfg.uri, { serverSelectionTimeoutMS: 10_000 });
  const probe = new MongoClient(cfg.uri, { monitorCommands: true, serverSelectionTimeoutMS: 10_000 });
  let store: MongoStore | undefined;
  let probeStore: MongoStore | undefined;
  let cappedStore: MongoStore | undefined;
  try {
    await Promise.all([storeClient.connect(), rawClient.connect(), probe.connect()]);
    await rawClient.db(cfg.dbName).dropDatabase();
    // first: seconds on small collections of their own, where the timings below take minutes
    cfg.log('users: commands per call');
    const commands = await commandCounts(cfg.uri, cfg.dbName);
    const t0 = performance.now();
    // operationTimeoutMS raised: where the server scans (FerretDB on SQLite), a listing of 100k sessions takes longer
    // than the default bound, and what is measured here is how long it takes
    const options = { dbName: cfg.dbName, collectionName: COL, autoRemove: 'disabled', userId: 'passport.user', operationTimeoutMS: 300_000 };
    const live = (store = new Store({ client: storeClient, ...options } as never));
    await live.ready();
    // the index the store builds at start (createIndexes defaults to true), before the documents: as in an app
    const indexes = await waitForUserIndex(rawClient, cfg.dbName, COL);
    const col = rawClient.db(cfg.dbName).collection(COL);

    // The target's sessions go through the store: the bulk documents must have the same fields as these.
    const targetSids = Array.from({ length: PER_TARGET }, (_, j) => sidOf('t', j));
    for (const [j, sid] of targetSids.entries()) await live.set(sid, sessionOf(j, TARGET) as never);
    const shape = await col.findOne({ _id: targetSids[0] as never });
    const now = Date.now();
    let loggedIn = 0;
    // every 10th session anonymous; the others 2 a user (user-4 has one: its other is #9)
    const userOf = (i: number) => (i % 10 === 9 ? undefined : `user-${i >> 1}`);
    const docOf = (i: number) => {
      const user = userOf(i);
      if (user) loggedIn++;
      const session = sessionOf(i, user);
      return { _id: sidOf('s', i), session: JSON.stringify(session), expires: new Date(now + 86_400_000), stamp: now - cfg.n + i, stampedBy: 'bench-bulk', ...(user && { userId: user }) };
    };
    const keys = (d: Document | null) => Object.keys(d ?? {}).sort().join(',');
    if (keys(shape) !== keys(docOf(0))) throw new Error(`users bench: the bulk documents' fields (${keys(docOf(0))}) are not the store's (${keys(shape)})`);
    loggedIn = 0;
    cfg.log(`users: inserting ${cfg.n} sessions (insertMany, 1000 a batch)`);
    for (let start = 0; start < cfg.n; start += 1000) {
      const docs = [];
      for (let i = start; i < Math.min(cfg.n, start + 1000); i++) docs.push(docOf(i));
      await col.insertMany(docs as never[], { ordered: false });
    }
    const setupMs = performance.now() - t0;
    cfg.log(`users: ${cfg.n} sessions (${loggedIn} logged in) and the target's ${PER_TARGET} in ${(setupMs / 1000).toFixed(1)} s`);

    // The query userSessions sends, caught on the wire, then explained as it was sent (filter and sort).
    // the cap's trim is a find by user, as userSessions is: a log-in with maxSessionsPerUser costs that find too
    const capped = (cappedStore = new Store({ client: storeClient, ...options, createIndexes: false, maxSessionsPerUser: 10 } as never));
    probeStore = new Store({ client: probe, ...options, createIndexes: false } as never);
    const finds: Document[] = [];
    const catchFind = (e: CommandStartedEvent) => e.commandName === 'find' && finds.push(e.command);
    probe.on('commandStarted', catchFind);
    const listed = await probeStore.userSessions(TARGET);
    probe.off('commandStarted', catchFind);
    if (listed.length !== PER_TARGET || finds.length !== 1) throw new Error(`users bench: userSessions gave ${listed.length} sessions in ${finds.length} finds`);
    const plans = [
      { query: `userSessions: find(${plain(finds[0].filter)}).sort(${plain(finds[0].sort)})`, plan: await findPlan(rawClient, cfg.dbName, finds[0]) },
      { query: `raw: find({"userId":"${TARGET}"})`, plan: await findPlan(rawClient, cfg.dbName, { find: COL, filter: { userId: TARGET } }) },
    ];
    // destroyUserSessions: a find by user, then an updateMany by _id ($in): that filter explained as a find too
    const sent: Document[] = [];
    const catchUpdate = (e: CommandStartedEvent) => e.commandName === 'update' && sent.push(e.command);
    probe.on('commandStarted', catchUpdate);
    const ended = await probeStore.destroyUserSessions(TARGET);
    probe.off('commandStarted', catchUpdate);
    for (const [j, sid] of targetSids.entries()) await live.set(sid, sessionOf(j, TARGET) as never);
    const q = sent[0]?.updates?.[0]?.q as Document | undefined;
    if (ended !== PER_TARGET || !q) throw new Error(`users bench: destroyUserSessions ended ${ended} sessions in ${sent.length} updates`);
    // the ids are shown as a count: no session id is printed
    const shown = plain(q).replace(/"\$in":\[[^\]]*\]/, `"$in":[${PER_TARGET} ids]`);
    plans.push({ query: `destroyUserSessions' updateMany(${shown}, …), its filter explained as a find`, plan: await findPlan(rawClient, cfg.dbName, { find: COL, filter: q }) });
    for (const p of plans) cfg.log(`users: plan of ${p.query}: ${p.plan.summary}`);

    if (!(await live.get(sidOf('s', cfg.n >> 1)))) throw new Error('users bench: the store does not read the bulk documents');
    const p50 = Object.fromEntries(USER_OPS.map((op) => [op, [] as number[]])) as Record<UserOp, number[]>;
    for (let round = 0; round < cfg.rounds; round++) {
      cfg.log(`users: round ${round + 1}/${cfg.rounds}`);
      const rand = prng(7 * round + cfg.n);
      // sessions with a user (an anonymous one's neighbour), for the set of a logged-in session
      const nums = Array.from({ length: cfg.opCap }, () => Math.floor(rand() * cfg.n)).map((i) => (userOf(i) ? i : i - 1));
      const idx = nums.map((i) => sidOf('s', i));
      for (const op of rotate(USER_OPS, round)) {
        const s = live;
        const steps: Record<UserOp, (k: number) => Promise<unknown>> = {
          get: (k) => s.get(idx[k]),
          'raw findOne({_id})': (k) => col.findOne({ _id: idx[k] as never }),
          'set, logged in': (k) => s.set(idx[k], sessionOf(nums[k] + round, userOf(nums[k])) as never),
          // a log-in: a new session of a new user (so the trim ends nothing), through the store with the cap
          'set, new user, max 10': (k) => capped.set(sidOf(`n${round}x`, k), sessionOf(k, `new-user-${round}-${k}`) as never),
          userSessions: async () => {
            if ((await s.userSessions(TARGET)).length !== PER_TARGET) throw new Error('users bench: userSessions lost a session');
          },
          'raw find({userId})': async () => {
            if ((await col.find({ userId: TARGET }).toArray()).length !== PER_TARGET) throw new Error('users bench: find({userId}) lost a session');
          },
          destroyUserSessions: async () => {
            if ((await s.destroyUserSessions(TARGET)) !== PER_TARGET) throw new Error('users bench: destroyUserSessions did not end 5 sessions');
          },
        };
        // destroyUserSessions: the 5 sessions are set again (through the store, untimed) before each; the measured
        // one ends them, and the last round's are set again after it, for the next op's listing
        const before = op === 'destroyUserSessions' ? async () => { for (const [j, sid] of targetSids.entries()) await s.set(sid, sessionOf(j, TARGET) as never); } : undefined;
        p50[op].push(await p50Of(cfg.opCap, cfg.opBudgetMs, steps[op], before));
        cfg.log(`users: ${op}: p50 ${fmtNum(p50[op].at(-1)!)} ms`);
        if (before) await before();
      }
    }
    return { server, n: cfg.n, loggedIn, setupMs, indexes, p50, plans, commands };
  } finally {
    await store?.close().catch(() => {});
    await probeStore?.close().catch(() => {});
    await cappedStore?.close().catch(() => {});
    await rawClient.db(cfg.dbName).dropDatabase().catch(() => {});
    await Promise.all([storeClient, rawClient, probe].map((c) => c.close().catch(() => {})));
  }
}

export function usersReport(r: UsersResult, rounds: number): string {
  const out: string[] = [];
  out.push(`\n## ${r.server}: sessions by user, ${fmtN(r.n)} sessions (${r.loggedIn} logged in, 2 a user), one user with ${PER_TARGET} (median of ${rounds} rounds)\n`);
  out.push(`Indexes: ${r.indexes.join(', ')}. Set-up (the store, ${fmtN(r.n)} documents by insertMany): ${(r.setupMs / 1000).toFixed(1)} s.\n`);
  out.push('| op | p50 ms | ÷ get | ÷ raw findOne({_id}) |');
  out.push('| --- | --- | --- | --- |');
  const ratio = (x: number) => (x >= 100 ? `${fmtNum(x)}×` : fmtRatio(x));
  for (const op of USER_OPS) out.push(`| ${op} | ${fmtNum(median(r.p50[op]))} | ${ratio(medianRatio(r.p50[op], r.p50.get))} | ${ratio(medianRatio(r.p50[op], r.p50['raw findOne({_id})']))} |`);
  out.push(`\n## ${r.server}: plans of the queries by user (explain, queryPlanner)\n`);
  for (const p of r.plans) out.push(`- \`${p.query}\`: \`${p.plan.summary}\` (${p.plan.usesIndex ? 'uses an index' : '**scans the collection**'}${p.plan.filterPushdown === undefined ? '' : `; filterPushdown: ${p.plan.filterPushdown}`}${p.plan.sortPushdown === undefined ? '' : `, sortPushdown: ${p.plan.sortPushdown}`})`);
  out.push(`\n## ${r.server}: commands per call (CommandStarted events)\n`);
  out.push('| call | commands | expected | sent |');
  out.push('| --- | --- | --- | --- |');
  for (const c of r.commands) out.push(`| ${c.what} | ${c.commands.length} | ${c.expected} | ${c.commands.join(', ')} |`);
  return `${out.join('\n')}\n`;
}
