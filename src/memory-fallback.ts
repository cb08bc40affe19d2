/**
 * fallbackMemory (development only): a MongoStore whose sessions live in express-session's MemoryStore, so that what
 * `new MongoStore()`, `MongoStore.create()` and `createStoreFromConfig()` return always has the documented surface
 * (close, ready, iteration, events) and their types tell the truth. Nothing here talks to MongoDB.
 */
import type { MemoryStore } from 'express-session';
import { expressSession, type SessionData } from './store-base';
import type { Collection } from 'mongodb';
import type { SessionDocument } from '../generated';
import { MongoStore, registerMemoryFallback } from './store';
import { answer, type Callback, type SessionEntry } from './callback';
import { checkSid } from './session-doc';
import { normalizeOptions, type MongoStoreOptions } from './options';
import { MongoStoreError, hideFromInspection } from './errors';
import { sessionRefusal } from './codec';
import { Users, type UserId, type UserSession } from './user-sessions';

let warned = false;

/** A callback API of MemoryStore as a promise. */
function viaCallback<T>(fn: (cb: (err: unknown, v?: T) => void) => void): Promise<T | undefined> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

export class MemoryFallbackStore<S extends SessionData = SessionData> extends MongoStore<S> {
  private declare memory: MemoryStore;
  private declare closed: boolean;
  private declare owners?: Users;

  /** Called by MongoStore's constructor (so `new MongoStore({ fallbackMemory: true })` lands here too). */
  protected override initStore(options: MongoStoreOptions<S>): this {
    const opts = normalizeOptions<S>({ ...options, fallbackMemory: true });
    Object.defineProperty(this, 'options', { value: opts, enumerable: false, writable: false, configurable: true });
    if (!expressSession) throw new MongoStoreError('fallbackMemory keeps the sessions in express-session\'s MemoryStore: install express-session (npm install express-session)', 'ERR_CONNECT_MONGO_UNSUPPORTED');
    this.memory = new expressSession.MemoryStore() as unknown as MemoryStore;
    this.closed = false;
    if (opts.userId) this.owners = new Users(opts);
    this.storageId = (sid) => {
      checkSid(sid); // no transformId / hashIds: nothing leaves the process
      return sid;
    };
    // as MongoStore's: logging the store shows its options, never the sessions (sids, data) or the user-id HMAC keys
    hideFromInspection(this, ['memory', 'owners', 'storageId'], () => ({ options: this.options }));
    if (!warned) {
      warned = true;
      process.emitWarning('connect-mongo: fallbackMemory is on: sessions live in a MemoryStore (development only; they leak memory and vanish on restart).', { code: 'CONNECT_MONGO_FALLBACK_MEMORY' });
    }
    return this;
  }

  override async ready() {
    return { autoRemove: 'disabled' as const };
  }

  override collection(): Promise<Collection<SessionDocument>> {
    const p = Promise.reject(new MongoStoreError('fallbackMemory is on: there is no MongoDB collection', 'ERR_CONNECT_MONGO_UNSUPPORTED'));
    p.catch(() => {}); // a caller that never awaits it gets no unhandled rejection
    return p;
  }

  override get collectionP(): Promise<Collection<SessionDocument>> {
    return this.collection();
  }

