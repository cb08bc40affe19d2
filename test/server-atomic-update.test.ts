/**
 * The server applies one update of one document atomically, as mongod does: two concurrent, acknowledged updates of
 * one document that change different fields both stay applied (no lost update). Raw driver, no store. Unpatched
 * FerretDB reads the document and writes the whole of it back, so the second write undoes the first;
 * scripts/ferretdb/update-atomic.patch serializes the two. Two upserts of one new _id may still both insert and one
 * be refused with E11000 (as on mongod before 4.2; the store retries it): allowed, and what was acknowledged is checked.
 * Seeded (the seed picks each pair's shape, which of the two is sent first and the padding that widens the window);
 * a failure prints the seed and the command that replays it:
 * ATOMIC_SEED=<seed> npm test -- server-atomic-update
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MongoClient, type Collection, type Document } from 'mongodb';
import { openTestDb, serverUri, TEST_POOL_SIZE, type TestDb } from './helpers';
import { prng } from '../scripts/bench/stats'; // mulberry32: the shapes and orders replay from the seed

const SEED = Number(process.env.ATOMIC_SEED ?? 20261202);
const PAIRS = 300;
/** pairs in flight at once (each on a document of its own) */
const IN_FLIGHT = 8;
const PAD = 'x'.repeat(50_000); // a larger document takes longer to read and write back: a wider window to race in


type Doc = { _id: string } & Document;
type Coll = Collection<Doc>;
interface Shape {
  name: string;
  /** the document before the pair (none: the pair upserts it) */
  seed?: (id: string, pad: string) => Doc;
  ops: [(c: Coll, id: string) => Promise<unknown>, (c: Coll, id: string) => Promise<unknown>];
  /** an upsert that lost the race to insert may be refused with E11000 (FerretDB, and mongod before 4.2) */
  mayRefuseDuplicate?: boolean;
  /** what is wrong with the document afterwards, given which of ops[0], ops[1] were acknowledged, or null */
  check: (d: Document | null, acked: [boolean, boolean]) => string | null;
}

const SHAPES: Shape[] = [
  {
    name: '$set a | $set b',
    seed: (id, pad) => ({ _id: id, pad }),
    ops: [(c, id) => c.updateOne({ _id: id }, { $set: { a: 1 } }), (c, id) => c.updateOne({ _id: id }, { $set: { b: 2 } })],
    check: (d) => (d?.a === 1 && d?.b === 2 ? null : `a=${d?.a} b=${d?.b}`),
  },
  {
    // the store's shape: a save ($set session and expires) racing a touch ($set expires)
    name: 'save $set {session, expires} | touch $set {expires}',
    seed: (id, pad) => ({ _id: id, session: `old ${pad}`, expires: new Date(1000) }),
    ops: [
      (c, id) => c.updateOne({ _id: id }, { $set: { session: 'saved', expires: new Date(2000) } }),
      (c, id) => c.updateOne({ _id: id }, { $set: { expires: new Date(3000) } }),
    ],
    check: (d) => {
      const exp = d?.expires instanceof Date ? d.expires.getTime() : NaN;
      return d?.session === 'saved' && (exp === 2000 || exp === 3000) ? null : `session ${d?.session === 'saved' ? 'saved' : 'lost'}, expires=${exp}`;
    },
  },
  {
    name: '$unset x | updateMany $set z',
    seed: (id, pad) => ({ _id: id, x: 1, pad }),
    ops: [(c, id) => c.updateOne({ _id: id }, { $unset: { x: '' } }), (c, id) => c.updateMany({ _id: id }, { $set: { z: 3 } })],
    check: (d) => (d && !('x' in d) && d.z === 3 ? null : `x=${d?.x} z=${d?.z}`),
  },
  {
    name: 'findOneAndUpdate $set a | updateOne $set b',
    seed: (id, pad) => ({ _id: id, pad }),
    ops: [(c, id) => c.findOneAndUpdate({ _id: id }, { $set: { a: 1 } }), (c, id) => c.updateOne({ _id: id }, { $set: { b: 2 } })],
    check: (d) => (d?.a === 1 && d?.b === 2 ? null : `a=${d?.a} b=${d?.b}`),
  },
  {
    // Two upserts of a new _id: when both find nothing, both insert and one is refused with E11000 (mongod since 4.2
    // retries that itself; the patched FerretDB keeps the race so that the store's retry stays tested). An
    // acknowledged one must be applied, and the document inserted once.
    name: 'upsert $set a, $setOnInsert c | upsert $set b, $setOnInsert c',
    ops: [
      (c, id) => c.updateOne({ _id: id }, { $set: { a: 1 }, $setOnInsert: { c: 'first' } }, { upsert: true }),
      (c, id) => c.updateOne({ _id: id }, { $set: { b: 2 }, $setOnInsert: { c: 'second' } }, { upsert: true }),
    ],
    mayRefuseDuplicate: true,
    check: (d, [a, b]) =>
      (!a || d?.a === 1) && (!b || d?.b === 2) && (d?.c === 'first' || d?.c === 'second') ? null : `a=${d?.a} b=${d?.b} c=${d?.c} (acknowledged: ${a}, ${b})`,
  },
];

