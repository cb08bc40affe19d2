/**
 * Any connection kind → one promise of the sessions collection. Knows whether the store owns the client (only a
 * client it opened from a URL is closed by close()), and turns the driver's topology events into the store's
 * `connect` / `disconnect` (real loss and recovery of the server, never a single failed operation).
 *
 * The client may come from another copy of `mongodb` than ours (mongoose's, an app's 5.x or 6.x): nothing here
 * depends on its classes, only on the methods every major since 5 has.
 */
import { EventEmitter } from 'node:events';
import { MongoClient, type Collection, type Db, type ReadPreferenceMode, type TopologyDescriptionChangedEvent } from 'mongodb';
import type { SessionDocument } from '../generated';
import { unwatchClient, watchClient, type Watcher } from './client-watch';
import type { ConnectionSpec, MongooseConnectionLike } from './options';
import { MongoStoreError, hideFromInspection, maskUrl, urlSecrets } from './errors';
import { permanentReason } from './driver-errors';
import { debug } from './debug';
import { within } from './bounds';

export interface ConnectionOptions {
  dbName?: string;
  collectionName: string;
  /** server selection timeout of a client we open ourselves */
  timeoutMS: number;
  /** the store's own read preference: a user's client set to read secondaries must not make get miss a fresh log-in */
  readPreference?: ReadPreferenceMode;
}

/** What a client offers us, whichever copy of the driver it comes from. */
type AnyClient = Pick<MongoClient, 'db' | 'on' | 'off' | 'connect' | 'close'> & { options?: { hosts?: unknown[] } };

export class Connection extends EventEmitter {
  /** true when the store opened the client (url) and so must close it */
  readonly owned: boolean;
  readonly collection: Promise<Collection<SessionDocument>>;
  /** The collection once it is known (the operations' fast path; undefined while it is still awaited). */
  current?: Collection<SessionDocument>;
  /** The Db the sessions live in, once known. */
  readonly db: Promise<Db>;
  /** Set when connecting can never work (the server refused the credentials, or the configuration is unusable). */
  fatal?: MongoStoreError;
  /** What the collection is still waiting for (named in a timeout's message), until it is known. */
  waitingFor?: string;
  /** host list of the client, for "one warning per server" */
  serverKey = 'unknown';
  private client?: AnyClient;
  private available?: boolean;
  private closed = false;
  /** the first answer of the server (see reached()); settled once */
  private readonly answered = settleOnce();
  private pinging = false;
  /** listeners to remove and waits to end at close(), so nothing stays attached to the app's objects */
  private readonly cleanups = new Set<() => void>();
  /** the servers whose last monitoring check failed */
  private readonly failing = new Set<string>();
  private topology?: TopologyDescriptionChangedEvent['newDescription'];
  private readonly watcher: Watcher = {
    topology: (e) => {
      const d = (this.topology = e.newDescription);
      if (d.hasDataBearingServers) return this.track(true);
      // A topology that has not finished its first check has only Unknown servers without an error: that is "not
      // known yet", not "lost" (else every store would emit disconnect + connect at start). A failed check sets
      // `error`. So does one operation whose connection the server closed (FerretDB does on a value it cannot
      // store); the driver then checks the server at once, and only a failed check is a loss: one failed operation
      // must not make express-session serve every other request without a session until `connect`.
      if ([...d.servers.values()].some((s) => s.error && this.failing.has(s.address))) this.track(false);
    },
    heartbeat: (address, failed) => {
      if (!failed) return void this.failing.delete(address);
      this.failing.add(address);
      if (this.topology && !this.topology.hasDataBearingServers) this.track(false);
    },
  };

  constructor(
    private readonly spec: ConnectionSpec,
    private readonly opts: ConnectionOptions,
  ) {
    super();
    this.owned = spec.kind === 'url';
    this.db = this.resolveDb(spec);
    this.collection = this.db.then((db) => {
      if (this.closed) throw closedError();
      // Whatever the client's default, the store's writes are acknowledged: a client made with w: 0 (or `W=0` in its
      // URL) gets w: 1 on this collection, so every insert/update/delete/createIndexes it sends says so.
      const w = (db as { writeConcern?: { w?: unknown } }).writeConcern?.w;
      const unacknowledged = w === 0 || w === '0';
      const col = db.collection<SessionDocument>(opts.collectionName, { readPreference: opts.readPreference ?? 'primary', ...(unacknowledged ? { writeConcern: { w: 1 } } : {}) });
      // `console.log(await store.collection())` would print the client and its connection string's password.
      hideFromInspection(col, [], () => ({ namespace: col.namespace }));
      return (this.current = col);
    });
    this.collection.then(
      () => (this.waitingFor = undefined),
      // Failures reach callers through their operations; never as an unhandled rejection.
      (e) => {
        debug('connection failed: %s', e?.message);
        this.answered.reject(e);
      },
    );
  }

