/**
 * Peak memory while going through every session of a store, in a fresh process per measurement so that one
 * contender's garbage never counts against the next. Modes:
 *   this-entries – `for await (const e of store.entries())` (a cursor in batches of 1000)
 *   this-all     – our `store.all()` (an array, connect-mongo's API)
 *   cm6-all      – connect-mongo 6's `all()` (toArray, then the array of sessions)
 * Config in BENCH_MEMORY_CONFIG (JSON); the result as one JSON line on stdout.
 */
import { MongoClient } from 'mongodb';
import type { MongoStore } from '../../src';
import { loadThisStore } from './this-store';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const cm6Module = require('connect-mongo6');
const ConnectMongo6 = cm6Module.default ?? cm6Module.MongoStore;

export interface MemoryConfig {
  uri: string;
  dbName: string;
  collectionName: string;
  mode: 'this-entries' | 'this-all' | 'cm6-all';
}
export interface MemoryResult {
  mode: MemoryConfig['mode'];
  count: number;
  ms: number;
  baselineRssMB: number;
  peakRssMB: number;
  deltaMB: number;
  /** heap still in use after a full GC at the end, while the result (if any) is still referenced */
  retainedMB: number;
}

async function main() {
  const cfg = JSON.parse(process.env.BENCH_MEMORY_CONFIG ?? '') as MemoryConfig;
  const client = await MongoClient.connect(cfg.uri);
  const opts = { client, dbName: cfg.dbName, collectionName: cfg.collectionName, autoRemove: 'disabled' };
  const store = cfg.mode === 'cm6-all' ? new ConnectMongo6(opts) : new (loadThisStore())(opts as any);
  // Warm up: the connection, the code paths, one document read, so the baseline includes them.
  await new Promise((r, j) => store.get('warm-up', (e: unknown) => (e ? j(e) : r(null))));
  global.gc?.();
  const mb = () => process.memoryUsage().rss / 1048576;
  const baseline = mb();
  const heap0 = process.memoryUsage().heapUsed;
  let peak = baseline;
  const sample = () => (peak = Math.max(peak, mb()));
  const timer = setInterval(sample, 5);
  const t0 = performance.now();
  let count = 0;
  let all: unknown[] = [];
  if (cfg.mode === 'this-entries') {
    for await (const e of (store as MongoStore).entries()) {
      if (e.session) count++;
      if (count % 1000 === 0) sample();
    }
  } else {
    all = await new Promise((r, j) => store.all((e: unknown, v: unknown[]) => (e ? j(e) : r(v))));
    sample();
    count = all.length;
  }
  const ms = performance.now() - t0;
  sample();
  clearInterval(timer);
  global.gc?.();
  const retainedMB = (process.memoryUsage().heapUsed - heap0) / 1048576;
  const out: MemoryResult = { mode: cfg.mode, count, ms, baselineRssMB: baseline, peakRssMB: peak, deltaMB: peak - baseline, retainedMB };
  all.length = 0; // held until here on purpose: retainedMB is what a caller of all() keeps
  process.stdout.write(`${JSON.stringify(out)}\n`);
  if (cfg.mode !== 'cm6-all') await (store as MongoStore).close();
  await client.close();
}

main().catch((e) => {
  console.error(`memory: ${(e as Error).message}`);
  process.exit(1);
});
