/**
 * Raw figures → markdown tables (console and BENCHMARKS.md), the target check, and the SVG chart (hand-drawn:
 * ops/s against N on log–log axes, one panel per workload and backend). The analysis prose lives in
 * scripts/bench/analysis.md (written by people after reading the numbers) and is included verbatim.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTENDERS, LABELS, type ContenderName } from './contenders';
import { fmtN, fmtNum, fmtRatio, median, medianRatio } from './stats';
import { OPS, PAGE_REQUESTS, type HttpRound, type ModeConfig, type OpName, type PageLoadRound, type TouchAfterResult } from './workloads';
import type { MemoryResult } from './memory';
import type { IdPlan } from './plan';
import type { StartAppResult } from './start-app';

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
  /** p50[N][op][contender] = median ms of one op, per round */
  p50?: Record<number, Record<OpName, Partial<Record<ContenderName, number[]>>>>;
  /** http[N][round] = one result per contender */
  http: Record<number, HttpRound[][]>;
  /** pageLoad[N][round] = one result per contender */
  pageLoad?: Record<number, PageLoadRound[][]>;
  /** pageLoadFastify[N][round] = this store under Fastify 5 + @fastify/session (rolling: a set on every response) */
  pageLoadFastify?: Record<number, PageLoadRound[]>;
  touchAfter: TouchAfterResult[];
  memory: MemoryResult[];
}

