/**
 * `npm run bench` (quick), `npm run bench -- --full`, `npm run bench -- --smoke` (CI: tiny N, one round, writes
 * nothing). Starts its own FerretDB (SQLite, and PostgreSQL in --full) unless MONGODB_URI is set, runs the workloads
 * of workloads.ts for every contender of contenders.ts, prints a markdown table, and (quick/full) saves the raw
 * figures in scripts/bench/results-<mode>.json and regenerates BENCHMARKS.md and docs/bench-chart.svg from them.
 * `--report` only regenerates BENCHMARKS.md and the chart from the saved JSON. `--backend=sqlite,postgres` picks
 * backends; `--ns=100000` and `--contenders=this,raw` make an ad hoc run (ops and HTTP only, saved nowhere). `--cpu-prof` profiles the client's CPU per op instead (cpu-profile.ts); `--users` measures sessions by user instead (users.ts; --smoke runs it too, at N=200). Never leaves a process behind: servers and children are stopped in `finally` and on SIGINT/SIGTERM.
 */
import { cpus, availableParallelism, totalmem, release, platform, loadavg } from 'node:os';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { startFerretDB, type Backend } from '../../test/server';
import { CONTENDERS, createContender, sidOf, type Contender, type ContenderName } from './contenders';
import { idQueryPlan } from './plan';
import { cpuProfile } from './cpu-profile';
import { startAppWorkload } from './start-app';
import { buildThisStore } from './this-store';
import { usersReport, usersWorkload, type UsersConfig } from './users';
import { OPS, children, httpWorkload, memoryWorkload, opRound, prefill, touchAfterWorkload, warmUp, SID_PREFIX, type ModeConfig } from './workloads';
import { consoleReport, writeReport, type BackendResult, type Results, type RunMode } from './report';

const repoRoot = join(__dirname, '../..');

const MODES: Record<RunMode, ModeConfig & { backends: Backend[] }> = {
  smoke: { ns: [50], rounds: 1, opBudgetMs: 50, opCap: 20, httpSeconds: 1, httpConnections: 4, touchSessions: 10, touchRequests: 3, startNs: [20, 50], startPages: 10, backends: ['sqlite'] },
  quick: { ns: [1000, 10_000], rounds: 3, opBudgetMs: 300, opCap: 600, httpSeconds: 2, httpConnections: 10, touchSessions: 100, touchRequests: 5, startNs: [1000, 10_000], startPages: 100, backends: ['sqlite', 'postgres'] },
  full: { ns: [1000, 10_000, 100_000], rounds: 5, opBudgetMs: 400, opCap: 1500, httpSeconds: 3, httpConnections: 10, touchSessions: 200, touchRequests: 5, startNs: [1000, 100_000], startPages: 200, backends: ['sqlite', 'postgres'] },
};

interface Server {
  uri: string;
  name: string;
  backend: string;
  stop(): Promise<void>;
}
const servers = new Set<Server>();

async function cleanUp() {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all([...servers].map((s) => s.stop().catch(() => {})));
  servers.clear();
}

async function startServer(backend: Backend): Promise<Server> {
  if (process.env.MONGODB_URI) {
    const c = new MongoClient(process.env.MONGODB_URI, { serverSelectionTimeoutMS: 10_000 });
    try {
      const info = await c.db('admin').command({ buildInfo: 1 });
      const ferret = info.ferretdbVersion ? `FerretDB ${info.ferretdbVersion}` : `MongoDB ${info.version}`;
      return { uri: process.env.MONGODB_URI, name: `${ferret} via MONGODB_URI`, backend: 'external', stop: async () => {} };
    } finally {
      await c.close();
    }
  }
  const f = await startFerretDB({ backend });
  const s = { uri: f.uri, name: f.name, backend, stop: () => f.stop() };
  servers.add(s);
  return s;
}

function log(msg: string) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

