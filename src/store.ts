/**
 * MongoStore: the express-session Store. Each method is a short async body (id → one driver call → events) behind
 * an optional callback; policy lives in the helpers it calls (options.ts, codec.ts, auto-remove.ts, connection.ts).
 */
import { Store, type SessionData } from 'express-session';
import { BSON, type Collection, type UpdateFilter } from 'mongodb';
import { validateSessionDocument, type SessionDocument } from '../generated';
import { normalizeOptions, type MongoStoreOptions, type NormalizedOptions } from './options';
import { MongoStoreError, SessionCorruptError, describeFound, hideFromInspection } from './errors';
import { Connection } from './connection';
import { AutoRemover, type AutoRemoveMode } from './auto-remove';
import { createCodec, type Codec } from './codec';
import { isClientClosed, isDuplicateKey, isNamespaceNotFound, isUnreachable, permanentReason } from './driver-errors';
import { hmacId } from './crypto';
import { debug, debugSid, sidTag } from './debug';

export type Callback<T> = (err: any, value?: T) => void;

/** One live session as the iterator and entries() give it. */
export interface SessionEntry<S> {
  /** the stored _id: the sid itself, or its transformId form (never the sid when hashIds is on) */
  id: string;
  session: S;
  expires?: Date;
}

const UPSERT_RETRIES = 5;
/** touches of one session this close in time and expiry share one write (see sharedTouch) */
const TOUCH_SHARE_MS = 1000;
/** the key of clear() in the map of writes under way: a write of every _id */
const ALL_IDS = Symbol('all ids');

/** Runs the promise; with a callback, answers through it (on the next tick, so a throwing callback stays its own). */
export function answer<T>(work: Promise<T>, cb?: Callback<T>): Promise<T> | undefined {
  if (typeof cb !== 'function') return work;
  work.then(
    (v) => process.nextTick(cb, null, v),
    (e) => process.nextTick(cb, e),
  );
  return undefined;
}

export class MongoStore<S extends SessionData = SessionData> extends Store {
  readonly options!: Readonly<NormalizedOptions<S>>;
  // Set in setup(), which the constructor (and the classic factory's subclasses) call.
  protected connection!: Connection;
  protected autoRemover!: AutoRemover;
  protected codec!: Codec<S>;
  protected storageIdOf!: (sid: string) => string;
  private closing?: Promise<void>;
  /** operations running now: close() lets them finish (each is bounded by operationTimeoutMS) before the client goes */
  private inFlight?: Set<Promise<unknown>>; // made on first use: the classic factory's subclasses skip field initialisers
  /** findOne()s under way by _id, that concurrent get()s of the same session join (see sharedRead) */
  private reads?: Map<string, SharedRead>;
  /** touch() writes of the last TOUCH_SHARE_MS by _id, that touches of the same session share (see sharedTouch) */
  private touches?: Map<string, SharedTouch>;
  /** writes under way by _id (ALL_IDS: clear), so that a touch knows it was sent while another write was */
  private writes?: Map<string | symbol, number>;

  /** connect-mongo 4+ style: `MongoStore.create(options)`. */
  static create<S extends SessionData = SessionData>(options: MongoStoreOptions<S>): MongoStore<S> {
    return new this(options);
  }

  constructor(options: MongoStoreOptions<S>) {
    super();
    return this.initStore(options);
  }

  /**
   * Validates the options and builds the store on `this`. The constructor's body, shared with the classic factory's
   * subclasses of other frameworks' Store classes. With fallbackMemory it gives a MemoryFallbackStore instead (a
   * MongoStore over express-session's MemoryStore), which the constructor then returns.
   */
  protected initStore(options: MongoStoreOptions<S>): this {
    const opts = normalizeOptions<S>(options);
    // Not enumerable: logging a store (util.inspect, an error reporter) must not print its crypto/hashIds secrets.
    Object.defineProperty(this, 'options', { value: opts, enumerable: false, writable: false, configurable: true });
    if (opts.fallbackMemory) {
      // Required here, not imported: memory-fallback.ts extends this class.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { MemoryFallbackStore } = require('./memory-fallback') as typeof import('./memory-fallback');
      return new MemoryFallbackStore<S>(options) as unknown as this;
    }
    this.setup(opts);
    return this;
  }

