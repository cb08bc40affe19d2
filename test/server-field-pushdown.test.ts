/**
 * A query by a string or number field answers exactly what MongoDB's rule says, and from the field's index:
 * `{userId: v}` (and `{$eq: v}`, `{$in: [...]}`, the store's own filters by user) matches a document whose userId
 * equals v (numbers by value, whatever their types: int32 12, int64 12 and double 12.0 are equal, and so are 0 and
 * -0) or is an array holding such a value, and nothing else. Raw driver, no store. On FerretDB this checks
 * scripts/ferretdb/field-pushdown.patch, which sends such a condition to SQL so that the `{ userId: 1 }` index serves
 * it: a pre-filter that dropped an array, compared a non-ASCII or escaped string by other bytes than it was stored
 * with, or missed a number written another way, would lose a match here. The answers are checked against a model
 * computed in JS over the inserted documents, which are seeded random (strings of many scripts and escapes, int32,
 * int64 and double numbers, arrays, null, documents, ObjectIds spelling a string, missing fields); a failure prints
 * the seed and the command that replays it: PUSHDOWN_SEED=<seed> npm test -- server-field-pushdown
 * The plan: on every server the query by user reads the userId index (mongod: an IXSCAN of userId_1; FerretDB: its SQL
 * plan names the index: SQLite `<table>_userId_1`, PostgreSQL `<table>_userid_…_idx`), and on FerretDB the filter
 * went to SQL (explain's filterPushdown).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BSON, Double, Int32, Long, ObjectId, type Collection, type Document } from 'mongodb';
import { isFerret, openTestDb, type TestDb } from './helpers';
import { prng } from '../scripts/bench/stats';
import { summarizePlan } from '../scripts/bench/plan';

const SEED = Number(process.env.PUSHDOWN_SEED ?? 20261203);
const DOCS = 800;
/** more documents, of other users, so that no plan passes for a lookup by reading everything */
const FILLER = 3000;
const replay = `PUSHDOWN_SEED=${SEED} npm test -- server-field-pushdown`;

const HEX = '65f0a1b2c3d4e5f601234567';
/** The strings asked for and stored: scripts, escapes (JSON's and Go's HTML ones), lookalikes of other kinds. */
const STRINGS = [
  'alice',
  'Alice',
  'bob',
  '',
  ' ',
  'sessão',
  'ключ',
  '鍵',
  '🍪',
  'e\u0301', // e + combining acute: another string than the precomposed é
  'é',
  'a"b',
  'a\\b',
  "it's",
  '<script>&amp;',
  'line\u2028sep\u2029',
  'tab\there\nnl',
  '\u0001\u001f',
  '12',
  'true',
  'null',
  '[1,"alice"]',
  '{"a":1}',
  HEX,
  'x'.repeat(600),
  'h1:Yz8-_a2bQ',
];
/** asked for, stored nowhere */
const ABSENT = ['carol', 'ALICE', 'sessao', 'e', '[', '"alice"'];
const SAFE = 9007199254740991; // 2^53 - 1
/** Numbers stored (of three BSON types; some beyond 2^53, where the patch pushes nothing down)… */
const STORED_NUMBERS = [
  () => new Int32(12), () => new Double(12), () => Long.fromNumber(12), () => new Int32(0), () => new Double(0), () => new Double(-0),
  () => new Double(1.5), () => new Double(1.25), () => new Int32(-7), () => new Double(-7), () => Long.fromNumber(SAFE), () => new Double(SAFE),
  () => Long.fromString('9007199254740993'), () => new Double(9007199254740992), () => new Double(1e-7), () => new Double(1e300), () => new Int32(2147483647),
];
/** …and asked for (within ±(2^53-1): beyond it FerretDB's own comparison of an int64 with a double is not mongod's) */
const NUMBERS: unknown[] = [new Int32(12), new Double(12), Long.fromNumber(12), new Int32(0), new Double(-0), new Double(1.5), new Int32(-7), Long.fromNumber(SAFE), new Double(SAFE), new Double(1e-7), new Int32(13), new Double(12.5)];

type Doc = { _id: string; n: number; userId?: unknown; session?: string | null; expires?: Date };

