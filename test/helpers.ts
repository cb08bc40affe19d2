/** Shared test plumbing: the run's server URI (from test/run.ts), a database of the file's own, and small waits. */
import { basename } from 'node:path';
import { MongoClient, type Db, type CommandStartedEvent } from 'mongodb';

export const serverName = process.env.CONNECT_MONGO_TEST_SERVER ?? 'MONGODB_URI';
export const isFerret = (process.env.CONNECT_MONGO_TEST_KIND ?? '') === 'ferretdb';

/** The run's server; a test file run outside `npm test` needs MONGODB_URI (it fails loudly, never skips). */
export function serverUri(): string {
  const uri = process.env.CONNECT_MONGO_TEST_URI ?? process.env.MONGODB_URI;
  if (!uri) {
    throw new Error('No test server: run the tests with `npm test` (it starts FerretDB), or set MONGODB_URI.');
  }
  return uri;
}

/**
 * Every database the suite uses starts with this prefix, so that they are easy to recognise on a shared server: the
 * suite drops the databases it uses (at a file's start and end) on the server MONGODB_URI names.
 */
export const TEST_DB_PREFIX = 'connect-mongo-test';

/**
 * A database name of the test file's own: `connect-mongo-test_<file>[_<suffix>]` (FerretDB/PostgreSQL: one schema a
 * file). Only letters, digits, '_' and '-', at most 63 characters (MongoDB's limit, and PostgreSQL's for a schema).
 */
export function dbNameFor(file: string, suffix?: string): string {
  const name = [TEST_DB_PREFIX, basename(file).replace(/\.test\.ts$/, ''), suffix].filter(Boolean).join('_');
  return name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 63);
}

/**
 * The most connections one test client opens (the driver's default is 100). A FerretDB on PostgreSQL holds up to two
 * PostgreSQL connections for each, and the suite must leave room on a PostgreSQL that has other clients.
 */
export const TEST_POOL_SIZE = 5;

export interface TestDb {
  client: MongoClient;
  db: Db;
  dbName: string;
  uri: string;
  /** commands seen by this client since the last reset, when monitorCommands was asked for */
  commands: CommandStartedEvent[];
  close(): Promise<void>;
}

/** Opens a client on the run's server and a database of the file's own (dropped first and at close). */
export async function openTestDb(file: string, opts: { monitorCommands?: boolean } = {}): Promise<TestDb> {
  const uri = serverUri();
  const dbName = dbNameFor(file);
  const client = new MongoClient(uri, { monitorCommands: !!opts.monitorCommands, serverSelectionTimeoutMS: 10_000, maxPoolSize: TEST_POOL_SIZE });
  await client.connect();
  const db = client.db(dbName);
  await db.dropDatabase();
  const commands: CommandStartedEvent[] = [];
  client.on('commandStarted', (e) => commands.push(e));
  return {
    client,
    db,
    dbName,
    uri,
    commands,
    close: async () => {
      await db.dropDatabase().catch(() => {});
      await client.close();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until fn() is truthy or the deadline passes (then throws with the label). */
export async function waitFor<T>(fn: () => T | Promise<T>, label: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await sleep(25);
  }
}

/** Asserts that fn() rejects with an error whose message matches `re`; returns the error. */
export async function rejects(fn: () => Promise<unknown> | unknown, re: RegExp): Promise<Error> {
  let result: unknown;
  try {
    result = await fn();
  } catch (e) {
    if (!re.test((e as Error)?.message)) throw new Error(`expected a rejection matching ${re}, got: ${(e as Error)?.message}`);
    return e as Error;
  }
  throw new Error(`expected a rejection matching ${re}, but it resolved to ${JSON.stringify(result)}`);
}
