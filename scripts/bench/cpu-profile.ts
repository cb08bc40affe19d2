/**
 * `npm run bench -- --cpu-prof [--ops=1500] [--n=1000] [--rounds=3] [--in-flight=1] [--backend=sqlite]`: where the client's
 * CPU goes, per op (one at a time, or --in-flight at once on distinct sessions), for this store, the raw driver and connect-mongo 6. Each round runs each contender in a fresh child
 * (cpu-loop.ts) under V8's CPU profiler; the .cpuprofile files stay in .tmp/cpu-prof/ (open them in Chrome DevTools).
 * Prints CPU µs per op (median of rounds) and, from the profiles, the self time of every sample charged to the
 * nearest frame of a known owner (our src/, the generated validator, ajv, debug, the driver, bson, connect-mongo 6,
 * the bench), so that Node internals (timers, crypto, JSON.parse) count against the code that called them.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import type { ContenderName } from './contenders';
import type { CpuLoopConfig, CpuLoopResult } from './cpu-loop';
import { fmtNum, fmtRatio, median, medianRatio } from './stats';
import { SEQUENTIAL_OPS as OPS } from './workloads';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Who a frame belongs to. Anything not listed (node:*, V8 builtins) is charged to its nearest listed caller. */
export function ownerOf(f: CallFrame): string | undefined {
  const u = f.url;
  if (f.functionName === '(garbage collector)') return 'GC';
  if (f.functionName === '(idle)') return 'idle';
  if (f.functionName === '(program)') return 'V8/native (program)';
  if (/\/generated\//.test(u)) return 'this: generated validator';
  if (/\/src\//.test(u) && !/node_modules/.test(u)) return 'this: src/';
  if (/node_modules\/ajv\//.test(u)) return 'this: ajv runtime';
  if (/node_modules\/debug\//.test(u)) return 'this: debug';
  if (/node_modules\/connect-mongo6?\//.test(u)) return 'connect-mongo 6';
  if (/node_modules\/mongodb\//.test(u)) return 'driver';
  if (/node_modules\/bson\//.test(u)) return 'bson';
  if (/node_modules\/express-session\//.test(u)) return 'express-session';
  if (/\/scripts\/bench\//.test(u)) return 'bench loop';
  return undefined;
}

// Line numbers of .ts files are tsx's transformed code, not the source: only the file is shown for them.
const loc = (f: CallFrame) => {
  const file = f.url.replace(/^.*?\/(node_modules\/|src\/|generated\/|scripts\/)/, '$1');
  return `${f.functionName || '(anonymous)'} ${!f.url ? '(native)' : f.url.endsWith('.ts') ? file : `${file}:${f.lineNumber + 1}`}`;
};

/** What the store's own time pays for, from the leaf frame and the store frame that led to it. */
export function causeOf(leaf: CallFrame, owner: CallFrame, ownerName: string): string {
  // .ts: src/ through tsx; .js: the tsc build the bench measures (this-store.ts)
  if (ownerName === 'this: debug' || /\/src\/debug\.(ts|js)$/.test(owner.url)) return 'debug(): the enabled check (sids are hashed only when DEBUG is on)';
  if (ownerName === 'this: generated validator' || ownerName === 'this: ajv runtime') return 'ajv validation of the read document';
  if (/\/src\/codec\.(ts|js)$/.test(owner.url)) return 'codec: JSON.parse / JSON.stringify of the session';
  if (/timers/.test(leaf.url)) return 'run(): the per-op timeout timer (setTimeout / clearTimeout)';
  if (leaf.functionName === 'nextTick') return 'answer(): the callback via process.nextTick';
  if (leaf.url === 'node:events' || leaf.functionName === 'emit') return 'event emission';
  if (owner.functionName === 'run') return 'run(): its promise and callbacks';
  return 'other store code (method bodies, storageId, expiresOf, …)';
}

export interface ProfileSummary {
  /** owner → µs per op */
  byOwner: Record<string, number>;
  /** for the store's own samples: "leaf ← owning store frame" → µs per op */
  ours: Record<string, number>;
  /** the store's own samples by what they pay for → µs per op */
  causes: Record<string, number>;
}

export function summarize(profile: CpuProfile, ops: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byOwner: Record<string, number> = {};
  const ours: Record<string, number> = {};
  const causes: Record<string, number> = {};
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const leaf = byId.get(profile.samples[i])!;
    let owner: string | undefined;
    let ownerFrame: CallFrame | undefined;
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      owner = ownerOf(f);
      if (owner) {
        ownerFrame = f;
        break;
      }
    }
    owner ??= 'node (event loop, I/O)';
    byOwner[owner] = (byOwner[owner] ?? 0) + dt / ops;
    if (owner.startsWith('this:')) {
      const key = ownerFrame === leaf.callFrame ? loc(leaf.callFrame) : `${loc(leaf.callFrame)} ← ${loc(ownerFrame!)}`;
      ours[key] = (ours[key] ?? 0) + dt / ops;
      const cause = causeOf(leaf.callFrame, ownerFrame!, owner);
      causes[cause] = (causes[cause] ?? 0) + dt / ops;
    }
  }
  return { byOwner, ours, causes };
}

function runChild(cfg: CpuLoopConfig): Promise<CpuLoopResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'cpu-loop.ts')], {
      env: { ...process.env, BENCH_CPU_CONFIG: JSON.stringify(cfg) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`cpu-loop (${cfg.contender}) exited with ${code}: ${err.trim()}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as CpuLoopResult);
    });
  });
}

export interface CpuProfileOptions {
  uri: string;
  dbName: string;
  n: number;
  ops: number;
  rounds: number;
  /** operations in flight at once (each on a session of its own) */
  inFlight: number;
  outDir: string;
  log: (m: string) => void;
}

const CONTENDERS: ContenderName[] = ['this', 'raw', 'cm6'];

export async function cpuProfile(o: CpuProfileOptions): Promise<string> {
  mkdirSync(o.outDir, { recursive: true });
  const cpu: Record<string, Record<string, number[]>> = {};
  const sums: Record<string, Record<string, ProfileSummary[]>> = {};
  for (let round = 0; round < o.rounds; round++) {
    // the order rotates by round, as in the op workloads
    for (const name of [...CONTENDERS.slice(round % 3), ...CONTENDERS.slice(0, round % 3)]) {
      o.log(`cpu-prof: round ${round + 1}/${o.rounds}, ${name}: ${o.ops} × get/set/touch/destroy at N=${o.n}, ${o.inFlight} in flight`);
      const r = await runChild({ uri: o.uri, dbName: o.dbName, contender: name, n: o.n, ops: o.ops, inFlight: o.inFlight, intervalUs: 100, profilePrefix: join(o.outDir, `${name}-r${round + 1}`) });
      for (const op of OPS) {
        ((cpu[op] ??= {})[name] ??= []).push(r.ops[op].cpuUs);
        ((sums[op] ??= {})[name] ??= []).push(summarize(JSON.parse(readFileSync(r.profiles[op], 'utf8')), o.ops));
      }
    }
  }
  const client = new MongoClient(o.uri);
  try {
    await client.db(o.dbName).dropDatabase();
  } finally {
    await client.close();
  }
  const lines: string[] = [];
  lines.push(`## Client CPU per op (µs, process.cpuUsage of a pass without the profiler; median of ${o.rounds} rounds; N=${o.n}, ${o.ops} ops each, ${o.inFlight === 1 ? 'one' : o.inFlight} in flight)`, '');
  lines.push('| op | this store | raw driver | connect-mongo 6 | this/raw | this/cm6 |', '|---|---|---|---|---|---|');
  for (const op of OPS) {
    const c = cpu[op];
    lines.push(`| ${op} | ${fmtNum(median(c.this))} | ${fmtNum(median(c.raw))} | ${fmtNum(median(c.cm6))} | ${fmtRatio(medianRatio(c.this, c.raw))} | ${fmtRatio(medianRatio(c.this, c.cm6))} |`);
  }
  const medianOf = (xs: ProfileSummary[], pick: (s: ProfileSummary) => Record<string, number>, key: string) => median(xs.map((s) => pick(s)[key] ?? 0));
  for (const op of OPS) {
    const owners = [...new Set(CONTENDERS.flatMap((c) => sums[op][c].flatMap((s) => Object.keys(s.byOwner))))].filter((k) => k !== 'idle');
    owners.sort((a, b) => medianOf(sums[op].this, (s) => s.byOwner, b) - medianOf(sums[op].this, (s) => s.byOwner, a));
    lines.push('', `## ${op}: sampled CPU by owner (µs per op, median of rounds; idle left out)`, '');
    lines.push('| owner | this store | raw driver | connect-mongo 6 |', '|---|---|---|---|');
    for (const k of owners) lines.push(`| ${k} | ${CONTENDERS.map((c) => fmtNum(medianOf(sums[op][c], (s) => s.byOwner, k))).join(' | ')} |`);
    const total = (c: ContenderName) => median(sums[op][c].map((s) => Object.entries(s.byOwner).filter(([k]) => k !== 'idle').reduce((a, [, v]) => a + v, 0)));
    lines.push(`| **sampled total** | ${CONTENDERS.map((c) => fmtNum(total(c))).join(' | ')} |`);
    const ownTotal = median(sums[op].this.map((s) => Object.entries(s.byOwner).filter(([k]) => k.startsWith('this:')).reduce((a, [, v]) => a + v, 0)));
    const ownShare = median(sums[op].this.map((s) => {
      const all = Object.entries(s.byOwner).filter(([k]) => k !== 'idle').reduce((a, [, v]) => a + v, 0);
      return Object.entries(s.byOwner).filter(([k]) => k.startsWith('this:')).reduce((a, [, v]) => a + v, 0) / all;
    }));
    lines.push('', `${op}: this store's own code and what it called: ${fmtNum(ownTotal)} µs per op, ${(ownShare * 100).toFixed(1)}% of its sampled CPU. By cause:`, '');
    const causes = [...new Set(sums[op].this.flatMap((s) => Object.keys(s.causes)))]
      .map((k) => [k, medianOf(sums[op].this, (s) => s.causes, k)] as const)
      .sort((a, b) => b[1] - a[1]);
    for (const [k, v] of causes) lines.push(`- ${fmtNum(v)} µs: ${k}`);
    const ours = [...new Set(sums[op].this.flatMap((s) => Object.keys(s.ours)))]
      .map((k) => [k, medianOf(sums[op].this, (s) => s.ours, k)] as const)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12);
    lines.push('', `${op}: this store's own top self-time frames (leaf ← the store frame that called it; µs per op):`, '');
    for (const [k, v] of ours) lines.push(`- ${fmtNum(v)} µs: \`${k}\``);
  }
  return `${lines.join('\n')}\n`;
}