  protected override run<T>(name: string, body: (col: never, signal: never) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new MongoStoreError(`MongoStore.${name}() called after close()`, 'ERR_CONNECT_MONGO_CLOSED'));
    return body(undefined as never, undefined as never);
  }

  override get(sid: string): Promise<S | null>;
  override get(sid: string, callback: Callback<S | null>): void;
  override get(sid: string, callback?: Callback<S | null>): Promise<S | null> | void {
    return answer(
      this.run('get', async () => {
        const s = ((await viaCallback<SessionData | null>((cb) => this.memory.get(this.storageId(sid), cb))) ?? null) as S | null;
        this.emit('get', sid);
        return s;
      }),
      callback,
    );
  }

  override set(sid: string, session: S): Promise<void>;
  override set(sid: string, session: S, callback: Callback<void>): void;
  override set(sid: string, session: S, callback?: Callback<void>): Promise<void> | void {
    const refused = sessionRefusal(session, this.options); // as MongoStore: MemoryStore fails reading a null back
    if (refused) return answer(refused, callback);
    return answer(
      this.run('set', async () => {
        const id = this.storageId(sid);
        this.owners?.ownerOf(session); // as MongoStore: a wrong user id fails the set before anything is written
        const existed = (await viaCallback<SessionData | null>((cb) => this.memory.get(id, cb))) != null;
        await viaCallback((cb) => this.memory.set(id, session, cb));
        this.emit(existed ? 'update' : 'create', sid);
        this.emit('set', sid);
      }),
      callback,
    );
  }

  override touch(sid: string, session: S): Promise<void>;
  override touch(sid: string, session: S, callback: Callback<void>): void;
  override touch(sid: string, session: S, callback?: Callback<void>): Promise<void> | void {
    return answer(
      this.run('touch', async () => {
        const id = this.storageId(sid);
        // MemoryStore.touch answers alike whether the session exists; MongoStore emits 'touch' only when it did.
        if ((await viaCallback<SessionData | null>((cb) => this.memory.get(id, cb))) == null) return;
        await viaCallback((cb) => this.memory.touch(id, session, () => cb(null)));
        this.emit('touch', sid, session);
      }),
      callback,
    );
  }

  override destroy(sid: string): Promise<void>;
  override destroy(sid: string, callback: Callback<void>): void;
  override destroy(sid: string, callback?: Callback<void>): Promise<void> | void {
    return answer(
      this.run('destroy', async () => {
        await viaCallback((cb) => this.memory.destroy(this.storageId(sid), cb));
        this.emit('destroy', sid);
      }),
      callback,
    );
  }

  override all(): Promise<S[]>;
  override all(callback: Callback<S[]>): void;
  override all(callback?: Callback<S[]>): Promise<S[]> | void {
    return answer(
      this.run('all', async () => {
        const out = Object.values((await viaCallback<Record<string, SessionData>>((cb) => this.memory.all(cb as never))) ?? {}) as S[];
        this.emit('all', out);
        return out;
      }),
      callback,
    );
  }

  override length(): Promise<number>;
  override length(callback: Callback<number>): void;
  override length(callback?: Callback<number>): Promise<number> | void {
    return answer(this.run('length', async () => (await viaCallback<number>((cb) => this.memory.length(cb))) ?? 0), callback);
  }

  override clear(): Promise<void>;
  override clear(callback: Callback<void>): void;
  override clear(callback?: Callback<void>): Promise<void> | void {
    return answer(this.run('clear', () => viaCallback<void>((cb) => this.memory.clear(cb)).then(() => undefined)), callback);
  }

  override ids(): Promise<string[]>;
  override ids(callback: Callback<string[]>): void;
  override ids(callback?: Callback<string[]>): Promise<string[]> | void {
    return answer(
      this.run('ids', async () => Object.keys((await viaCallback<Record<string, SessionData>>((cb) => this.memory.all(cb as never))) ?? {})),
      callback,
    );
  }

  /** As MongoStore's, by a scan of the memory (maxSessionsPerUser is not enforced here). */
  override userSessions(userId: UserId): Promise<UserSession<S>[]>;
  override userSessions(userId: UserId, callback: Callback<UserSession<S>[]>): void;
  override userSessions(userId: UserId, callback?: Callback<UserSession<S>[]>): Promise<UserSession<S>[]> | void {
    return answer(this.run('userSessions', async () => (await this.ofUser(userId, 'userSessions')).map(([id, session]) => ({ id, session }))), callback);
  }

  override destroyUserSessions(userId: UserId, options?: { except?: string | string[] }): Promise<number>;
  override destroyUserSessions(userId: UserId, callback: Callback<number>): void;
  override destroyUserSessions(userId: UserId, options: { except?: string | string[] } | undefined, callback: Callback<number>): void;
  override destroyUserSessions(userId: UserId, options?: { except?: string | string[] } | Callback<number>, callback?: Callback<number>): Promise<number> | void {
    if (typeof options === 'function') [options, callback] = [undefined, options];
    const given = options?.except;
    return answer(
      this.run('destroyUserSessions', async () => {
        // as MongoStore: each sid of except checked, before anything is ended
        const except = new Set((given === undefined ? [] : Array.isArray(given) ? given : [given]).map((sid) => this.storageId(sid)));
        const ended = (await this.ofUser(userId, 'destroyUserSessions')).filter(([id]) => !except.has(id));
        for (const [id] of ended) {
          await viaCallback((cb) => this.memory.destroy(id, cb));
          this.emit('destroy', id);
        }
        return ended.length;
      }),
      callback,
    );
  }

  /** The sessions in memory whose user is `userId`. */
  private async ofUser(userId: UserId, method: string): Promise<Array<[string, S]>> {
    if (!this.owners) throw new MongoStoreError(`MongoStore.${method}() needs the userId option (where the session holds its user's id, e.g. "passport.user")`, 'ERR_CONNECT_MONGO_UNSUPPORTED');
    const forms = this.owners.formsOf(userId, method);
    const all = (await viaCallback<Record<string, SessionData>>((cb) => this.memory.all(cb as never))) ?? {};
    return Object.entries(all).filter(([, s]) => forms.includes(this.owners!.ownerOf(s)!)) as Array<[string, S]>;
  }

  override async *entries(): AsyncGenerator<SessionEntry<S>> {
    const all = await this.run('entries', async () => (await viaCallback<Record<string, SessionData>>((cb) => this.memory.all(cb as never))) ?? {});
    for (const [id, session] of Object.entries(all)) {
      const raw = (session as { cookie?: { expires?: unknown } }).cookie?.expires;
      yield { id, session: session as S, expires: raw ? new Date(raw as string) : undefined };
    }
  }

  override close(): Promise<void>;
  override close(callback: Callback<void>): void;
  override close(callback?: Callback<void>): Promise<void> | void {
    this.closed = true;
    return answer(Promise.resolve(), callback);
  }
}

registerMemoryFallback(MemoryFallbackStore);