async function benchBackend(server: Server, cfg: ModeConfig, dbName: string): Promise<BackendResult> {
  const result: BackendResult = { server: server.name, backend: server.backend, ns: cfg.ns, prefillMs: {}, ops: {}, cpu: {}, p50: {}, plans: {}, http: {}, pageLoad: {}, touchAfter: [], memory: [] };
  const contenders: Contender[] = [];
  const db = new MongoClient(server.uri);
  try {
    await db.connect();
    await db.db(dbName).dropDatabase();
    for (const name of cfg.contenders ?? CONTENDERS) contenders.push(await createContender(name, { uri: server.uri, dbName, prefix: 'ops' }));

    if (!cfg.contenders) {
      log(`${server.name}: touchAfter on/off (${cfg.touchSessions} sessions × ${cfg.touchRequests} requests)`);
      result.touchAfter = await touchAfterWorkload(server.uri, dbName, cfg);
    }

    for (const n of cfg.ns) {
      log(`${server.name}: pre-filling ${n} sessions per contender`);
      result.prefillMs[n] = await prefill(contenders, n);
      await warmUp(contenders, n);
      result.plans![n] = await idQueryPlan(db, dbName, 'ops_raw', sidOf(SID_PREFIX, n >> 1));
      log(`${server.name}: N=${n} find({_id}) plan: ${result.plans![n].summary}`);
      const byOp = () => Object.fromEntries(OPS.map((op) => [op, {}])) as BackendResult['ops'][number];
      result.ops[n] = byOp();
      result.cpu![n] = byOp();
      result.p50![n] = byOp();
      for (let round = 0; round < cfg.rounds; round++) {
        log(`${server.name}: N=${n} ops round ${round + 1}/${cfg.rounds}`);
        const r = await opRound(contenders, n, round, cfg);
        for (const [op, byContender] of Object.entries(r)) {
          for (const [name, v] of Object.entries(byContender)) {
            ((result.ops[n] as any)[op][name] ??= []).push(v.rate);
            ((result.cpu![n] as any)[op][name] ??= []).push(v.cpuUs);
            ((result.p50![n] as any)[op][name] ??= []).push(v.p50Ms);
          }
        }
      }
      log(`${server.name}: N=${n} HTTP, page loads then mixed (${cfg.rounds} rounds × ${cfg.httpSeconds} s per contender each)`);
      const http = await httpWorkload(server.uri, dbName, 'ops', n, cfg);
      result.http[n] = http.mixed;
      result.pageLoad![n] = http.pageLoad;
      if (http.pageLoadFastify.length) (result.pageLoadFastify ??= {})[n] = http.pageLoadFastify;
    }
    if (!cfg.contenders) {
      log(`${server.name}: memory while iterating ${cfg.ns.at(-1)} sessions`);
      result.memory = await memoryWorkload(server.uri, dbName, 'ops');
    }
    return result;
  } finally {
    await Promise.all(contenders.map((c) => c.close().catch(() => {})));
    await db.db(dbName).dropDatabase().catch(() => {});
    await db.close();
  }
}

function usersConfig(uri: string, smoke: boolean): UsersConfig {
  return { uri, dbName: process.env.BENCH_DB ?? 'connect_mongo_bench', n: smoke ? 200 : 100_000, rounds: smoke ? 1 : 5, opBudgetMs: smoke ? 50 : 1500, opCap: smoke ? 10 : 200, log };
}

