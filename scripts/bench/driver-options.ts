/**
 * `npx tsx scripts/bench/driver-options.ts [uri]` (default mongodb://127.0.0.1:27017): what the driver options and the
 * filter shape of this store's writes cost the client, on the raw driver alone. One upsert at a time of a ~60-byte
 * session, 2,000 per pass, each variant 5 passes interleaved; prints client CPU µs per op (process.cpuUsage, median).
 * Variants: none; timeoutMS (a no-op in driver 7.9, CSOT on 6.x); an AbortSignal (it ends server selection,
 * check-out and the socket read: test/fault-late-commands.test.ts); both, as the store sent them; timeoutMS with an own
 * AbortController (as the store sends them now: operations.ts), with one shared signal (any signal costs the driver
 * its listeners) and with a plain object that has a signal's members (no EventTarget); both with the store's stamped
 * filter and fields (write-order.ts). Writes only to the database connect_mongo_driver_options.
 */
import { setMaxListeners } from 'node:events';
import { MongoClient } from 'mongodb';

/**
 * The members of an AbortSignal that driver 7.9 reads, on a plain object: what a signal costs the driver without
 * EventTarget's machinery. Measured only; the store does not use it (scripts/bench/analysis.md says why).
 */
class PlainSignal {
  aborted = false;
  reason: unknown;
  private listeners: Array<(this: PlainSignal) => void> = [];
  addEventListener(_type: string, listener: (this: PlainSignal) => void) {
    this.listeners.push(listener);
  }
  removeEventListener(_type: string, listener: (this: PlainSignal) => void) {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }
  throwIfAborted() {
    if (this.aborted) throw this.reason;
  }
}

const uri = process.argv[2] ?? process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017';
const N = 2000;

async function main() {
  const client = new MongoClient(uri, { maxPoolSize: 5 });
  const col = client.db('connect_mongo_driver_options').collection<{ _id: string } & Record<string, unknown>>('s');
  const session = (i: number) => `{"cookie":{"originalMaxAge":null,"expires":null},"n":${i}}`;
  const stamped = (i: number) => ({
    filter: { _id: `s${i % 500}`, $or: [{ stamp: { $lt: i } }, { stamp: { $exists: false } }] },
    update: { $set: { session: session(i), expires: new Date(), stamp: i, stampedBy: 'bench' } },
  });
  const plain = (i: number) => ({ filter: { _id: `s${i % 500}` }, update: { $set: { session: session(i), expires: new Date() } } });
  const variants: Array<[string, typeof plain, () => object]> = [
    ['no options', plain, () => ({})],
    ['timeoutMS', plain, () => ({ timeoutMS: 10_000 })],
    ['signal', plain, () => ({ signal: AbortSignal.timeout(10_000) })],
    ['timeoutMS + signal', plain, () => ({ timeoutMS: 10_000, signal: AbortSignal.timeout(10_000) })],
    ['timeoutMS + own AbortController', plain, () => ({ timeoutMS: 10_000, signal: new AbortController().signal })],
    ['timeoutMS + one shared signal', plain, () => ({ timeoutMS: 10_000, signal: shared })],
    ['timeoutMS + a signal without EventTarget', plain, () => ({ timeoutMS: 10_000, signal: new PlainSignal() })],
    ['both + stamped filter', stamped, () => ({ timeoutMS: 10_000, signal: AbortSignal.timeout(10_000) })],
  ];
  const shared = new AbortController().signal;
  setMaxListeners(0, shared);
  let seq = 0;
  const pass = async (doc: typeof plain, opts: () => object) => {
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      const { filter, update } = doc(++seq);
      try {
        await col.updateOne(filter, update, { upsert: true, ...opts() });
      } catch (e) {
        if ((e as { code?: number }).code !== 11000) throw e; // a stamped filter that found a newer stamp: E11000, as in the store
      }
    }
    const u = process.cpuUsage(t0);
    return (u.user + u.system) / N;
  };
  await col.deleteMany({});
  for (const [, doc, opts] of variants) await pass(doc, opts); // warm-up
  const res = new Map<string, number[]>(variants.map(([l]) => [l, []]));
  for (let r = 0; r < 5; r++) for (const [l, doc, opts] of variants) res.get(l)!.push(await pass(doc, opts));
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const base = med(res.get('no options')!);
  console.log('| driver options | client CPU µs per upsert | ÷ no options |\n|---|---|---|');
  for (const [l, v] of res) console.log(`| ${l} | ${med(v).toFixed(0)} | ${(med(v) / base).toFixed(2)}× |`);
  await client.db('connect_mongo_driver_options').dropDatabase();
  await client.close();
}
main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
