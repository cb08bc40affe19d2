/**
 * Lookups, updates and deletes by `_id` find exactly their own document, for `_id`s of 23 BSON kinds stored side by
 * side. On FerretDB this checks the `_id` pushdown to SQL (scripts/ferretdb/id-index.patch makes it use the `_id`
 * index): a pre-filter that dropped a match or confused two kinds would fail here, and `explain` must show an index
 * (unpatched FerretDB scans). Valid on any server.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BSON, type Collection, type Document } from 'mongodb';
import { openTestDb, type TestDb } from './helpers';
import { idKinds, lookalikes, sameNumbers } from './fixtures/id-kinds';
import { idQueryPlan } from '../scripts/bench/plan';
import { notNewerThan } from '../src/write-order';
import { touchFilter } from '../src/session-doc';

let t: TestDb;
let coll: Collection<Document>;
/** canonical Extended JSON keeps the BSON type (int32 vs int64 vs double), so a changed type fails */
const canon = (v: unknown) => BSON.EJSON.stringify(v as Document, { relaxed: false });
const raw = { promoteValues: false, promoteLongs: false } as const;

test.before(async () => {
  t = await openTestDb(__filename);
  coll = t.db.collection('ids');
  // the insert command itself: the driver's insertMany would replace a null _id by a new ObjectId
  const documents = idKinds.map(([kind, id], i) => ({ _id: id, kind, n: i }));
  const res = await t.db.command({ insert: 'ids', documents, ordered: true });
  assert.is(res.n, idKinds.length, JSON.stringify(res.writeErrors));
});
test.after(async () => {
  await t?.close();
});

test(`findOne({_id}) and find({_id: {$eq}}) return only their own document, _id type intact (${idKinds.length} kinds)`, async () => {
  for (const [kind, id] of idKinds) {
    const docs = await coll.find({ _id: id } as Document, raw).toArray();
    assert.is(docs.length, 1, `find by ${kind}`);
    assert.is(docs[0].kind, kind, `find by ${kind} returned ${docs[0].kind}`);
    assert.is(canon(docs[0]._id), canon(id), `_id of ${kind} round-trips`);
    const eq = await coll.find({ _id: { $eq: id } } as Document, raw).toArray();
    assert.equal(eq.map((d) => d.kind), [kind], `$eq by ${kind}`);
    assert.is(await coll.countDocuments({ _id: id } as Document), 1, `count by ${kind}`);
  }
});

test('an _id of another kind with the same text finds nothing; an equal number of another type finds its document', async () => {
  for (const [kind, id] of lookalikes) {
    assert.equal(await coll.find({ _id: id } as Document).toArray(), [], `find by ${kind}`);
    assert.is((await coll.updateOne({ _id: id } as Document, { $set: { wrong: true } })).matchedCount, 0, `update by ${kind}`);
  }
  for (const [id, storedKind] of sameNumbers) {
    const docs = await coll.find({ _id: id } as Document).toArray();
    assert.equal(docs.map((d) => d.kind), [storedKind], `find by ${canon({ id })}`);
  }
});

test('find({_id}) is answered from an index, not a collection scan (explain)', async () => {
  // 1000 more documents, so that a scan could not pass for a lookup
  const filler = t.db.collection<{ _id: string }>('plan');
  await filler.insertMany(Array.from({ length: 1000 }, (_, i) => ({ _id: `sess-${String(i).padStart(28, '0')}` })));
  for (const [coll, id] of [['plan', 'sess-0000000000000000000000000500'], ['ids', 'sess-abc123']] as const) {
    const plan = await idQueryPlan(t.client, t.dbName, coll, id);
    assert.ok(plan.usesIndex, `find({_id}) on ${coll} scans: ${plan.summary}`);
  }
  assert.is((await filler.findOne({ _id: 'sess-0000000000000000000000000500' }))?._id, 'sess-0000000000000000000000000500');
  // the store's write filters hold more than _id (a set's or destroy's stamp, a touch's "not a marker"): on FerretDB
  // scripts/ferretdb/id-pushdown.patch keeps them on the index
  const id = 'sess-0000000000000000000000000500';
  for (const [what, filter] of [['a set or destroy', notNewerThan(id, Date.now())], ['a touch', touchFilter(id, Date.now())]] as const) {
    const plan = await idQueryPlan(t.client, t.dbName, 'plan', id, filter);
    assert.ok(plan.usesIndex, `the filter of ${what} scans: ${plan.summary}`);
  }
});

test('updateOne, replaceOne and findOneAndUpdate by _id change only their own document', async () => {
  for (const [kind, id] of idKinds) {
    const up = await coll.updateOne({ _id: id } as Document, { $set: { touched: kind } });
    assert.is(up.matchedCount, 1, `updateOne by ${kind} matched`);
    assert.is(up.modifiedCount, 1, `updateOne by ${kind} modified`);
    const rep = await coll.replaceOne({ _id: id } as Document, { kind, replaced: true, touched: kind });
    assert.is(rep.matchedCount, 1, `replaceOne by ${kind}`);
    const fam = await coll.findOneAndUpdate({ _id: id } as Document, { $inc: { hits: 1 } }, { returnDocument: 'after' });
    assert.is(fam?.kind, kind, `findOneAndUpdate by ${kind}`);
    assert.is(fam?.hits, 1, `findOneAndUpdate by ${kind} saw its own update`);
  }
  const all = await coll.find({}, raw).toArray();
  assert.is(all.length, idKinds.length);
  for (const d of all) {
    assert.is(d.touched, d.kind, `${d.kind} was updated by its own _id only`);
    assert.is(d.replaced, true);
  }
});

test('deleteOne by _id removes only its own document', async () => {
  let left = idKinds.length;
  for (const [kind, id] of idKinds) {
    const del = await coll.deleteOne({ _id: id } as Document);
    assert.is(del.deletedCount, 1, `deleteOne by ${kind}`);
    left -= 1;
    assert.is(await coll.countDocuments({}), left, `after deleting ${kind}`);
    assert.is(await coll.findOne({ _id: id } as Document), null, `${kind} is gone`);
  }
});

test.run();