function machine(): Results['machine'] {
  let ferretCommit = '';
  try {
    ferretCommit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    /* not a git checkout */
  }
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${platform()} ${release()}`,
    commit: ferretCommit,
    loadBefore: loadavg()[0],
  };
}

async function main() {
  const args = process.argv.slice(2);
  const mode: RunMode = args.includes('--smoke') ? 'smoke' : args.includes('--full') ? 'full' : 'quick';
  const resultsFile = (m: RunMode) => join(__dirname, `results-${m}.json`);
  if (args.includes('--report')) {
    const m: RunMode = existsSync(resultsFile('full')) ? 'full' : 'quick';
    writeReport(JSON.parse(readFileSync(resultsFile(m), 'utf8')), repoRoot);
    log(`BENCHMARKS.md and docs/bench-chart.svg regenerated from results-${m}.json`);
    return;
  }
  log('building this store as users get it (tsc → .cache/bench-build)');
  buildThisStore();
  if (args.includes('--cpu-prof')) {
    const num = (name: string, dflt: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
    const backend = (args.find((a) => a.startsWith('--backend='))?.slice('--backend='.length) ?? 'sqlite') as Backend;
    const server = await startServer(backend);
    try {
      log(`cpu-prof on ${server.name}; 1-minute load average ${loadavg()[0].toFixed(1)}`);
      const report = await cpuProfile({
        uri: server.uri,
        dbName: process.env.BENCH_DB ?? 'connect_mongo_bench_cpu',
        n: num('n', 1000),
        ops: num('ops', 1500),
        rounds: num('rounds', 3),
        inFlight: num('in-flight', 1),
        outDir: join(repoRoot, '.tmp', 'cpu-prof'),
        log,
      });
      process.stdout.write(`\n# CPU profile: ${server.name}, ${availableParallelism()} CPUs, load ${loadavg().map((x) => x.toFixed(1)).join(' / ')} (1/5/15 min) at the end\n\n${report}`);
    } finally {
      await cleanUp();
      await server.stop();
    }
    return;
  }
  if (args.includes('--users')) {
    const num = (name: string, dflt: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
    const backends = (args.find((a) => a.startsWith('--backend='))?.slice('--backend='.length) ?? 'sqlite').split(',') as Backend[];
    const smoke = mode === 'smoke';
    const reports: string[] = [];
    try {
      for (const backend of process.env.MONGODB_URI ? [backends[0]] : backends) {
        const server = await startServer(backend);
        try {
          log(`users on ${server.name}; 1-minute load average ${loadavg()[0].toFixed(1)}`);
          const cfg = { ...usersConfig(server.uri, smoke), n: num('n', smoke ? 200 : 100_000), rounds: num('rounds', smoke ? 1 : 5) };
          reports.push(usersReport(await usersWorkload(server.name, cfg), cfg.rounds));
        } finally {
          await server.stop();
          servers.delete(server);
        }
      }
    } finally {
      await cleanUp();
    }
    const m = machine();
    process.stdout.write(`\n# Sessions by user: ${m.nproc} CPUs (${m.cpu}), ${m.memGB} GB, Node ${m.node}, ${m.os}, commit ${m.commit}, load ${loadavg().map((x) => x.toFixed(1)).join(' / ')} (1/5/15 min) at the end\n${reports.join('')}`);
    log('bench: done');
    return;
  }
  // An ad hoc run (--ns=100000, --contenders=this,raw) re-checks one figure: ops and HTTP only, printed, saved nowhere.
  const listArg = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3).split(',');
  const adhoc = !!(listArg('ns') || listArg('contenders'));
  const cfg: ModeConfig & { backends: Backend[] } = { ...MODES[mode], ...(listArg('ns') && { ns: listArg('ns')!.map(Number) }) };
  const names = listArg('contenders');
  if (cfg.ns.some((n) => !(n > 0)) || names?.some((c) => !(CONTENDERS as readonly string[]).includes(c))) {
    throw new Error('--ns takes sizes (--ns=1000,100000); --contenders takes names from this,raw,cm6,memory');
  }
  // Given contenders mark the run ad hoc for benchBackend (no touchAfter or memory workloads).
  if (adhoc) cfg.contenders = (names ?? [...CONTENDERS]) as ContenderName[];
  const backendArg = args.find((a) => a.startsWith('--backend='))?.slice('--backend='.length);
  const backends = (backendArg ? backendArg.split(',') : cfg.backends) as Backend[];
  const dbName = process.env.BENCH_DB ?? 'connect_mongo_bench';
  const started = Date.now();
  const usersSmoke: string[] = [];
  const results: Results = { mode, date: new Date().toISOString(), machine: machine(), config: cfg, backends: [], seconds: 0 };

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping servers and children`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  try {
    // With MONGODB_URI there is one server whatever the backends say.
    for (const backend of process.env.MONGODB_URI ? [backends[0]] : backends) {
      const server = await startServer(backend);
      try {
        results.backends.push(await benchBackend(server, cfg, dbName));
        // the smoke run keeps users.ts from rotting too (its command counts are checked by test/bench-smoke.test.ts)
        if (mode === 'smoke') usersSmoke.push(usersReport(await usersWorkload(server.name, usersConfig(server.uri, true)), 1));
      } finally {
        await server.stop();
        servers.delete(server);
      }
    }
    if (!adhoc) {
      log(`npm start (the example app on its embedded FerretDB) at ${cfg.startNs.join(', ')} sessions`);
      results.startApp = await startAppWorkload(cfg.startNs, cfg.rounds, cfg.startPages, log);
    }
  } finally {
    await cleanUp();
  }
  results.seconds = Math.round((Date.now() - started) / 1000);
  results.machine.loadAfter = loadavg()[0];
  process.stdout.write(consoleReport(results) + usersSmoke.join(''));
  const bad = results.backends.flatMap((b) => [...Object.values(b.http).flat(2), ...Object.values(b.pageLoad ?? {}).flat(2)]).filter((r) => r.non2xx || r.errors);
  if (bad.length) throw new Error(`HTTP workload: ${bad.length} runs had non-2xx answers or errors (a session went missing?)`);
  if (mode !== 'smoke' && !adhoc) {
    writeFileSync(resultsFile(mode), `${JSON.stringify(results, null, 1)}\n`);
    const m: RunMode = existsSync(resultsFile('full')) ? 'full' : mode;
    mkdirSync(join(repoRoot, 'docs'), { recursive: true });
    writeReport(m === mode ? results : JSON.parse(readFileSync(resultsFile(m), 'utf8')), repoRoot);
    log(`wrote ${resultsFile(mode)}; BENCHMARKS.md and docs/bench-chart.svg from results-${m}.json`);
  }
  log(`bench: done in ${results.seconds} s`);
}

main().catch(async (e) => {
  await cleanUp();
  console.error(`bench: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
