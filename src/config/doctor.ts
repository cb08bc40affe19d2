/**
 * `connect-mongo doctor`: what a resolved config meets on its server. It connects with its own short-lived client
 * (never a MongoStore, so it creates nothing but a scratch collection it drops), and answers the questions people
 * open issues about: which server is this, will the TTL index work, is the index on `expires` there, how many
 * sessions are live and how many are expired but still stored.
 */
import { randomBytes } from 'node:crypto';
import { MongoClient, type Document, type MongoServerError } from 'mongodb';
import { isServerError } from '../driver-errors';
import { maskUrl } from '../errors';
import type { LoadedConfig } from './load';

export interface DoctorReport {
  server: {
    /** 'MongoDB' or 'FerretDB' (which answers buildInfo as MongoDB 7.0.x, with extra ferretdb* fields) */
    kind: 'MongoDB' | 'FerretDB';
    /** the MongoDB version the server reports */
    version: string;
    /** FerretDB's own version; null when FerretDB does not report one (builds without version info say "unknown") */
    ferretdbVersion: string | null;
    topology: 'standalone' | 'replica set' | 'sharded';
    url: string;
  };
  database: string;
  collection: string;
  ttl: { supported: boolean | null; detail: string };
  autoRemove: { configured: 'native' | 'interval' | 'disabled'; effective: 'native' | 'interval' | 'disabled' | 'unknown'; note: string };
  expiresIndex: { state: 'ttl' | 'plain' | 'missing' | 'no-collection'; name?: string; expireAfterSeconds?: number };
  sessions: { live: number; expired: number };
}

/** The server could not be reached, or refused what doctor needs (CLI exit 3). */
export class DoctorConnectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DoctorConnectError';
  }
}

const NOT_IMPLEMENTED = 238;
/** The longest delay Node's setTimeout keeps (2^31-1 ms); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function describeConnectFailure(e: unknown, url: string, timeoutMS: number): string {
  const err = e as Error & { codeName?: string };
  const reason = String(err?.message ?? e)
    .split('\n')[0]
    .replace(/mongodb(\+srv)?:\/\/\S+/g, (u) => maskUrl(u));
  const kind = err?.name === 'MongoServerSelectionError' || err?.name === 'DoctorTimeout' ? `cannot reach the server within ${timeoutMS} ms` : 'cannot connect';
  return `${kind} (${maskUrl(url)}): ${reason}`;
}

/** Connects with the config's connection string and reports; the client is closed whatever happens. */
export async function runDoctor(loaded: LoadedConfig, timeoutMS: number): Promise<DoctorReport> {
  const spec = loaded.normalized.connection;
  if (!spec || spec.kind !== 'url') throw new DoctorConnectError('the config has no connection string (mongoUrl or url): doctor can only check a config that connects by itself');
  const url = spec.url;
  let client: MongoClient;
  try {
    client = new MongoClient(url, { ...spec.mongoOptions, serverSelectionTimeoutMS: timeoutMS, connectTimeoutMS: timeoutMS });
  } catch (e) {
    // The driver parses the connection string and mongoOptions here (MongoParseError, MongoInvalidArgumentError).
    throw new DoctorConnectError(`the driver refused the connection string or mongoOptions: ${String((e as Error)?.message ?? e).split('\n')[0].replace(/mongodb(\+srv)?:\/\/\S+/g, (u) => maskUrl(u))}`);
  }
  // The driver's own timeouts bound connect(); this timer is a backstop for DNS (SRV) lookups that ignore them.
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`no answer in ${timeoutMS} ms`), { name: 'DoctorTimeout' })), Math.min(timeoutMS + 1000, MAX_TIMER_MS));
      }),
    ]);
  } catch (e) {
    clearTimeout(timer);
    await client.close().catch(() => {});
    throw new DoctorConnectError(describeConnectFailure(e, url, timeoutMS));
  }
  clearTimeout(timer);
  try {
    const n = loaded.normalized;
    const db = client.db(n.dbName);
    const admin = client.db('admin');
    const [buildInfo, hello] = await Promise.all([admin.command({ buildInfo: 1 }), admin.command({ hello: 1 })]);
    const isFerret = 'ferretdbVersion' in buildInfo || 'ferretdbFeatures' in buildInfo;
    const server: DoctorReport['server'] = {
      kind: isFerret ? 'FerretDB' : 'MongoDB',
      version: String(buildInfo.version),
      ferretdbVersion: isFerret ? await ferretdbVersion(admin, buildInfo) : null,
      topology: hello.msg === 'isdbgrid' ? 'sharded' : hello.setName ? 'replica set' : 'standalone',
      url: maskUrl(url),
    };

    const ttl = await probeTtl(db);
    const expiresIndex = await indexState(db, n.collectionName);
    const now = new Date();
    const sessions = expiresIndex.state === 'no-collection'
      ? { live: 0, expired: 0 }
      : {
          live: await db.collection(n.collectionName).countDocuments({ $or: [{ expires: { $gt: now } }, { expires: { $exists: false } }] }),
          expired: await db.collection(n.collectionName).countDocuments({ expires: { $lte: now } }),
        };
    return { server, database: db.databaseName, collection: n.collectionName, ttl, autoRemove: autoRemovePlan(n.autoRemove, n.autoRemoveIntervalMs, ttl.supported, expiresIndex), expiresIndex, sessions };
  } catch (e) {
    if (isServerError(e)) {
      const se = e as { codeName?: string; code?: number; message: string };
      throw new DoctorConnectError(`the server refused a check: ${se.codeName ?? se.code}: ${se.message.split('\n')[0]}`);
    }
    throw e;
  } finally {
    await client.close().catch(() => {});
  }
}

