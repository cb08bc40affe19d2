/**
 * Raw figures → markdown tables (console and BENCHMARKS.md), the target check, and the SVG chart (hand-drawn:
 * ops/s against N on log–log axes, one panel per workload and backend). The analysis prose lives in
 * scripts/bench/analysis.md (written by people after reading the numbers) and is included verbatim.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTENDERS, LABELS, type ContenderName } from './contenders';
import { fmtN, fmtNum, fmtRatio, median, medianRatio } from './stats';
import { OPS, type HttpRound, type ModeConfig, type OpName, type TouchAfterResult } from './workloads';
import type { MemoryResult } from './memory';
import type { IdPlan } from './plan';

export type RunMode = 'smoke' | 'quick' | 'full';

export interface BackendResult {
  server: string;
  backend: string;
  ns: number[];
  prefillMs: Record<number, number>;
  /** ops[N][op][contender] = ops/s per round */
  ops: Record<number, Record<OpName, Partial<Record<ContenderName, number[]>>>>;
  /** cpu[N][op][contender] = client CPU µs per op, per round (process.cpuUsage around the timed loop) */
  cpu?: Record<number, Record<OpName, Partial<Record<ContenderName, number[]>>>>;
  /** plans[N] = the server's plan for find({_id}) at that N */
  plans?: Record<number, IdPlan>;
  /** http[N][round] = one result per contender */
  http: Record<number, HttpRound[][]>;
  touchAfter: TouchAfterResult[];
  memory: MemoryResult[];
}

export interface Results {
  mode: RunMode;
  date: string;
  machine: { nproc: number; cpu: string; memGB: number; node: string; os: string; commit: string; loadBefore?: number; loadAfter?: number };
  config: ModeConfig;
  backends: BackendResult[];
  seconds: number;
}

/** Per-round cost ratio of `this` against another contender: their ops/s ÷ ours (< 1: we are cheaper). */
function costRatio(byContender: Partial<Record<ContenderName, number[]>>, other: ContenderName): number {
  const ours = byContender.this ?? [];
  const theirs = byContender[other] ?? [];
  return medianRatio(theirs, ours);
}

function httpSeries(rounds: HttpRound[][], name: ContenderName, key: 'rps' | 'p50' | 'p99'): number[] {
  // A run in which no request finished has no latency and no rate worth a ratio.
  return rounds.map((row) => {
    const r = row.find((x) => x.contender === name);
    return r && r.requests > 0 ? r[key] : NaN;
  });
}

export function opsTable(b: BackendResult): string {
  const head = `| N | op | ${CONTENDERS.map((c) => `${LABELS[c]} ops/s`).join(' | ')} | cost this/raw | cost this/cm6 |`;
  const rows = [head, `|${'---|'.repeat(CONTENDERS.length + 4)}`];
  for (const n of b.ns) {
    for (const op of OPS) {
      const by = b.ops[n]?.[op];
      if (!by) continue;
      rows.push(`| ${fmtN(n)} | ${op} | ${CONTENDERS.map((c) => fmtNum(median(by[c] ?? []))).join(' | ')} | ${fmtRatio(costRatio(by, 'raw'))} | ${fmtRatio(costRatio(by, 'cm6'))} |`);
    }
  }
  return rows.join('\n');
}

/** Client CPU per op: what the store costs this process, whatever the server's speed. */
export function cpuTable(b: BackendResult): string {
  const rows = [`| N | op | ${CONTENDERS.map((c) => `${LABELS[c]} µs`).join(' | ')} | this/raw | this/cm6 |`, `|${'---|'.repeat(CONTENDERS.length + 4)}`];
  for (const n of b.ns) {
    for (const op of OPS) {
      const by = b.cpu?.[n]?.[op];
      if (!by) continue;
      const ratio = (o: ContenderName) => medianRatio(by.this ?? [], by[o] ?? []);
      rows.push(`| ${fmtN(n)} | ${op} | ${CONTENDERS.map((c) => fmtNum(median(by[c] ?? []))).join(' | ')} | ${fmtRatio(ratio('raw'))} | ${fmtRatio(ratio('cm6'))} |`);
    }
  }
  return rows.join('\n');
}