  /** Everything the constructor builds (a method so that the classic factory's subclasses can share it). */
  protected setup(opts: NormalizedOptions<S>) {
    this.connection = new Connection(opts.connection!, { dbName: opts.dbName, collectionName: opts.collectionName, timeoutMS: opts.operationTimeoutMS, readPreference: opts.readPreference });
    this.connection.on('connect', () => {
      this.autoRemover.retryNow();
      this.emit('connect');
    });
    this.connection.on('disconnect', () => this.emit('disconnect'));
    this.codec = createCodec(opts);
    const hash = opts.hashIdsSecret ? hmacId(opts.hashIdsSecret) : undefined;
    const transform = opts.transformId;
    this.storageIdOf = (sid) => {
      const id = transform ? transform(sid) : sid;
      if (typeof id !== 'string' || id.length === 0) {
        throw new MongoStoreError(`transformId must return a non-empty string, returned ${describeFound(id)}`, 'ERR_CONNECT_MONGO_INVALID_SID');
      }
      return hash ? hash(id) : id;
    };
    this.autoRemover = new AutoRemover(this.connection.collection, {
      mode: opts.autoRemove,
      intervalMs: opts.autoRemoveIntervalMs,
      createIndexes: opts.createIndexes,
      writeConcern: opts.writeConcern,
      serverKey: () => this.connection.serverKey,
      fatal: (e) => {
        const reason = permanentReason(e);
        return this.connection.fatal ?? (reason ? this.connection.permanent(reason, e) : undefined);
      },
      warn: (message, code) => (this.listenerCount('warning') ? this.emit('warning', Object.assign(new Error(message), { code })) : process.emitWarning(message, { code })),
    });
    // Logging a store (util.inspect at any depth, JSON) must not reach the client and its connection string.
    hideFromInspection(this, ['connection', 'autoRemover', 'codec', 'storageIdOf'], () => ({ options: this.options }));
  }

  /** Resolves when the collection is reachable and the expiry mode is settled (native, or its fallback). */
  async ready(): Promise<{ autoRemove: AutoRemoveMode }> {
    await this.connection.collection;
    return { autoRemove: await this.autoRemover.ready };
  }

  /** The collection the sessions live in (for tools and tests). */
  collection(): Promise<Collection<SessionDocument>> {
    return this.connection.collection;
  }

  /** connect-mongo 6's public name for the same promise (apps and tests `await store.collectionP`). */
  get collectionP(): Promise<Collection<SessionDocument>> {
    return this.connection.collection;
  }

  get(sid: string): Promise<S | null>;
  get(sid: string, callback: Callback<S | null>): void;
  get(sid: string, callback?: Callback<S | null>): Promise<S | null> | void {
    return answer(
      this.run('get', async (col) => {
        const id = this.storageId(sid);
        // _id alone: the one filter every server answers from the primary key (FerretDB pushes it down to SQL).
        const doc = await this.sharedRead(col, id);
        const live = doc && this.readLive(doc, sid);
        const session = isThenable(live) ? await live : live;
        debugSid('get %s: %s', sid, session ? 'found' : 'none');
        this.emit('get', sid); // found or not, as connect-mongo 6
        return session ?? null;
      }),
      callback,
    );
  }

  set(sid: string, session: S): Promise<void>;
  set(sid: string, session: S, callback: Callback<void>): void;
  set(sid: string, session: S, callback?: Callback<void>): Promise<void> | void {
    return answer(
      this.run('set', async (col) => {
        const id = this.storageId(sid);
        this.forgetShared(id); // already now: the encoding below takes a while (a cipher)
        const now = new Date();
        const fields: Partial<SessionDocument> = { session: await this.codec.encode(this.withoutLastModified(session), id), expires: this.expiresOf(session, now) };
        if (this.options.touchAfterMs > 0) fields.lastModified = now;
        if (this.options.timestamps) fields.updatedAt = now;
        const update: UpdateFilter<SessionDocument> = { $set: fields };
        if (this.options.timestamps) update.$setOnInsert = { createdAt: now };
        // A lastModified left by an earlier touchAfter setting (or a damaged one) goes with the next save.
        if (!(this.options.touchAfterMs > 0)) update.$unset = { lastModified: '' };
        const res = await this.afterWrite(id, this.upsert(() => col.updateOne({ _id: id }, update, { upsert: true, ...this.writeOptions() })));
        debugSid('set %s (%s)', sid, res.upsertedCount ? 'created' : 'updated');
        this.emit(res.upsertedCount ? 'create' : 'update', sid);
        this.emit('set', sid);
      }),
      callback,
    );
  }

