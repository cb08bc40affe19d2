/**
 * `require('connect-mongo/connect-mongodb-session')(session)`: connect-mongodb-session 5.0.0's API over this store.
 * Its calling convention (`new MongoDBStore(options, callback?)`, also without `new`), options and defaults
 * (cms-options.ts), `connected` and `error` events and the callback, its public `client`, `db` and `collection`, and
 * its documents (field-view.ts: the session as an object, the idField, the expiresKey); underneath, this store, with
 * touch, length, a streaming all, close, acknowledged writes. An `error` nobody listens to never throws (cms's does,
 * out of a promise: an unhandled rejection).
 */
import { MongoClient, type Collection, type Db, type Document } from 'mongodb';
import { MongoStore } from '../store';
import { legacyFactory } from '../legacy';
import { MongoStoreError, maskMessage } from '../errors';
import { permanentReason } from '../driver-errors';
import { within } from '../bounds';
import { answer, type Callback } from '../callback';
import { debug } from '../debug';
import { normalizeCmsOptions, type CmsOptions, type NormalizedCms } from './cms-options';
import { viewDb } from './field-view';

export type { CmsOptions };

/** A store as connect-mongodb-session's constructor gives it: this store's methods, cms's properties. */
export interface ConnectMongoDBSessionStore extends Omit<MongoStore, 'collection'> {
  /** the MongoClient made from `uri` (closed by close()) */
  readonly client: MongoClient;
  readonly db: Db;
  /** the sessions collection, as the driver gives it (documents in cms's shape) */
  readonly collection: Collection<Document>;
}

export interface ConnectMongoDBSessionStoreConstructor {
  new (options?: CmsOptions | Callback<void>, callback?: Callback<void>): ConnectMongoDBSessionStore;
  (options?: CmsOptions | Callback<void>, callback?: Callback<void>): ConnectMongoDBSessionStore;
}

/** connect-mongodb-session's own error words, masked: apps match them ("Error connecting to db: …"). */
function cmsError(prefix: string, e: unknown): MongoStoreError {
  const reason = permanentReason(e, true);
  const code = reason === 'auth' ? 'ERR_CONNECT_MONGO_AUTH' : reason === 'config' ? 'ERR_CONNECT_MONGO_OPTIONS' : 'ERR_CONNECT_MONGO_TIMEOUT';
  return new MongoStoreError(`${prefix}${maskMessage(String((e as Error)?.message ?? e).split('\n')[0])}`, code);
}

const made = new WeakMap<object, ConnectMongoDBSessionStoreConstructor>();

