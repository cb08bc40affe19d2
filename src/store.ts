/**
 * MongoStore: the express-session Store (store-base.ts: the same surface without express-session). Each method is a
 * short async body (id → one driver call → events) behind an optional callback; policy lives in the modules it calls:
 * options.ts, session-doc.ts (what is stored and read back), shared.ts (sharing), codec.ts, auto-remove.ts, connection.ts.
 */
import { StoreBase, type SessionData } from './store-base';
import type { Collection } from 'mongodb';
import type { SessionDocument } from '../generated';
import { normalizeOptions, type MongoStoreOptions, type NormalizedOptions } from './options';
import { MongoStoreError, hideFromInspection } from './errors';
import { Connection } from './connection';
import { autoRemoverOf, type AutoRemover, type AutoRemoveMode } from './auto-remove';
import { createCodec, sessionRefusal, type Codec } from './codec';
import { isNamespaceNotFound, readableError } from './driver-errors';
import { STAMPED_BY, clearStamped, destroyUpdate, nextStamp, stampedUpsert, type Upserted } from './write-order';
import { Unchanged, digestOf } from './unchanged';
import { SharedWork } from './shared';
import { commandOptions, fetchedWithin, keepingAlive, untilPast } from './bounds';
import { Operations } from './operations';
import { Users, endUserSessions, listUserSessions, trimUserSessions, type UserId, type UserSession } from './user-sessions';
import { expiresOf, isThenable, liveFilter, sessionFrom, setUpdate, storageIdFunction, touchFilter, touchUpdate, withinTouchWindow, withoutLastModified } from './session-doc';
import { answer, type Callback, type SessionEntry } from './callback';
import { debug, debugSid } from './debug';

/** The class fallbackMemory builds instead (memory-fallback.ts, which extends this one, registers it on import). */
let memoryFallback: (new (options: MongoStoreOptions<any>) => MongoStore<any>) | undefined;
export function registerMemoryFallback(store: typeof memoryFallback) {
  memoryFallback = store;
}