  override touch(sid: string, session: S): Promise<void>;
  override touch(sid: string, session: S, callback: Callback<void>): void;
  override touch(sid: string, session: S, callback?: Callback<void>): Promise<void> | void {
    return answer(
      this.run('touch', async (col) => {
        const id = this.storageId(sid);
        const now = new Date();
        if (this.withinTouchWindow(session, now)) {
          debugSid('touch %s skipped (touchAfter)', sid);
          return;
        }
        const { matched, lastModified } = await this.sharedTouch(col, id, this.expiresOf(session, now), now);
        if (!matched) {
          debugSid('touch %s: no such session (expired or destroyed); nothing to do', sid);
          return;
        }
        if (this.options.touchAfterMs > 0 && session && typeof session === 'object') (session as { lastModified?: Date }).lastModified = lastModified;
        this.emit('touch', sid, session);
      }).catch((e) => {
        // express-session touches after the response's headers went out: a server that is away must not become
        // next(err) there (the app could only drop the connection). The next request's touch extends the expiry.
        if (!(e instanceof MongoStoreError && e.code === 'ERR_CONNECT_MONGO_TIMEOUT')) throw e; // ours: readableError made it
        debugSid('touch %s not done: %s', sid, e.message);
      }),
      callback,
    );
  }

  destroy(sid: string): Promise<void>;
  destroy(sid: string, callback: Callback<void>): void;
  destroy(sid: string, callback?: Callback<void>): Promise<void> | void {
    return answer(
      this.run('destroy', async (col) => {
        const id = this.storageId(sid);
        await this.afterWrite(id, col.deleteOne({ _id: id }, this.writeOptions()));
        debugSid('destroy %s', sid);
        this.emit('destroy', sid);
      }),
      callback,
    );
  }

  /** The live sessions, as an array (connect-mongo's shape). For big stores, iterate the store instead. */
  override all(): Promise<S[]>;
  override all(callback: Callback<S[]>): void;
  override all(callback?: Callback<S[]>): Promise<S[]> | void {
    return answer(
      (async () => {
        const out: S[] = [];
        for await (const e of this.entries()) out.push(e.session);
        this.emit('all', out);
        return out;
      })(),
      callback,
    );
  }

  /** Number of live (unexpired) sessions. */
  override length(): Promise<number>;
  override length(callback: Callback<number>): void;
  override length(callback?: Callback<number>): Promise<number> | void {
    return answer(
      this.run('length', (col) => col.countDocuments(liveFilter())),
      callback,
    );
  }

  /** Removes every session; keeps the collection and its indexes. Fine on a collection that does not exist. */
  override clear(): Promise<void>;
  override clear(callback: Callback<void>): void;
  override clear(callback?: Callback<void>): Promise<void> | void {
    return answer(
      this.run('clear', async (col) => {
        try {
          await this.afterWrite(undefined, col.deleteMany({}, this.writeOptions()));
        } catch (e) {
          if (!isNamespaceNotFound(e)) throw e;
        }
      }),
      callback,
    );
  }

  /** The stored ids of the live sessions (not available with hashIds: only hashes are stored). */
  async ids(): Promise<string[]> {
    if (this.options.hashIdsSecret) {
      throw new MongoStoreError('ids() cannot return session ids when hashIds is on: only their HMACs are stored', 'ERR_CONNECT_MONGO_UNSUPPORTED');
    }
    return this.run('ids', async (col) => (await col.find(liveFilter(), { projection: { _id: 1 } }).toArray()).map((d) => d._id));
  }