export function plansList(b: BackendResult): string {
  return b.ns
    .filter((n) => b.plans?.[n])
    .map((n) => {
      const p = b.plans![n];
      const push = p.filterPushdown === undefined ? '' : `, filterPushdown ${p.filterPushdown}`;
      return `- ${fmtN(n)}: \`${p.summary}\` (${p.usesIndex ? 'uses an index' : '**scans the collection**'}${push})`;
    })
    .join('\n');
}

export function httpTable(b: BackendResult): string {
  const rows = [
    `| N | ${CONTENDERS.map((c) => `${LABELS[c]} req/s (p50 / p99 ms)`).join(' | ')} | cost this/raw | cost this/cm6 |`,
    `|${'---|'.repeat(CONTENDERS.length + 3)}`,
  ];
  for (const n of b.ns) {
    const rounds = b.http[n];
    if (!rounds) continue;
    const cell = (c: ContenderName) =>
      median(rounds.map((row) => row.find((r) => r.contender === c)?.requests ?? 0)) === 0
        ? `none finished`
        : `${fmtNum(median(httpSeries(rounds, c, 'rps')))} (${fmtNum(median(httpSeries(rounds, c, 'p50')))} / ${fmtNum(median(httpSeries(rounds, c, 'p99')))})`;
    const ratio = (o: ContenderName) => medianRatio(httpSeries(rounds, o, 'rps'), httpSeries(rounds, 'this', 'rps'));
    rows.push(`| ${fmtN(n)} | ${CONTENDERS.map(cell).join(' | ')} | ${fmtRatio(ratio('raw'))} | ${fmtRatio(ratio('cm6'))} |`);
  }
  return rows.join('\n');
}

export function touchAfterTable(b: BackendResult): string {
  const rows = ['| store | touchAfter | sessions × requests | update commands sent | writes per session | requests/s (get + touch) |', '|---|---|---|---|---|---|'];
  for (const t of b.touchAfter) {
    rows.push(`| ${LABELS[t.contender]} | ${t.touchAfter ? `${t.touchAfter} s` : 'off'} | ${t.sessions} × ${t.requests / t.sessions} | ${t.writes} | ${t.writesPerSession.toFixed(2)} | ${fmtNum(t.requestsPerSecond)} |`);
  }
  return rows.join('\n');
}

export function memoryTable(b: BackendResult): string {
  const label: Record<string, string> = { 'this-entries': 'this store: `for await (… of store.entries())`', 'this-all': 'this store: `all()`', 'cm6-all': 'connect-mongo 6: `all()`' };
  const rows = ['| how | sessions | RSS before (MB) | peak RSS (MB) | RSS growth (MB) | heap kept after GC (MB) | time (s) |', '|---|---|---|---|---|---|---|'];
  for (const m of b.memory) {
    rows.push(`| ${label[m.mode]} | ${m.count} | ${m.baselineRssMB.toFixed(0)} | ${m.peakRssMB.toFixed(0)} | ${m.deltaMB.toFixed(1)} | ${(m.retainedMB ?? NaN).toFixed(1)} | ${(m.ms / 1000).toFixed(2)} |`);
  }
  return rows.join('\n');
}

interface TargetCheck {
  target: string;
  met: boolean;
  detail: string;
}

