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

/** A database name of the test file's own: `cmt_<file>` (FerretDB/PostgreSQL: one schema a file). */
export function dbNameFor(file: string): string {
  return `cmt_${basename(file).replace(/\.test\.ts$/, '').replace(/[^a-zA-Z0-9_]/g, '_')}`.slice(0, 60);
}

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
  const client = new MongoClient(uri, { monitorCommands: !!opts.monitorCommands, serverSelectionTimeoutMS: 10_000 });
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