function randomDocs(rnd: () => number): Doc[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const other = (): unknown => pick([() => null, () => true, () => ({ userId: pick(STRINGS) }), () => new ObjectId(HEX), () => new Date(0), () => '12'])();
  const scalar = (): unknown => {
    const r = rnd();
    return r < 0.6 ? pick(STRINGS) : r < 0.85 ? pick(STORED_NUMBERS)() : other();
  };
  const value = (): unknown => (rnd() < 0.7 ? scalar() : Array.from({ length: Math.floor(rnd() * 4) }, scalar));
  const now = Date.now();
  return Array.from({ length: DOCS }, (_, n) => {
    const d: Doc = { _id: `doc-${n}`, n };
    if (rnd() < 0.85) d.userId = value();
    // the store's fields: a destroyed session's marker (session null), an expired one, one with no expiry
    const s = rnd();
    d.session = s < 0.15 ? null : `{"n":${n}}`;
    if (rnd() < 0.8) d.expires = new Date(now + (rnd() < 0.3 ? -3_600_000 : 3_600_000));
    return d;
  });
}

/** A number's exact value: a bigint for an integer (of any BSON type), the double itself otherwise; undefined for a non-number. */
function exact(v: unknown): bigint | number | undefined {
  const n = v instanceof Long ? BigInt(v.toString()) : v instanceof Int32 || v instanceof Double ? v.value : typeof v === 'number' ? v : undefined;
  return typeof n === 'number' && Number.isInteger(n) ? BigInt(n) : n;
}
/** MongoDB's equality of two scalars: strings by their code units, numbers by value. */
const same = (a: unknown, b: unknown) => (typeof b === 'string' ? a === b : exact(b) !== undefined && exact(a) === exact(b));
/** MongoDB's rule for {field: q}: the value equals q, or is an array with an element that does. */
const equals = (v: unknown, q: unknown) => same(v, q) || (Array.isArray(v) && v.some((e) => same(e, q)));

let t: TestDb;
let coll: Collection<Doc>;
let docs: Doc[];

test.before(async () => {
  t = await openTestDb(__filename);
  coll = t.db.collection<Doc>('users');
  // the index the store builds (src/setup.ts), before the documents, as in an app
  await coll.createIndex({ userId: 1 }, { name: 'userId_1' });
  console.log(`# server-field-pushdown: seed ${SEED} (replay: ${replay})`);
  docs = randomDocs(prng(SEED));
  await coll.insertMany(docs);
  await coll.insertMany(Array.from({ length: FILLER }, (_, i) => ({ _id: `filler-${i}`, n: DOCS + i, userId: `filler-user-${i >> 1}`, session: '{}' })));
});
test.after(async () => {
  await t?.close();
});

const idsOf = (ds: Array<{ _id: string }>) => ds.map((d) => d._id).sort();
const modelIds = (match: (d: Doc) => boolean) => idsOf(docs.filter(match));
const shown = (q: unknown) =>
  typeof q === 'string' ? JSON.stringify(q.length > 40 ? `${q.slice(0, 20)}…(${q.length})` : q) : BSON.EJSON.stringify({ q }, { relaxed: false }).slice(5, -1);

