/**
 * One-time set-up of the sessions collection, for deployments of many instances: the TTL index is created once (by
 * `connect-mongo setup` from CI or a deploy step, or by calling ensureSessionIndexes), and the instances, started
 * with `createIndexes: false`, only look for it (findTtlIndex) instead of each sending createIndexes at boot.
 */
import type { Collection, Document, WriteConcernSettings } from 'mongodb';

/** With the userId option: one user's sessions found from an index (userSessions, destroyUserSessions, the cap). */
export const USER_INDEX = { key: { userId: 1 }, name: 'userId_1' } as const;

/** The index the store relies on: expiry per document, at the time in `expires`. */
export const TTL_INDEX = { key: { expires: 1 }, name: 'expires_1', expireAfterSeconds: 0 } as const;

export type TtlIndexState =
  /** the TTL index the store wants: { expires: 1 }, expireAfterSeconds 0 */
  | { state: 'ttl'; name: string }
  /** no index on expires, or no collection yet */
  | { state: 'missing' }
  /** an index on expires alone that is not that one (no expireAfterSeconds, or another value) */
  | { state: 'other'; name: string; expireAfterSeconds?: number };

export interface SetupResult {
  /** created: built now · found: already there · refused: the server cannot build it · conflict: another index on expires is in the way */
  index: 'created' | 'found' | 'refused' | 'conflict';
  name?: string;
  /** the server's error code when refused (FerretDB: 238 NotImplemented) or in conflict (85/86) */
  code?: number;
  codeName?: string;
  /** one sentence for a person */
  message: string;
}

const NAMESPACE_NOT_FOUND = 26;
const INDEX_CONFLICT = new Set([85, 86]); // IndexOptionsConflict, IndexKeySpecsConflict

/** A server's answer (not a network failure): the driver's server errors carry a numeric code. */
function serverCode(e: unknown): number | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** Looks for the TTL index with listIndexes; sends nothing else. Network errors are thrown (the caller retries). */
export async function findTtlIndex(col: Collection<any>): Promise<TtlIndexState> {
  let indexes: Document[];
  try {
    indexes = await col.listIndexes().toArray();
  } catch (e) {
    if (serverCode(e) === NAMESPACE_NOT_FOUND) return { state: 'missing' };
    throw e;
  }
  const onExpires = indexes.filter((i) => i.key && Object.keys(i.key).length === 1 && i.key.expires !== undefined);
  const ttl = onExpires.find((i) => i.expireAfterSeconds === 0);
  if (ttl) return { state: 'ttl', name: String(ttl.name) };
  if (onExpires.length === 0) return { state: 'missing' };
  const other = onExpires[0];
  return typeof other.expireAfterSeconds === 'number'
    ? { state: 'other', name: String(other.name), expireAfterSeconds: other.expireAfterSeconds }
    : { state: 'other', name: String(other.name) };
}

/** What an instance with createIndexes: false says when the index is not there. */
export function missingTtlIndexMessage(found: Exclude<TtlIndexState, { state: 'ttl' }>, intervalMs: number, namespace: string): string {
  const what =
    found.state === 'missing'
      ? `there is no TTL index on "expires" in ${namespace}`
      : `the index ${found.name} on "expires" in ${namespace} is not a TTL index with expireAfterSeconds 0 (${found.expireAfterSeconds === undefined ? 'no expireAfterSeconds' : `expireAfterSeconds ${found.expireAfterSeconds}`})`;
  return (
    `connect-mongo: createIndexes is false and ${what}: run \`connect-mongo setup\` once (or set createIndexes: true). ` +
    `Until then expired sessions are removed every ${intervalMs / 60_000} min by this instance (autoRemove: 'interval').`
  );
}

/**
 * Creates the TTL index on `expires` unless it is there; says what it found or did. A server that refuses TTL
 * indexes (FerretDB: 238) or an index on expires with other options (85/86) is an answer, not a throw; an
 * unreachable server throws.
 */
export async function ensureSessionIndexes(col: Collection<any>, opts: { writeConcern?: WriteConcernSettings } = {}): Promise<SetupResult> {
  const ns = `${col.dbName}.${col.collectionName}`;
  const before = await findTtlIndex(col);
  if (before.state === 'ttl') return { index: 'found', name: before.name, message: `the TTL index ${before.name} on "expires" is already in ${ns}; nothing to do` };
  if (before.state === 'other') {
    return {
      index: 'conflict',
      name: before.name,
      message: `${ns} has an index ${before.name} on "expires" that is not a TTL index with expireAfterSeconds 0; drop it (db.${col.collectionName}.dropIndex("${before.name}")) and run setup again`,
    };
  }
  try {
    await col.createIndex(TTL_INDEX.key, { name: TTL_INDEX.name, expireAfterSeconds: TTL_INDEX.expireAfterSeconds, ...(opts.writeConcern ? { writeConcern: opts.writeConcern } : {}) });
  } catch (e) {
    const code = serverCode(e);
    if (code === undefined) throw e;
    const codeName = (e as { codeName?: string }).codeName;
    const reason = `code ${code}${codeName ? ` ${codeName}` : ''}: ${String((e as Error).message).split('\n')[0]}`;
    if (INDEX_CONFLICT.has(code)) {
      return { index: 'conflict', code, codeName, message: `the server refused the TTL index on "expires" in ${ns} because another index is in the way (${reason})` };
    }
    return {
      index: 'refused',
      code,
      codeName,
      message: `the server refused the TTL index on "expires" in ${ns} (${reason}): it cannot expire sessions by itself; use autoRemove: 'interval' (each instance then deletes expired sessions on a timer)`,
    };
  }
  return { index: 'created', name: TTL_INDEX.name, message: `created the TTL index ${TTL_INDEX.name} on "expires" in ${ns} (expireAfterSeconds 0)` };
}

/** Whether an index leads with userId (ours, or one of the app's that serves the same queries). */
export async function findUserIndex(col: Collection<any>): Promise<boolean> {
  try {
    return (await col.listIndexes().toArray()).some((i) => i.key && Object.keys(i.key)[0] === 'userId');
  } catch (e) {
    if (serverCode(e) === NAMESPACE_NOT_FOUND) return false;
    throw e;
  }
}

export interface UserIndexResult {
  index: 'created' | 'found' | 'refused';
  code?: number;
  message: string;
}

/**
 * Creates the { userId: 1 } index unless one leading with userId is there. A server's refusal is an answer (without
 * the index the queries by user scan the collection: right, but slower); an unreachable server throws.
 */
export async function ensureUserIndex(col: Collection<any>, opts: { writeConcern?: WriteConcernSettings } = {}): Promise<UserIndexResult> {
  const ns = `${col.dbName}.${col.collectionName}`;
  if (await findUserIndex(col)) return { index: 'found', message: `an index on userId is already in ${ns}` };
  try {
    await col.createIndex(USER_INDEX.key, { name: USER_INDEX.name, ...(opts.writeConcern ? { writeConcern: opts.writeConcern } : {}) });
  } catch (e) {
    const code = serverCode(e);
    if (code === undefined) throw e;
    return { index: 'refused', code, message: `the server refused the index { userId: 1 } in ${ns} (code ${code}: ${String((e as Error).message).split('\n')[0]}): userSessions() and destroyUserSessions() scan the collection instead` };
  }
  return { index: 'created', message: `created the index ${USER_INDEX.name} on "userId" in ${ns}` };
}