  /** Every live session, one at a time from a cursor: constant memory however many there are. */
  async *entries(): AsyncGenerator<SessionEntry<S>> {
    const col = await this.run('entries', async (c) => c);
    const cursor = col.find(liveFilter()).batchSize(1000);
    try {
      for await (const doc of cursor) {
        const session = await this.readLive(doc, undefined);
        if (session) yield { id: doc._id, session, expires: doc.expires };
      }
    } catch (e) {
      throw readableError(e, 'entries');
    } finally {
      await cursor.close();
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<SessionEntry<S>> {
    return this.entries();
  }

  /** Stops timers and listeners; closes the client only if the store opened it (never yours). Idempotent. */
  close(): Promise<void>;
  close(callback: Callback<void>): void;
  close(callback?: Callback<void>): Promise<void> | void {
    this.closing ??= (async () => {
      this.autoRemover.stop();
      // Operations already running finish first (each within operationTimeoutMS), so none meets a client closed
      // under it (the driver's raw MongoExpiredSessionError / MongoPoolClosedError); those still waiting for a
      // connection that never came end now, with ERR_CONNECT_MONGO_CLOSED.
      await this.connection.close(() => Promise.allSettled([...(this.inFlight ?? [])]));
      debug('closed');
    })();
    return answer(this.closing, callback);
  }

  // ---- helpers ---------------------------------------------------------------------------------------------------

  /** One store operation: refused after close, bounded by operationTimeoutMS, errors made readable. */
  protected run<T>(name: string, body: (col: Collection<SessionDocument>) => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new MongoStoreError(`MongoStore.${name}() called after close()`, 'ERR_CONNECT_MONGO_CLOSED'));
    if (this.connection.fatal) return Promise.reject(this.connection.fatal);
    const ms = this.options.operationTimeoutMS;
    // One promise and one timer per operation (no race/catch/finally chain: this is every request's hot path).
    const op = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const waiting = this.connection.waitingFor;
        const why = waiting ? `still waiting for ${waiting}` : 'MongoDB did not answer (the store keeps retrying; see operationTimeoutMS)';
        reject(new MongoStoreError(`MongoStore.${name}() timed out after ${ms} ms: ${why}`, 'ERR_CONNECT_MONGO_TIMEOUT'));
      }, ms);
      this.connection.collection
        .then((col) => {
          if (this.connection.fatal) throw this.connection.fatal; // the first connect attempt's answer was "never"
          return body(col);
        })
        // After a timeout these settle a promise already rejected: a late failure is no unhandled rejection.
        .then(
          (v) => {
            clearTimeout(timer);
            this.inFlight!.delete(op);
            resolve(v);
          },
          (e) => {
            clearTimeout(timer);
            this.inFlight!.delete(op);
            reject(this.readableError(e, name));
          },
        );
    });
    (this.inFlight ??= new Set()).add(op);
    return op;
  }

  /** readableError, plus what only the store knows: a refused login or unusable configuration, a close() under way. */
  private readableError(e: unknown, name: string): unknown {
    if (this.connection.fatal) return this.connection.fatal;
    const reason = permanentReason(e);
    if (reason) return this.connection.permanent(reason, e);
    return readableError(e, name, !!this.closing);
  }

  /**
   * One findOne per _id at a time: a get() while another get() of the same _id waits for its answer joins it. The
   * first caller gets the driver's document, every joined one a BSON copy made before anyone reads it, so no two
   * callers share an object. Read-your-writes: a write to the _id (clear(): to any) takes the read out of the map
   * when it starts and again when it settles (see afterWrite), so a get() never joins a read that may have been
   * answered before the write. The entry goes when the read settles: the map holds only reads under way (one that
   * never settles is replaced by the next get after operationTimeoutMS, and held only by its own callers).
   */
  private sharedRead(col: Collection<SessionDocument>, id: string): Promise<SessionDocument | null> {
    const reads = (this.reads ??= new Map<string, SharedRead>());
    const joined = reads.get(id);
    // Not a read older than a get may wait: one stuck on a dead socket must not hold up every later get of the session.
    if (joined && Date.now() - joined.started < this.options.operationTimeoutMS) {
      joined.callers++;
      return joined.doc.then(() => ownDoc(joined.copies.pop(), col, id));
    }
    const read: SharedRead = { callers: 1, started: Date.now(), doc: undefined!, copies: [] };
    const forget = () => reads.get(id) === read && reads.delete(id);
    // Copies are made here, before any caller resumes: callers joined after this point start a read of their own.
    read.doc = col.findOne({ _id: id }).then(
      (doc) => {
        forget();
        for (let i = 1; i < read.callers; i++) read.copies.push(copyOf(doc));
        return doc;
      },
      (e) => {
        forget();
        throw e;
      },
    );
    reads.set(id, read);
    return read.doc; // the first caller: the driver's own document (no promise more on the common, unshared path)
  }

  /**
   * One write per _id and second for touches: a touch whose expiry is within TOUCH_SHARE_MS of a touch of the same _id
   * sent less than TOUCH_SHARE_MS ago (under way or done) shares its write instead of sending its own. A page load's
   * requests all touch the session with the same expiry give or take their few milliseconds apart; a cookie's
   * `Expires` has one-second precision anyway. A set, destroy or clear of the _id (from this store) ends the sharing,
   * as does a failed write; the map holds only the last second's touches (the oldest go first: Map keeps insertion
   * order, and a new touch of an _id is re-inserted at the end).
   */
  private sharedTouch(col: Collection<SessionDocument>, id: string, expires: Date, now: Date): Promise<TouchResult> {
    const touches = (this.touches ??= new Map<string, SharedTouch>());
    const t = performance.now(); // monotonic: a wall clock set back must not keep old entries "recent"
    const earlier = touches.get(id);
    if (earlier && t - earlier.sent < TOUCH_SHARE_MS && Math.abs(earlier.expires - expires.getTime()) <= TOUCH_SHARE_MS) return earlier.result;
    for (const [key, old] of touches) {
      if (t - old.sent < TOUCH_SHARE_MS) break;
      touches.delete(key);
    }
    const fields: Partial<SessionDocument> = { expires };
    if (this.options.touchAfterMs > 0) fields.lastModified = now;
    if (this.options.timestamps) fields.updatedAt = now;
    // Sent while another write of the _id is under way, it may reach the server before or after that write: later
    // touches may share it while it is under way, never once it is done (see afterWrite).
    const overlapped = this.writing(id);
    const entry: SharedTouch = { sent: t, expires: expires.getTime(), result: undefined! };
    const done = () => touches.get(id) === entry && touches.delete(id);
    // No upsert: touching a session that is gone (expired, destroyed) must not bring it back.
    entry.result = this.afterWrite(id, col.updateOne({ _id: id }, { $set: fields }, this.writeOptions()), 'touch').then(
      (res) => {
        if (overlapped) done();
        return { matched: res.matchedCount > 0, lastModified: now };
      },
      (e) => {
        done();
        throw e;
      },
    );
    // After afterWrite() has started (it forgets what was shared for this _id), so that this entry stays.
    touches.delete(id);
    touches.set(id, entry);
    return entry.result;
  }

  /**
   * A write's promise (of the _id; of all _ids when undefined: clear). From its start and again once it settles, no
   * get() joins a read begun before, and no touch() shares a touch sent before: either may have been answered before
   * this write landed. A touch's own write leaves the touches alone when it settles (they may share it, see
   * sharedTouch).
   */
  private async afterWrite<T>(id: string | undefined, write: Promise<T>, kind?: 'touch'): Promise<T> {
    this.forgetShared(id);
    const key = id ?? ALL_IDS;
    const writes = (this.writes ??= new Map<string | symbol, number>());
    writes.set(key, (writes.get(key) ?? 0) + 1);
    try {
      return await write;
    } finally {
      const left = writes.get(key)! - 1;
      if (left) writes.set(key, left);
      else writes.delete(key);
      if (kind === 'touch') forget(this.reads, id);
      else this.forgetShared(id);
    }
  }

  /** A write of the _id (or a clear) is under way. */
  private writing(id: string): boolean {
    return !!this.writes?.size && (this.writes.has(id) || this.writes.has(ALL_IDS));
  }

  private forgetShared(id: string | undefined) {
    forget(this.reads, id);
    forget(this.touches, id);
  }

  /** The _id a sid is stored under; refuses anything but a non-empty string before any query is built. */
  protected storageId(sid: unknown): string {
    // A lone surrogate encodes to U+FFFD: two such sids would share one stored session.
    if (typeof sid !== 'string' || sid.length === 0 || sid.length > 1024 || !(sid as string & { isWellFormed(): boolean }).isWellFormed()) {
      throw new MongoStoreError(`session id must be a well-formed, non-empty string of at most 1024 characters, got ${typeof sid === 'string' ? `one of ${sid.length}` : describeFound(sid)}`, 'ERR_CONNECT_MONGO_INVALID_SID');
    }
    return this.storageIdOf(sid);
  }

  /**
   * A stored document → the session, or null when expired; corrupt ones per onCorruptSession. Synchronous unless a
   * cipher has to decrypt (no promise per read without crypto).
   */
  private readLive(doc: SessionDocument, sid: string | undefined): S | null | Promise<S | null> {
    let decoded: S | Promise<S>;
    try {
      if (!validateSessionDocument(doc)) {
        const e = validateSessionDocument.errors?.[0];
        throw new SessionCorruptError(`the stored document is malformed: ${e?.instancePath || '/'} ${e?.message}`);
      }
      if (doc.expires && doc.expires.getTime() <= Date.now()) return null; // the TTL monitor may not have run yet
      decoded = this.codec.decode(doc.session, doc._id);
    } catch (e) {
      return this.corrupt(e, sid);
    }
    const live = (session: S) => {
      // An app's unserialize may answer anything (a string, say): only an object carries the bookkeeping fields.
      if (this.options.touchAfterMs > 0 && doc.lastModified && session && typeof session === 'object') (session as { lastModified?: Date }).lastModified = doc.lastModified;
      withStoredExpiry(session, doc.expires);
      return session;
    };
    // Any thenable (an app's unserialize may answer another library's promise), as `await` would take it.
    return isThenable(decoded) ? Promise.resolve(decoded).then(live, (e) => this.corrupt(e, sid)) : live(decoded);
  }

  /** An unreadable stored session per onCorruptSession: throws (error), or emits 'corrupt' and answers null (ignore). */
  private corrupt(e: unknown, sid: string | undefined): null {
    if (!(e instanceof SessionCorruptError)) throw e;
    const err = new SessionCorruptError(`session ${sid === undefined ? 'in the collection' : sidTag(sid)} cannot be used: ${e.message}`, { cause: e });
    if (this.options.onCorruptSession === 'error') throw err;
    this.emit('corrupt', err);
    return null;
  }

  /** The cookie's expiry when it has one, else now + ttl. */
  private expiresOf(session: S, now: Date): Date {
    const raw = (session as { cookie?: { expires?: unknown } })?.cookie?.expires;
    if (raw) {
      const d = new Date(raw as string);
      if (!Number.isNaN(d.getTime())) return d;
    }
    return new Date(now.getTime() + this.options.ttlMs);
  }

  private withinTouchWindow(session: S, now: Date): boolean {
    const last = (session as { lastModified?: unknown })?.lastModified;
    if (!(this.options.touchAfterMs > 0) || !last) return false;
    const t = new Date(last as string).getTime();
    return !Number.isNaN(t) && now.getTime() - t < this.options.touchAfterMs;
  }

  /** touchAfter's bookkeeping field never goes into the stored payload. */
  private withoutLastModified(session: S): S {
    if (!session || typeof session !== 'object' || !('lastModified' in session) || !(this.options.touchAfterMs > 0)) return session;
    const { lastModified: _ignored, ...rest } = session as S & { lastModified?: unknown };
    return rest as S;
  }

  private writeOptions() {
    return this.options.writeConcern ? { writeConcern: this.options.writeConcern } : {};
  }

  /**
   * A real mongod retries an upsert that lost a race on _id; FerretDB and older servers answer E11000 instead.
   * The retry finds the document and updates it.
   */
  private async upsert<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (e) {
        if (!isDuplicateKey(e) || attempt >= UPSERT_RETRIES) throw e;
      }
    }
  }
}