test(`find by a string or number userId (plain, $eq, $in, with the store's other conditions) answers what the model says (${STRINGS.length + ABSENT.length} strings, ${NUMBERS.length} numbers)`, async () => {
  const now = new Date();
  const live = (d: Doc) => (d.expires === undefined || d.expires > now) && d.session !== null && d.session !== undefined;
  const asked: unknown[] = [...STRINGS, ...ABSENT, ...NUMBERS];
  const seen = { array: 0, otherType: 0 }; // matches through an array, and numbers equal to one of another type
  for (const [i, s] of asked.entries()) {
    // the $in's other value: a string or a number (an $in of both kinds too)
    const s2 = asked[(i * 7 + 3) % asked.length];
    const cases: Array<[string, Document, (d: Doc) => boolean]> = [
      ['{userId: s}', { userId: s }, (d) => equals(d.userId, s)],
      ['{userId: {$eq: s}}', { userId: { $eq: s } }, (d) => equals(d.userId, s)],
      ['{userId: {$in: [s, s2]}}', { userId: { $in: [s, s2] } }, (d) => equals(d.userId, s) || equals(d.userId, s2)],
      // userSessions' and the cap's filter (src/user-sessions.ts with session-doc.ts's liveFilter)
      ['live sessions of s', { $or: [{ expires: { $gt: now } }, { expires: { $exists: false } }], session: { $ne: null }, userId: s }, (d) => live(d) && equals(d.userId, s)],
      // destroyUserSessions' filter, with except
      ['sessions of s but two', { userId: s, session: { $ne: null }, _id: { $nin: ['doc-1', 'doc-2'] } }, (d) => equals(d.userId, s) && d.session != null && d._id !== 'doc-1' && d._id !== 'doc-2'],
    ];
    for (const [what, filter, match] of cases) {
      const got = idsOf(await coll.find(filter, { projection: { _id: 1 } }).toArray());
      assert.equal(got, modelIds(match), `${what} with s = ${shown(s)}, s2 = ${shown(s2)} (${replay})`);
    }
    for (const d of docs.filter((d) => equals(d.userId, s))) {
      if (Array.isArray(d.userId)) seen.array++;
      else if (typeof s !== 'string' && (d.userId as object).constructor !== (s as object).constructor) seen.otherType++;
    }
    assert.is(await coll.countDocuments({ userId: s }), modelIds((d) => equals(d.userId, s)).length, `countDocuments({userId: ${shown(s)}}) (${replay})`);
  }
  // the seed's documents did reach the cases the pushdown must not lose
  assert.ok(seen.array > 0 && seen.otherType > 0, `the documents exercise too little: ${JSON.stringify(seen)} (${replay})`);
});

test('updateMany and deleteMany by a string or number userId reach exactly the documents the model says', async () => {
  for (const s of [...STRINGS.slice(0, 8), new Double(12), new Int32(0)]) {
    const expected = modelIds((d) => equals(d.userId, s));
    const up = await coll.updateMany({ userId: s, session: { $ne: null } }, { $inc: { hits: 1 } });
    assert.is(up.matchedCount, modelIds((d) => equals(d.userId, s) && d.session != null).length, `updateMany({userId: ${shown(s)}}) (${replay})`);
    const del = await coll.deleteMany({ userId: s });
    assert.is(del.deletedCount, expected.length, `deleteMany({userId: ${shown(s)}}) (${replay})`);
    docs = docs.filter((d) => !equals(d.userId, s));
  }
  assert.equal(idsOf(await coll.find({ n: { $lt: DOCS } }, { projection: { _id: 1 } }).toArray()), idsOf(docs), `what is left (${replay})`);
});

/** The names of the indexes a plan reads, whatever the server (plan.ts summarizes the same three forms). */
function indexNames(explain: Document): string[] {
  const qp = (explain.queryPlanner ?? {}) as Document;
  const names: string[] = [];
  const walk = (p: unknown) => {
    if (!p || typeof p !== 'object') return;
    for (const [k, v] of Object.entries(p)) {
      if ((k === 'Index Name' || k === 'indexName') && typeof v === 'string') names.push(v);
      else walk(v);
    }
  };
  if (Array.isArray(qp.Plan)) for (const row of qp.Plan) names.push(...[...String(row).matchAll(/USING (?:COVERING )?INDEX (\S+)/g)].map((m) => m[1]));
  else walk(qp);
  return names;
}

test('a find by user (a string or a number) is answered from the userId_1 index (explain); on FerretDB the filter goes to SQL', async () => {
  const now = new Date();
  const filters: Array<[string, Document]> = [
    ['{userId: s}', { userId: 'alice' }],
    ['{userId: {$eq: s}}', { userId: { $eq: 'ключ' } }],
    ['{userId: n}', { userId: 12 }],
    ["userSessions' filter", { $or: [{ expires: { $gt: now } }, { expires: { $exists: false } }], session: { $ne: null }, userId: 'filler-user-7' }],
  ];
  for (const [what, filter] of filters) {
    const explain = await t.db.command({ explain: { find: 'users', filter, sort: { stamp: -1 } }, verbosity: 'queryPlanner' });
    const plan = summarizePlan(explain);
    const names = indexNames(explain);
    assert.ok(plan.usesIndex && names.some((n) => /userid/i.test(n)), `${what}: the plan does not read userId_1: ${plan.summary} (indexes: ${names.join(', ') || 'none'})`);
    if (isFerret) assert.is(plan.filterPushdown, true, `${what}: FerretDB did not push the filter down to SQL: ${plan.summary}`);
  }
});

test.run();