export function checkTargets(r: Results): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const b of r.backends) {
    const tag = b.server;
    const misses: string[] = [];
    let count = 0;
    for (const n of b.ns) for (const op of OPS) {
      const by = b.ops[n]?.[op];
      if (!by) continue;
      count++;
      const x = costRatio(by, 'raw');
      if (!(x <= 1.1)) misses.push(`${op} at ${fmtN(n)}: ${fmtRatio(x)}`);
    }
    out.push({ target: `${tag}: every op ≤ 1.10× the raw driver's cost`, met: misses.length === 0, detail: misses.length ? `missed on ${misses.length} of ${count}: ${misses.join(', ')}` : `all ${count} within` });

    if (b.cpu) {
      const cpuMiss: string[] = [];
      const cpuCm6Miss: string[] = [];
      let cpuCount = 0;
      for (const n of b.ns) for (const op of OPS) {
        const by = b.cpu[n]?.[op];
        if (!by) continue;
        cpuCount++;
        const x = medianRatio(by.this ?? [], by.raw ?? []);
        const y = medianRatio(by.this ?? [], by.cm6 ?? []);
        if (!(x <= 1.05)) cpuMiss.push(`${op} at ${fmtN(n)}: ${fmtRatio(x)}`);
        if (!(y <= 1.0)) cpuCm6Miss.push(`${op} at ${fmtN(n)}: ${fmtRatio(y)}`);
      }
      out.push({ target: `${tag}: client CPU per op ≤ 1.05× the raw driver's`, met: cpuMiss.length === 0, detail: cpuMiss.length ? `missed on ${cpuMiss.length} of ${cpuCount}: ${cpuMiss.join(', ')}` : `all ${cpuCount} within` });
      out.push({ target: `${tag}: client CPU per op ≤ connect-mongo 6's`, met: cpuCm6Miss.length === 0, detail: cpuCm6Miss.length ? `missed on ${cpuCm6Miss.length} of ${cpuCount}: ${cpuCm6Miss.join(', ')}` : `all ${cpuCount} within` });
    }
    if (b.plans) {
      const scans = b.ns.filter((n) => b.plans![n] && !b.plans![n].usesIndex);
      out.push({ target: `${tag}: find({_id}) uses an index`, met: scans.length === 0, detail: scans.length ? `scans at ${scans.map(fmtN).join(', ')}` : b.plans[b.ns[0]]?.summary ?? '–' });
    }

    const small = b.ns[0];
    const cm6Miss: string[] = [];
    for (const op of OPS) {
      const by = b.ops[small]?.[op];
      if (!by) continue;
      const x = costRatio(by, 'cm6');
      if (!(x <= 1.0)) cm6Miss.push(`${op}: ${fmtRatio(x)}`);
    }
    const cm6All = OPS.map((op) => `${op} ${fmtRatio(costRatio(b.ops[small]?.[op] ?? {}, 'cm6'))}`).join(', ');
    out.push({ target: `${tag}: ≥ 1.0× connect-mongo 6 on every op at ${fmtN(small)} sessions (cost ≤ 1.00×)`, met: cm6Miss.length === 0, detail: cm6All });

    const big = b.ns.at(-1)!;
    if (big !== small) {
      const getSmall = median(b.ops[small]?.get?.this ?? []);
      const getBig = median(b.ops[big]?.get?.this ?? []);
      const growth = getSmall / getBig;
      const note = big < 100_000 ? ` (this run's largest N is ${fmtN(big)}, not 100k: run --full)` : '';
      out.push({ target: `${tag}: get at ${fmtN(big)} sessions ≤ 1.2× its cost at ${fmtN(small)}${note}`, met: growth <= 1.2, detail: `${fmtRatio(growth)} (${fmtNum(getSmall)} → ${fmtNum(getBig)} ops/s)` });
    }

    const on = b.touchAfter.filter((t) => t.touchAfter > 0 && t.contender === 'this');
    for (const t of on) {
      out.push({ target: `${tag}: with touchAfter, ≤ 1 write per session per window`, met: t.writesPerSession <= 1, detail: `${t.writesPerSession.toFixed(2)} writes per session over ${t.requests / t.sessions} requests each` });
    }
  }
  return out;
}

