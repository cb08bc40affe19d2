/**
 * Removal of expired sessions: a TTL index ('native'), an acknowledged deleteMany on a timer ('interval'), or
 * nothing ('disabled'). A server that refuses the TTL index for good (FerretDB: code 238; an existing index on
 * `expires` with other options: 85/86; no privilege: 13; see isTtlRefusalFinal) falls back to 'interval' with one
 * warning per server and collection in the process instead of breaking the store. Anything else (an unreachable
 * server, a stepdown, an interrupted build) is retried with backoff, not given up on. The { userId: 1 } index of the
 * userId option is kept here too, the same way, in every mode: the indexes a store builds at its start live here.
 */
import type { Collection, WriteConcernSettings } from 'mongodb';
import type { SessionDocument } from '../generated';
import { isTtlRefusalFinal, permanentReason } from './driver-errors';
import type { Connection } from './connection';
import type { NormalizedOptions } from './options';
import { debug } from './debug';
import { MongoStoreError } from './errors';
import { ensureUserIndex, findTtlIndex, findUserIndex, missingTtlIndexMessage } from './setup';

export type AutoRemoveMode = 'native' | 'interval' | 'disabled';

export interface AutoRemoveOptions {
  mode: AutoRemoveMode;
  intervalMs: number;
  /** false: native mode only checks for the TTL index (listIndexes), never creates it */
  createIndexes?: boolean;
  writeConcern?: WriteConcernSettings;
  /** one clear warning when native falls back */
  warn(message: string, code: string): void;
  /** the server the collection lives on (host list), so that N stores on it warn once */
  serverKey?: () => string;
  /** with the userId option: also create (createIndexes) or look for the { userId: 1 } index, once the server answers */
  userIndex?: boolean;
  /** the store's error when the connection can never work (refused credentials, unusable configuration), else undefined */
  fatal?: (e: unknown) => Error | undefined;
}

/** A store's AutoRemover: its options, and what its connection says of the server and of failures for good. */
export function autoRemoverOf(connection: Connection, opts: Pick<NormalizedOptions<any>, 'autoRemove' | 'autoRemoveIntervalMs' | 'createIndexes' | 'userId' | 'writeConcern'>, warn: AutoRemoveOptions['warn']): AutoRemover {
  return new AutoRemover(connection.collection, {
    mode: opts.autoRemove,
    intervalMs: opts.autoRemoveIntervalMs,
    createIndexes: opts.createIndexes,
    userIndex: !!opts.userId,
    writeConcern: opts.writeConcern,
    serverKey: () => connection.serverKey,
    fatal: (e) => {
      const reason = permanentReason(e);
      return connection.fatal ?? (reason ? connection.permanent(reason, e) : undefined);
    },
    warn,
  });
}

/** server + namespace of every TTL fallback already warned about in this process */
const warnedFallback = new Set<string>();

const RETRY_MIN_MS = 1_000;
const MAX_TIMER_MS = 2 ** 31 - 1;
const RETRY_MAX_MS = 60_000;

/** The query for sessions that have expired (documents without `expires` never do, as in connect-mongo). */
export const expiredFilter = () => ({ expires: { $lt: new Date() } });

export class AutoRemover {
  /** what is in force: 'pending' until the TTL index answer is known */
  mode: AutoRemoveMode | 'pending';
  /** settles once the mode is decided; rejects when the connection can never work (opts.fatal) or at stop() before */
  readonly ready: Promise<AutoRemoveMode>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;
  /** the pauses under way (each a retry's wait): a server back, or stop(), ends them */
  private readonly wakers = new Set<() => void>();

  constructor(
    private readonly collection: Promise<Collection<SessionDocument>>,
    private readonly opts: AutoRemoveOptions,
  ) {
    this.mode = opts.mode === 'native' ? 'pending' : opts.mode;
    this.ready = this.start();
    this.ready.catch(() => {}); // handled by whoever awaits ready(); never an unhandled rejection
    // after the TTL step: two index builds at once on a new collection could race to create it
    if (opts.userIndex) this.userIndex = this.ready.then(() => this.keepUserIndex(), () => {});
  }

  /** settles when the userId index is settled (created, found, or warned about), or the store stopped */
  userIndex?: Promise<void>;

  /** The userId index: created or looked for once the server answers; missing or refused, one warning. */
  private async keepUserIndex(): Promise<void> {
    let col: Collection<SessionDocument>;
    try {
      col = await this.collection;
    } catch {
      return;
    }
    for (let delay = RETRY_MIN_MS; !this.stopped; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      try {
        if (this.opts.createIndexes === false) {
          if (!(await findUserIndex(col))) this.opts.warn(`connect-mongo: createIndexes is false and there is no index on "userId" in ${col.dbName}.${col.collectionName}: run \`connect-mongo setup\` once (until then userSessions() and destroyUserSessions() scan the collection)`, 'CONNECT_MONGO_USER_INDEX_MISSING');
          return;
        }
        const r = await ensureUserIndex(col, { writeConcern: this.opts.writeConcern });
        if (r.index === 'refused') this.opts.warn(`connect-mongo: ${r.message}`, 'CONNECT_MONGO_USER_INDEX_REFUSED');
        else debug('%s', r.message);
        return;
      } catch (e) {
        if (this.stopped || this.opts.fatal?.(e)) return;
        debug('userId index not settled yet (%s); retrying in %d ms', (e as Error).message, delay);
        await this.pause(delay);
      }
    }
  }

