/**
 * The workloads. Each takes contenders already filled with N sessions and returns raw per-round figures; medians and
 * ratios are the report's business. Every (op, round) runs all contenders back to back in an order that rotates by
 * round, on the same random session ids, so drift (server caches, SQLite checkpoints, GC) hits them alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import autocannon from 'autocannon';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const signature: { sign(value: string, secret: string): string } = require('cookie-signature');
import type { CommandStartedEvent } from 'mongodb';
import { CONTENDERS, createContender, docOf, makeSession, sidOf, type Contender, type ContenderName } from './contenders';
import { median, prng } from './stats';
import type { HttpConfig } from './http-server';
import type { MemoryConfig, MemoryResult } from './memory';

/** the store operations, each measured one in flight */
export const SEQUENTIAL_OPS = ['get', 'set', 'touch', 'destroy'] as const;
/** how many operations a busy app keeps in flight: the ` ×16` rows, on distinct sessions */
export const IN_FLIGHT = 16;
export const OPS = [...SEQUENTIAL_OPS, 'get ×16', 'set ×16', 'touch ×16'] as const;
export type OpName = (typeof OPS)[number];

export interface ModeConfig {
  ns: number[];
  rounds: number;
  /** time box of one (op, contender, round) measurement */
  opBudgetMs: number;
  /** most ops in one measurement */
  opCap: number;
  httpSeconds: number;
  httpConnections: number;
  touchSessions: number;
  touchRequests: number;
  /** npm start at scale: the stored sessions, and pages per round */
  startNs: number[];
  startPages: number;
  /** a subset of the contenders (an ad hoc run, --contenders=); all when absent */
  contenders?: ContenderName[];
}

export const SID_PREFIX = 's';
const here = __dirname;

/** Child processes of the bench (HTTP apps, memory probes), killed by run.ts on exit or Ctrl-C. */
export const children = new Set<ChildProcess>();