function connectMongoDBSession(connect: unknown): ConnectMongoDBSessionStoreConstructor {
  const Base = legacyFactory(connect); // express-session's Store (or Express 2/3's): cms's `connect.Store || connect.session.Store`
  const known = made.get(Base);
  if (known) return known;

  class MongoDBStore extends (Base as typeof MongoStore) {
    declare readonly client: MongoClient;
    private cms!: NormalizedCms;
    private started?: Promise<void>;
    private closingAll?: Promise<void>;
    /** ends connectClient()'s wait before its next attempt */
    private wake?: () => void;

    constructor(options?: CmsOptions | Callback<void>, callback?: Callback<void>) {
      if (typeof options === 'function') [options, callback] = [undefined, options];
      const cms = normalizeCmsOptions(options);
      let indexed!: () => void;
      if (cms.fields.id !== '_id') cms.fields.idIndex = new Promise<void>((resolve) => (indexed = resolve));
      // made at once, as cms does: client, db and collection are there before the constructor returns
      const client = new MongoClient(cms.uri, { serverSelectionTimeoutMS: 10_000, heartbeatFrequencyMS: 2_000, ...cms.connectionOptions });
      const db = client.db(cms.databaseName);
      super({ db: viewDb(db, cms.fields), collectionName: cms.collection, ttl: cms.expires / 1000, stringify: false });
      const own = { cms, client, db, collection: db.collection(cms.collection) };
      // not enumerable: util.inspect(store) shows the options (masked) only, never the client and its connection string
      for (const [k, value] of Object.entries(own)) Object.defineProperty(this, k, { value, enumerable: false, writable: false, configurable: true });
      this.started = this.start(typeof callback === 'function' ? callback : undefined, indexed)
        // only an app's connected/error listener can throw here (callbacks run on their own tick): said, never unhandled
        .catch((e: Error) => process.emitWarning(`connect-mongo: a connected/error listener threw: ${e?.message}`, { code: 'CONNECT_MONGO_LISTENER_THREW' }))
        .finally(() => indexed?.());
    }

    /** connect, the indexes, then `connected` and the callback; the first failure is `error` and the callback's. */
    private async start(callback?: Callback<void>, indexed?: () => void) {
      let failed = false;
      const fail = (e: MongoStoreError) => {
        if (failed || this.closingAll) return;
        failed = true;
        if (callback) process.nextTick(callback, e);
        if (this.listenerCount('error')) this.emit('error', e);
        else if (!callback) process.emitWarning(e.message, { code: e.code }); // cms throws here; never us
      };
      const { id, expires, expireAfterSeconds } = this.cms.fields;
      const col = (this as unknown as ConnectMongoDBSessionStore).collection;
      // With an idField the sid is not the _id: a unique index keeps one document a sid (the write order relies on
      // it). The view's writes wait until it was asked for, at the first connection.
      const idIndex = async () => {
        if (id !== '_id') await col.createIndex({ [id]: 1 }, { unique: true, name: `${id}_1` }).catch((e: unknown) => fail(cmsError('Error creating index: ', e)));
        indexed?.();
      };
      if (!(await this.connectClient((e) => fail(cmsError('Error connecting to db: ', e))))) return;
      await idIndex();
      try {
        await this.ready(); // the TTL index or its fallback
      } catch (e) {
        if ((e as MongoStoreError)?.code !== 'ERR_CONNECT_MONGO_CLOSED') fail(e instanceof MongoStoreError ? e : cmsError('Error connecting to db: ', e));
        return;
      }
      if (expires === '_ts') {
        // Azure Cosmos DB: its TTL index is on its own _ts (seconds since the last write); other servers refuse it or keep it unused
        await col.createIndex({ _ts: 1 }, { expireAfterSeconds }).catch((e: Error) => debug('TTL index on _ts refused: %s', e?.message));
      }
      if (this.closingAll) return;
      if (!failed && callback) process.nextTick(callback, null);
      this.emit('connected');
    }

    /**
     * Connects the client; after a failed attempt (reported once, as cms does) tries again, backing off to 2 s, until
     * it connects (true), the failure is one retrying cannot fix, or the store closes (false). The driver never
     * reconnects a client whose first connect failed by itself: every operation would fail for good.
     */
    private async connectClient(failed: (e: unknown) => void): Promise<boolean> {
      for (let delay = 250; ; delay = Math.min(delay * 2, 2_000)) {
        try {
          await this.client.connect();
          return !this.closingAll;
        } catch (e) {
          if (this.closingAll) return false;
          failed(e);
          if (permanentReason(e, true)) return false;
          debug('connecting failed (%s); retrying in %d ms', (e as Error)?.message, delay);
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout((this.wake = resolve), delay);
          timer.unref(); // a retry nobody waits for keeps no process alive
        });
        if (this.closingAll) return false;
      }
    }

    /** This store's close(), then the client made from `uri`. Idempotent. */
    override close(): Promise<void>;
    override close(callback: Callback<void>): void;
    override close(callback?: Callback<void>): Promise<void> | void {
      this.closingAll ??= (async () => {
        this.wake?.();
        await (super.close() as Promise<void>);
        await within(this.client.close(), this.options.operationTimeoutMS).catch(() => {});
        await this.started;
      })();
      return answer(this.closingAll, callback);
    }
  }

  // cms's constructor works without `new`; a subclass of it gets its own prototype
  function ConnectMongoDBSession(this: unknown, options?: CmsOptions | Callback<void>, callback?: Callback<void>) {
    return Reflect.construct(MongoDBStore, [options, callback], new.target ?? MongoDBStore);
  }
  Object.setPrototypeOf(ConnectMongoDBSession, MongoDBStore);
  ConnectMongoDBSession.prototype = MongoDBStore.prototype;
  const ctor = ConnectMongoDBSession as unknown as ConnectMongoDBSessionStoreConstructor;
  made.set(Base, ctor);
  return ctor;
}

export default connectMongoDBSession;