/**
 * A driver error as the store reports it (by name, code and labels: the client may be another copy of the driver).
 * The client closed under the operation (by close(), or by the app): ERR_CONNECT_MONGO_CLOSED. Server gone (selection
 * timed out, connection dropped mid-operation, topology closed by a failed first connect): one clear error; the
 * client keeps reconnecting on its own.
 */
function readableError(e: unknown, name: string, closing = false): unknown {
  if (isClientClosed(e) && (closing || !/TopologyClosed|ServerClosed/.test((e as Error).name))) {
    return new MongoStoreError(`MongoStore.${name}() was cut short: the MongoDB client was closed${closing ? ' (store.close())' : ''}`, 'ERR_CONNECT_MONGO_CLOSED', { cause: e });
  }
  if (isUnreachable(e)) {
    return new MongoStoreError(`MongoStore.${name}() cannot reach MongoDB: ${(e as Error).message}`, 'ERR_CONNECT_MONGO_TIMEOUT', { cause: e });
  }
  // stringify: false hands the session to the driver, whose BSON encoder refuses cycles while building the command
  // (nothing is sent): the same error as a session JSON cannot encode.
  if (name === 'set' && BSON.BSONError.isBSONError(e)) {
    return new MongoStoreError(`the session cannot be serialized: ${(e as Error).message}`, 'ERR_CONNECT_MONGO_SERIALIZE', { cause: e });
  }
  // A session over BSON's 16 MB makes the encoder write past its buffer: Node's RangeError, nothing sent.
  if (name === 'set' && (e as { code?: unknown })?.code === 'ERR_OUT_OF_RANGE') {
    return new MongoStoreError('the session cannot be serialized: it is larger than a MongoDB document may be (16 MB)', 'ERR_CONNECT_MONGO_SERIALIZE', { cause: e });
  }
  return e;
}

