/**
 * Which MongoDB-wire server the example talks to, in this order:
 *   1. MONGODB_URI, when set (a real mongod, Atlas, anything);
 *   2. the embedded FerretDB v1.24.2 the tests use, on SQLite in examples/express-app/data/ (git-ignored), so the
 *      sessions survive a restart of the app; built once from the Go module proxy by scripts/build-ferretdb.sh;
 *   3. mongodb-memory-server (downloads a real mongod where the internet is reachable; sessions die with the app).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  let unlock: () => void;
  try {
    // No word about building here: scripts/build-ferretdb.sh says so itself, and only when it does build.
    log('starting the embedded FerretDB…');
    // Not a reason to fall back: the user has this app running already, and should hear so.
    unlock = lockDataDir(dataDir);
  } catch (e) {
    throw new Error(`cannot use the embedded FerretDB: ${(e as Error).message}`);
  }
  try {
    const ferret = await startFerretDB({ backend: 'sqlite', dataDir }).catch((e) => {
      unlock();
      throw e;
    });
    return {
      uri: ferret.uri,
      description: `${ferret.name} at ${ferret.uri}, data in ${relative(process.cwd(), dataDir) || '.'}`,
      persistent: true,
      stop: async () => {
        await ferret.stop();
        unlock();
      },
    };
  } catch (e) {
    ferretError = e as Error;
    log(`embedded FerretDB unavailable (${why(ferretError)}); trying mongodb-memory-server…`);
  }
  try {
    const { MongoMemoryServer } = await import('mongodb-memory-server-core');
    const mms = await MongoMemoryServer.create();
    return { uri: mms.getUri(), description: `mongodb-memory-server at ${mms.getUri()} (in memory: sessions end with the app)`, persistent: false, stop: async () => void (await mms.stop()) };
  } catch (e) {
    throw new Error(
      'No MongoDB server for the example app.\n' +
        `  embedded FerretDB: ${why(ferretError)}\n` +
        `  mongodb-memory-server: ${firstLine((e as Error).message)}\n` +
        'Set MONGODB_URI to a MongoDB server (mongodb://…), or install Go >= 1.24 so that the embedded FerretDB can be built.',
    );
  }
}

/**
 * FerretDB wants one process per SQLite directory: a second `npm start` must not open the same data under it.
 * A lock file holds the owner's pid; one whose process is gone (a crash) is taken over. Answers the unlock.
 */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const lock = join(dataDir, 'example-app.lock');
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return () => rmSync(lock, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
    }
    const owner = Number(readFileSync(lock, 'utf8'));
    if (owner && isAlive(owner)) {
      throw new Error(`the data dir ${dataDir} is in use by another example app (pid ${owner}); stop it, or set EXAMPLE_DATA_DIR to another dir`);
    }
    rmSync(lock, { force: true }); // left by a process that is gone
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const firstLine = (s: string) => s.split('\n')[0];
// The build script has already said why on stderr; its "Command failed: bash …" adds nothing.
const why = (e: Error) => (/^Command failed: bash .*build-ferretdb\.sh/.test(e.message) ? 'scripts/build-ferretdb.sh failed, see its message above' : firstLine(e.message));