export function rotate<T>(xs: readonly T[], by: number): T[] {
  const k = by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

export async function prefill(contenders: Contender[], n: number): Promise<number> {
  const t0 = performance.now();
  const now = Date.now();
  for (const c of contenders) {
    await c.reset();
    // One array of documents per batch: 100k sessions are ~40 MB of strings, built lazily per 10k.
    for (let start = 0; start < n; start += 10_000) {
      const docs = [];
      for (let i = start; i < Math.min(n, start + 10_000); i++) docs.push(docOf(sidOf(SID_PREFIX, i), i, now));
      await c.insert(docs);
    }
  }
  return performance.now() - t0;
}

/** One timed measurement: ops/s, this process's CPU time (user + system) per op in µs, and the median op in ms. */
export interface Timed {
  rate: number;
  cpuUs: number;
  p50Ms: number;
}

async function timed(cap: number, budgetMs: number, step: (k: number) => Promise<unknown>, inFlight = 1): Promise<Timed> {
  // `inFlight` ops at a time and nothing else in this process meanwhile, so the CPU is the contender's (its driver
  // included; the server is another process). CPU time is what a shared machine's load disturbs least.
  const each: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let k = 0;
  let last = t0;
  const worker = async () => {
    while (k < cap && (k < 3 || last - t0 < budgetMs)) {
      const start = performance.now();
      await step(k++);
      last = performance.now();
      each.push(last - start);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const cpu = process.cpuUsage(cpu0);
  return { rate: (k * 1000) / (last - t0), cpuUs: (cpu.user + cpu.system) / k, p50Ms: median(each) };
}

export async function warmUp(contenders: Contender[], n: number) {
  for (const c of contenders) {
    for (let k = 0; k < 20; k++) {
      const i = (k * 7919) % n;
      const s = await c.get(sidOf(SID_PREFIX, i));
      if (!s) throw new Error(`warm-up: ${c.name} did not find session #${i} of ${n}; the pre-fill went wrong`);
      await c.touch(sidOf(SID_PREFIX, i), makeSession(i));
    }
  }
}

const destroyRate = new Map<string, number>();

/** ops/s and client CPU µs per op, per op per contender, for one round. */
export async function opRound(contenders: Contender[], n: number, round: number, cfg: ModeConfig): Promise<Record<OpName, Record<string, Timed>>> {
  const out = {} as Record<OpName, Record<string, Timed>>;
  const rand = prng(1000 * round + n);
  // A random order of the N sessions (cycled): the ops in flight together are on distinct sessions.
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const idx = Array.from({ length: cfg.opCap }, (_, k) => order[k % n]);
  // Each op's cookie expires 2 s after the previous one's: two touches of one session in a round never ask for the
  // same expiry, so none shares another's write (sharedTouch) and every touch measured is a write of its own.
  const now = Date.now();
  const sessions = idx.map((i, k) => ({ ...makeSession(i, now + 2000 * k), n: round }));
  // Every set changes its session (n differs from every earlier write of it): a full write, as express-session sets a
  // modified session, never the expiry-only write of an unchanged set (unchanged.ts), whichever row wrote it before.
  const changed = new Map(OPS.filter((op) => op.startsWith('set')).map((op, o) => [op, idx.map((_, k) => ({ ...sessions[k], n: round * 1e9 + o * 1e6 + k }))]));
  for (const [o, op] of OPS.entries()) {
    out[op] = {};
    for (const c of rotate(contenders, round + o)) {
      if (op === 'destroy') {
        // Fresh victims, inserted untimed, so N stays N and every destroy removes a real document. As many as the
        // time box is likely to use (from this contender's last destroy rate): leftovers cost a clean-up.
        const last = destroyRate.get(c.name);
        const want = last ? Math.ceil((last * cfg.opBudgetMs * 1.5) / 1000) + 3 : cfg.opCap;
        const victims = Array.from({ length: Math.min(cfg.opCap, Math.max(5, want)) }, (_, k) => sidOf(`v${round}x`, k));
        const now = Date.now();
        await c.insert(victims.map((sid, k) => docOf(sid, k, now)));
        let done = 0;
        out[op][c.name] = await timed(victims.length, cfg.opBudgetMs, (k) => (done++, c.destroy(victims[k])));
        destroyRate.set(c.name, out[op][c.name].rate);
        await c.remove(victims.slice(done));
        continue;
      }
      const [base, inFlight] = op.endsWith(` ×${IN_FLIGHT}`) ? [op.slice(0, op.indexOf(' ')), IN_FLIGHT] : [op, 1];
      out[op][c.name] = await timed(
        cfg.opCap,
        cfg.opBudgetMs,
        (k) => {
          const sid = sidOf(SID_PREFIX, idx[k]);
          if (base === 'get') return c.get(sid);
          if (base === 'set') return c.set(sid, changed.get(op)![k]);
          return c.touch(sid, sessions[k]);
        },
        inFlight,
      );
    }
  }
  return out;
}

export interface TouchAfterResult {
  contender: ContenderName;
  touchAfter: number;
  sessions: number;
  requests: number;
  /** update commands the client sent (command monitoring) */
  writes: number;
  writesPerSession: number;
  /** get + touch pairs per second (one request of an unmodified session) */
  requestsPerSecond: number;
}

/**
 * An unmodified session read S×R times the way express-session does it (get, then touch with what get gave), with
 * touchAfter on (3600 s) and off. The sessions were last written two hours ago, i.e. in an earlier window.
 */
export async function touchAfterWorkload(uri: string, dbName: string, cfg: ModeConfig): Promise<TouchAfterResult[]> {
  const out: TouchAfterResult[] = [];
  for (const touchAfter of [3600, 0]) {
    for (const name of ['this', 'cm6'] as const) {
      const c = await createContender(name, { uri, dbName, prefix: `ta${touchAfter}`, touchAfter, monitorCommands: true });
      try {
        await c.reset();
        const old = new Date(Date.now() - 2 * 3600_000);
        const now = Date.now();
        await c.insert(Array.from({ length: cfg.touchSessions }, (_, i) => docOf(sidOf('t', i), i, now, old)));
        const updates: CommandStartedEvent[] = [];
        c.client!.on('commandStarted', (e) => e.commandName === 'update' && updates.push(e));
        const t0 = performance.now();
        for (let r = 0; r < cfg.touchRequests; r++) {
          for (let i = 0; i < cfg.touchSessions; i++) {
            const sid = sidOf('t', i);
            const s = (await c.get(sid)) as any;
            if (!s) throw new Error(`touchAfter workload: ${name} lost session #${i}`);
            await c.touch(sid, s);
          }
        }
        const total = cfg.touchSessions * cfg.touchRequests;
        out.push({
          contender: name,
          touchAfter,
          sessions: cfg.touchSessions,
          requests: total,
          writes: updates.length,
          writesPerSession: updates.length / cfg.touchSessions,
          requestsPerSecond: (total * 1000) / (performance.now() - t0),
        });
        await c.reset();
      } finally {
        await c.close();
      }
    }
  }
  return out;
}

/** Spawns a TypeScript file of this folder as a child (tsx loader), tracked for clean-up. */
function spawnChild(file: string, env: Record<string, string>, extraNodeArgs: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...extraNodeArgs, '--import', 'tsx', join(here, file)], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** The first JSON line a child prints; rejects with its stderr if it exits first. */
function firstJsonLine<T>(child: ChildProcess, label: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${label}: no answer within ${timeoutMs} ms. ${err.trim()}`)), timeoutMs);
    child.stderr!.on('data', (d) => (err = (err + d).slice(-4000)));
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(out.slice(0, nl)) as T);
        } catch {
          reject(new Error(`${label}: unexpected output: ${out.slice(0, 200)}`));
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (code ${code}): ${err.trim()}`));
    });
  });
}