export class MongoStore<S extends SessionData = SessionData> extends StoreBase {
  readonly options!: Readonly<NormalizedOptions<S>>;
  // Set in setup(), which the constructor (and the classic factory's subclasses) call.
  protected connection!: Connection;
  protected autoRemover!: AutoRemover;
  protected codec!: Codec<S>;
  /** The _id a sid is stored under (itself, or its transformId/hashIds form); refuses a malformed sid before any query */
  storageId!: (sid: unknown) => string;
  private shared!: SharedWork<SessionDocument>;
  private unchanged!: Unchanged;
  private closing?: Promise<void>;
  private ops!: Operations;
  /** with the userId option: the sessions' users (user-sessions.ts) */
  private users?: Users;
  private readyState?: Promise<AutoRemoveMode>;

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
      if (!memoryFallback) throw new MongoStoreError('fallbackMemory needs the package entry point (import connect-mongo, not a file inside it)', 'ERR_CONNECT_MONGO_UNSUPPORTED');
      return new memoryFallback(options) as unknown as this;
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
    this.storageId = storageIdFunction(opts);
    this.shared = new SharedWork();
    this.unchanged = new Unchanged();
    this.ops = new Operations(this.connection, opts.operationTimeoutMS);
    if (opts.userId) this.users = new Users(opts);
    this.autoRemover = autoRemoverOf(this.connection, opts, (message, code) => this.warn(message, code));
    // Logging a store (util.inspect at any depth, JSON) must not reach the client and its connection string.
    hideFromInspection(this, ['connection', 'autoRemover', 'codec', 'storageId', 'shared', 'unchanged', 'ops', 'users'], () => ({ options: this.options }));
  }

  /**
   * Resolves when the server has answered and the expiry mode is settled (native, or its fallback); rejects with a
   * permanent failure (refused credentials, unusable configuration) or ERR_CONNECT_MONGO_CLOSED. A server that is
   * down keeps it pending, the store retrying, and whoever awaits it keeps the process alive meanwhile (the store's
   * own timers are unref'd: an idle app may exit, an app waiting to start may not exit 0 before it started).
   */
  ready(): Promise<{ autoRemove: AutoRemoveMode }> {
    this.readyState ??= this.connection.collection.then(() => this.connection.reached()).then(() => this.autoRemover.ready);
    return keepingAlive(this.readyState).then((autoRemove) => ({ autoRemove }));
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
    const deadline = this.deadline();
    return answer(
      this.run('get', async (col, signal) => {
        const id = this.storageId(sid);
        // _id alone: the one filter every server answers from the primary key (FerretDB pushes it down to SQL).
        const doc = await this.shared.read(id, () => col.findOne({ _id: id }, this.driverOptions('get', deadline, signal)));
        const live = doc && this.sessionOf(doc, sid);
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
    const refused = sessionRefusal(session, this.options);
    if (refused) return answer(refused, callback);
    const deadline = this.deadline();
    return answer(
      this.run('set', async (col, signal) => {
        const id = this.storageId(sid);
        const now = new Date();
        const owner = this.users?.ownerOf(session); // a wrong user id fails the set before anything is written
        const { stored, text } = await this.codec.encode(withoutLastModified(session, this.options), id);
        const expires = expiresOf(session, now, this.options);
        const digest = text === undefined ? undefined : digestOf(text);
        // What this store last wrote but for the expiry (unchanged.ts) is a touch: nothing within touchAfter, else the
        // expiry of that very write if still stored, shared with the same set only (shared.ts: that write's stamp)
        const last = digest === undefined ? undefined : this.unchanged.lastWrite(id, digest);
        if (last && (withinTouchWindow(session, now, this.options) || (await this.moveExpiry(col, id, last.stamp, { _id: id, stamp: last.stamp, session: last.stored }, session, expires, now, deadline, signal, 'set')))) {
          debugSid('set %s unchanged: the expiry only, or nothing within touchAfter', sid);
          return void (this.emit('update', sid), this.emit('set', sid));
        }
        const options = () => this.driverOptions('set', deadline, signal, true);
        // Stamped (write-order.ts): should this write land after a later one of the session, it changes nothing.
        const res = await this.written(id, digest, stored, stampedUpsert(col, id, (stamp) => setUpdate(stored, expires, now, this.options, stamp, STAMPED_BY, owner), options, this.options.operationTimeoutMS, owner));
        debugSid('set %s (%s)', sid, res.created ? 'created' : 'updated');
        this.emit(res.created ? 'create' : 'update', sid);
        this.emit('set', sid);
        // maxSessionsPerUser: a session new to its user may push the oldest out (user-sessions.ts)
        if (owner != null && this.users!.max && (res.created || res.moved)) await this.trim(col, session, options);
      }),
      callback,
    );
  }

  touch(sid: string, session: S): Promise<void>;
  touch(sid: string, session: S, callback: Callback<void>): void;
  touch(sid: string, session: S, callback?: Callback<void>): Promise<void> | void {
    const deadline = this.deadline();
    return answer(
      this.run('touch', async (col, signal) => {
        const id = this.storageId(sid);
        const now = new Date();
        if (withinTouchWindow(session, now, this.options)) return void debugSid('touch %s skipped (touchAfter)', sid);
        // Bound: a later write must not be undone by it landing late (write-order.ts); no upsert: gone stays gone.
        const filter = touchFilter(id, nextStamp() + Math.max(0, deadline - performance.now()));
        if (await this.moveExpiry(col, id, undefined, filter, session, expiresOf(session, now, this.options), now, deadline, signal, 'touch')) this.emit('touch', sid, session);
        else debugSid('touch %s: no such session (expired or destroyed); nothing to do', sid);
      }).catch(async (e) => {
        // express-session touches after the response's headers went out: a server that is away must not become
        // next(err) there (the app could only drop the connection). The next request's touch extends the expiry.
        if (!(e instanceof MongoStoreError && e.code === 'ERR_CONNECT_MONGO_TIMEOUT')) throw e; // ours: readableError made it
        await untilPast(deadline); // its bound is its deadline: a write called once it answered is ordered after it
        debugSid('touch %s not done: %s', sid, e.message);
      }),
      callback,
    );
  }

  destroy(sid: string): Promise<void>;
  destroy(sid: string, callback: Callback<void>): void;
  destroy(sid: string, callback?: Callback<void>): Promise<void> | void {
    const deadline = this.deadline();
    return answer(
      this.run('destroy', async (col, signal) => {
        const id = this.storageId(sid);
        // A marker, not a delete (write-order.ts): a save of the session that lands late cannot bring it back.
        await this.written(id, undefined, undefined, stampedUpsert(col, id, (stamp) => destroyUpdate(stamp, new Date(), this.options.operationTimeoutMS), () => this.driverOptions('destroy', deadline, signal, true), this.options.operationTimeoutMS));
        debugSid('destroy %s', sid), this.emit('destroy', sid);
      }),
      callback,
    );
  }

  /** The live sessions, as an array (connect-mongo's shape). For big stores, iterate the store instead. */
  all(): Promise<S[]>;
  all(callback: Callback<S[]>): void;
  all(callback?: Callback<S[]>): Promise<S[]> | void {
    // Bounded as entries() is: the wait for the connection, and each batch, within operationTimeoutMS (a whole read
    // of a big collection may take longer; a server that stops answering fails it within the bound).
    return answer(
      (async () => {
        const col = await this.run('all', async (c) => c);
        const out: S[] = [];
        for await (const e of this.live('all', col, () => this.options.operationTimeoutMS)) out.push(e.session);
        this.emit('all', out);
        return out;
      })(),
      callback,
    );
  }

  /** Number of live (unexpired) sessions. */
  length(): Promise<number>;
  length(callback: Callback<number>): void;
  length(callback?: Callback<number>): Promise<number> | void {
    const deadline = this.deadline();
    return answer(
      this.run('length', (col, signal) => col.countDocuments(liveFilter(), this.driverOptions('length', deadline, signal))),
      callback,
    );
  }

  /** Removes every session; keeps the collection and its indexes. Fine on a collection that does not exist. */
  clear(): Promise<void>;
  clear(callback: Callback<void>): void;
  clear(callback?: Callback<void>): Promise<void> | void {
    const deadline = this.deadline();
    return answer(
      this.run('clear', async (col, signal) => {
        try {
          // stamped, and leaving markers (write-order.ts): a clear that lands late removes nothing written after it,
          // and a write on its way when it is acknowledged lands on nothing
          this.unchanged.forgetBefore(await clearStamped(col, () => this.driverOptions('clear', deadline, signal, true), this.options.operationTimeoutMS));
        } catch (e) {
          this.unchanged.forgetBefore(nextStamp()); // it may land late
          if (!isNamespaceNotFound(e)) throw e;
        }
      }),
      callback,
    );
  }

  /** The stored ids of the live sessions (not available with hashIds: only hashes are stored). */
  ids(): Promise<string[]>;
  ids(callback: Callback<string[]>): void;
  ids(callback?: Callback<string[]>): Promise<string[]> | void {
    if (this.options.hashIdsSecret) {
      return answer(Promise.reject(new MongoStoreError('ids() cannot return session ids when hashIds is on: only their HMACs are stored', 'ERR_CONNECT_MONGO_UNSUPPORTED')), callback);
    }
    const deadline = this.deadline();
    return answer(
      this.run('ids', async (col, signal) => (await col.find(liveFilter(), { ...this.driverOptions('ids', deadline, signal), projection: { _id: 1 } }).toArray()).map((d) => d._id)),
      callback,
    );
  }

  /** The live sessions of one user (the userId option), newest write first; by the { userId: 1 } index on MongoDB. */
  userSessions(userId: UserId): Promise<UserSession<S>[]>;
  userSessions(userId: UserId, callback: Callback<UserSession<S>[]>): void;
  userSessions(userId: UserId, callback?: Callback<UserSession<S>[]>): Promise<UserSession<S>[]> | void {
    const deadline = this.deadline();
    return answer(
      this.run('userSessions', (col, signal) => listUserSessions(col, this.formsOf(userId, 'userSessions'), this.driverOptions('userSessions', deadline, signal), (doc) => this.sessionOf(doc, undefined))),
      callback,
    );
  }

  /**
   * Ends every session of one user, live or expired, but `except` (a sid or a list: "keep this device"); answers how
   * many it ended. Emits `destroy` for each (with transformId or hashIds, whose stored ids are no sids, one
   * `destroyUser` with the count). A log-in after the call is not undone by it.
   */
  destroyUserSessions(userId: UserId, options?: { except?: string | string[] }): Promise<number>;
  destroyUserSessions(userId: UserId, callback: Callback<number>): void;
  destroyUserSessions(userId: UserId, options: { except?: string | string[] } | undefined, callback: Callback<number>): void;
  destroyUserSessions(userId: UserId, options?: { except?: string | string[] } | Callback<number>, callback?: Callback<number>): Promise<number> | void {
    if (typeof options === 'function') [options, callback] = [undefined, options];
    const deadline = this.deadline();
    const except = options?.except;
    return answer(
      this.run('destroyUserSessions', async (col, signal) => {
        const forms = this.formsOf(userId, 'destroyUserSessions');
        const kept = (except === undefined ? [] : Array.isArray(except) ? except : [except]).map((sid) => this.storageId(sid));
        const ended = await endUserSessions(col, forms, kept, () => this.driverOptions('destroyUserSessions', deadline, signal, true), this.options.operationTimeoutMS);
        this.emitEnded(ended);
        return ended.length;
      }),
      callback,
    );
  }

  /**
   * Every live session, one at a time from a cursor: constant memory however many there are. Each batch the cursor
   * fetches comes within operationTimeoutMS (the iteration as a whole takes as long as the collection needs).
   */
  async *entries(): AsyncGenerator<SessionEntry<S>> {
    const col = await this.run('entries', async (c) => c);
    yield* this.live('entries', col, () => this.options.operationTimeoutMS);
  }

  /** The live sessions of a cursor; each fetch from the server must answer within `budget()` ms. */
  private async *live(name: string, col: Collection<SessionDocument>, budget: () => number): AsyncGenerator<SessionEntry<S>> {
    try {
      for await (const doc of fetchedWithin(col.find(liveFilter()).batchSize(1000), name, this.options.operationTimeoutMS, budget)) {
        const session = await this.sessionOf(doc, undefined);
        if (session) yield { id: doc._id, session, expires: doc.expires };
      }
    } catch (e) {
      // close() ends the client under an iteration: whatever the driver says then (an exhausted cursor), it is that.
      if (this.closing && !(e instanceof MongoStoreError)) throw new MongoStoreError(`MongoStore.${name}() was cut short: the store was closed`, 'ERR_CONNECT_MONGO_CLOSED', { cause: e });
      throw readableError(e, name);
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
      this.ops.closing = true;
      this.autoRemover.stop();
      // Operations already running finish first (each within operationTimeoutMS), so none meets a client closed
      // under it (the driver's raw MongoExpiredSessionError / MongoPoolClosedError); those still waiting for a
      // connection that never came end now, with ERR_CONNECT_MONGO_CLOSED.
      await this.connection.close(() => this.ops.ended());
      debug('closed');
    })();
    return answer(this.closing, callback);
  }

  /** One store operation (operations.ts): refused after close, bounded by operationTimeoutMS, errors made readable. */
  protected run<T>(name: string, body: (col: Collection<SessionDocument>, signal: () => AbortSignal) => Promise<T>): Promise<T> {
    return this.ops.run(name, body);
  }

  /** A stored document → the session, or null (expired; corrupt ones per onCorruptSession: thrown, or 'corrupt'). */
  private sessionOf(doc: SessionDocument, sid: string | undefined): S | null | PromiseLike<S | null> {
    return sessionFrom(doc, sid, this.codec, this.options, (err) => this.emit('corrupt', err));
  }

  /** The expiry alone of `filter`'s document, shared by the calls of `id` (and `write`: that write's stamp) not yet sent (shared.ts; each gets the lastModified written); found it? */
  private async moveExpiry(col: Collection<SessionDocument>, id: string, write: number | undefined, filter: object, session: S, expires: Date, now: Date, deadline: number, signal: () => AbortSignal, name: string): Promise<boolean> {
    const { matched, at } = await this.shared.touch(id, write, expires.getTime(), async () => {
      const res = await col.updateOne(filter, touchUpdate(expires, now, this.options), this.driverOptions(name, deadline, signal, true));
      return { matched: res.matchedCount > 0, at: now };
    });
    if (matched && this.options.touchAfterMs > 0 && session && typeof session === 'object') (session as { lastModified?: Date }).lastModified = new Date(at.getTime());
    return matched;
  }

  /** A set's or destroy's write, and what unchanged.ts remembers of it: its digest when it landed, nothing else. */
  private async written(id: string, digest: string | undefined, stored: unknown, write: Promise<Upserted>): Promise<Upserted> {
    this.shared.wrote(id); // the unchanged sets of a burst after it share (shared.ts)
    try {
      const res = await write;
      // superseded (a later write of this process is stored): what is stored is not this
      this.unchanged.remember(id, res.stamp === undefined ? undefined : digest, stored, res.stamp ?? nextStamp());
      return res;
    } catch (e) {
      this.unchanged.remember(id, undefined, undefined, nextStamp()); // it may land late: the next set is a full write
      throw e;
    }
  }

  /** The stored forms of a user id (user-sessions.ts); without the userId option, the error of a method that needs it. */
  private formsOf(userId: unknown, method: string): UserId[] {
    if (!this.users) throw new MongoStoreError(`MongoStore.${method}() needs the userId option (where the session holds its user's id, e.g. "passport.user")`, 'ERR_CONNECT_MONGO_UNSUPPORTED');
    return this.users.formsOf(userId, method);
  }

  /** maxSessionsPerUser after a set gave a user a session: the set stands whatever the trim meets (then a warning). */
  private async trim(col: Collection<SessionDocument>, session: S, options: () => { timeoutMS?: number; writeConcern?: object }) {
    try {
      this.emitEnded(await trimUserSessions(col, this.users!.formsOfSession(session), this.users!.max!, options, this.options.operationTimeoutMS));
    } catch (e) {
      this.warn(`connect-mongo: maxSessionsPerUser: the oldest sessions of a user were not ended (${(readableError(e, 'set') as Error)?.message}); the next log-in of that user trims again`, 'CONNECT_MONGO_TRIM_FAILED');
    }
  }

  /** `destroy` for each ended session whose _id is its sid; one `destroyUser` with the count otherwise. */
  private emitEnded(ids: string[]) {
    if (ids.length === 0) return;
    const after = nextStamp();
    for (const id of ids) this.unchanged.remember(id, undefined, undefined, after);
    if (this.options.transformId || this.options.hashIdsSecret) this.emit('destroyUser', ids.length);
    else for (const id of ids) this.emit('destroy', id);
  }

  /** A warning event, or the process's when nobody listens (never an 'error' event: that would throw). */
  private warn(message: string, code: string) {
    if (this.listenerCount('warning')) this.emit('warning', Object.assign(new Error(message), { code }));
    else process.emitWarning(message, { code });
  }

  /** When a call made now times out (run() tells its caller then). */
  private deadline(): number {
    return performance.now() + this.options.operationTimeoutMS;
  }

  /** One command's driver options (bounds.ts): the call's signal and time left; a write's write concern. */
  private driverOptions(name: string, deadline: number, signal: () => AbortSignal, write = false) {
    return commandOptions(name, this.options.operationTimeoutMS, deadline, signal(), write ? this.options.writeConcern : undefined);
  }
}
