/**
 * `npm run soak -- --minutes N --seed S [--backend sqlite|postgres [--kill-postgres]] [--users U] [--json file] [--dry-run]`
 * (--kill-postgres SIGKILLs the machine's PostgreSQL cluster on 5432: never while anything else uses it)
 *
 * Two Express apps with this store, each with its own client, on one collection of a FerretDB of the soak's own,
 * every connection through toxiproxy; users log in, read, modify, touch and log out while the faults of the seed's
 * schedule come and go (scripts/soak/schedule.ts). Checked all along and at the end (docs/reliability.md):
 * no acknowledged write lost (scripts/soak/oracle.ts), no store call longer than operationTimeoutMS + MARGIN_MS, no
 * unhandled rejection, and after each fault, with the load paused: the store's internal maps and the pools at their
 * baseline, the heap near it. Prints a table per fault kind, writes it as JSON, and ends with the `soak:` line; exits
 * 1 when anything failed. `--dry-run` prints the schedule only (the same seed, the same schedule).
 */
import { mkdirSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { MongoClient } from 'mongodb';
import { MongoStore } from '../../src';
import { startFerretDB, freePort, tmpRoot, type Backend, type FerretProcess } from '../../test/server';
import { startToxiproxy, uriThrough } from '../../test/fixtures/toxiproxy';
import { schedule, FAULT_KINDS, type Fault, type FaultKind } from './schedule';
import { Oracle } from './oracle';
import { startInstance, startLoad, type Call } from './load';
import { applyFault } from './faults';
import { internals, type Internals } from './internals';
import { lateWrites } from '../../src/write-order';

/** the stores' operationTimeoutMS */
const OP_MS = 2_000;
/** what a store call may take beyond operationTimeoutMS: timers and the event loop on 2 busy cores */
const MARGIN_MS = 1_000;
/** a request makes at most 3 store calls (get, set, touch): its bound */
const REQUEST_BOUND_MS = 3 * OP_MS + MARGIN_MS;
/** the heap after a fault, load paused and collected, may exceed the baseline's by this much (allocator noise) */
const HEAP_SLACK_BYTES = 24 * 1024 * 1024;
const DB = 'connect-mongo-soak';

function args() {
  const a = process.argv.slice(2);
  const val = (name: string) => {
    const i = a.indexOf(`--${name}`);
    return i >= 0 ? a[i + 1] : undefined;
  };
  const unknown = a.filter((x, i) => x.startsWith('--') && !['--minutes', '--seconds', '--seed', '--backend', '--users', '--json', '--dry-run', '--kill-postgres'].includes(x) && a[i - 1] !== undefined);
  if (unknown.length) throw new Error(`soak: unknown option ${unknown[0]} (see scripts/soak/run.ts)`);
  const backend = (val('backend') ?? 'sqlite') as Backend;
  if (!['sqlite', 'postgres'].includes(backend)) throw new Error(`soak: --backend must be sqlite or postgres, not ${backend}`);
  const seconds = val('seconds') ? Number(val('seconds')) : Number(val('minutes') ?? 10) * 60;
  const seed = val('seed') ? Number(val('seed')) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error('soak: --minutes (or --seconds) must be a positive number');
  if (!Number.isInteger(seed)) throw new Error('soak: --seed must be an integer');
  const users = Number(val('users') ?? 16);
  const killPostgres = a.includes('--kill-postgres');
  if (killPostgres && backend !== 'postgres') throw new Error('soak: --kill-postgres needs --backend postgres');
  return { backend, seconds, seed, users, killPostgres, dryRun: a.includes('--dry-run'), json: val('json') ?? join(tmpRoot, 'soak', `soak-${backend}-${seed}.json`) };
}

interface KindStats {
  faults: number;
  calls: number;
  failedCalls: number;
  worstCallMs: number;
  recoveries: number[];
  unrecovered: number;
}

const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(p * xs.length))] : null);

