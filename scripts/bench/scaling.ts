/**
 * `npx tsx scripts/bench/scaling.ts [--n=5000]`: the measured inputs of docs/scaling.md. Writes N sessions through
 * the store for a few shapes of session, then reports bytes per stored document (BSON.calculateObjectSize of what
 * the server returns, and the server's own $bsonSize where it has it) and the collection's data and index sizes
 * (collStats, where the server gives them). Starts its own FerretDB (SQLite) unless MONGODB_URI is set; stops it
 * whatever happens.
 */
import { randomBytes } from 'node:crypto';
import { BSON, MongoClient } from 'mongodb';
import { MongoStore, type MongoStoreOptions } from '../../src';
import { startFerretDB } from '../../test/server';

const N = Number(/--n=(\d+)/.exec(process.argv.join(' '))?.[1] ?? 5000);
const DB = 'connect_mongo_scaling';
const cookie = () => ({ originalMaxAge: 86_400_000, expires: new Date(Date.now() + 86_400_000), httpOnly: true, path: '/', secure: true, sameSite: 'lax' });

const SHAPES: Array<{ name: string; session: () => Record<string, unknown>; options?: Partial<MongoStoreOptions> }> = [
  { name: 'cookie only', session: () => ({ cookie: cookie() }) },
  { name: 'logged-in user (passport id + flash + csrf)', session: () => ({ cookie: cookie(), passport: { user: '6650f1c2a9e4b8d3c1a2b3c4' }, csrfSecret: 'Zt0mW1l4bQ9cV7xR2yK8pN3s', flash: {} }) },
  { name: 'logged-in user, touchAfter + timestamps', session: () => ({ cookie: cookie(), passport: { user: '6650f1c2a9e4b8d3c1a2b3c4' }, csrfSecret: 'Zt0mW1l4bQ9cV7xR2yK8pN3s', flash: {} }), options: { touchAfter: 3600, timestamps: true } },
  { name: 'logged-in user, crypto + hashIds', session: () => ({ cookie: cookie(), passport: { user: '6650f1c2a9e4b8d3c1a2b3c4' }, csrfSecret: 'Zt0mW1l4bQ9cV7xR2yK8pN3s', flash: {} }), options: { crypto: { secret: 'scaling-bench-secret' }, hashIds: { secret: 'scaling-bench-hash' } } },
  { name: 'a 1 KB cart', session: () => ({ cookie: cookie(), cart: Array.from({ length: 10 }, (_, i) => ({ sku: `SKU-${100000 + i}`, qty: 1 + (i % 3), price: 1999, title: 'A product with a longish title, 60 characters or so......' })) }) },
];

async function main() {
  let stop = async () => {};
  let uri = process.env.MONGODB_URI;
  let server = 'MONGODB_URI';
  if (!uri) {
    const f = await startFerretDB({ backend: 'sqlite' });
    uri = f.uri;
    server = f.name;
    stop = () => f.stop();
  }
  const client = new MongoClient(uri);
  try {
    await client.connect();
    const db = client.db(DB);
    await db.dropDatabase();
    console.log(`# scaling inputs on ${server}, ${N} sessions a shape (sid: express-session's 32-character default)\n`);
    console.log('| session | BSON bytes/doc (client) | $bsonSize (server) | collStats avgObjSize | _id index bytes/doc | expires index bytes/doc |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    for (const [i, shape] of SHAPES.entries()) {
      const collectionName = `shape_${i}`;
      const store = MongoStore.create({ client, dbName: DB, collectionName, autoRemove: 'disabled', operationTimeoutMS: 60_000, ...(shape.options ?? {}) } as MongoStoreOptions);
      for (let k = 0; k < N; k += 20) {
        // express-session's ids: 24 random bytes, base64url = 32 characters
        await Promise.all(Array.from({ length: Math.min(20, N - k) }, () => store.set(randomBytes(24).toString('base64url'), shape.session() as any)));
      }
      const col = db.collection(collectionName);
      // a plain index on expires stands in for the TTL index where the server refuses TTL (same keys, same size)
      await col.createIndex({ expires: 1 }, { name: 'expires_1' });
      const docs = await col.find().limit(500).toArray();
      const client_ = docs.reduce((n, d) => n + BSON.calculateObjectSize(d), 0) / docs.length;
      let server_: string;
      try {
        const [r] = await col.aggregate([{ $group: { _id: null, avg: { $avg: { $bsonSize: '$$ROOT' } } } }]).toArray();
        server_ = r ? r.avg.toFixed(0) : 'n/a';
      } catch (e) {
        server_ = `n/a (${(e as { codeName?: string }).codeName ?? 'refused'})`;
      }
      let avgObj = 'n/a';
      let idIdx = 'n/a';
      let expIdx = 'n/a';
      try {
        const s = await db.command({ collStats: collectionName });
        if (s.avgObjSize) avgObj = Number(s.avgObjSize).toFixed(0);
        const sizes = (s.indexSizes ?? {}) as Record<string, number>;
        if (sizes._id_) idIdx = (sizes._id_ / s.count).toFixed(1);
        if (sizes.expires_1) expIdx = (sizes.expires_1 / s.count).toFixed(1);
      } catch (e) {
        avgObj = `n/a (${(e as Error).message.split('\n')[0]})`;
      }
      console.log(`| ${shape.name}${shape.options ? ` (${Object.keys(shape.options).join(', ')})` : ''} | ${client_.toFixed(0)} | ${server_} | ${avgObj} | ${idIdx} | ${expIdx} |`);
      await store.close();
    }
    await db.dropDatabase();
  } finally {
    await client.close();
    await stop();
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