function targetsTable(r: Results): string {
  return ['| target | met | measured |', '|---|---|---|', ...checkTargets(r).map((t) => `| ${t.target} | ${t.met ? 'yes' : '**no**'} | ${t.detail} |`)].join('\n');
}

export function consoleReport(r: Results): string {
  const parts: string[] = [];
  for (const b of r.backends) {
    parts.push(`\n## ${b.server}: store operations (ops/s, median of ${r.config.rounds} rounds)\n\n${opsTable(b)}`);
    if (b.cpu) parts.push(`\n## ${b.server}: client CPU per operation (µs, median of ${r.config.rounds} rounds)\n\n${cpuTable(b)}`);
    if (b.plans) parts.push(`\n## ${b.server}: plan of find({_id})\n\n${plansList(b)}`);
    parts.push(`\n## ${b.server}: Express over HTTP, 90% reads / 10% writes (median of ${r.config.rounds} rounds)\n\n${httpTable(b)}`);
    parts.push(`\n## ${b.server}: touchAfter\n\n${touchAfterTable(b)}`);
    parts.push(`\n## ${b.server}: memory while iterating ${fmtN(b.ns.at(-1)!)} sessions\n\n${memoryTable(b)}`);
  }
  parts.push(`\n## Targets\n\n${targetsTable(r)}\n`);
  return `${parts.join('\n')}\n`;
}

// ---- SVG chart ------------------------------------------------------------------------------------------------------

const COLORS: Record<ContenderName, string> = { this: '#d62728', raw: '#1f77b4', cm6: '#2ca02c', memory: '#7f7f7f' };
const DASH: Record<ContenderName, string> = { this: '', raw: '', cm6: '', memory: '5 4' };