async function main() {
  const o = args();
  const kinds = (Object.keys(FAULT_KINDS) as FaultKind[]).filter((k) => k !== 'kill_postgres' || o.killPostgres);
  const long = o.seconds >= 300;
  const warmupMs = long ? 10_000 : 3_000;
  const faults = schedule({ seed: o.seed, totalMs: o.seconds * 1000, kinds, warmupMs });
  console.log(`soak: seed ${o.seed}, ${o.seconds} s, FerretDB v1.24.2 (${o.backend}), ${o.users} users on 2 instances, operationTimeoutMS ${OP_MS}, ${faults.length} faults`);
  if (o.dryRun) {
    console.log(JSON.stringify(faults));
    return;
  }

  const unhandled: unknown[] = [];
  process.on('unhandledRejection', (e) => {
    unhandled.push(e);
    console.error('soak: unhandled rejection:', e);
  });
  const crashes: unknown[] = [];
  process.on('uncaughtException', (e) => {
    crashes.push(e);
    console.error('soak: uncaught exception:', e);
  });

  mkdirSync(tmpRoot, { recursive: true });
  const dataDir = o.backend === 'sqlite' ? mkdtempSync(join(tmpRoot, 'soak-ferretdb-')) : undefined;
  const port = await freePort();
  let ferret: FerretProcess = await startFerretDB({ backend: o.backend, port, dataDir });
  const direct = `mongodb://127.0.0.1:${port}/`;
  await dropDb(direct);
  const toxi = await startToxiproxy();
  const proxy = await toxi.proxy('soak', `127.0.0.1:${port}`);
  const through = `${uriThrough(direct, proxy.listen)}&maxPoolSize=10`;

  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const events = { warnings: 0, errors: 0, disconnects: 0 };
  // instance 0 opens its own client from the URL; instance 1 is given one (both connection kinds)
  const appClient = new MongoClient(through);
  const stores = [
    MongoStore.create({ mongoUrl: through, dbName: DB, operationTimeoutMS: OP_MS }),
    MongoStore.create({ client: appClient, dbName: DB, operationTimeoutMS: OP_MS }),
  ];
  for (const s of stores) {
    s.on('warning', () => events.warnings++);
    s.on('error', () => events.errors++);
    s.on('disconnect', () => events.disconnects++);
  }
  await Promise.all(stores.map((s) => s.ready()));
  internals(stores); // starts counting the pools' checked-out connections

  let current: { kind: FaultKind | 'none' } = { kind: 'none' };
  const stats = new Map<FaultKind | 'none', KindStats>();
  const statsOf = (k: FaultKind | 'none') => {
    let s = stats.get(k);
    if (!s) stats.set(k, (s = { faults: 0, calls: 0, failedCalls: 0, worstCallMs: 0, recoveries: [], unrecovered: 0 }));
    return s;
  };
  let worstCall: Call | undefined;
  let healedAt: number | undefined;
  let recoveredAt: number | undefined;
  let calls = 0;
  /** wall clock at the end of the last set or destroy (each one forgets the failed writes past their time) */
  let lastWriteEnded = Date.now();
  const onCall = (c: Call) => {
    calls++;
    if (c.name === 'set' || c.name === 'destroy') lastWriteEnded = Date.now();
    const s = statsOf(current.kind);
    s.calls++;
    if (!c.ok) s.failedCalls++;
    s.worstCallMs = Math.max(s.worstCallMs, c.ms);
    if (!worstCall || c.ms > worstCall.ms) worstCall = c;
    if (c.ok && healedAt !== undefined && recoveredAt === undefined && c.started >= healedAt) recoveredAt = c.started + c.ms;
  };
  const requests = { hung: 0, worstMs: 0, byStatus: {} as Record<string, number> };
  const instances = await Promise.all(stores.map((s, i) => startInstance(s, i, now, onCall)));
  const oracle = new Oracle(now);
  const load = startLoad({
    users: o.users,
    seed: o.seed,
    instances,
    oracle,
    requestTimeoutMs: REQUEST_BOUND_MS + 5_000,
    now,
    onRequest: (r) => {
      requests.byStatus[r.status] = (requests.byStatus[r.status] ?? 0) + 1;
      if (r.status === 'hung') requests.hung++;
      requests.worstMs = Math.max(requests.worstMs, r.ms);
    },
  });

  const leaks: string[] = [];
  const samples: Array<{ after: string; heapMB: number; internals: Internals; lateWritesRemembered: number }> = [];
  let baseline: { heap: number; internals: Internals } | undefined;
  /** Load paused and drained: the maps, the pools and the heap, against the baseline. */
  const sample = async (after: string) => {
    await load.pause();
    await new Promise((r) => setTimeout(r, 100)); // a call's driver timer may fire just after its caller's
    (globalThis as { gc?: () => void }).gc?.();
    const heap = process.memoryUsage().heapUsed;
    const now = internals(stores, lastWriteEnded);
    samples.push({ after, heapMB: Math.round(heap / 1e5) / 10, internals: now, lateWritesRemembered: lateWrites().remembered });
    if (!baseline) baseline = { heap, internals: now };
    else {
      for (const [k, v] of Object.entries(now)) {
        const base = baseline.internals[k as keyof Internals];
        if (v > base) leaks.push(`after ${after}: ${k} ${v}, baseline ${base}`);
      }
      if (heap > baseline.heap + HEAP_SLACK_BYTES) leaks.push(`after ${after}: heap ${(heap / 1e6).toFixed(1)} MB, baseline ${(baseline.heap / 1e6).toFixed(1)} MB`);
    }
    load.resume();
  };

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
  const failures: string[] = [];
  try {
    await sleep(warmupMs);
    await sample('warm-up');
    for (const [i, f] of faults.entries()) {
      await sleep(f.at - now());
      statsOf(f.kind).faults++;
      current = { kind: f.kind };
      const heal = await applyFault(f, {
        proxy,
        killServer: () => ferret.kill(),
        startServer: async () => void (ferret = await startFerretDB({ backend: o.backend, port, dataDir })),
      });
      await sleep(f.durationMs);
      recoveredAt = undefined;
      await heal();
      healedAt = now();
      current = { kind: 'none' };
      const gapEnd = (faults[i + 1]?.at ?? o.seconds * 1000) - 500;
      // recovery: the first call started after the heal that succeeds (waited for up to 30 s)
      while (recoveredAt === undefined && now() - healedAt < 30_000) await sleep(50);
      if (recoveredAt === undefined) statsOf(f.kind).unrecovered++;
      else statsOf(f.kind).recoveries.push(recoveredAt - healedAt);
      healedAt = undefined;
      await sleep(gapEnd - now());
      await sample(`${f.kind} #${i + 1}`);
      const rec = statsOf(f.kind).recoveries.at(-1);
      console.log(`soak: ${(f.at / 1000).toFixed(1)} s ${describe(f)}: ${recoveredAt === undefined ? 'no successful call within 30 s' : `first success ${Math.round(rec!)} ms after the end`}`);
    }
    await sleep(o.seconds * 1000 - now());
  } catch (e) {
    failures.push(`the soak itself failed: ${(e as Error).stack}`);
  }
  await load.stop();
  await proxy.heal().catch(() => {});

  // The end: every session the oracle knows, read directly (no proxy), by a store of its own.
  const checker = MongoStore.create({ mongoUrl: direct, dbName: DB, operationTimeoutMS: 10_000, autoRemove: 'disabled' });
  try {
    for (const [user, s] of oracle.liveSessions()) oracle.read(user, ((await checker.get(s.sid)) as { v?: number } | null)?.v ?? null, 'the final check');
    for (const sid of oracle.destroyed) oracle.readDestroyed(-1, (await checker.get(sid)) !== null, 'the final check');
  } catch (e) {
    failures.push(`the final check could not read: ${(e as Error).message}`);
  }
  await checker.close();
  for (const s of stores) await s.close();
  await appClient.close();
  await Promise.all(instances.map((i) => new Promise((r) => { i.server.closeAllConnections(); i.server.close(r); })));
  await dropDb(direct).catch(() => {});
  await toxi.stop();
  await ferret.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });

  // ---- the report ----
  const rows = [...stats].map(([kind, s]) => ({
    kind,
    faults: s.faults,
    calls: s.calls,
    failedCalls: s.failedCalls,
    worstCallMs: Math.round(s.worstCallMs),
    recoveryP50Ms: s.recoveries.length ? Math.round(pct(s.recoveries, 0.5)!) : null,
    recoveryMaxMs: s.recoveries.length ? Math.round(Math.max(...s.recoveries)) : null,
    unrecovered: s.unrecovered,
  }));
  const worstMs = Math.round(worstCall?.ms ?? 0);
  if (worstMs > OP_MS + MARGIN_MS) failures.push(`a ${worstCall!.name} call took ${worstMs} ms (bound ${OP_MS + MARGIN_MS})`);
  if (requests.worstMs > REQUEST_BOUND_MS) failures.push(`a request took ${Math.round(requests.worstMs)} ms (bound ${REQUEST_BOUND_MS})`);
  if (requests.hung) failures.push(`${requests.hung} requests hung`);
  for (const r of rows) if (r.unrecovered) failures.push(`${r.kind}: ${r.unrecovered} faults with no successful call within 30 s of their end`);
  failures.push(...leaks, ...oracle.losses.map((l) => `lost at ${l.at} ms, user ${l.user}: ${l.what}`));
  if (crashes.length) failures.push(`${crashes.length} uncaught exceptions`);
  const missing = kinds.filter((k) => !stats.get(k)?.faults);
  const report = {
    seed: o.seed,
    seconds: o.seconds,
    backend: o.backend,
    users: o.users,
    operationTimeoutMS: OP_MS,
    boundMs: { call: OP_MS + MARGIN_MS, request: REQUEST_BOUND_MS },
    operations: calls,
    requests: { total: load.requests(), worstMs: Math.round(requests.worstMs), byStatus: requests.byStatus },
    faults: faults.length,
    kindsNotRun: missing,
    lost: oracle.losses.length,
    checks: oracle.checks,
    worstWaitMs: worstMs,
    unhandledRejections: unhandled.length,
    events,
    byKind: rows,
    samples,
    failures,
    schedule: faults,
  };
  mkdirSync(dirname(o.json), { recursive: true });
  writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
  console.log('');
  console.table(rows);
  console.log(`soak: ${report.checks} checks by the oracle, ${load.requests()} requests (${Object.entries(requests.byStatus).map(([k, v]) => `${v} ${k}`).join(', ')}), events ${JSON.stringify(events)}; report in ${o.json}`);
  for (const f of failures) console.log(`soak: FAILED: ${f}`);
  console.log(`soak: ${calls} operations, ${faults.length} faults, ${oracle.losses.length} lost, worst wait ${worstMs} ms, ${unhandled.length} unhandled rejections`);
  process.exitCode = failures.length || unhandled.length ? 1 : 0;
}

function describe(f: Fault): string {
  return `${f.kind} ${JSON.stringify(f.params)} for ${f.durationMs} ms`;
}

async function dropDb(uri: string) {
  const c = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000 });
  try {
    await c.db(DB).dropDatabase();
  } finally {
    await c.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