export interface HttpRound {
  contender: ContenderName;
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
}

export interface PageLoadRound {
  contender: ContenderName;
  visits: number;
  requests: number;
  visitsPerSecond: number;
  rps: number;
  /** median time of one visit (the document, then its 8 parallel requests), ms */
  p50VisitMs: number;
  /** database commands the contender's client sent during the round, by name (command monitoring) */
  commands: Record<string, number>;
  commandsPerVisit: number;
  non2xx: number;
  errors: number;
}

/** Requests a visit sends after its document, all at once, with the same cookie (XHRs, assets behind the session). */
export const PAGE_REQUESTS = 8;

/** GET with a cookie on a keep-alive agent; answers the status code (the body is read and dropped). */
function httpGet(agent: Agent, port: number, path: string, cookie?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: cookie ? { cookie } : {} }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

interface CommandCounts {
  commands: Record<string, number>;
  inFlight: number;
}

/**
 * Waits until the contender's client has no command unanswered: requests that autocannon abandoned at the end of its
 * run (connect-mongo 6's scanning reads on SQLite take seconds) would otherwise keep the server busy into the next
 * contender's run.
 */
async function drained(port: number): Promise<void> {
  const t0 = performance.now();
  while ((await commandCounts(port)).inFlight > 0) {
    if (performance.now() - t0 > 600_000) throw new Error('HTTP workload: the server did not finish the abandoned requests in 10 minutes');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function commandCounts(port: number): Promise<CommandCounts> {
  const agent = new Agent();
  try {
    return await new Promise((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/__commands', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.once('end', () => resolve(JSON.parse(body)));
      })
        .once('error', reject)
        .end();
    });
  } finally {
    agent.destroy();
  }
}

/**
 * Page loads: `visitors` browsers at once, each in a loop picking a random stored session and loading a page with it:
 * the document (GET /r, awaited), then PAGE_REQUESTS requests at once with the same cookie, on a keep-alive agent of
 * its own with 6 sockets (a browser's limit per host). Every request reads the session and leaves it unmodified, so
 * express-session calls get, then touch. Commands are counted by the app's command monitoring.
 */