export interface Results {
  mode: RunMode;
  date: string;
  machine: { nproc: number; cpu: string; memGB: number; node: string; os: string; commit: string; loadBefore?: number; loadAfter?: number };
  config: ModeConfig;
  backends: BackendResult[];
  /** npm start's embedded default at N stored sessions (start-app.ts) */
  startApp?: StartAppResult;
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

function pageSeries(rounds: PageLoadRound[][], name: ContenderName, key: 'rps' | 'p50VisitMs' | 'commandsPerVisit'): number[] {
  return rounds.map((row) => {
    const r = row.find((x) => x.contender === name);
    return r && r.visits > 0 ? r[key] : NaN;
  });
}

/** Commands per visit by name, from the round whose total is the median one (e.g. "find 2.0, update 1.0"). */
function commandMix(rounds: PageLoadRound[][], name: ContenderName): string {
  const rs = rounds.map((row) => row.find((x) => x.contender === name)).filter((r): r is PageLoadRound => !!r && r.visits > 0);
  if (!rs.length) return '–';
  const mid = [...rs].sort((a, b) => a.commandsPerVisit - b.commandsPerVisit)[rs.length >> 1];
  const parts = Object.entries(mid.commands).map(([k, v]) => `${k} ${(v / mid.visits).toFixed(2)}`);
  return parts.length ? parts.join(', ') : 'none';
}

export function pageLoadTable(b: BackendResult): string {
  const rows = [
    `| N | ${CONTENDERS.map((c) => `${LABELS[c]} req/s (visit p50 ms)`).join(' | ')} | cost this/raw | cost this/cm6 |`,
    `|${'---|'.repeat(CONTENDERS.length + 3)}`,
  ];
  const cmds = ['| N | ' + CONTENDERS.filter((c) => c !== 'memory').map((c) => `${LABELS[c]}: commands per visit`).join(' | ') + ' |', `|${'---|'.repeat(CONTENDERS.length)}`];
  for (const n of b.ns) {
    const rounds = b.pageLoad?.[n];
    if (!rounds) continue;
    const cell = (c: ContenderName) => `${fmtNum(median(pageSeries(rounds, c, 'rps')))} (${fmtNum(median(pageSeries(rounds, c, 'p50VisitMs')))})`;
    const ratio = (o: ContenderName) => medianRatio(pageSeries(rounds, o, 'rps'), pageSeries(rounds, 'this', 'rps'));
    rows.push(`| ${fmtN(n)} | ${CONTENDERS.map(cell).join(' | ')} | ${fmtRatio(ratio('raw'))} | ${fmtRatio(ratio('cm6'))} |`);
    cmds.push(`| ${fmtN(n)} | ${CONTENDERS.filter((c) => c !== 'memory').map((c) => `${median(pageSeries(rounds, c, 'commandsPerVisit')).toFixed(2)} (${commandMix(rounds, c)})`).join(' | ')} |`);
  }
  const fastify = ['| N | this store under Fastify 5 (@fastify/session, rolling: a set on every response): req/s (visit p50 ms) | commands per visit |', '|---|---|---|'];
  for (const n of b.ns) {
    const rounds = b.pageLoadFastify?.[n]?.map((r) => [r]);
    if (rounds) fastify.push(`| ${fmtN(n)} | ${fmtNum(median(pageSeries(rounds, 'this', 'rps')))} (${fmtNum(median(pageSeries(rounds, 'this', 'p50VisitMs')))}) | ${median(pageSeries(rounds, 'this', 'commandsPerVisit')).toFixed(2)} (${commandMix(rounds, 'this')}) |`);
  }
  return `${rows.join('\n')}\n\n${cmds.join('\n')}${fastify.length > 2 ? `\n\n${fastify.join('\n')}` : ''}`;
}

export function p50Table(b: BackendResult): string {
  const mongo = CONTENDERS.filter((c) => c !== 'memory');
  const big = b.ns.at(-1)!;
  const rows = [`| op | ${mongo.map((c) => `${LABELS[c]} p50 ms (${b.ns.map(fmtN).join(' → ')})`).join(' | ')} | ${mongo.map((c) => `${LABELS[c]} ${fmtN(big)}/${fmtN(b.ns[0])}`).join(' | ')} |`, `|${'---|'.repeat(mongo.length * 2 + 1)}`];
  for (const op of ['get', 'set', 'touch'] as const) {
    const at = (n: number, c: ContenderName) => median(b.p50?.[n]?.[op]?.[c] ?? []);
    rows.push(`| ${op} | ${mongo.map((c) => b.ns.map((n) => fmtNum(at(n, c))).join(' → ')).join(' | ')} | ${mongo.map((c) => fmtRatio(at(big, c) / at(b.ns[0], c))).join(' | ')} |`);
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

export function startAppTable(r: Results): string {
  const rows = ['| stored sessions | page p50 ms | page p90 ms | pages timed |', '|---|---|---|---|'];
  for (const p of r.startApp?.points ?? []) rows.push(`| ${fmtN(p.n)} | ${fmtNum(p.p50Ms)} | ${fmtNum(p.p90Ms)} | ${p.pages} |`);
  return rows.join('\n');
}

function startAppTarget(r: Results): TargetCheck | undefined {
  const pts = r.startApp?.points ?? [];
  if (pts.length < 2) return undefined;
  const [small, big] = [pts[0], pts.at(-1)!];
  const x = medianRatio(big.roundP50Ms, small.roundP50Ms);
  return { target: `npm start (embedded FerretDB): a page at ${fmtN(big.n)} stored sessions in ≤ 1.2× its time at ${fmtN(small.n)}`, met: x <= 1.2, detail: `${fmtRatio(x)} (p50 ${fmtNum(small.p50Ms)} → ${fmtNum(big.p50Ms)} ms)` };
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
    if (big !== small && b.p50) {
      const note = big < 100_000 ? ` (this run's largest N is ${fmtN(big)}, not 100k: run --full)` : '';
      const misses: string[] = [];
      const all: string[] = [];
      for (const c of ['this', 'raw', 'cm6'] as const) for (const op of ['get', 'set', 'touch'] as const) {
        const x = median(b.p50[big]?.[op]?.[c] ?? []) / median(b.p50[small]?.[op]?.[c] ?? []);
        (x <= 1.2 ? all : misses).push(`${LABELS[c]} ${op} ${fmtRatio(x)}`);
      }
      out.push({ target: `${tag}: p50 of get/set/touch at ${fmtN(big)} sessions ≤ 1.2× at ${fmtN(small)}, every contender${note}`, met: misses.length === 0, detail: misses.length ? `missed: ${misses.join(', ')}; within: ${all.join(', ')}` : all.join(', ') });
    }

    const httpMiss: string[] = [];
    const httpAll: string[] = [];
    for (const n of b.ns) {
      const rounds = b.http[n];
      if (!rounds) continue;
      const cm6 = medianRatio(httpSeries(rounds, 'this', 'rps'), httpSeries(rounds, 'cm6', 'rps'));
      const raw = medianRatio(httpSeries(rounds, 'this', 'rps'), httpSeries(rounds, 'raw', 'rps'));
      const line = `${fmtN(n)}: ${fmtRatio(cm6)} of cm6, ${fmtRatio(raw)} of raw`;
      (cm6 >= 1 && raw >= 0.95 ? httpAll : httpMiss).push(line);
    }
    out.push({ target: `${tag}: Express over HTTP (mixed), req/s ≥ 1.0× connect-mongo 6 and ≥ 0.95× the raw driver`, met: httpMiss.length === 0, detail: [...httpMiss.map((m) => `missed ${m}`), ...httpAll].join('; ') });

    if (b.pageLoad) {
      const miss: string[] = [];
      const ok: string[] = [];
      for (const n of b.ns) {
        const rounds = b.pageLoad[n];
        if (!rounds) continue;
        const ours = median(pageSeries(rounds, 'this', 'commandsPerVisit'));
        const theirs = median(pageSeries(rounds, 'cm6', 'commandsPerVisit'));
        const speed = medianRatio(pageSeries(rounds, 'this', 'rps'), pageSeries(rounds, 'cm6', 'rps'));
        const line = `${fmtN(n)}: ${ours.toFixed(2)} vs ${theirs.toFixed(2)} commands per visit, req/s ${fmtRatio(speed)} of cm6`;
        (ours < theirs && speed > 1 ? ok : miss).push(line);
      }
      out.push({ target: `${tag}: page loads: fewer commands per visit than connect-mongo 6, and more req/s`, met: miss.length === 0, detail: [...miss.map((m) => `missed ${m}`), ...ok].join('; ') });
    }

    const on = b.touchAfter.filter((t) => t.touchAfter > 0 && t.contender === 'this');
    for (const t of on) {
      out.push({ target: `${tag}: with touchAfter, ≤ 1 write per session per window`, met: t.writesPerSession <= 1, detail: `${t.writesPerSession.toFixed(2)} writes per session over ${t.requests / t.sessions} requests each` });
    }
  }
  const start = startAppTarget(r);
  if (start) out.push(start);
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
    if (b.p50) parts.push(`\n## ${b.server}: p50 of one op against N (ms, median of ${r.config.rounds} rounds)\n\n${p50Table(b)}`);
    parts.push(`\n## ${b.server}: Express over HTTP, 90% reads / 10% writes (median of ${r.config.rounds} rounds)\n\n${httpTable(b)}`);
    if (b.pageLoad) parts.push(`\n## ${b.server}: page loads, 1 document + ${PAGE_REQUESTS} parallel requests (median of ${r.config.rounds} rounds)\n\n${pageLoadTable(b)}`);
    parts.push(`\n## ${b.server}: touchAfter\n\n${touchAfterTable(b)}`);
    parts.push(`\n## ${b.server}: memory while iterating ${fmtN(b.ns.at(-1)!)} sessions\n\n${memoryTable(b)}`);
  }
  if (r.startApp) parts.push(`\n## npm start (${r.startApp.server}): one page at a time\n\n${startAppTable(r)}`);
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
    `- Store ops: each op runs alone, one in flight, and again (the rows marked ×16) with 16 in flight, for at most ${c.opCap} ops or ${c.opBudgetMs} ms per contender per round, on random sessions of the N stored (the same ids for every contender; the ops in flight at once are on distinct sessions). \`set\` overwrites an existing session with a changed one (a full write), \`touch\` updates one, \`destroy\` removes sessions inserted untimed just before (so N stays N). ${c.rounds} rounds; within a round the contenders run back to back in an order that rotates every round and op. Figures are medians over rounds; **cost ratios** (our time per op ÷ theirs, i.e. their ops/s ÷ ours; below 1 means we are faster) are computed round by round, then the median is taken.`,
    `- HTTP: one Express 5 app per contender (express-session, \`resave: false\`, \`saveUninitialized: false\`, cookie maxAge 1 day) in a child process; autocannon in the bench process with ${c.httpConnections} connections for ${c.httpSeconds} s per contender per round, on 127.0.0.1. 90% of requests are \`GET /r\` of an existing, unmodified session (express-session calls \`get\` then \`touch\`), 10% \`POST /w\` that modifies it (\`get\` then \`set\`). Every session exists: a 500 (missing session) would fail the run.`,
    `- Page loads: the same apps; ${c.httpConnections} visitors at once for ${c.httpSeconds} s per contender per round, each in a loop: pick a random stored session, \`GET /r\` (the document) and wait for it, then ${PAGE_REQUESTS} \`GET /r?part=k\` at once with the same cookie (XHRs and assets behind the session middleware), on a keep-alive agent of its own with 6 sockets (a browser's limit per host). Every request leaves the session unmodified (\`get\`, then \`touch\`). The app's MongoClient counts the commands it sends (\`commandStarted\`), read before and after each run. The raw driver's app is express-session over the hand-written one-call-per-op store above, so the comparison isolates the store.`,
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
    if (b.p50) parts.push(`Median time of one op (ms) from the smallest to the largest N, one op in flight (median of ${c.rounds} rounds), and the ratio largest/smallest (flat with N: ≤ 1.2×):`, '', p50Table(b), '');
    parts.push(`Express over HTTP, 90% reads / 10% writes (req/s, latency p50 / p99 in ms; cost ratio = their req/s ÷ ours):`, '', httpTable(b), '');
    if (b.pageLoad) parts.push(`Page loads, 1 document then ${PAGE_REQUESTS} parallel requests with its cookie, ${c.httpConnections} visitors at once (req/s counts all 9 requests of a visit; cost ratio = their req/s ÷ ours; commands counted by the app's command monitoring, by name, per visit):`, '', pageLoadTable(b), '');
    parts.push('touchAfter (writes sent by the store):', '', touchAfterTable(b), '');
    parts.push(`Memory while iterating all ${fmtN(b.ns.at(-1)!)} sessions of the largest store:`, '', memoryTable(b), '');
    parts.push(`Pre-fill (insertMany, all four contenders): ${b.ns.map((n) => `${fmtN(n)}: ${((b.prefillMs[n] ?? 0) / 1000).toFixed(1)} s`).join(', ')}.`, '');
  }
  if (r.startApp) {
    parts.push('## npm start at scale', '', `The example app as \`npm start\` runs it (examples/express-app, its own config file, its embedded default server: ${r.startApp.server}), with N sessions stored: copies of a session the app itself wrote, added between measurements. \`GET /\` with a stored session's cookie (the page counts views: express-session calls \`get\`, then \`set\`), one request at a time, ${c.startPages} pages per round, ${c.rounds} rounds:`, '', startAppTable(r), '');
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
