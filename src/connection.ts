/**
 * Any connection kind → one promise of the sessions collection. Knows whether the store owns the client (only a
 * client it opened from a URL is closed by close()), and turns the driver's topology events into the store's
 * `connect` / `disconnect` (real loss and recovery of the server, never a single failed operation).
 */
import { EventEmitter } from 'node:events';
import { MongoClient, type Collection, type Db, type ReadPreferenceMode, type TopologyDescriptionChangedEvent } from 'mongodb';
import type { SessionDocument } from '../generated';
import type { ConnectionSpec } from './options';
import { MongoStoreError, maskUrl } from './errors';
import { debug } from './debug';

export interface ConnectionOptions {
  dbName?: string;
  collectionName: string;
  /** server selection timeout of a client we open ourselves */
  timeoutMS: number;
  /** the store's own read preference: a user's client set to read secondaries must not make get miss a fresh log-in */
  readPreference?: ReadPreferenceMode;
}

export class Connection extends EventEmitter {
  /** true when the store opened the client (url) and so must close it */
  readonly owned: boolean;
  readonly collection: Promise<Collection<SessionDocument>>;
  /** The Db the sessions live in, once known. */
  readonly db: Promise<Db>;
  private client?: MongoClient;
  private available?: boolean;
  private closed = false;
  private readonly onTopology = (e: TopologyDescriptionChangedEvent) => {
    const d = e.newDescription;
    if (d.hasDataBearingServers) return this.track(true);
    // A topology that has not finished its first check has only Unknown servers without an error: that is "not known
    // yet", not "lost" (else every store would emit disconnect + connect at start). A failed check sets `error`.
    if ([...d.servers.values()].some((s) => s.error)) this.track(false);
  };

  constructor(spec: ConnectionSpec, private readonly opts: ConnectionOptions) {
    super();
    this.owned = spec.kind === 'url';
    this.db = this.resolveDb(spec);
    this.collection = this.db.then((db) => {
      if (this.closed) throw new MongoStoreError('the store was closed before it connected', 'ERR_CONNECT_MONGO_CLOSED');
      return db.collection<SessionDocument>(opts.collectionName, { readPreference: opts.readPreference ?? 'primary' });
    });
    // Failures reach callers through their operations; never as an unhandled rejection.
    this.collection.catch((e) => debug('connection failed: %s', e?.message));
  }

  private async resolveDb(spec: ConnectionSpec): Promise<Db> {
    const { dbName } = this.opts;
    switch (spec.kind) {
      case 'url': {
        // Not connect(): operations connect on demand, so a store built while the server is down still works later.
        // A 2 s heartbeat (driver default 10 s): with no traffic, only the heartbeat notices the server is back, and
        // express-session sends no traffic to a store that said `disconnect`.
        const client = new MongoClient(spec.url, { serverSelectionTimeoutMS: this.opts.timeoutMS, heartbeatFrequencyMS: 2_000, ...spec.mongoOptions });
        debug('opening a client for %s', maskUrl(spec.url));
        this.watch(client);
        void this.keepConnecting(client);
        return client.db(dbName);
      }
      case 'client':
        this.watch(spec.client);
        return spec.client.db(dbName);
      case 'clientPromise': {
        const client = await spec.promise;
        if (typeof client?.db !== 'function') throw new MongoStoreError('clientPromise resolved to something that is not a MongoClient', 'ERR_CONNECT_MONGO_OPTIONS');
        this.watch(client);
        return client.db(dbName);
      }
      case 'mongooseConnection': {
        const conn = spec.connection;
        // 1 = connected; anything else: wait for mongoose to finish (or fail) opening.
        if (conn.readyState !== 1 && typeof conn.asPromise === 'function') await conn.asPromise();
        const client = conn.getClient?.() as MongoClient | undefined;
        if (client) this.watch(client);
        const db = dbName && client ? client.db(dbName) : (conn.db as Db | undefined);
        if (!db) throw new MongoStoreError('the mongoose connection has no database yet', 'ERR_CONNECT_MONGO_OPTIONS');
        return db;
      }
      case 'db':
      case 'dbPromise': {
        const db = spec.kind === 'db' ? spec.db : await spec.promise;
        if (typeof db?.collection !== 'function') throw new MongoStoreError('dbPromise resolved to something that is not a mongodb Db', 'ERR_CONNECT_MONGO_OPTIONS');
        if (db.client) this.watch(db.client);
        return dbName && dbName !== db.databaseName && db.client ? db.client.db(dbName) : db;
      }
    }
  }

  /**
   * The driver closes a client's topology for good when its first connect fails, and its on-demand connect never
   * tries again (every later operation: "Topology is closed"), so a store created while the server is down would
   * stay dead. For a client we own we connect it ourselves and retry until it works; once connected, the driver's
   * monitoring reconnects by itself after any later outage.
   */
  private async keepConnecting(client: MongoClient) {
    for (let delay = 250; !this.closed; delay = Math.min(delay * 2, 2_000)) {
      try {
        await client.connect();
        return;
      } catch (e) {
        if (this.closed) return;
        debug('connecting failed (%s); retrying in %d ms', (e as Error)?.message, delay);
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
      }
    }
  }

  private watch(client: MongoClient) {
    this.client = client;
    // A client-like object without events (a wrapper, a test double) still works; it just gives no connect/disconnect.
    if (typeof client.on !== 'function') return;
    client.on('topologyDescriptionChanged', this.onTopology);
  }

  private track(available: boolean) {
    if (this.closed || available === this.available) return;
    const first = this.available === undefined;
    this.available = available;
    if (first && available) return; // the first sighting of a healthy server is not news
    debug(available ? 'server available again' : 'server lost');
    this.emit(available ? 'connect' : 'disconnect');
  }

  /** Stops listening; closes the client only when we opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (typeof this.client?.off === 'function') this.client.off('topologyDescriptionChanged', this.onTopology);
    if (this.owned && this.client) await this.client.close();
  }
}
