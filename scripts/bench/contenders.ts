/**
 * The four contenders, each an express-session Store on a collection (or memory) of its own:
 *   this    – our MongoStore (src/ as tsc builds it, see this-store.ts), callback API as express-session calls it
 *   raw     – the MongoDB driver doing the same work by hand (the floor a store can reach)
 *   cm6     – connect-mongo 6.0.0 (dev dependency `connect-mongo6`)
 *   memory  – express-session's MemoryStore (the ceiling: no I/O at all)
 * Both MongoDB stores run with autoRemove 'disabled' so that neither pays for an index build or a cleanup timer
 * during the measurement (FerretDB refuses TTL indexes anyway).
 * Shared by the parent (op workloads) and the HTTP child (scripts/bench/http-server.ts).
 */
import { MemoryStore, Store, type SessionData } from 'express-session';
import { MongoClient, type Collection } from 'mongodb';
import type { MongoStore } from '../../src';
import { loadThisStore } from './this-store';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const cm6Module = require('connect-mongo6');
const ConnectMongo6: new (opts: Record<string, unknown>) => Store = cm6Module.default ?? cm6Module.MongoStore;

export const CONTENDERS = ['this', 'raw', 'cm6', 'memory'] as const;
export type ContenderName = (typeof CONTENDERS)[number];
export const LABELS: Record<ContenderName, string> = {
  this: 'this store',
  raw: 'raw driver',
  cm6: 'connect-mongo 6',
  memory: 'MemoryStore',
};

/** The document every MongoDB contender stores (connect-mongo's shape, stringify: true). */
export interface BenchDoc {
  _id: string;
  session: string;
  expires: Date;
  lastModified?: Date;
}

const DAY = 86_400_000;

/** A realistic small session (a logged-in user and a cart): about 300 bytes of JSON. */
export function makeSession(i: number, now = Date.now()): SessionData {
  return {
    cookie: { originalMaxAge: DAY, expires: new Date(now + DAY), secure: false, httpOnly: true, path: '/', sameSite: 'lax' } as any,
    n: 0,
    account: { id: `u${i}`, name: `User number ${i}`, roles: ['reader', 'writer'] },
    cart: [
      { sku: `sku-${i % 97}`, qty: 1 },
      { sku: `sku-${i % 89}`, qty: 2 },
    ],
    csrf: 'k3J9x2mQ8vL1pZ7wR4tY6uB0nC5dE8fG',
  } as unknown as SessionData;
}

/** Deterministic 32-character session ids (express-session's are 32 characters too). */
export const sidOf = (prefix: string, i: number) => `${prefix}${String(i).padStart(32 - prefix.length, '0')}`;

export function docOf(sid: string, i: number, now = Date.now(), lastModified?: Date): BenchDoc {
  const doc: BenchDoc = { _id: sid, session: JSON.stringify(makeSession(i, now)), expires: new Date(now + DAY) };
  if (lastModified) doc.lastModified = lastModified;
  return doc;
}

/** The raw driver as a store: exactly one driver call per operation, nothing else. */
export class RawStore extends Store {
  constructor(private readonly col: Collection<BenchDoc>) {
    super();
  }
  override get(sid: string, cb: (err: any, s?: SessionData | null) => void) {
    this.col.findOne({ _id: sid }).then(
      (doc) => cb(null, doc && !(doc.expires && doc.expires.getTime() <= Date.now()) ? JSON.parse(doc.session) : null),
      cb,
    );
  }
  override set(sid: string, session: SessionData, cb?: (err?: any) => void) {
    const expires = session.cookie?.expires ? new Date(session.cookie.expires) : new Date(Date.now() + DAY);
    this.col.updateOne({ _id: sid }, { $set: { session: JSON.stringify(session), expires } }, { upsert: true }).then(() => cb?.(), (e) => cb?.(e));
  }
  override touch(sid: string, session: SessionData, cb?: (err?: any) => void) {
    const expires = session.cookie?.expires ? new Date(session.cookie.expires) : new Date(Date.now() + DAY);
    this.col.updateOne({ _id: sid }, { $set: { expires } }).then(() => cb?.(), (e) => cb?.(e));
  }
  override destroy(sid: string, cb?: (err?: any) => void) {
    this.col.deleteOne({ _id: sid }).then(() => cb?.(), (e) => cb?.(e));
  }
}