  /**
   * Resolves once the server has answered: a connect of the client we opened succeeded, or (any other client) a
   * ping came back. The collection promise alone does not say so: for a client we open it resolves after the first
   * failed attempt (operations then fail fast while we retry), and an app's client may never have connected. Rejects
   * with the connection's permanent error, or at close(). Retries nobody waits on keep unref'd timers; whoever waits
   * here holds the process (ready()).
   */
  reached(): Promise<void> {
    if (!this.owned && !this.pinging) {
      this.pinging = true;
      this.pingUntilAnswered().then(this.answered.resolve, this.answered.reject);
    }
    return this.answered.promise;
  }

  private async pingUntilAnswered(): Promise<void> {
    const db = await this.db;
    for (let delay = 250; ; delay = Math.min(delay * 2, 2_000)) {
      try {
        if (this.closed) throw closedError(); // no ping after close(): nobody would await its answer
        await this.unlessClosed(db.command({ ping: 1 }));
        return;
      } catch (e) {
        if (this.closed) throw closedError();
        const reason = permanentReason(e);
        if (reason) throw this.permanent(reason, e);
        debug('ping failed (%s); retrying in %d ms', (e as Error)?.message, delay);
      }
      await this.unlessClosed(new Promise((resolve) => setTimeout(resolve, delay).unref()));
    }
  }

  private async resolveDb(spec: ConnectionSpec): Promise<Db> {
    const { dbName } = this.opts;
    switch (spec.kind) {
      case 'url': {
        // Not connect(): operations connect on demand, so a store built while the server is down still works later.
        // A 2 s heartbeat (driver default 10 s): with no traffic, only the heartbeat notices the server is back, and
        // express-session sends no traffic to a store that said `disconnect`.
        let client: MongoClient;
        try {
          client = new MongoClient(spec.url, { serverSelectionTimeoutMS: this.opts.timeoutMS, heartbeatFrequencyMS: 2_000, ...spec.mongoOptions });
        } catch (e) {
          throw this.permanent('config', e);
        }
        debug('opening a client for %s', maskUrl(spec.url));
        this.watch(client);
        // Operations wait for the first attempt's answer: a refused login or an unusable configuration then fails
        // each of them with the one clear error, never with the driver's raw error or a pool-cleared echo of it.
        await this.unlessClosed(this.keepConnecting(client));
        if (this.fatal) throw this.fatal; // ready() and collection() fail with it too, whatever the autoRemove mode
        return client.db(dbName);
      }
      case 'client':
        this.watch(spec.client);
        return spec.client.db(dbName);
      case 'clientPromise': {
        this.waitingFor = 'the clientPromise to resolve';
        const client = (await this.unlessClosed(spec.promise)) as AnyClient | undefined;
        if (typeof client?.db !== 'function') throw new MongoStoreError('clientPromise resolved to something that is not a MongoClient', 'ERR_CONNECT_MONGO_OPTIONS');
        this.watch(client);
        return client.db(dbName) as Db;
      }
      case 'mongooseConnection': {
        const db = await this.mongooseDb(spec.connection);
        const client = (db as { client?: AnyClient }).client;
        if (client) this.watch(client);
        return dbName && client ? (client.db(dbName) as Db) : db;
      }
      case 'db':
      case 'dbPromise': {
        if (spec.kind === 'dbPromise') this.waitingFor = 'the dbPromise to resolve';
        const db = spec.kind === 'db' ? spec.db : ((await this.unlessClosed(spec.promise)) as Db);
        if (typeof db?.collection !== 'function') throw new MongoStoreError('dbPromise resolved to something that is not a mongodb Db', 'ERR_CONNECT_MONGO_OPTIONS');
        if (db.client) this.watch(db.client);
        return dbName && dbName !== db.databaseName && db.client ? db.client.db(dbName) : db;
      }
    }
  }

