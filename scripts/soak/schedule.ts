/**
 * The soak's fault schedule, drawn from its seed alone: the same seed gives the same faults, in the same order, with
 * the same parameters and times (what the load does in between depends on timing too, and is seeded per user).
 */

import { prng as rng } from '../bench/stats';

/** the bench's seeded PRNG (mulberry32): the same on every machine */
export { rng };

export type FaultKind = 'latency' | 'reset_peer' | 'timeout' | 'bandwidth' | 'slicer' | 'limit_data' | 'kill_ferretdb' | 'kill_postgres';

/** What each fault looks like from the app (docs/reliability.md has the longer version). */
export const FAULT_KINDS: Record<FaultKind, string> = {
  latency: 'every reply late by a random delay with jitter (a slow or congested network)',
  reset_peer: 'connections reset by the peer (TCP RST), at once or after a while',
  timeout: 'half-open: packets stop one way, no reset ever comes (a partition, a dead NAT entry, an idle cut)',
  bandwidth: 'a trickle of a few KB/s',
  slicer: 'replies cut into small pieces, delayed one by one',
  limit_data: 'each connection cut after a few hundred or thousand bytes: mid-reply',
  kill_ferretdb: 'the server SIGKILLed, then restarted on its data',
  kill_postgres: 'PostgreSQL under FerretDB SIGKILLed, then restarted (crash recovery)',
};

export interface Fault {
  kind: FaultKind;
  /** ms after the load started */
  at: number;
  durationMs: number;
  /** toxiproxy's attributes, its stream, and toxicity; for kills, nothing */
  params: Record<string, number | string>;
}

const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

function paramsOf(kind: FaultKind, r: () => number): Record<string, number | string> {
  switch (kind) {
    case 'latency':
      return { stream: r() < 0.8 ? 'downstream' : 'upstream', latency: int(r, 100, 2500), jitter: int(r, 0, 800) };
    case 'reset_peer':
      return { stream: 'downstream', timeout: r() < 0.5 ? 0 : int(r, 50, 1500) };
    case 'timeout':
      return { stream: r() < 0.6 ? 'downstream' : 'upstream', timeout: 0 };
    case 'bandwidth':
      return { stream: 'downstream', rate: int(r, 1, 16) };
    case 'slicer':
      return { stream: r() < 0.7 ? 'downstream' : 'upstream', average_size: int(r, 4, 64), size_variation: int(r, 0, 3), delay: int(r, 0, 3000) };
    case 'limit_data':
      return { stream: 'downstream', bytes: int(r, 100, 5000) };
    default:
      return {};
  }
}

export interface ScheduleOptions {
  seed: number;
  totalMs: number;
  kinds: FaultKind[];
  /** load without faults at the start (the baseline is taken at its end) */
  warmupMs: number;
}

/**
 * Faults one after the other, each followed by a quiet gap (recovery, then the leak check): every kind once first,
 * in a seeded order, then kinds drawn at random, until the time is used up (the last gap fits too). A run too short
 * for every kind once ends after the kinds that fit.
 */
export function schedule({ seed, totalMs, kinds, warmupMs }: ScheduleOptions): Fault[] {
  const r = rng(seed);
  const first = [...kinds];
  for (let i = first.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [first[i], first[j]] = [first[j], first[i]];
  }
  // Short runs (npm test) get short faults, so that every kind fits; 10-minute runs get longer ones.
  const long = totalMs >= 300_000;
  const out: Fault[] = [];
  let at = warmupMs;
  for (let n = 0; ; n++) {
    const kind = n < first.length ? first[n] : kinds[Math.floor(r() * kinds.length)];
    const durationMs = long ? int(r, 2_000, 15_000) : int(r, 1_500, 3_000);
    const gapMs = long ? int(r, 4_000, 10_000) : 3_000;
    const params = paramsOf(kind, r);
    if (at + durationMs + gapMs > totalMs) break;
    out.push({ kind, at, durationMs, params });
    at += durationMs + gapMs;
  }
  return out;
}
