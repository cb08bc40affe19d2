/**
 * The stored session document: the fields a set or touch writes, and the session a stored document reads back as.
 * Nothing here talks to the server or keeps state; the store calls it with its normalized options.
 */
import type { UpdateFilter } from 'mongodb';
import { validateSessionDocument, type SessionDocument } from '../generated';
import { MongoStoreError, SessionCorruptError, describeFound } from './errors';
import { hmacId } from './crypto';
import { sidTag } from './debug';
import type { Codec } from './codec';
import type { NormalizedOptions } from './options';

type DocOptions = Pick<NormalizedOptions<unknown>, 'ttlMs' | 'touchAfterMs' | 'timestamps'>;

/**
 * The function from a sid to the _id it is stored under (transformId, then the hashIds HMAC); it refuses anything
 * but a well-formed, non-empty string before any query is built.
 */
export function storageIdFunction(opts: Pick<NormalizedOptions<unknown>, 'transformId' | 'hashIdsSecret'>): (sid: unknown) => string {
  const hash = opts.hashIdsSecret ? hmacId(opts.hashIdsSecret) : undefined;
  const transform = opts.transformId;
  return (sid) => {
    checkSid(sid);
    const id = transform ? transform(sid) : sid;
    if (typeof id !== 'string' || id.length === 0) {
      throw new MongoStoreError(`transformId must return a non-empty string, returned ${describeFound(id)}`, 'ERR_CONNECT_MONGO_INVALID_SID');
    }
    return hash ? hash(id) : id;
  };
}

/** A sid the store accepts; a lone surrogate encodes to U+FFFD, so two such sids would share one stored session. */
export function checkSid(sid: unknown): asserts sid is string {
  if (typeof sid !== 'string' || sid.length === 0 || sid.length > 1024 || !(sid as string & { isWellFormed(): boolean }).isWellFormed()) {
    throw new MongoStoreError(`session id must be a well-formed, non-empty string of at most 1024 characters, got ${typeof sid === 'string' ? `one of ${sid.length}` : describeFound(sid)}`, 'ERR_CONNECT_MONGO_INVALID_SID');
  }
}

/** The cookie's expiry when it has one, else now + ttl. */
export function expiresOf(session: unknown, now: Date, opts: DocOptions): Date {
  const raw = (session as { cookie?: { expires?: unknown } })?.cookie?.expires;
  if (raw) {
    const d = new Date(raw as string);
    if (!Number.isNaN(d.getTime())) return d;
  }
  return new Date(now.getTime() + opts.ttlMs);
}

/** touchAfter: the session was written (or touched) less than touchAfter ago, so a touch may be skipped. */
export function withinTouchWindow(session: unknown, now: Date, opts: DocOptions): boolean {
  const last = (session as { lastModified?: unknown })?.lastModified;
  if (!(opts.touchAfterMs > 0) || !last) return false;
  const t = new Date(last as string).getTime();
  return !Number.isNaN(t) && now.getTime() - t < opts.touchAfterMs;
}

/** touchAfter's bookkeeping field never goes into the stored payload. */
export function withoutLastModified<S>(session: S, opts: DocOptions): S {
  if (!session || typeof session !== 'object' || !('lastModified' in session) || !(opts.touchAfterMs > 0)) return session;
  const { lastModified: _ignored, ...rest } = session as S & { lastModified?: unknown };
  return rest as S;
}

/**
 * A set's update: the encoded session and its expiry, the bookkeeping fields the options ask for, and its user's id
 * (`owner`: its stored form, null for an anonymous session, undefined when the store keeps no userId).
 */
