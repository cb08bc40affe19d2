/**
 * koa-session 7's external store (`store: koaSessionStore(mongoStore)`): get/set/destroy translated to the MongoStore's
 * get/set/touch/destroy. No storage logic here: adapters translate and delegate to MongoStore. Koa is typed
 * structurally, never imported (it is no dependency of this package).
 *
 * The expiry: koa-session writes `_expire` (when the cookie ends, ms) and `_maxAge`, or `_session: true` for a
 * browser-session cookie (`maxAge: 'session'`). The store takes a session's expiry from `cookie.expires`, so the stored
 * session carries `cookie: { expires: _expire }` (else now + the store-maxAge koa-session passes; 'session' → the
 * store's ttl). The document then expires when koa-session itself would call the session expired, without koa-session's
 * 10 s margin: a cookie past `_expire` is refused by koa-session anyway. get() strips that cookie, and sets `_expire`
 * from the stored expiry, which a touch moves without rewriting the session.
 */
import type { MongoStore } from './store';

/** A koa-session session as it goes to and comes from its store. */
export type KoaSessionData = Record<string, unknown>;

export interface KoaSessionStoreOptions {
  /**
   * koa-session's save of an unchanged session (`changed: false`: rolling, renew) is a touch, an update of the
   * document's `expires` only (none at all within the store's touchAfter). Default true; false: always a full set.
   */
  touch?: boolean;
}

/** The external store koa-session 7 calls (its `store` option). */
export interface KoaSessionStore {
  get(key: string, maxAge?: number | 'session', opts?: { rolling?: boolean; ctx?: object }): Promise<KoaSessionData | null>;
  set(key: string, sess: KoaSessionData, maxAge?: number | 'session', opts?: { rolling?: boolean; changed?: boolean; ctx?: object }): Promise<void>;
  destroy(key: string, opts?: { ctx?: object }): Promise<void>;
}

/**
 * Fields the store reads on a session (`cookie`, touchAfter's `lastModified`). koa-session's own data never has a key
 * starting with '_' other than its _expire/_maxAge/_session (Session#toJSON skips them), so an app's field of one of
 * these names is stored as `_name` and given back under its name.
 */
const RESERVED = new Set(['cookie', 'lastModified']);

/** What get() handed to koa-session in one request: a save of it unchanged is a touch. */
interface Loaded { key: string; snapshot: string; lastModified?: unknown }

/** The session without `_expire` (which every save moves): equal snapshots, equal stored sessions. */
const snapshotOf = (sess: KoaSessionData) => JSON.stringify(sess, (k, v) => (k === '_expire' ? undefined : v));

function toStored(sess: KoaSessionData, maxAge: number | 'session' | undefined): KoaSessionData {
  const stored: KoaSessionData = {};
  for (const [k, v] of Object.entries(sess)) stored[RESERVED.has(k) ? `_${k}` : k] = v;
  const until = typeof sess._expire === 'number' ? sess._expire : typeof maxAge === 'number' && !sess._session ? Date.now() + maxAge : undefined;
  // No cookie.expires: the store's ttl (a browser-session cookie has no end of its own).
  stored.cookie = { expires: until === undefined ? null : new Date(until) };
  return stored;
}

function fromStored(stored: KoaSessionData): KoaSessionData {
  const sess: KoaSessionData = {};
  for (const [k, v] of Object.entries(stored)) {
    if (RESERVED.has(k)) continue;
    sess[k.startsWith('_') && RESERVED.has(k.slice(1)) ? k.slice(1) : k] = v;
  }
  const expires = (stored.cookie as { expires?: unknown } | undefined)?.expires;
  const at = expires ? new Date(expires as string).getTime() : NaN;
  if (typeof sess._expire === 'number' && !Number.isNaN(at)) sess._expire = at; // a touch moved it
  return sess;
}

export function koaSessionStore(store: MongoStore<any>, options: KoaSessionStoreOptions = {}): KoaSessionStore {
  const touch = options.touch !== false;
  // Per request (koa-session passes its ctx): weak, so a request's entry goes with it.
  const loaded = new WeakMap<object, Loaded>();
  return {
    async get(key, _maxAge, opts) {
      const stored = (await store.get(key)) as KoaSessionData | null;
      if (!stored) return null;
      const sess = fromStored(stored);
      if (opts?.ctx) loaded.set(opts.ctx, { key, snapshot: snapshotOf(sess), lastModified: stored.lastModified });
      return sess;
    },
    async set(key, sess, maxAge, opts) {
      const stored = toStored(sess, maxAge);
      // changed: false is also koa-session's forced save (session.save(), regenerate, a new maxAge), which may carry
      // new data or a new key: a touch only when this request read this very session and it is as it was read.
      const was = opts?.ctx && loaded.get(opts.ctx);
      if (touch && opts?.changed === false && was && was.key === key && was.snapshot === snapshotOf(sess)) {
        if (was.lastModified !== undefined) stored.lastModified = was.lastModified; // touchAfter's window
        return store.touch(key, stored);
      }
      return store.set(key, stored);
    },
    destroy(key) {
      return store.destroy(key);
    },
  };
}