let t: TestDb;
const clients: MongoClient[] = [];

test.before(async () => {
  t = await openTestDb(__filename);
  // the two sides of a pair go through clients of their own, so that neither waits for the other's connection
  for (let i = 0; i < 2; i++) clients.push(await new MongoClient(serverUri(), { maxPoolSize: TEST_POOL_SIZE }).connect());
});
test.after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t?.close();
});

test(`${PAIRS} pairs of concurrent updates of one document: each acknowledged, each applied (an upsert race may refuse one with E11000)`, async () => {
  console.log(`# server-atomic-update: seed ${SEED} (replay: ATOMIC_SEED=${SEED} npm test -- server-atomic-update)`);
  const rnd = prng(SEED);
  const plan = Array.from({ length: PAIRS }, (_, i) => ({
    id: `pair-${i}`,
    shape: SHAPES[Math.floor(rnd() * SHAPES.length)],
    swap: rnd() < 0.5,
    pad: rnd() < 0.5 ? PAD : '',
  }));
  const colls = clients.map((c) => c.db(t.dbName).collection<Doc>('pairs'));
  const direct = t.db.collection<Doc>('pairs');
  const lost = new Map<string, string[]>(); // shape -> what was found
  const refused = new Map<string, string[]>(); // shape -> the errors of sides not acknowledged
  let duplicates = 0; // upsert races refused with E11000 (allowed)
  const note = (m: Map<string, string[]>, k: string, v: string) => m.set(k, [...(m.get(k) ?? []), v]);

  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const { id, shape, swap, pad } = plan[next++];
      if (shape.seed) await direct.insertOne(shape.seed(id, pad));
      const sides = swap ? [1, 0] : [0, 1];
      const results = await Promise.allSettled(sides.map((s, i) => shape.ops[s](colls[i], id)));
      const acked: [boolean, boolean] = [false, false];
      sides.forEach((s, i) => (acked[s] = results[i].status === 'fulfilled'));
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error & { code?: number }] : []));
      const allowed = (e: Error & { code?: number }) => shape.mayRefuseDuplicate && e.code === 11000;
      if (errors.some((e) => !allowed(e)) || errors.length === 2) {
        note(refused, shape.name, errors.map((e) => e.message.slice(0, 80)).join('; '));
        continue;
      }
      if (errors.length) duplicates++;
      const problem = shape.check(await direct.findOne({ _id: id }), acked);
      if (problem) note(lost, shape.name, problem);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));

  const report = (m: Map<string, string[]>) =>
    [...m].map(([k, v]) => `${k}: ${v.length} of ${plan.filter((p) => p.shape.name === k).length} (e.g. ${v[0]})`).join('\n  ');
  const lostN = [...lost.values()].reduce((n, v) => n + v.length, 0);
  const refusedN = [...refused.values()].reduce((n, v) => n + v.length, 0);
  const summary = `${lostN} lost an acknowledged update, ${refusedN} had an update refused, of ${PAIRS} pairs (seed ${SEED})`;
  console.log(`# server-atomic-update: ${summary}; ${duplicates} upsert races refused one side with E11000 (allowed)`);
  assert.ok(lostN + refusedN === 0, `${summary}:\n  lost: ${report(lost) || 'none'}\n  refused: ${report(refused) || 'none'}\n`);
});

test.run();