  /** Waits `ms` (unref'd: a retry nobody waits for must not keep an idle app alive); stop() or retryNow() ends it. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this.wakers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      t.unref();
      this.wakers.add(wake);
    });
  }

  /** A server came back: retry a pending index build now rather than at the next backoff step. */
  retryNow() {
    for (const wake of [...this.wakers]) wake();
  }

  private async start(): Promise<AutoRemoveMode> {
    if (this.opts.mode === 'disabled') return 'disabled';
    if (this.opts.mode === 'interval') {
      this.schedule();
      return 'interval';
    }
    let col: Collection<SessionDocument>;
    try {
      col = await this.collection;
    } catch {
      return this.opts.mode; // no collection ever (a rejected clientPromise): operations report that error
    }
    for (let delay = RETRY_MIN_MS; !this.stopped; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      try {
        if (this.opts.createIndexes === false) {
          // Many instances: the index was made once (`connect-mongo setup`); look for it, never build it.
          const found = await findTtlIndex(col);
          if (found.state === 'ttl') return (this.mode = 'native');
          this.opts.warn(missingTtlIndexMessage(found, this.opts.intervalMs, `${col.dbName}.${col.collectionName}`), 'CONNECT_MONGO_TTL_MISSING');
          this.schedule();
          return (this.mode = 'interval');
        }
        await col.createIndex({ expires: 1 }, { expireAfterSeconds: 0, name: 'expires_1' });
        debug('TTL index on expires is in place');
        return (this.mode = 'native');
      } catch (e) {
        if (this.stopped) break;
        if (isTtlRefusalFinal(e)) {
          // The server answered a "never": it will keep answering no. Remove expired sessions ourselves.
          this.warnOnce(col, e as Error & { code: number });
          this.schedule();
          return (this.mode = 'interval');
        }
        const fatal = this.opts.fatal?.(e);
        if (fatal) throw fatal;
        debug('TTL index not created yet (%s); retrying in %d ms', (e as Error).message, delay);
        await this.pause(delay);
      }
    }
    // Stopped (store.close()) before the index answer came: no mode is in force, and ready() must not say one is.
    throw new MongoStoreError('the store was closed before its expiry mode was settled', 'ERR_CONNECT_MONGO_CLOSED');
  }

  /** The fallback warning, once per server and collection in this process (three stores on one server: one). */
  private warnOnce(col: Collection<SessionDocument>, e: Error & { code: number }) {
    const key = `${this.opts.serverKey?.() ?? 'unknown'}/${col.dbName}.${col.collectionName}`;
    if (warnedFallback.has(key)) return debug('TTL index refused again (code %d); already warned for %s', e.code, key);
    warnedFallback.add(key);
    this.opts.warn(
      `connect-mongo: the server refused the TTL index on "expires" (code ${e.code}: ${e.message}); ` +
        `expired sessions are removed every ${this.opts.intervalMs / 60_000} min instead (autoRemove: 'interval').`,
      'CONNECT_MONGO_TTL_FALLBACK',
    );
  }

  /** One acknowledged deleteMany of expired sessions; never two at once. */
  removeExpired(): Promise<unknown> {
    if (this.running) return this.running;
    this.running = this.collection
      .then((col) => col.deleteMany(expiredFilter(), this.opts.writeConcern ? { writeConcern: this.opts.writeConcern } : {}))
      .then((r) => debug('removed %d expired sessions', r.deletedCount))
      .catch((e) => debug('removing expired sessions failed: %s', e?.message))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** the random delay the last tick drew before its removal (for tests and tools) */
  nextRunInMs?: number;
  private pending?: NodeJS.Timeout;

  /**
   * Many instances share one collection: a timer ticks every interval (setInterval, as connect-mongo 6, whose suite
   * checks it) and each tick removes after a random delay of up to 40 % of the interval, so N instances' removals
   * spread out instead of piling up, and none removes at boot. A tick while a removal is pending or running is
   * skipped, so runs never overlap.
   */
  private schedule() {
    if (this.stopped || this.timer) return;
    // Node's timers hold at most 2^31-1 ms (24.8 days); the schema allows connect-mongo 6's 71582 minutes (49.7 days),
    // which would overflow to 1 ms: longer intervals tick every 24.8 days instead (an extra removal is harmless).
    this.timer = setInterval(() => this.tick(), Math.min(this.opts.intervalMs, MAX_TIMER_MS));
    this.timer.unref();
  }

  private tick() {
    if (this.stopped || this.pending || this.running) return;
    this.nextRunInMs = Math.random() * 0.4 * this.opts.intervalMs;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.removeExpired();
    }, this.nextRunInMs);
    this.pending.unref();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    clearTimeout(this.pending);
    for (const wake of [...this.wakers]) wake();
  }
}