export interface Contender {
  name: ContenderName;
  store: Store;
  /** the MongoDB collection (none for memory) */
  col?: Collection<BenchDoc>;
  client?: MongoClient;
  get(sid: string): Promise<unknown>;
  set(sid: string, s: SessionData): Promise<void>;
  touch(sid: string, s: SessionData): Promise<void>;
  destroy(sid: string): Promise<void>;
  /** Stores documents as they would be stored (insertMany in batches; memory: its own map). Untimed. */
  insert(docs: BenchDoc[]): Promise<void>;
  /** Removes these ids in one command (untimed clean-up). */
  remove(ids: string[]): Promise<void>;
  /** Empties the collection (or the map). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export interface ContenderOptions {
  uri: string;
  dbName: string;
  /** collection name per contender: `${prefix}_${name}` */
  prefix: string;
  /** touchAfter in seconds for the stores that have it (this, cm6) */
  touchAfter?: number;
  monitorCommands?: boolean;
}

const cb2p = <T>(fn: (cb: (err: any, v?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));

export async function createContender(name: ContenderName, o: ContenderOptions): Promise<Contender> {
  let store: Store;
  let client: MongoClient | undefined;
  let col: Collection<BenchDoc> | undefined;
  const collectionName = `${o.prefix}_${name}`;
  if (name === 'memory') {
    store = new MemoryStore();
  } else {
    // A client of its own per contender: no contender waits on another's pool.
    client = new MongoClient(o.uri, { monitorCommands: !!o.monitorCommands, serverSelectionTimeoutMS: 10_000 });
    await client.connect();
    col = client.db(o.dbName).collection<BenchDoc>(collectionName);
    const common = { client, dbName: o.dbName, collectionName, autoRemove: 'disabled' as const, touchAfter: o.touchAfter ?? 0 };
    if (name === 'this') {
      store = new (loadThisStore())(common);
      await (store as MongoStore).ready();
    } else if (name === 'cm6') store = new ConnectMongo6(common);
    else store = new RawStore(col);
  }
  const memorySessions = () => (store as unknown as { sessions: Record<string, string> }).sessions;
  return {
    name,
    store,
    col,
    client,
    get: (sid) => cb2p((cb) => store.get(sid, cb)),
    set: (sid, s) => cb2p((cb) => store.set(sid, s, cb)),
    touch: (sid, s) => cb2p((cb) => store.touch!(sid, s, cb as (err?: any) => void)),
    destroy: (sid) => cb2p((cb) => store.destroy(sid, cb)),
    async insert(docs) {
      if (!col) {
        // MemoryStore keeps JSON strings keyed by sid: the same content, without the per-call setImmediate.
        const map = memorySessions();
        for (const d of docs) map[d._id] = d.session;
        return;
      }
      for (let i = 0; i < docs.length; i += 1000) await col.insertMany(docs.slice(i, i + 1000), { ordered: false });
    },
    async remove(ids) {
      if (!col) {
        const map = memorySessions();
        for (const id of ids) delete map[id];
        return;
      }
      if (ids.length) await col.deleteMany({ _id: { $in: ids } });
    },
    async reset() {
      if (!col) {
        const map = memorySessions();
        for (const k of Object.keys(map)) delete map[k];
        return;
      }
      await col.drop().catch(() => {});
    },
    async close() {
      if (name === 'this') await (store as MongoStore).close();
      await client?.close();
    },
  };
}