function esc(s: string) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function chartSvg(r: Results): string {
  const panels = [...OPS, 'http'] as const;
  const W = 210;
  const H = 170;
  const padL = 52;
  const padT = 58;
  const gapX = 18;
  const gapY = 46;
  const width = padL + panels.length * (W + gapX) + 10;
  const height = padT + r.backends.length * (H + gapY) + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${padL}" y="18" font-size="14" font-weight="bold">Session store throughput against stored sessions N (log–log; median of ${r.config.rounds} rounds; ${esc(r.date.slice(0, 10))})</text>`,
  ];
  CONTENDERS.forEach((c, i) => {
    const x = padL + i * 150;
    out.push(`<line x1="${x}" y1="34" x2="${x + 24}" y2="34" stroke="${COLORS[c]}" stroke-width="2.5" stroke-dasharray="${DASH[c]}"/>`);
    out.push(`<text x="${x + 30}" y="38">${esc(LABELS[c])}</text>`);
  });
  r.backends.forEach((b, row) => {
    const y0 = padT + row * (H + gapY);
    panels.forEach((p, col) => {
      const x0 = padL + col * (W + gapX);
      const series = CONTENDERS.map((c) => ({
        c,
        pts: b.ns.map((n) => ({ n, v: p === 'http' ? median(httpSeries(b.http[n] ?? [], c, 'rps')) : median(b.ops[n]?.[p]?.[c] ?? []) })).filter((q) => q.v > 0),
      }));
      const vals = series.flatMap((s) => s.pts.map((q) => q.v));
      if (vals.length === 0) return;
      const lo = Math.floor(Math.log10(Math.min(...vals)));
      const hi = Math.ceil(Math.log10(Math.max(...vals)));
      const nLo = Math.log10(b.ns[0]);
      const nHi = Math.log10(b.ns.at(-1)!);
      const sx = (n: number) => x0 + 12 + (nHi === nLo ? (W - 24) / 2 : ((Math.log10(n) - nLo) / (nHi - nLo)) * (W - 24));
      const sy = (v: number) => y0 + H - ((Math.log10(v) - lo) / Math.max(1, hi - lo)) * H;
      out.push(`<rect x="${x0}" y="${y0}" width="${W}" height="${H}" fill="#fafafa" stroke="#ccc"/>`);
      for (let e = lo; e <= hi; e++) {
        out.push(`<line x1="${x0}" y1="${sy(10 ** e)}" x2="${x0 + W}" y2="${sy(10 ** e)}" stroke="#e4e4e4"/>`);
        out.push(`<text x="${x0 - 4}" y="${sy(10 ** e) + 4}" text-anchor="end" fill="#555">${fmtNum(10 ** e)}</text>`);
      }
      for (const n of b.ns) out.push(`<text x="${sx(n)}" y="${y0 + H + 14}" text-anchor="middle" fill="#555">${fmtN(n)}</text>`);
      const title = p === 'http' ? 'HTTP req/s (90% read)' : `${p} ops/s`;
      out.push(`<text x="${x0 + W / 2}" y="${y0 - 6}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
      for (const s of series) {
        if (s.pts.length === 0) continue;
        const d = s.pts.map((q, i) => `${i ? 'L' : 'M'}${sx(q.n).toFixed(1)},${sy(q.v).toFixed(1)}`).join(' ');
        out.push(`<path d="${d}" fill="none" stroke="${COLORS[s.c]}" stroke-width="2" stroke-dasharray="${DASH[s.c]}"/>`);
        for (const q of s.pts) out.push(`<circle cx="${sx(q.n).toFixed(1)}" cy="${sy(q.v).toFixed(1)}" r="2.5" fill="${COLORS[s.c]}"/>`);
      }
    });
    out.push(`<text x="12" y="${y0 + H / 2}" transform="rotate(-90 12 ${y0 + H / 2})" text-anchor="middle" font-weight="bold">${esc(b.server)}</text>`);
    out.push(`<text x="${padL + (panels.length * (W + gapX)) / 2}" y="${y0 + H + 28}" text-anchor="middle" fill="#555">stored sessions N (log scale)</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// ---- BENCHMARKS.md --------------------------------------------------------------------------------------------------

export function benchmarksMd(r: Results, analysis: string): string {
  const m = r.machine;
  const c = r.config;
  const parts = [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (scripts/bench/run.ts) from scripts/bench/results-' + r.mode + '.json; the analysis comes from scripts/bench/analysis.md. Do not edit by hand. -->',
    '',
    '![ops/s against N](docs/bench-chart.svg)',
    '',
    '## Method',
    '',
    `- Run: \`npm run bench${r.mode === 'full' ? ' -- --full' : ''}\` (${r.mode} mode), ${r.date.slice(0, 16).replace('T', ' ')} UTC, ${r.seconds} s in all.`,
    `- Machine: ${m.nproc} CPUs (\`nproc\`) ${m.cpu}, ${m.memGB} GB RAM, ${m.os}, Node ${m.node}${m.commit ? `, commit ${m.commit}` : ''}. 1-minute load average ${m.loadBefore?.toFixed(1) ?? '?'} at the start, ${m.loadAfter?.toFixed(1) ?? '?'} at the end (other work shared the machine: absolute figures are noisy; the round-by-round ratios are what to read).`,
    `- Server: ${r.backends.map((b) => b.server).join('; ')}, started by the bench on 127.0.0.1 (same machine: client, server and load generator share the ${m.nproc} CPUs).`,
    '- Contenders, each on a collection (or, for MemoryStore, a map) of its own, pre-filled by `insertMany` in batches of 1000 with the same document shape (`{_id, session: <JSON string>, expires}`, ~330 bytes):',
    '  - **this store**: `MongoStore` from `src/`, called through its callback API as express-session calls it.',
    '  - **raw driver**: the same work by hand, one driver call per op: `findOne({_id})` (expiry checked in JS), `updateOne({_id}, {$set: {session, expires}}, {upsert: true})`, `updateOne({_id}, {$set: {expires}})`, `deleteOne({_id})`.',
    '  - **connect-mongo 6.0.0** (dev dependency `connect-mongo6`).',
    "  - **MemoryStore** (express-session's): the ceiling, no I/O.",
    "  - Both MongoDB stores run with `autoRemove: 'disabled'` (FerretDB refuses TTL indexes, and an interval cleanup timer would add noise), `touchAfter: 0` unless said otherwise, `stringify: true`. Each contender has a MongoClient of its own.",
    `- Store ops: each op runs alone, sequentially (one in flight), for at most ${c.opCap} ops or ${c.opBudgetMs} ms per contender per round, on random sessions of the N stored (the same ids for every contender). \`set\` overwrites an existing session, \`touch\` updates one, \`destroy\` removes sessions inserted untimed just before (so N stays N). ${c.rounds} rounds; within a round the contenders run back to back in an order that rotates every round and op. Figures are medians over rounds; **cost ratios** (our time per op ÷ theirs, i.e. their ops/s ÷ ours; below 1 means we are faster) are computed round by round, then the median is taken.`,
    `- HTTP: one Express 5 app per contender (express-session, \`resave: false\`, \`saveUninitialized: false\`, cookie maxAge 1 day) in a child process; autocannon in the bench process with ${c.httpConnections} connections for ${c.httpSeconds} s per contender per round, on 127.0.0.1. 90% of requests are \`GET /r\` of an existing, unmodified session (express-session calls \`get\` then \`touch\`), 10% \`POST /w\` that modifies it (\`get\` then \`set\`). Every session exists: a 500 (missing session) would fail the run.`,
    `- touchAfter: ${c.touchSessions} sessions last written 2 h ago, each read ${c.touchRequests} times as express-session does (\`get\`, then \`touch\` with what \`get\` returned), with \`touchAfter: 3600\` and with it off; update commands counted by the driver's command monitoring.`,
    '- Memory: a fresh Node process per way of reading (run with `--expose-gc`, a GC before the baseline), RSS sampled every 5 ms and after every 1000 sessions while it reads every session of the largest store.',
    '',
    '## Results',
    '',
  ];
  for (const b of r.backends) {
    parts.push(`### ${b.server}`, '', `Store operations (ops/s; median of ${c.rounds} rounds):`, '', opsTable(b), '');
    if (b.plans) parts.push('Query plan of `find({_id})` (the server\'s `explain`):', '', plansList(b), '');
    if (b.cpu) parts.push(`Client CPU per operation (µs of this process's user + system time per op, \`process.cpuUsage\` around the same timed loops; median of ${c.rounds} rounds; ratios per round, then the median):`, '', cpuTable(b), '');
    parts.push(`Express over HTTP, 90% reads / 10% writes (req/s, latency p50 / p99 in ms; cost ratio = their req/s ÷ ours):`, '', httpTable(b), '');
    parts.push('touchAfter (writes sent by the store):', '', touchAfterTable(b), '');
    parts.push(`Memory while iterating all ${fmtN(b.ns.at(-1)!)} sessions of the largest store:`, '', memoryTable(b), '');
    parts.push(`Pre-fill (insertMany, all four contenders): ${b.ns.map((n) => `${fmtN(n)}: ${((b.prefillMs[n] ?? 0) / 1000).toFixed(1)} s`).join(', ')}.`, '');
  }
  parts.push('## Targets', '', 'Targets from the issue; none is asserted by a test (timings are no test material).', '', targetsTable(r), '');
  parts.push(analysis.trim(), '');
  return parts.join('\n');
}

export function writeReport(r: Results, repoRoot: string) {
  const analysisFile = join(__dirname, 'analysis.md');
  const analysis = existsSync(analysisFile) ? readFileSync(analysisFile, 'utf8') : '## Analysis\n\n(none yet)\n';
  writeFileSync(join(repoRoot, 'BENCHMARKS.md'), benchmarksMd(r, analysis));
  writeFileSync(join(repoRoot, 'docs', 'bench-chart.svg'), chartSvg(r));
}
