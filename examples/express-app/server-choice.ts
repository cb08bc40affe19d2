/**
 * Which MongoDB-wire server the example talks to, in this order:
 *   1. MONGODB_URI, when set (a real mongod, Atlas, anything);
 *   2. the embedded FerretDB v1.24.2 the tests use, on SQLite in examples/express-app/data/ (git-ignored), so the
 *      sessions survive a restart of the app; built once from the Go module proxy by scripts/build-ferretdb.sh;
 *   3. mongodb-memory-server (downloads a real mongod where the internet is reachable; sessions die with the app).
 */
import { join, relative } from 'node:path';
import { startFerretDB } from '../../test/server';
import { maskUrl } from '../../src/errors';

export interface ChosenServer {
  uri: string;
  /** one line for the console and the page, e.g. "FerretDB v1.24.2 (sqlite), data in examples/express-app/data" */
  description: string;
  /** sessions outlive a restart of the app */
  persistent: boolean;
  stop(): Promise<void>;
}

/** EXAMPLE_DATA_DIR lets the tests use a data dir of their own; the default is the example's own data/ dir. */
export const defaultDataDir = join(__dirname, 'data', 'ferretdb');

export async function chooseServer(env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = console.log): Promise<ChosenServer> {
  if (env.MONGODB_URI) {
    return { uri: env.MONGODB_URI, description: `MONGODB_URI (${maskUrl(env.MONGODB_URI)})`, persistent: true, stop: async () => {} };
  }
  const dataDir = env.EXAMPLE_DATA_DIR || defaultDataDir;
  let ferretError: Error;
  try {
    log('starting the embedded FerretDB (the first run builds it from the Go module proxy, which takes a few minutes)…');
    const ferret = await startFerretDB({ backend: 'sqlite', dataDir });
    return { uri: ferret.uri, description: `${ferret.name} at ${ferret.uri}, data in ${relative(process.cwd(), dataDir) || '.'}`, persistent: true, stop: () => ferret.stop() };
  } catch (e) {
    ferretError = e as Error;
    log(`embedded FerretDB unavailable (${firstLine(ferretError.message)}); trying mongodb-memory-server…`);
  }
  try {
    const { MongoMemoryServer } = await import('mongodb-memory-server-core');
    const mms = await MongoMemoryServer.create();
    return { uri: mms.getUri(), description: `mongodb-memory-server at ${mms.getUri()} (in memory: sessions end with the app)`, persistent: false, stop: async () => void (await mms.stop()) };
  } catch (e) {
    throw new Error(
      'No MongoDB server for the example app.\n' +
        `  embedded FerretDB: ${firstLine(ferretError.message)}\n` +
        `  mongodb-memory-server: ${firstLine((e as Error).message)}\n` +
        'Set MONGODB_URI to a MongoDB server (mongodb://…), or install Go >= 1.24 so that the embedded FerretDB can be built.',
    );
  }
}

const firstLine = (s: string) => s.split('\n')[0];