/**
 * FerretDB's own version: buildInfo's ferretdbVersion, else serverStatus' (FerretDB answers both). A build made
 * without FerretDB's version file (`go install` of the module, or the embedded package the tests run) says
 * "unknown": that is no version, so null.
 */
async function ferretdbVersion(admin: import('mongodb').Db, buildInfo: Document): Promise<string | null> {
  const known = (v: unknown) => (typeof v === 'string' && v !== '' && v !== 'unknown' ? v : null);
  const fromBuildInfo = known(buildInfo.ferretdbVersion);
  if (fromBuildInfo) return fromBuildInfo;
  const status = await admin.command({ serverStatus: 1 }).catch(() => ({}) as Document);
  return known(status.ferretdbVersion);
}

/** Creates a TTL index on a scratch collection (then drops it): the only sure answer is the server's. */
async function probeTtl(db: import('mongodb').Db): Promise<DoctorReport['ttl']> {
  const name = `connect_mongo_doctor_${randomBytes(6).toString('hex')}`;
  try {
    await db.collection(name).createIndex({ expires: 1 }, { expireAfterSeconds: 0, name: 'doctor_ttl_probe' });
    return { supported: true, detail: 'a TTL index was created on a scratch collection' };
  } catch (e) {
    const err = e as MongoServerError;
    if (err?.code === NOT_IMPLEMENTED || /expireAfterSeconds/.test(String(err?.message))) {
      return { supported: false, detail: `the server refused a TTL index (${err.codeName ?? err.code}: ${String(err.message).split('\n')[0]})` };
    }
    return { supported: null, detail: `could not tell: creating a TTL index failed with ${err?.codeName ?? err?.code ?? ''} ${String(err?.message ?? e).split('\n')[0]}`.trim() };
  } finally {
    await db.collection(name).drop().catch(() => {});
  }
}

async function indexState(db: import('mongodb').Db, collection: string): Promise<DoctorReport['expiresIndex']> {
  let indexes: Document[];
  try {
    indexes = await db.collection(collection).listIndexes().toArray();
  } catch (e) {
    if ((e as MongoServerError)?.code === 26) return { state: 'no-collection' }; // NamespaceNotFound
    throw e;
  }
  const idx = indexes.find((i) => i.key && Object.keys(i.key).length === 1 && i.key.expires !== undefined);
  if (!idx) return { state: 'missing' };
  return typeof idx.expireAfterSeconds === 'number'
    ? { state: 'ttl', name: idx.name, expireAfterSeconds: idx.expireAfterSeconds }
    : { state: 'plain', name: idx.name };
}

function autoRemovePlan(
  mode: 'native' | 'interval' | 'disabled',
  intervalMs: number,
  ttlSupported: boolean | null,
  index: DoctorReport['expiresIndex'],
): DoctorReport['autoRemove'] {
  const every = `every ${intervalMs / 60_000} min`;
  if (mode === 'disabled') return { configured: mode, effective: 'disabled', note: 'expired sessions are never removed (get() still ignores them)' };
  if (mode === 'interval') return { configured: mode, effective: 'interval', note: `the store deletes expired sessions ${every}` };
  if (ttlSupported === false) return { configured: mode, effective: 'interval', note: `TTL indexes are not supported here: the store will fall back to deleting expired sessions ${every} (with one warning)` };
  if (ttlSupported === null) return { configured: mode, effective: 'unknown', note: 'TTL support could not be checked (see ttl.detail)' };
  if (index.state === 'plain') {
    return { configured: mode, effective: 'interval', note: `an index on expires without expireAfterSeconds exists (${index.name}): the server will refuse the store's TTL index and the store will fall back to deleting expired sessions ${every} (drop that index to get native expiry)` };
  }
  if (index.state === 'ttl' && index.expireAfterSeconds !== 0) {
    return { configured: mode, effective: 'interval', note: `a TTL index on expires with expireAfterSeconds ${index.expireAfterSeconds} exists (${index.name}); the store wants 0 (expiry is per document), so its build will be refused and it will fall back to deleting expired sessions ${every}` };
  }
  return { configured: mode, effective: 'native', note: index.state === 'ttl' ? 'the TTL index is in place' : 'the store creates the TTL index when it starts' };
}