async function pageLoadRound(name: ContenderName, port: number, n: number, cfg: ModeConfig, secret: string, seed: number): Promise<PageLoadRound> {
  const before = (await commandCounts(port)).commands;
  const latencies: number[] = [];
  let requests = 0;
  let non2xx = 0;
  let errors = 0;
  const t0 = performance.now();
  const deadline = t0 + cfg.httpSeconds * 1000;
  await Promise.all(
    Array.from({ length: cfg.httpConnections }, async (_, v) => {
      const rand = prng(seed * 7919 + v);
      const agent = new Agent({ keepAlive: true, maxSockets: 6 });
      try {
        while (performance.now() < deadline) {
          const i = Math.floor(rand() * n);
          const cookie = `connect.sid=${encodeURIComponent(`s:${signature.sign(sidOf(SID_PREFIX, i), secret)}`)}`;
          const start = performance.now();
          const statuses = [await httpGet(agent, port, '/r', cookie)];
          statuses.push(...(await Promise.all(Array.from({ length: PAGE_REQUESTS }, (_, k) => httpGet(agent, port, `/r?part=${k}`, cookie)))));
          latencies.push(performance.now() - start);
          requests += statuses.length;
          non2xx += statuses.filter((st) => st < 200 || st > 299).length;
        }
      } catch {
        errors++;
      } finally {
        agent.destroy();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await drained(port);
  const after = (await commandCounts(port)).commands;
  const commands: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) commands[k] = v - (before[k] ?? 0);
  const total = Object.values(commands).reduce((a, b) => a + b, 0);
  return {
    contender: name,
    visits: latencies.length,
    requests,
    visitsPerSecond: latencies.length / seconds,
    rps: requests / seconds,
    p50VisitMs: median(latencies),
    commands,
    commandsPerVisit: latencies.length ? total / latencies.length : NaN,
    non2xx,
    errors,
  };
}

/**
 * Express over HTTP, in one child app per contender: the mixed workload (90% GET of an unmodified session, 10% POST
 * that modifies one) with autocannon, then the page-load workload.
 */
export async function httpWorkload(uri: string, dbName: string, prefix: string, n: number, cfg: ModeConfig): Promise<{ mixed: HttpRound[][]; pageLoad: PageLoadRound[][]; pageLoadFastify: PageLoadRound[] }> {
  const secret = 'bench-secret';
  const config: HttpConfig = { uri, dbName, prefix, n, secret, sidPrefix: SID_PREFIX, contenders: cfg.contenders ?? [...CONTENDERS] };
  const child = spawnChild('http-server.ts', { BENCH_HTTP_CONFIG: JSON.stringify(config) });
  try {
    const { ports } = await firstJsonLine<{ ports: Record<ContenderName | 'fastify', number> }>(child, 'http-server', 120_000);
    const pageLoad: PageLoadRound[][] = [];
    // this store under Fastify (@fastify/session, rolling): its own row, the same visits as this store's Express row
    const pageLoadFastify: PageLoadRound[] = [];
    for (let round = 0; round < cfg.rounds; round++) {
      const row: PageLoadRound[] = [];
      for (const name of rotate(cfg.contenders ?? CONTENDERS, round)) row.push(await pageLoadRound(name, ports[name], n, cfg, secret, round * 131 + n));
      pageLoad.push(row);
      if (ports.fastify) pageLoadFastify.push(await pageLoadRound('this', ports.fastify, n, cfg, secret, round * 131 + n));
    }
    const rounds: HttpRound[][] = [];
    for (let round = 0; round < cfg.rounds; round++) {
      const row: HttpRound[] = [];
      for (const name of rotate(cfg.contenders ?? CONTENDERS, round)) {
        const rand = prng(round * 31 + n);
        const r = await autocannon({
          url: `http://127.0.0.1:${ports[name]}`,
          connections: cfg.httpConnections,
          duration: cfg.httpSeconds,
          requests: [
            {
              setupRequest: (req: any) => {
                const i = Math.floor(rand() * n);
                const write = rand() < 0.1;
                const cookie = `connect.sid=${encodeURIComponent(`s:${signature.sign(sidOf(SID_PREFIX, i), secret)}`)}`;
                return { ...req, method: write ? 'POST' : 'GET', path: write ? '/w' : '/r', headers: { ...req.headers, cookie } };
              },
            },
          ],
        });
        await drained(ports[name]);
        row.push({
          contender: name,
          rps: r.requests.average,
          p50: r.latency.p50,
          p99: r.latency.p99,
          requests: r.requests.total,
          non2xx: r.non2xx,
          errors: r.errors + r.timeouts,
        });
      }
      rounds.push(row);
    }
    return { mixed: rounds, pageLoad, pageLoadFastify };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
  }
}

/** Peak RSS while iterating every session, one fresh process per mode. */
export async function memoryWorkload(uri: string, dbName: string, prefix: string): Promise<MemoryResult[]> {
  const out: MemoryResult[] = [];
  for (const mode of ['this-entries', 'this-all', 'cm6-all'] as const) {
    const config: MemoryConfig = { uri, dbName, collectionName: `${prefix}_${mode.startsWith('cm6') ? 'cm6' : 'this'}`, mode };
    const child = spawnChild('memory.ts', { BENCH_MEMORY_CONFIG: JSON.stringify(config) }, ['--expose-gc']);
    out.push(await firstJsonLine<MemoryResult>(child, `memory probe (${mode})`, 600_000));
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  }
  return out;
}
