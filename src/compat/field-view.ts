/**
 * connect-mongodb-session's field names over this store's: a view of the sessions collection that renames `_id` to
 * the idField and `expires` to the expiresKey in what the store sends (filters, updates, sorts, projections, index
 * keys) and back in what it reads, so the store's code keeps its own names and the documents keep cms's. With an
 * idField, the stored `_id` is an ObjectId (as cms leaves it) and never reaches the store: the idField's value is its
 * `_id`. With expiresKey '_ts' (Azure Cosmos DB's own last-modified field, which clients cannot write) nothing is
 * renamed: the expiry stays in `expires`, and a document with only a `_ts` expires by it.
 */
import type { Collection, Db, Document } from 'mongodb';

export interface Fields {
  /** where the sid is stored ('_id': as this store does) */
  id: string;
  /** where the expiry is stored ('expires': as this store does; '_ts': see above) */
  expires: string;
  /** the TTL index's expireAfterSeconds */
  expireAfterSeconds: number;
  /** with an idField: settles once its unique index was asked for, which writes wait for (one document a sid) */
  idIndex?: Promise<unknown>;
}

const LOGICAL = new Set(['$or', '$and', '$nor']);
const isPlain = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/** The renames a view does; identity (no view needed) with cms's defaults and expireAfterSeconds 0. */
export function renamesOf(f: Fields): Map<string, string> {
  const m = new Map<string, string>();
  if (f.id !== '_id') m.set('_id', f.id);
  if (f.expires !== 'expires' && f.expires !== '_ts') m.set('expires', f.expires);
  return m;
}

/**
 * expiresKey '_ts': a document without `expires` (written by cms) expires by its `_ts`, so the store's "never expires"
 * ({ expires: { $exists: false } }) and "expired" ({ expires: { $lt: t } }) take its `_ts` into account: a date (what
 * cms stored), or Cosmos DB's seconds plus expireAfterSeconds. A comparison only matches values of its own type.
 */
function byTs(q: Record<string, any>, after: number): Record<string, unknown> {
  const e = q.expires;
  if (!isPlain(e)) return q;
  const keys = Object.keys(e);
  const now = new Date();
  const tsPast = (t: Date) => [{ _ts: { $lte: t } }, { _ts: { $lte: t.getTime() / 1000 - after } }];
  if (keys.length === 1 && e.$exists === false) return { ...q, $nor: [...(q.$nor ?? []), ...tsPast(now)] };
  if (keys.length === 1 && e.$lt instanceof Date) {
    const { expires: _e, ...rest } = q;
    return { ...rest, $and: [...(q.$and ?? []), { $or: [{ expires: e }, { expires: { $exists: false }, $or: tsPast(e.$lt) }] }] };
  }
  return q;
}

/** The Db the store is given: its collection() answers views; everything else is the Db's own. */
export function viewDb(db: Db, f: Fields): Db {
  return new Proxy(db, {
    get(target, key) {
      if (key === 'collection') return (name: string, options?: object) => viewCollection(target.collection(name, options), f);
      const v = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

export function viewCollection<T extends Document>(col: Collection<T>, f: Fields): Collection<T> {
  const names = renamesOf(f);
  const back = new Map([...names].map(([ours, theirs]) => [theirs, ours]));
  const key = (k: string) => names.get(k) ?? k;
  const keys = (o: unknown): any => (isPlain(o) ? Object.fromEntries(Object.entries(o).map(([k, v]) => [key(k), v])) : o);
  const filter = (q: unknown): any => {
    if (!isPlain(q)) return q;
    const out = Object.fromEntries(Object.entries(q).map(([k, v]) => [key(k), LOGICAL.has(k) && Array.isArray(v) ? v.map(filter) : v]));
    return f.expires === '_ts' ? byTs(out, f.expireAfterSeconds) : out;
  };
  const update = (u: unknown): any => (isPlain(u) ? Object.fromEntries(Object.entries(u).map(([op, fields]) => [op, op.startsWith('$') ? keys(fields) : fields])) : u);
  const options = (o: any): any => {
    if (!isPlain(o)) return o;
    const out: Record<string, unknown> = { ...o };
    if (o.sort) out.sort = keys(o.sort);
    if (isPlain(o.projection)) {
      out.projection = keys(o.projection);
      // an inclusive projection still brings the sid along: it is the document's _id to the store
      if (f.id !== '_id' && Object.values(o.projection).some((v) => v === 1 || v === true)) (out.projection as Record<string, unknown>)[f.id] = 1;
    }
    return out;
  };
  const doc = (d: any): any => {
    if (!d || typeof d !== 'object') return d;
    const out: Record<string, unknown> = { ...d };
    for (const [ours, theirs] of names) {
      if (ours === '_id') delete out._id; // cms's ObjectId: not a sid
      if (theirs in d) out[ours] = d[theirs];
      delete out[theirs];
    }
    if (f.expires === '_ts' && !(out.expires instanceof Date)) {
      // written by cms on a server that keeps a _ts of the client's (a date); Cosmos DB's own: seconds of the last write
      if (d._ts instanceof Date) out.expires = d._ts;
      else if (typeof d._ts === 'number') out.expires = new Date((d._ts + f.expireAfterSeconds) * 1000);
    }
    return out;
  };
  const cursor = (c: any) => c.map(doc);
  // a write before the idField's unique index is there could insert a second document of a sid
  const indexed = <R>(write: () => Promise<R>): Promise<R> => (f.idIndex ? f.idIndex.then(write, write) : write());
  const wrap: Record<string, (...a: any[]) => unknown> = {
    findOne: (q, o) => col.findOne(filter(q), options(o)).then(doc),
    find: (q, o) => cursor(col.find(filter(q), options(o))),
    updateOne: (q, u, o) => indexed(() => col.updateOne(filter(q), update(u), o)),
    updateMany: (q, u, o) => indexed(() => col.updateMany(filter(q), update(u), o)),
    deleteOne: (q, o) => col.deleteOne(filter(q), o),
    deleteMany: (q, o) => col.deleteMany(filter(q), o),
    countDocuments: (q, o) => col.countDocuments(filter(q), o),
    bulkWrite: (ops: any[], o) =>
      indexed(() =>
        col.bulkWrite(
          ops.map((op) => {
            const [[kind, body]] = Object.entries(op) as [[string, any]];
            return { [kind]: { ...body, ...(body.filter ? { filter: filter(body.filter) } : {}), ...(body.update ? { update: update(body.update) } : {}) } };
          }) as any,
          o,
        ),
      ),
    createIndex: (spec, o) => {
      if (isPlain(spec) && isPlain(o) && o.expireAfterSeconds !== undefined) {
        // the store's TTL index: on cms's expiry field, with cms's expireAfterSeconds
        const field = f.expires === '_ts' ? 'expires' : key(Object.keys(spec)[0]);
        return col.createIndex({ [field]: 1 }, { ...o, expireAfterSeconds: f.expireAfterSeconds, name: `${field}_1` });
      }
      return col.createIndex(keys(spec), o);
    },
    listIndexes: (o) => col.listIndexes(o).map((i: any) => (isPlain(i.key) ? { ...i, key: Object.fromEntries(Object.entries(i.key).map(([k, v]) => [back.get(k) ?? k, v])) } : i)),
  };
  return new Proxy(col, {
    get(target, k) {
      if (typeof k === 'string' && Object.hasOwn(wrap, k)) return wrap[k];
      const v = Reflect.get(target, k, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
