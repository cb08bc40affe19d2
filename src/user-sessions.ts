/**
 * Sessions by user (the userId option): which user a session belongs to, the form of that id the document holds (an
 * HMAC when the store hashes ids or encrypts, so that a copy of the collection names nobody), and the commands that
 * list, end and cap one user's sessions from the { userId: 1 } index.
 *
 * Ending sessions leaves destroyed sessions' markers (write-order.ts), stamped after every write of them this store
 * saw, so that a save on its way cannot bring one back, and a session written after the call (a log-in that came
 * later) stays. The cap: each set that creates a session of a user, or moves one to a user, trims that user's live
 * sessions to the N newest by last write; two trims of one user agree on which are the newest, so once concurrent
 * log-ins settle at most N remain (the last one's trim reads after every insert).
 */
import { createHmac } from 'node:crypto';
import type { Collection, ReadPreferenceLike } from 'mongodb';
import type { SessionDocument } from '../generated';
import { MongoStoreError } from './errors';
import { destroyUpdate, lateIdsOf, markAbsent, stampAfter, writtenBefore } from './write-order';
import { liveFilter } from './session-doc';
import type { NormalizedOptions } from './options';

export type UserId = string | number;

/** One session of a user, as userSessions() gives it. */
export interface UserSession<S> {
  /** the stored _id: the sid itself, or its transformId / hashIds form */
  id: string;
  session: S;
  expires?: Date;
  /** the last set of the session (its write-order stamp); absent for a session connect-mongo 6 wrote */
  lastWrite?: Date;
  /** with timestamps: true */
  createdAt?: Date;
  /** with timestamps: true (a touch moves it too) */
  updatedAt?: Date;
}

type CommandOptions = () => { timeoutMS?: number; writeConcern?: object };

/** the longest user id kept (as a sid: an index key stays small) */
const MAX_USER_ID_LENGTH = 1024;

/** Why `v` is no user id ("a boolean", "an empty string"…, never the value: it is session data), or undefined. */
function userIdProblem(v: unknown): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : `${v}`;
  if (typeof v !== 'string') return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
  if (v.length === 0) return 'an empty string';
  if (v.length > MAX_USER_ID_LENGTH) return `a string of ${v.length} characters (at most ${MAX_USER_ID_LENGTH})`;
  if (!(v as string & { isWellFormed(): boolean }).isWellFormed()) return 'a string with a lone surrogate';
  if (v.includes('\0')) return 'a string with a NUL character';
  return undefined;
}

/** The sessions' users of one store: resolved from the session, stored in clear or as an HMAC. */
export class Users {
  readonly max: number | undefined;
  private readonly read: (session: unknown) => unknown;
  private readonly what: string;
  /** HMAC keys, the first for writing (key rotation: every key's form is looked for) */
  private readonly keys: Buffer[] | undefined;

  constructor(opts: Pick<NormalizedOptions<any>, 'userId' | 'maxSessionsPerUser' | 'hashIdsSecret' | 'crypto'>) {
    const option = opts.userId!;
    this.max = opts.maxSessionsPerUser;
    if (typeof option === 'function') {
      this.read = option;
      this.what = 'the userId function returned';
    } else {
      const path = option.split('.');
      this.read = (session) => path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' && Object.hasOwn(v, k) ? (v as Record<string, unknown>)[k] : undefined), session);
      this.what = `the session's ${option} is`;
    }
    const secrets = opts.hashIdsSecret ? [opts.hashIdsSecret] : opts.crypto && opts.crypto.kind !== 'adapter' ? opts.crypto.secrets : undefined;
    // its own key, not the secret itself: the HMAC of a user id is never that of a sid (hashIds) or of anything else
    this.keys = secrets?.map((s) => createHmac('sha256', s).update('connect-mongo:userId:v1').digest());
  }

  /**
   * The stored form of the session's user, or null (anonymous: no user id, null or undefined). Throws for anything
   * else, before anything is written, so that no session is stored with a wrong owner.
   */
  ownerOf(session: unknown): UserId | null {
    const v = this.idOf(session);
    return v === null ? null : this.keys ? this.hmac(this.keys[0], v) : v;
  }

  /** Every stored form of the session's user (one per key): the cap counts its sessions under an older key too. */
  formsOfSession(session: unknown): UserId[] {
    const v = this.idOf(session);
    return v === null ? [] : this.keys ? this.keys.map((k) => this.hmac(k, v)) : [v];
  }

  private idOf(session: unknown): UserId | null {
    let v: unknown;
    try {
      v = this.read(session);
    } catch (e) {
      throw new MongoStoreError('the session was not saved: the userId function threw', 'ERR_CONNECT_MONGO_USER_ID', { cause: e });
    }
    if (v === null || v === undefined) return null;
    const problem = userIdProblem(v);
    if (problem) throw new MongoStoreError(`the session was not saved: ${this.what} ${problem}; a user id (the userId option) is a non-empty string or a finite number`, 'ERR_CONNECT_MONGO_USER_ID');
    return v as UserId;
  }

  /** Every stored form of `userId` (one per key), checked as an argument of `method`. */
  formsOf(userId: unknown, method: string): UserId[] {
    const problem = userId === undefined ? 'nothing' : userIdProblem(userId);
    if (problem) throw new MongoStoreError(`MongoStore.${method}(): a user id is a non-empty string or a finite number, got ${problem}`, 'ERR_CONNECT_MONGO_USER_ID');
    return this.keys ? this.keys.map((k) => this.hmac(k, userId as UserId)) : [userId as UserId];
  }

