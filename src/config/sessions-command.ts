/**
 * `connect-mongo sessions --user <id> [--revoke]`: one user's live sessions (the userId option), or ending them all,
 * from a shell (an account taken over, a support request). Through a MongoStore built from the config, so that the
 * user's stored form (in clear, or an HMAC with hashIds / encryption) and the ending of sessions (write-order
 * markers) are the store's own; with overrides that keep it from changing anything but what was asked (no index
 * built, no expired session removed). Session ids are never printed, only a tag (sidTag) to tell them apart.
 */
import { maskUrl, MongoStoreError } from '../errors';
import { sidTag } from '../debug';
import { MongoStore } from '../store';
import type { UserId } from '../user-sessions';
import { DoctorConnectError } from './doctor';
import type { LoadedConfig } from './load';

export interface SessionsReport {
  /** the user id as given on the command line */
  user: string;
  /** the user's live sessions found (with --revoke: before they were ended) */
  count: number;
  /** --revoke: how many sessions were ended (expired ones still stored included); null without --revoke */
  revoked: number | null;
  /** newest write first; `id` is a tag of the stored id (sidTag), never the id itself */
  sessions: Array<{ id: string; expires: string | null; lastWrite: string | null }>;
}

/** The store's bounds on operationTimeoutMS (schema/store-options.schema.json). */
const STORE_TIMEOUT = { min: 100, max: 600_000 };

/**
 * The forms to ask the store for: "12" on a command line may mean the number 12 (a numeric id from a SQL table) or
 * the string "12", which the store keeps as two users. Only a number's canonical text counts ("012" or "1e3" is not
 * 12), so that no other user's sessions are found.
 */
export function userForms(user: string): UserId[] {
  const n = Number(user);
  return /^-?\d+(\.\d+)?$/.test(user) && Number.isFinite(n) && String(n) === user ? [user, n] : [user];
}

/** Why the config cannot serve this command (a JSON path into the file and a sentence), or undefined. */
export function sessionsRefusal(loaded: LoadedConfig): { path: string; message: string } | undefined {
  const n = loaded.normalized;
  if (n.fallbackMemory) return { path: '/fallbackMemory', message: 'fallbackMemory is on: sessions live in each app process\'s memory, there is no collection to look in' };
  if (!n.userId) return { path: '/userId', message: 'the sessions command needs the userId option (where the session holds its user\'s id, e.g. "passport.user"): without it no session records its user' };
  return undefined;
}

const oneLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0].replace(/mongodb(\+srv)?:\/\/\S+/g, (u) => maskUrl(u));

export interface SessionsResult {
  report: SessionsReport;
  /** database.collection, for the text output */
  namespace: string;
  /** sessions of the user that could not be read (a wrong secret, a corrupt document): not listed, ended by --revoke */
  unreadable: number;
}

/** Lists (or, with `revoke`, ends) the user's sessions; the store is closed whatever happens. */
export async function runSessions(loaded: LoadedConfig, user: string, revoke: boolean, timeoutMS: number): Promise<SessionsResult> {
  const spec = loaded.normalized.connection;
  if (!spec || spec.kind !== 'url') throw new DoctorConnectError('the config has no connection string (mongoUrl or url): sessions can only use a config that connects by itself');
  const store = new MongoStore({
    ...(loaded.options as object),
    // read and end sessions, nothing else: no index built, no expired session deleted by this short-lived process
    createIndexes: false,
    autoRemove: 'disabled',
    operationTimeoutMS: Math.min(Math.max(timeoutMS, STORE_TIMEOUT.min), STORE_TIMEOUT.max),
    // one unreadable session must not hide the others (they are counted; --revoke ends them too)
    onCorruptSession: 'ignore',
  });
  let unreadable = 0;
  store.on('corrupt', () => unreadable++);
  // e.g. "no index on userId": the command still answers (by a scan), and setup's help says how to add it
  store.on('warning', () => {});
  try {
    const forms = userForms(user);
    const found = (await Promise.all(forms.map((f) => store.userSessions(f)))).flat();
    // known by now (the calls above reached the server); awaited first it would not be bounded by the timeout
    const col = await store.collection();
    const lastWrite = (e: (typeof found)[number]) => e.lastWrite ?? e.updatedAt;
    found.sort((a, b) => (lastWrite(b)?.getTime() ?? -Infinity) - (lastWrite(a)?.getTime() ?? -Infinity));
    let revoked: number | null = null;
    if (revoke) revoked = (await Promise.all(forms.map((f) => store.destroyUserSessions(f)))).reduce((a, b) => a + b, 0);
    const sessions = found.map((e) => ({ id: sidTag(e.id), expires: e.expires?.toISOString() ?? null, lastWrite: lastWrite(e)?.toISOString() ?? null }));
    return { report: { user, count: found.length, revoked, sessions }, namespace: `${col.dbName}.${col.collectionName}`, unreadable };
  } catch (e) {
    // the store's errors name no session data; a timeout or refused login is "unreachable" (exit 3) as for doctor
    if (e instanceof MongoStoreError && e.code === 'ERR_CONNECT_MONGO_TIMEOUT') throw new DoctorConnectError(`no answer within ${store.options.operationTimeoutMS} ms (${maskUrl(spec.url)}): ${oneLine(e)}`);
    if (e instanceof MongoStoreError && e.code !== 'ERR_CONNECT_MONGO_USER_ID') throw new DoctorConnectError(oneLine(e));
    throw e;
  } finally {
    await store.close().catch(() => {});
  }
}

export function sessionsText({ report: r, namespace, unreadable }: SessionsResult): string {
  const forms = userForms(r.user);
  const who = forms.length > 1 ? `${r.user} (the string "${r.user}" and the number ${r.user})` : r.user;
  const lines = [`sessions in  ${namespace}`, `user         ${who}`, `${r.count === 1 ? '1 live session' : `${r.count} live sessions`}${r.count ? ', newest first (ids shown as tags):' : ''}`];
  for (const s of r.sessions) lines.push(`  ${s.id}  last write ${s.lastWrite ?? 'unknown'}  expires ${s.expires ?? 'never'}`);
  if (unreadable) lines.push(`(${unreadable} more that could not be read, a wrong secret or a corrupt document, not listed${r.revoked === null ? '' : '; ended too'})`);
  if (r.revoked !== null) lines.push(`✓ ended ${r.revoked === 1 ? '1 session' : `${r.revoked} sessions`} of this user`);
  return lines.join('\n');
}