  /**
   * The Db of a mongoose connection, once it has one. mongoose sets `db` when a connect succeeds; until then the
   * connection may be opened later (mongoose.connect() after the store is built) or retried after a failed attempt
   * (readyState 0 is not final), so wait for its 'connected' event rather than give up. Operations meanwhile fail
   * after operationTimeoutMS, saying what they wait for.
   */
  private async mongooseDb(conn: MongooseConnectionLike): Promise<Db> {
    for (;;) {
      const db = conn.db as Db | undefined;
      if (db && typeof db.collection === 'function') return db;
      if (typeof conn.once !== 'function') {
        // Not an event emitter: only its own promise can tell (a rejection is then final).
        if (typeof conn.asPromise === 'function') await this.unlessClosed(conn.asPromise());
        if (conn.db) continue;
        throw new MongoStoreError('the mongoose connection has no database', 'ERR_CONNECT_MONGO_OPTIONS');
      }
      this.waitingFor = 'the mongoose connection to open (mongoose.connect())';
      const wait = whenOpen(conn);
      this.cleanups.add(wait.cancel);
      try {
        await this.unlessClosed(wait.opened);
      } finally {
        this.cleanups.delete(wait.cancel);
        wait.cancel();
      }
    }
  }

  /** `p`, or a rejection as soon as the store closes (so a store closed while it waits leaves nothing behind). */
  private unlessClosed<T>(p: Promise<T>): Promise<T> {
    if (this.closed) {
      Promise.resolve(p).catch(() => {}); // already under way: its failure is nobody's to handle now
      return Promise.reject(closedError());
    }
    return new Promise<T>((resolve, reject) => {
      const onClose = () => reject(closedError());
      this.cleanups.add(onClose);
      Promise.resolve(p).then(
        (v) => (this.cleanups.delete(onClose), resolve(v)),
        (e) => (this.cleanups.delete(onClose), reject(e)),
      );
    });
  }

  /**
   * The driver closes a client's topology for good when its first connect fails, and its on-demand connect never
   * tries again (every later operation: "Topology is closed"), so a store created while the server is down would
   * stay dead. For a client we own we connect it ourselves and retry until it works; once connected, the driver's
   * monitoring reconnects by itself after any later outage. Refused credentials or an unusable configuration are
   * not retried: retrying a refused login locks accounts on real deployments, and neither heals by waiting.
   */
  private async keepConnecting(client: MongoClient): Promise<void> {
    try {
      await client.connect();
      this.answered.resolve();
    } catch (e) {
      if (this.closed) return;
      const reason = permanentReason(e, true);
      if (reason) {
        this.permanent(reason, e);
        return; // the first attempt's answer: operations see `fatal`
      }
      debug('connecting failed (%s); retrying', (e as Error)?.message);
      void this.retryConnecting(client);
    }
  }

  private async retryConnecting(client: MongoClient) {
    for (let delay = 250; !this.closed; delay = Math.min(delay * 2, 2_000)) {
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
      if (this.closed) return;
      try {
        await client.connect();
        this.answered.resolve();
        return;
      } catch (e) {
        if (this.closed) return;
        const reason = permanentReason(e, true);
        if (reason) return void this.permanent(reason, e);
        debug('connecting failed (%s); retrying in %d ms', (e as Error)?.message, Math.min(delay * 2, 2_000));
      }
    }
  }

  /**
   * A failure that retrying cannot fix, as one clear error. For a client we opened it is final: recorded (every
   * later operation fails with it), and the client is closed so that nothing tries again. No raw driver error is
   * attached: only its name, code and message, with the connection string's secrets removed.
   */
  permanent(reason: 'auth' | 'config', e: unknown): MongoStoreError {
    if (this.fatal) return this.fatal;
    const err = e as { name?: string; code?: unknown; codeName?: string; message?: string };
    let detail = `${err?.name ?? 'Error'}${err?.codeName || err?.code !== undefined ? ` (${[err.codeName, err.code].filter((x) => x !== undefined).join(' ')})` : ''}: ${String(err?.message ?? e).split('\n')[0]}`;
    if (this.spec.kind === 'url') for (const s of urlSecrets(this.spec.url)) if (s) detail = detail.split(s).join('****');
    const error =
      reason === 'auth'
        ? new MongoStoreError(`connect-mongo: MongoDB refused the credentials (${detail}); the store does not retry a refused login (it would lock accounts): fix the user, password or authMechanism and restart`, 'ERR_CONNECT_MONGO_AUTH')
        : new MongoStoreError(`connect-mongo: the connection cannot work as configured (${detail}); the store does not retry: fix the connection string or mongoOptions and restart`, 'ERR_CONNECT_MONGO_OPTIONS');
    if (!this.owned) return error;
    this.fatal = error;
    this.answered.reject(error);
    debug('giving up on the connection: %s', error.message);
    void this.client?.close().catch(() => {});
    return error;
  }

