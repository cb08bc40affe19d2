/**
 * Many app instances on one collection (the normal deployment): 4 processes (Express + express-session + MongoStore,
 * autoRemove 'interval') on the run's server, driven through a round-robin client with a mixed load (log in, read,
 * modify, touch, log out, abandon, short-lived sessions), bounded in requests and time. Every acknowledged session
 * must read back with its last acknowledged value from every instance, logged-out ones from none, with 0 errors.
 * A fifth process alone on another collection gives the 1-instance removal rate; both are printed ("# " lines) with
 * how close together the 4 instances' removals came (they are jittered, see auto-remove.ts). Nothing is asserted on
 * time.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { openTestDb, waitFor, type TestDb } from './helpers';
import { repoRoot } from './server';
import { get, unhandled } from './fixtures/reliability/kit';

const INSTANCES = 4;
const INTERVAL_MIN = 0.02; // 1.2 s between removals (autoRemoveInterval accepts fractions of a minute)
const USERS = 12; // concurrent virtual users, each doing one request at a time
const MAX_REQUESTS = 1000;
const LOAD_BUDGET_MS = 12_000; // the load stops at whichever bound comes first
const REQUEST_TIMEOUT = 10_000; // a request unanswered after this long is a hang (a failure)

let t: TestDb;
const children: ChildProcess[] = [];

interface Instance {
  url: string;
  child: ChildProcess;
}

function startInstance(collection: string): Promise<Instance> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures/multi-instance/app.ts')], {
    cwd: repoRoot,
    env: { ...process.env, MI_URI: t.uri, MI_DB: t.dbName, MI_COLLECTION: collection, MI_INTERVAL_MIN: String(INTERVAL_MIN) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /LISTENING (\S+)/.exec(out);
      if (m) resolve({ url: m[1], child });
    });
    child.on('exit', (code) => reject(new Error(`an app instance exited (${code}) before listening:\n${stderr}`)));
  });
}

async function stopAll() {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const kill = setTimeout(() => c.kill('SIGKILL'), 5_000);
          c.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
}

const stats = async (i: Instance) => (await get(`${i.url}/__stats`, { timeoutMs: REQUEST_TIMEOUT })).body as { readyAt: number; removals: number[]; errors: number };

test.before(async () => void (t = await openTestDb(__filename)));
test.after(async () => {
  await stopAll();
  await t?.close();
});

test(`${INSTANCES} app instances on one collection: every acknowledged session readable from every instance, 0 errors; removals jittered`, async () => {
  const [alone, ...apps] = await Promise.all([startInstance('mi_one'), ...Array.from({ length: INSTANCES }, () => startInstance('mi_many'))]);
  const started = Date.now();
  let next = 0;
  const pick = () => apps[next++ % apps.length]; // the round-robin client (a load balancer without affinity)

  const live = new Map<string, { cookie: string; v: string }>(); // acknowledged, not logged out: sid → last acked value
  const loggedOut = new Map<string, string>(); // sid → cookie
  const short = new Set<string>(); // sessions created with a 300 ms cookie
  const problems: string[] = [];
  const count: Record<string, number> = { login: 0, read: 0, modify: 0, touch: 0, logout: 0, abandon: 0, short: 0 };
  let requests = 0;
  const call = async (path: string, cookie?: string) => {
    requests++;
    const r = await get(`${pick().url}${path}`, { cookie, timeoutMs: REQUEST_TIMEOUT });
    if (r.status !== 200) problems.push(`${path.split('?')[0]}: ${r.status} ${JSON.stringify(r.body)}`);
    return r;
  };

  const user = async (u: number) => {
    let mine: { sid: string; cookie: string; v: string } | undefined;
    for (let n = 0; requests < MAX_REQUESTS && Date.now() - started < LOAD_BUDGET_MS; n++) {
      const roll = Math.random();
      if (!mine) {
        const v = `u${u}-${n}`;
        const r = await call(`/login?v=${v}`);
        count.login++;
        if (r.status === 200) live.set(r.body.sid, { cookie: r.cookie!, v }), (mine = { sid: r.body.sid, cookie: r.cookie!, v });
      } else if (roll < 0.4 || roll >= 0.95) {
        const r = await call('/read', mine.cookie);
        count.read++;
        if (r.body.v !== mine.v) problems.push(`read ${JSON.stringify(r.body.v)}, last acknowledged ${JSON.stringify(mine.v)}`);
      } else if (roll < 0.65) {
        const v = `u${u}-${n}-m`;
        const r = await call(`/modify?v=${v}`, mine.cookie);
        count.modify++;
        if (r.status === 200) (mine.v = v), (live.get(mine.sid)!.v = v);
      } else if (roll < 0.8) {
        const r = await call('/touch', mine.cookie);
        count.touch++;
        if (r.body.v !== mine.v) problems.push(`touch read ${JSON.stringify(r.body.v)}, last acknowledged ${JSON.stringify(mine.v)}`);
      } else if (roll < 0.87) {
        const r = await call('/logout', mine.cookie);
        count.logout++;
        if (r.status === 200) live.delete(mine.sid), loggedOut.set(mine.sid, mine.cookie);
        mine = undefined;
      } else if (roll < 0.92) {
        count.abandon++; // the browser goes away: the session stays, and must stay readable
        mine = undefined;
      } else {
        const r = await call(`/login?v=short&short=300`);
        count.short++;
        if (r.status === 200) short.add(r.body.sid);
      }
    }
  };
  await Promise.all(Array.from({ length: USERS }, (_, u) => user(u)));
  const loadMs = Date.now() - started;

  // Every acknowledged session, from every instance: its last acknowledged value; logged-out ones from none.
  let checks = 0;
  for (const app of apps) {
    for (const [sid, s] of live) {
      const r = await get(`${app.url}/read`, { cookie: s.cookie, timeoutMs: REQUEST_TIMEOUT });
      checks++;
      if (r.body.v !== s.v) problems.push(`instance ${app.url} read ${JSON.stringify(r.body.v)} for ${sid.slice(0, 4)}…, acknowledged ${JSON.stringify(s.v)}`);
    }
    for (const cookie of loggedOut.values()) {
      const r = await get(`${app.url}/read`, { cookie, timeoutMs: REQUEST_TIMEOUT });
      checks++;
      if (r.body.session !== false) problems.push(`instance ${app.url} still reads a logged-out session`);
    }
  }

  // The removals: each instance removes on its own, and the short-lived sessions do go.
  const col = t.db.collection('mi_many');
  await waitFor(async () => (await Promise.all(apps.map(stats))).every((s) => s.removals.length >= 2), 'two removals from every instance', 30_000);
  await waitFor(async () => (await col.countDocuments({ _id: { $in: [...short] as any[] } })) === 0, 'the expired short sessions removed', 30_000);
  const ended = Date.now();
  const many = await Promise.all(apps.map(stats));
  const one = await stats(alone);
  const errors = many.reduce((n, s) => n + s.errors, 0) + one.errors;

  // Figures (measured, printed; nothing asserted on time).
  const windowMin = (ended - started) / 60_000;
  const inWindow = (ts: number[]) => ts.filter((x) => x >= started && x <= ended);
  const manyTimes = many.flatMap((s, i) => inWindow(s.removals).map((at) => ({ at, i }))).sort((a, b) => a.at - b.at);
  const oneRate = inWindow(one.removals).length / windowMin;
  const manyRate = manyTimes.length / windowMin;
  let closest = Infinity;
  for (let k = 1; k < manyTimes.length; k++) if (manyTimes[k].i !== manyTimes[k - 1].i) closest = Math.min(closest, manyTimes[k].at - manyTimes[k - 1].at);
  const bucket = (INTERVAL_MIN * 60_000) / 10;
  let crowd = 0;
  for (let a = 0, b = 0; b < manyTimes.length; b++) {
    while (manyTimes[b].at - manyTimes[a].at > bucket) a++;
    crowd = Math.max(crowd, b - a + 1);
  }
  const firsts = many.map((s) => s.removals[0] - s.readyAt).sort((a, b) => a - b);
  console.log(
    [
      `# multi-instance ${INSTANCES} instances, ${USERS} users round-robin: ${requests} requests in ${loadMs} ms (${Object.entries(count).map(([k, v]) => `${k} ${v}`).join(', ')}); ${errors} errors`,
      `# multi-instance checked ${live.size} live sessions and ${loggedOut.size} logged out from each of the ${INSTANCES} instances (${checks} reads): ${problems.length} problems`,
      `# multi-instance interval removals (autoRemoveInterval ${INTERVAL_MIN} min = ${INTERVAL_MIN * 60} s, over ${(windowMin * 60).toFixed(1)} s): 1 instance ${oneRate.toFixed(0)}/min, ${INSTANCES} instances ${manyRate.toFixed(0)}/min (×${(manyRate / oneRate).toFixed(2)})`,
      `# multi-instance spread: first removal of each instance ${firsts.join(', ')} ms after its start (one interval, ${INTERVAL_MIN * 60_000} ms, plus a delay drawn in 0–${0.4 * INTERVAL_MIN * 60_000} ms; later than that is event-loop lag on a busy machine); closest two of different instances ${closest} ms apart; at most ${crowd} within any ${bucket} ms (interval/10)`,
      `# multi-instance scaled to the default 10 min interval: ${(1 / 10).toFixed(1)} deleteMany/min per instance, ${(INSTANCES / 10).toFixed(1)}/min for ${INSTANCES} (rate = instances / interval)`,
    ].join('\n'),
  );

  assert.equal(problems, [], 'every acknowledged session readable from every instance, logged-out ones from none');
  assert.is(errors, 0, 'errors in the instances');
  assert.ok(live.size > 0 && loggedOut.size > 0 && short.size > 0, 'the load created, logged out and expired sessions');
  for (const s of many) assert.ok(s.removals.length >= 2, 'every instance removes expired sessions itself');
  assert.equal(unhandled, []);
});

test.run();
