/**
 * `connect-mongo setup`: the one-time set-up of the sessions collection from CI or a deploy step (the TTL index on
 * `expires`), so that many instances started with `createIndexes: false` only check it. Its own short-lived client,
 * like doctor; creates that one index and, with the userId option, the { userId: 1 } index, and nothing else.
 */
import { MongoClient } from 'mongodb';
import { maskUrl } from '../errors';
import { ensureSessionIndexes, ensureUserIndex, type SetupResult, type UserIndexResult } from '../setup';
import { DoctorConnectError } from './doctor';
import type { LoadedConfig } from './load';

export interface SetupReport extends Partial<SetupResult> {
  server: { kind: 'MongoDB' | 'FerretDB'; version: string; url: string };
  database: string;
  collection: string;
  autoRemove: 'native' | 'interval' | 'disabled';
  /** true when the TTL index is in place (created or found), or not needed (autoRemove is not 'native'), and the userId index was not refused */
  ok: boolean;
  message: string;
  /** with the userId option (whatever autoRemove is): the { userId: 1 } index; null without userId */
  userIndex: Pick<UserIndexResult, 'index' | 'message'> | null;
}

const oneLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0].replace(/mongodb(\+srv)?:\/\/\S+/g, (u) => maskUrl(u));

/** Connects with the config's connection string and makes the sessions collection ready; the client is closed whatever happens. */
export async function runSetup(loaded: LoadedConfig, timeoutMS: number): Promise<SetupReport> {
  const n = loaded.normalized;
  const spec = n.connection;
  if (!spec || spec.kind !== 'url') throw new DoctorConnectError('the config has no connection string (mongoUrl or url): setup can only use a config that connects by itself');
  let client: MongoClient;
  try {
    client = new MongoClient(spec.url, { ...spec.mongoOptions, serverSelectionTimeoutMS: timeoutMS, connectTimeoutMS: timeoutMS });
  } catch (e) {
    throw new DoctorConnectError(`the driver refused the connection string or mongoOptions: ${oneLine(e)}`);
  }
  try {
    try {
      await client.connect();
    } catch (e) {
      throw new DoctorConnectError(`cannot reach the server within ${timeoutMS} ms (${maskUrl(spec.url)}): ${oneLine(e)}`);
    }
    const info = await client.db('admin').command({ buildInfo: 1 });
    const server = { kind: 'ferretdbVersion' in info ? ('FerretDB' as const) : ('MongoDB' as const), version: String(info.version), url: maskUrl(spec.url) };
    const col = client.db(n.dbName).collection(n.collectionName);
    const base = { server, database: col.dbName, collection: n.collectionName, autoRemove: n.autoRemove };
    const ttl =
      n.autoRemove === 'native'
        ? await ensureSessionIndexes(col, { writeConcern: n.writeConcern }).then((r) => ({ ...r, ok: r.index === 'created' || r.index === 'found' }))
        : { ok: true, message: `autoRemove is '${n.autoRemove}': the store needs no TTL index, nothing was created` };
    // after the TTL index, as the store does: two index builds at once on a new collection could race to create it
    const user = n.userId ? await ensureUserIndex(col, { writeConcern: n.writeConcern }) : undefined;
    const userIndex = user ? { index: user.index, message: user.message } : null;
    return { ...base, ...ttl, ok: ttl.ok && user?.index !== 'refused', userIndex };
  } catch (e) {
    if (e instanceof DoctorConnectError) throw e;
    if (typeof (e as { code?: unknown })?.code === 'number') throw new DoctorConnectError(`the server refused a step of setup: ${oneLine(e)}`);
    if ((e as Error)?.name?.startsWith('Mongo')) throw new DoctorConnectError(`setup failed: ${oneLine(e)}`);
    throw e;
  } finally {
    await client.close().catch(() => {});
  }
}

export function setupText(r: SetupReport): string {
  return [
    `server       ${r.server.kind} ${r.server.version} at ${r.server.url}`,
    `sessions in  ${r.database}.${r.collection}`,
    // the TTL index's own verdict (ok also counts the userId index)
    `${r.index === undefined || r.index === 'created' || r.index === 'found' ? '✓' : '✗'} ${r.message}`,
    ...(r.userIndex ? [`${r.userIndex.index === 'refused' ? '✗' : '✓'} ${r.userIndex.message}`] : []),
  ].join('\n');
}