/** A findOne under way that concurrent get()s share: how many callers wait on it, and a copy for each joined one. */
interface SharedRead {
  callers: number;
  started: number;
  /** the driver's document, for the caller that started the read */
  doc: Promise<SessionDocument | null>;
  /** one copy per joined caller, made when the read settles; undefined: that copy could not be made, it reads for itself */
  copies: Array<SessionDocument | null | undefined>;
}

/** A touch write that later touches of the same session within TOUCH_SHARE_MS share. */
interface SharedTouch {
  sent: number;
  expires: number;
  result: Promise<TouchResult>;
}

interface TouchResult {
  /** the session was there to touch */
  matched: boolean;
  /** the lastModified written (touchAfter) */
  lastModified: Date;
}

/**
 * touch() moves only the document's `expires`, not the serialized cookie; the stored `expires` is the truth, so the
 * session read back carries it (in the cookie's own type), and a touch shows without rewriting the session. A cookie
 * without an expiry (a browser-session cookie) is left as it is.
 */
function withStoredExpiry(session: unknown, expires: Date | undefined) {
  const cookie = (session as { cookie?: { expires?: unknown } })?.cookie;
  if (!expires || !cookie || typeof cookie !== 'object' || !cookie.expires) return;
  if (typeof cookie.expires === 'string') cookie.expires = expires.toISOString();
  else if (cookie.expires instanceof Date) cookie.expires = expires;
}

/**
 * A joined caller's own copy of the document, or undefined (that caller then reads for itself): values from another
 * copy of the driver (an app's mongodb 5 client, mongoose's) may be types our BSON refuses to encode.
 */
function copyOf(doc: SessionDocument | null): SessionDocument | null | undefined {
  if (!doc) return doc;
  try {
    return BSON.deserialize(BSON.serialize(doc)) as SessionDocument;
  } catch {
    return undefined;
  }
}

/** A caller's document from a shared read; one whose copy failed reads it for itself (null is "no session"). */
function ownDoc(doc: SessionDocument | null | undefined, col: Collection<SessionDocument>, id: string): Promise<SessionDocument | null> | SessionDocument | null {
  return doc === undefined ? col.findOne({ _id: id }) : doc;
}

function isThenable<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

function forget(map: Map<string, unknown> | undefined, id: string | undefined) {
  if (id === undefined) map?.clear();
  else map?.delete(id);
}

/** Sessions that have not expired (documents without `expires` never do, as in connect-mongo). */
function liveFilter() {
  return { $or: [{ expires: { $gt: new Date() } }, { expires: { $exists: false } }] };
}