export function setUpdate(encoded: SessionDocument['session'], expires: Date, now: Date, opts: DocOptions, stamp: number, stampedBy: string, owner?: string | number | null): UpdateFilter<SessionDocument> {
  const fields: Partial<SessionDocument> = { session: encoded, expires, stamp, stampedBy };
  if (owner !== undefined && owner !== null) fields.userId = owner;
  if (opts.touchAfterMs > 0) fields.lastModified = now;
  if (opts.timestamps) fields.updatedAt = now;
  const update: UpdateFilter<SessionDocument> = { $set: fields };
  if (opts.timestamps) update.$setOnInsert = { createdAt: now };
  // A lastModified left by an earlier touchAfter setting (or a damaged one) goes with the next save.
  const unset: Record<string, ''> = {};
  if (!(opts.touchAfterMs > 0)) unset.lastModified = '';
  if (owner === null) unset.userId = ''; // a log-out without regenerate: the session leaves its user
  if (unset.lastModified !== undefined || unset.userId !== undefined) update.$unset = unset;
  return update;
}

/** A touch's filter: the session, not the marker a destroy leaves (write-order.ts). */
export function touchFilter(id: string, stamp: number) {
  // and not a session written after the touch's time was up (`stamp`, write-order.ts): a touch landing late must not
  // move back the expiry of a later save
  return { _id: id, session: { $ne: null }, stamp: { $not: { $gt: stamp } } };
}

/** A touch's update: the expiry only (and the bookkeeping fields), never the session. */
export function touchUpdate(expires: Date, now: Date, opts: DocOptions): UpdateFilter<SessionDocument> {
  const fields: Partial<SessionDocument> = { expires };
  if (opts.touchAfterMs > 0) fields.lastModified = now;
  if (opts.timestamps) fields.updatedAt = now;
  return { $set: fields };
}

/**
 * A stored document → the session, or null when expired. Throws SessionCorruptError for one that cannot be used.
 * Synchronous unless a cipher or the app's unserialize answers a promise (no promise per read without crypto).
 */
export function readLive<S>(doc: SessionDocument, codec: Codec<S>, opts: DocOptions): S | null | PromiseLike<S> {
  if (doc.session === null && typeof doc.stamp === 'number') return null; // a destroyed session's marker (write-order.ts)
  if (!validateSessionDocument(doc)) {
    const e = validateSessionDocument.errors?.[0];
    throw new SessionCorruptError(`the stored document is malformed: ${e?.instancePath || '/'} ${e?.message}`);
  }
  if (doc.expires && doc.expires.getTime() <= Date.now()) return null; // the TTL monitor may not have run yet
  const decoded = codec.decode(doc.session, doc._id);
  const live = (session: S) => {
    // An app's unserialize may answer anything (a string, say): only an object carries the bookkeeping fields.
    if (opts.touchAfterMs > 0 && doc.lastModified && session && typeof session === 'object') (session as { lastModified?: Date }).lastModified = doc.lastModified;
    withStoredExpiry(session, doc.expires);
    return session;
  };
  // Any thenable (an app's unserialize may answer another library's promise), as `await` would take it.
  return isThenable(decoded) ? Promise.resolve(decoded).then(live) : live(decoded);
}

/**
 * A stored document → the session, or null (expired; a corrupt one per onCorruptSession: thrown, or handed to
 * `ignored` and answered as null). Names the session by its sidTag only.
 */
export function sessionFrom<S>(doc: SessionDocument, sid: string | undefined, codec: Codec<S>, opts: DocOptions & Pick<NormalizedOptions<unknown>, 'onCorruptSession'>, ignored: (e: SessionCorruptError) => void): S | null | PromiseLike<S | null> {
  const corrupt = (e: unknown): null => {
    if (!(e instanceof SessionCorruptError)) throw e;
    const err = new SessionCorruptError(`session ${sid === undefined ? 'in the collection' : sidTag(sid)} cannot be used: ${e.message}`, { cause: e });
    if (opts.onCorruptSession === 'error') throw err;
    ignored(err);
    return null;
  };
  let live: S | null | PromiseLike<S>;
  try {
    live = readLive(doc, codec, opts);
  } catch (e) {
    return corrupt(e);
  }
  return isThenable(live) ? live.then(undefined, corrupt) : live;
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

export function isThenable<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** Sessions that have not expired (documents without `expires` never do, as in connect-mongo); not destroyed ones' markers. */
export function liveFilter() {
  return { $or: [{ expires: { $gt: new Date() } }, { expires: { $exists: false } }], session: { $ne: null } };
}
