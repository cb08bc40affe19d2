/**
 * Child of `npm run bench -- --cpu-prof` (cpu-profile.ts): one contender, N stored sessions, then K gets, sets,
 * touches and destroys, one at a time or `inFlight` at once (distinct sessions: the ids are distinct draws), each op twice: once timed by process.cpuUsage, once under V8's CPU profiler
 * (node:inspector's Profiler, the sampler behind `node --cpu-prof`, started after the set-up, once per op, so that
 * each profile holds only that op's loop). Config in BENCH_CPU_CONFIG (JSON); writes one .cpuprofile per op and
 * prints one JSON line: the process's CPU µs per op, per op.
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { createContender, docOf, makeSession, sidOf, type ContenderName } from './contenders';
import { prng } from './stats';

export interface CpuLoopConfig {
  uri: string;
  dbName: string;
  contender: ContenderName;
  n: number;
  ops: number;
  /** operations in flight at once */
  inFlight: number;
  /** sampling interval, µs */
  intervalUs: number;
  /** the .cpuprofile of op `op` goes to `${profilePrefix}-${op}.cpuprofile` */
  profilePrefix: string;
}
export interface CpuLoopResult {
  contender: ContenderName;
  /** op → .cpuprofile file */
  profiles: Record<string, string>;
  /** per op: CPU µs per op (user + system) and wall ms of the whole loop */
  ops: Record<string, { count: number; cpuUs: number; wallMs: number }>;
}

async function main() {
  const cfg = JSON.parse(process.env.BENCH_CPU_CONFIG ?? '{}') as CpuLoopConfig;
  const c = await createContender(cfg.contender, { uri: cfg.uri, dbName: cfg.dbName, prefix: 'cpu' });
  try {
    await c.reset();
    const now = Date.now();
    await c.insert(Array.from({ length: cfg.n }, (_, i) => docOf(sidOf('s', i), i, now)));
    const victims = Array.from({ length: 2 * cfg.ops }, (_, k) => sidOf('v', k));
    await c.insert(victims.map((sid, k) => docOf(sid, k, now)));
    const rand = prng(cfg.n);
    // distinct draws in each window of inFlight (a seeded shuffle): no two operations in flight share a session
    const order = Array.from({ length: cfg.n }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const idx = Array.from({ length: cfg.ops }, (_, k) => order[k % order.length]);
    // 2 s between the cookies' expiries: no touch shares another's write (sharedTouch); each is a write of its own.
    const sessions = idx.map((i, k) => ({ ...makeSession(i, now + 2000 * k), n: 1 }));
    // the profiled pass asks for other expiries again (an hour later), or it would share the timed pass's touches
    const later = idx.map((i, k) => ({ ...makeSession(i, now + 3_600_000 + 2000 * k), n: 1 }));
    // every set changes its session (n): a full write, never the expiry-only write of an unchanged set (unchanged.ts)
    const changed = [0, 1].map((pass) => idx.map((i, k) => ({ ...makeSession(i, now + 2000 * k), n: 2 + pass * cfg.ops + k })));
    for (let k = 0; k < 50; k++) await c.touch(sidOf('s', idx[k % idx.length]), sessions[k % idx.length]); // warm-up (JIT)
    for (let k = 0; k < 50; k++) await c.get(sidOf('s', idx[k % idx.length]));

    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: cfg.intervalUs });
    const out: CpuLoopResult['ops'] = {};
    const profiles: Record<string, string> = {};
    // pass 0 of destroy removes victims [0, ops), pass 1 the next ops
    const loops: Record<string, (k: number, pass: number) => Promise<unknown>> = {
      get: (k) => c.get(sidOf('s', idx[k])),
      set: (k, pass) => c.set(sidOf('s', idx[k]), changed[pass][k]),
      touch: (k, pass) => c.touch(sidOf('s', idx[k]), pass ? later[k] : sessions[k]),
      destroy: (k, pass) => c.destroy(victims[pass * cfg.ops + k]),
    };
    // ops 0..ops-1, at most inFlight at once, each started as soon as another one ends
    const loop = async (step: (k: number) => Promise<unknown>) => {
      let next = 0;
      const lane = async () => {
        while (next < cfg.ops) await step(next++);
      };
      await Promise.all(Array.from({ length: Math.max(1, cfg.inFlight ?? 1) }, lane));
    };
    for (const [op, step] of Object.entries(loops)) {
      // CPU time from a pass without the profiler: its sampler thread costs CPU in proportion to wall time, which
      // would charge a contender for waiting on a slow server. The profile comes from a second, identical pass.
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await loop((k) => step(k, 0));
      const cpu = process.cpuUsage(cpu0);
      out[op] = { count: cfg.ops, cpuUs: (cpu.user + cpu.system) / cfg.ops, wallMs: performance.now() - t0 };
      await session.post('Profiler.start');
      await loop((k) => step(k, 1));
      const { profile } = await session.post('Profiler.stop');
      profiles[op] = `${cfg.profilePrefix}-${op}.cpuprofile`;
      writeFileSync(profiles[op], JSON.stringify(profile));
    }
    session.disconnect();
    const result: CpuLoopResult = { contender: cfg.contender, profiles, ops: out };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    await c.reset();
  } finally {
    await c.close();
  }
}

main().catch((e) => {
  console.error((e as Error).stack ?? e);
  process.exit(1);
});