  /** 12 and "12" are two users, as they are two values in MongoDB. */
  private hmac(key: Buffer, id: UserId): string {
    return `h1:${createHmac('sha256', key).update(typeof id === 'number' ? `n:${id}` : `s:${id}`).digest('base64url')}`;
  }
}

/** One user's documents (any of its stored forms); not destroyed sessions' markers. */
function ofUser(forms: UserId[]) {
  return { userId: forms.length === 1 ? forms[0] : { $in: forms }, session: { $ne: null } };
}

/** The user's live sessions, newest write first; `read` turns a document into its session (null: expired, corrupt). */
export async function listUserSessions<S>(
  col: Collection<SessionDocument>,
  forms: UserId[],
  options: { timeoutMS?: number },
  read: (doc: SessionDocument) => S | null | PromiseLike<S | null>,
): Promise<UserSession<S>[]> {
  const out: UserSession<S>[] = [];
  for (const doc of await col.find({ ...liveFilter(), ...ofUser(forms) }, { ...options, sort: { stamp: -1 } }).toArray()) {
    const session = await read(doc);
    if (!session) continue;
    const entry: UserSession<S> = { id: doc._id, session };
    if (doc.expires) entry.expires = doc.expires;
    if (typeof doc.stamp === 'number') entry.lastWrite = new Date(Math.floor(doc.stamp));
    if (doc.createdAt) entry.createdAt = doc.createdAt;
    if (doc.updatedAt) entry.updatedAt = doc.updatedAt;
    out.push(entry);
  }
  return out;
}

/** Ends every session of the user (live or expired) but the _ids in `except`; answers the _ids it ended. */
export async function endUserSessions(col: Collection<SessionDocument>, forms: UserId[], except: string[], options: CommandOptions, operationTimeoutMS: number): Promise<string[]> {
  // first: a log-in of the user that failed here may land later, on no stored session, after this call
  const late = lateIdsOf(col, forms, except);
  if (late.length) await markAbsent(col, late, options, operationTimeoutMS);
  const filter = { ...ofUser(forms), ...(except.length ? { _id: { $nin: except } } : {}) };
  const found = await col.find(filter, { ...readOptions(options), projection: { _id: 1, stamp: 1 } }).toArray();
  return endFound(col, forms, found, options, operationTimeoutMS);
}

/** The cap: ends the user's live sessions beyond the `max` newest by last write; answers the _ids it ended. */
export async function trimUserSessions(col: Collection<SessionDocument>, forms: UserId[], max: number, options: CommandOptions, operationTimeoutMS: number): Promise<string[]> {
  const ended: string[] = [];
  // one of them written again between the read and the write keeps that write, and is then among the newest: the
  // user is still over the cap, so read again (each command is bounded by the call's time left)
  for (let attempt = 0; attempt < TRIM_ATTEMPTS; attempt++) {
    const found = await col.find({ ...liveFilter(), ...ofUser(forms) }, { ...readOptions(options), projection: { _id: 1, stamp: 1 }, sort: { stamp: -1, _id: 1 } }).toArray();
    if (found.length <= max) break;
    const now = await endFound(col, forms, found.slice(max), options, operationTimeoutMS);
    ended.push(...now);
    if (now.length === found.length - max) break;
  }
  return ended;
}

/** reads of a trim, at most: each one after a save that raced the one before */
const TRIM_ATTEMPTS = 5;

/** Reads of a write's decision: from the primary, which the writes go to. */
function readOptions(options: CommandOptions): { timeoutMS?: number; readPreference: ReadPreferenceLike } {
  const { writeConcern: _w, ...rest } = options();
  return { ...rest, readPreference: 'primary' };
}

/**
 * Destroys the documents found that are still the user's, with a stamp after all of theirs (so after every write of
 * them this store saw); one written again since keeps that later write. Answers the _ids it destroyed.
 */
async function endFound(col: Collection<SessionDocument>, forms: UserId[], found: Array<Pick<SessionDocument, '_id' | 'stamp'>>, options: CommandOptions, operationTimeoutMS: number): Promise<string[]> {
  if (found.length === 0) return [];
  const stamp = stampAfter(found.map((d) => d.stamp));
  const ids = found.map((d) => d._id);
  // still the user's: one that moved to another user (or none) since the read is no longer this user's to end. One
  // statement an _id, in one command: a filter by _id every server answers from the primary key (unpatched FerretDB
  // pushes only a single _id down to SQL; an `_id: {$in}` would scan the collection).
  const marker = destroyUpdate(stamp, new Date(), operationTimeoutMS);
  const res = await col.bulkWrite(ids.map((_id) => ({ updateOne: { filter: { _id, ...ofUser(forms), ...writtenBefore(stamp) }, update: marker } })), { ...options(), ordered: false });
  if (res.modifiedCount === ids.length) return ids;
  // some were written again (or destroyed) in between: the ones that carry this stamp are the ones it ended
  return (await col.find({ _id: { $in: ids }, stamp }, { ...readOptions(options), projection: { _id: 1 } }).toArray()).map((d) => d._id);
}