  private watch(client: AnyClient) {
    if (this.closed) return; // closed while a clientPromise/dbPromise/mongoose connection was pending: attach nothing
    this.client = client;
    const hosts = client.options?.hosts;
    if (Array.isArray(hosts) && hosts.length) this.serverKey = hosts.map(String).sort().join(',');
    // A client-like object without events (a wrapper, a test double) still works; it just gives no connect/disconnect.
    if (typeof client.on !== 'function') return;
    watchClient(client, this.watcher);
  }

  private unwatch() {
    if (this.client) unwatchClient(this.client, this.watcher);
  }

  private track(available: boolean) {
    if (this.closed || available === this.available) return;
    const first = this.available === undefined;
    this.available = available;
    if (first && available) return; // the first sighting of a healthy server is not news
    debug(available ? 'server available again' : 'server lost');
    this.emit(available ? 'connect' : 'disconnect');
  }

  /**
   * Stops listening and waiting (operations still waiting for the connection fail with ERR_CONNECT_MONGO_CLOSED),
   * lets `drain` finish (the operations already at the server), then closes the client only when we opened it.
   * Each step waits at most timeoutMS: a server that stopped answering (a black-holed network) must not hold up a
   * shutdown for the driver's 30 s connect timeout. Idempotent.
   */
  async close(drain?: () => Promise<unknown>): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const cleanup of [...this.cleanups]) cleanup();
    this.cleanups.clear();
    this.answered.reject(closedError());
    this.unwatch();
    if (drain) await within(drain(), this.opts.timeoutMS);
    if (!this.owned || !this.client) return;
    const client = this.client;
    const closing = client.close().then(() => true);
    if (!(await within(closing, this.opts.timeoutMS).catch(() => true))) forceClose(client, closing);
  }
}

/**
 * One pair of 'connected'/'open' listeners per mongoose connection, shared by every store waiting for it (twelve
 * stores on a connection that is not open yet must not trip MaxListenersExceededWarning), removed when it fires
 * or when the last waiting store gives up.
 */
const openWaits = new WeakMap<object, { opened: Promise<void>; users: number; off(): void }>();
function whenOpen(conn: MongooseConnectionLike): { opened: Promise<void>; cancel(): void } {
  let w = openWaits.get(conn);
  if (!w) {
    let fire!: () => void;
    const opened = new Promise<void>((resolve) => (fire = resolve));
    const done = () => {
      entry.off();
      fire();
    };
    const entry = {
      opened,
      users: 0,
      off: () => {
        for (const ev of ['connected', 'open']) (conn.off ?? conn.removeListener)?.call(conn, ev, done);
        if (openWaits.get(conn) === entry) openWaits.delete(conn);
      },
    };
    conn.once!('connected', done);
    conn.once!('open', done);
    openWaits.set(conn, entry);
    w = entry;
  }
  const entry = w;
  entry.users++;
  let cancelled = false;
  return {
    opened: entry.opened,
    cancel: () => {
      if (cancelled) return;
      cancelled = true;
      if (--entry.users === 0) entry.off();
    },
  };
}

/**
 * A client whose close() did not finish in time (its endSessions or killCursors sent to a server that does not
 * answer): its connections are ended now (the driver's own `force` flag does nothing since 6.x). Only through the
 * topology's methods, where the client has them; otherwise its close() goes on in the background.
 */
function forceClose(client: AnyClient, closing: Promise<unknown>) {
  closing.catch((e) => debug('closing the client failed: %s', (e as Error)?.message));
  const topology = (client as { topology?: { closeCheckedOutConnections?(): void; close?(): void } }).topology;
  debug('the client did not close in time; ending its connections');
  try {
    topology?.closeCheckedOutConnections?.();
    topology?.close?.();
  } catch (e) {
    debug('ending the connections failed: %s', (e as Error)?.message);
  }
}

/** A promise with its resolve/reject, which settle it once; its rejection is handled by whoever awaits it. */
function settleOnce() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {});
  return { promise, resolve: () => resolve(), reject: (e: unknown) => reject(e) };
}

const closedError = () => new MongoStoreError('the store was closed before it connected', 'ERR_CONNECT_MONGO_CLOSED');
