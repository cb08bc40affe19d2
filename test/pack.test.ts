/**
 * The published package, as a user gets it: `npm pack` (its prepack builds dist/) of a copy of the working tree,
 * the tarball installed into a fresh project with its peers, then plain node (no ts loader) `require`s and `import`s
 * it, talks to the real server through it, runs its bin, and the repo's TypeScript compiles a consumer against its
 * declarations. The copy keeps the repo's own dist/ untouched (other test files may run at the same time).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openTestDb, type TestDb } from './helpers';

const repo = join(__dirname, '..');
const work = join(repo, '.tmp', `pack-test-${process.pid}`);
const stage = join(work, 'package'); // the working tree's copy that gets packed
const app = join(work, 'app'); // the consumer project
const fastifyApp = join(work, 'fastify-app'); // a Fastify project without express-session
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
const versionOf = (pkg: string) => JSON.parse(readFileSync(join(repo, 'node_modules', pkg, 'package.json'), 'utf8')).version as string;

let t: TestDb;
let packed: { filename: string; files: { path: string }[] };

test.before(async () => {
  try {
    await prepare();
  } catch (e) {
    // uvu does not print an error thrown by a before hook; say what failed (npm's stderr included).
    console.error('pack test set-up failed:', e, (e as { stderr?: string }).stderr ?? '');
    rmSync(work, { recursive: true, force: true });
    throw e;
  }
});

async function prepare() {
  t = await openTestDb(__filename);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  // Every file git would keep (tracked or new, not ignored): what a clean clone with everyone's work would pack.
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && !f.startsWith('test/') && existsSync(join(repo, f)));
  for (const f of files) {
    mkdirSync(dirname(join(stage, f)), { recursive: true });
    cpSync(join(repo, f), join(stage, f));
  }
  symlinkSync(join(repo, 'node_modules'), join(stage, 'node_modules'), 'dir'); // the build's tsc
  let started = Date.now();
  const out = npm(['pack', '--json', '--pack-destination', work], stage);
  console.log(`# npm pack (with the prepack build): ${Date.now() - started} ms`);
  // prepack's build prints to the same stdout; the JSON report is the part from the line that opens the array.
  packed = JSON.parse(out.slice(out.search(/^\[/m)))[0];

  started = Date.now();
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'pack-consumer', private: true, version: '1.0.0' }));
  // The peers (and the types a TypeScript user has) at the versions the repo uses, so npm's cache serves them.
  npm(
    [
      'install', '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock', '--loglevel=error',
      join(work, packed.filename),
      `mongodb@${versionOf('mongodb')}`,
      `express-session@${versionOf('express-session')}`,
      `@types/express-session@${versionOf('@types/express-session')}`,
      `@types/node@${versionOf('@types/node')}`,
    ],
    app,
  );
  console.log(`# npm install of the tarball and its peers: ${Date.now() - started} ms`);
  // Fastify, in the consumer project (with express-session's types) and in one of its own without express-session.
  started = Date.now();
  const fastify = ['fastify', '@fastify/cookie', '@fastify/session'].map((p) => `${p}@${versionOf(p)}`);
  const install = ['install', '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock', '--loglevel=error'];
  npm([...install, ...fastify], app);
  mkdirSync(fastifyApp, { recursive: true });
  writeFileSync(join(fastifyApp, 'package.json'), JSON.stringify({ name: 'pack-fastify', private: true, version: '1.0.0' }));
  npm([...install, join(work, packed.filename), `mongodb@${versionOf('mongodb')}`, `@types/node@${versionOf('@types/node')}`, ...fastify], fastifyApp);
  console.log(`# npm install of Fastify (both projects): ${Date.now() - started} ms`);
}

test.after(async () => {
  rmSync(work, { recursive: true, force: true });
  await t?.close();
});

/** Runs a script in the consumer project with plain node; answers its JSON report (the script's last line). */
function runInApp(file: string, source: string): any {
  writeFileSync(join(app, file), source);
  const r = spawnSync(process.execPath, [join(app, file)], {
    cwd: app,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '', TEST_URI: t.uri, TEST_DB: t.dbName },
    timeout: 60_000,
  });
  assert.is(r.status, 0, `${file} failed:\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const sessionLiteral = `(n) => ({ cookie: { originalMaxAge: 60000, expires: new Date(Date.now() + 60000), httpOnly: true, path: '/' }, n })`;

test('the tarball holds the build, the schemas, README and LICENSE; no sources or tests', () => {
  const paths = packed.files.map((f) => f.path);
  for (const p of ['package.json', 'README.md', 'LICENSE', 'dist/index.cjs', 'dist/index.mjs', 'dist/index.d.cts', 'dist/index.d.mts', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli.js', 'schema/store-options.schema.json', 'schema/session-document.schema.json']) {
    assert.ok(paths.includes(p), `${p} is in the tarball`);
  }
  const strays = paths.filter((p) => /^(src|test|scripts)\//.test(p) || (p.endsWith('.ts') && !p.endsWith('.d.ts')));
  assert.equal(strays, [], 'no TypeScript sources, tests or scripts');
  assert.ok(existsSync(join(app, 'node_modules/connect-mongo/dist/index.cjs')), 'installed');
});

test('require(): the classic factory, a constructor, .create and .MongoStore; a set/get round trip on the server', () => {
  const r = runInApp(
    'check.cjs',
    `
const connectMongo = require('connect-mongo');
const session = require('express-session');
const sample = ${sessionLiteral};
(async () => {
  const out = { resolved: require.resolve('connect-mongo'), type: typeof connectMongo };
  const Classic = connectMongo(session);
  out.factoryGivesClass = typeof Classic === 'function' && Classic === connectMongo.MongoStore;
  out.create = typeof connectMongo.create;
  out.MongoStore = typeof connectMongo.MongoStore;
  out.koaSessionStore = typeof connectMongo.koaSessionStore;
  const opts = { mongoUrl: process.env.TEST_URI, dbName: process.env.TEST_DB, collectionName: 'cjs' };
  const a = new connectMongo(opts);
  const b = connectMongo.create(opts);
  const c = new Classic(opts);
  for (const s of [a, b, c]) s.on('warning', () => {});
  out.instances = [a, b, c].map((s) => s instanceof connectMongo.MongoStore && s instanceof connectMongo && s instanceof session.Store);
  await a.set('cjs-1', sample(1));
  out.viaCreate = (await b.get('cjs-1')).n;
  out.viaClassicCallback = await new Promise((res, rej) => c.get('cjs-1', (e, s) => (e ? rej(e) : res(s.n))));
  try { connectMongo(42); } catch (e) { out.badFactory = { isMongoStoreError: e instanceof connectMongo.MongoStoreError, message: e.message }; }
  out.schemaTitle = require('connect-mongo/schema/store-options.schema.json').title;
  out.schemaPath = require.resolve('connect-mongo/schema/store-options.schema.json');
  try { require('connect-mongo/dist/src/store.js'); out.internal = 'reachable'; } catch (e) { out.internal = e.code; }
  await Promise.all([a.close(), b.close(), c.close()]);
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`,
  );
  assert.match(r.resolved, /node_modules\/connect-mongo\/dist\/index\.cjs$/);
  assert.is(r.type, 'function');
  assert.ok(r.factoryGivesClass, "require('connect-mongo')(require('express-session')) is the store class");
  assert.is(r.create, 'function');
  assert.is(r.MongoStore, 'function');
  assert.is(r.koaSessionStore, 'function', "require('connect-mongo').koaSessionStore");
  assert.equal(r.instances, [true, true, true], 'new x(), x.create() and the classic class all give express-session Stores');
  assert.is(r.viaCreate, 1);
  assert.is(r.viaClassicCallback, 1);
  assert.ok(r.badFactory?.isMongoStoreError);
  assert.match(r.badFactory.message, /require\("express-session"\)/);
  assert.is(r.schemaTitle, 'StoreOptions');
  assert.match(r.schemaPath, /node_modules\/connect-mongo\/schema\/store-options\.schema\.json$/);
  assert.is(r.internal, 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'only the exports map is public');
});

test('import: default and named exports, the same class as require(), a round trip with a CommonJS store', () => {
  const r = runInApp(
    'check.mjs',
    `
import MongoStore, { MongoStore as Named, MongoStoreError, OptionsError } from 'connect-mongo';
import * as ns from 'connect-mongo';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const cjs = require('connect-mongo');
const sample = ${sessionLiteral};
const out = { resolved: import.meta.resolve('connect-mongo') };
out.defaultIsCjs = MongoStore === cjs;
out.namedIsCjsClass = Named === cjs.MongoStore;
out.errorsShared = MongoStoreError === cjs.MongoStoreError && typeof OptionsError === 'function';
out.namedExports = Object.keys(ns).sort();
const opts = { mongoUrl: process.env.TEST_URI, dbName: process.env.TEST_DB, collectionName: 'esm' };
const a = new MongoStore(opts);
const b = Named.create(opts);
const c = new (cjs(require('express-session')))(opts);
for (const s of [a, b, c]) s.on('warning', () => {});
out.instanceofAcross = [a, b, c].every((s) => s instanceof MongoStore && s instanceof Named && s instanceof cjs.MongoStore);
await a.set('esm-1', sample(2));
out.readByCjs = (await c.get('esm-1')).n;
out.readByNamed = (await b.get('esm-1')).n;
class MyStore extends MongoStore { hello() { return 'hi'; } }
const mine = new MyStore(opts);
const mineCreated = MyStore.create(opts);
out.subclass = [mine, mineCreated].map((s) => s instanceof MyStore && s instanceof Named && s.hello() === 'hi');
await mine.close(); await mineCreated.close();
try { new Named({ mongoUrl: process.env.TEST_URI, tll: 5 }); } catch (e) { out.typo = { isOptionsError: e instanceof OptionsError && e instanceof cjs.OptionsError, message: e.message }; }
await Promise.all([a.close(), b.close(), c.close()]);
console.log(JSON.stringify(out));
`,
  );
  assert.match(r.resolved, /node_modules\/connect-mongo\/dist\/index\.mjs$/);
  assert.ok(r.defaultIsCjs, 'the default export is the CommonJS export (one implementation)');
  assert.ok(r.namedIsCjsClass);
  assert.ok(r.errorsShared);
  for (const n of ['MongoStore', 'MongoStoreError', 'OptionsError', 'SessionCorruptError', 'aesGcmAdapter', 'koaSessionStore', 'default']) {
    assert.ok(r.namedExports.includes(n), `named export ${n}`);
  }
  assert.ok(r.instanceofAcross, 'instanceof holds between the ESM and CommonJS views');
  assert.equal(r.subclass, [true, true], 'class MyStore extends (default export): new MyStore() and MyStore.create() are MyStores');
  assert.is(r.readByCjs, 2);
  assert.is(r.readByNamed, 2);
  assert.ok(r.typo?.isOptionsError, 'a typo in the options is an OptionsError');
  assert.match(r.typo.message, /tll/);
});

test('connect-mongo/connect-mongodb-session resolves from require and import: the cms factory, one implementation', () => {
  const r = runInApp(
    'check-cms.mjs',
    `
import fromImport from 'connect-mongo/connect-mongodb-session';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const fromRequire = require('connect-mongo/connect-mongodb-session');
const session = require('express-session');
const MongoDBStore = fromRequire(session);
const out = { same: fromImport === fromRequire, resolved: require.resolve('connect-mongo/connect-mongodb-session'), esm: import.meta.resolve('connect-mongo/connect-mongodb-session') };
const opts = { uri: process.env.TEST_URI, databaseName: process.env.TEST_DB, collection: 'cms' };
const a = new MongoDBStore(opts);
const b = MongoDBStore(opts);
for (const s of [a, b]) s.on('warning', () => {});
await new Promise((res) => a.once('connected', res));
out.instances = [a, b].every((s) => s instanceof MongoDBStore && s instanceof require('connect-mongo').MongoStore && s instanceof session.Store);
await new Promise((res, rej) => a.set('cms-1', (${sessionLiteral})(3), (e) => (e ? rej(e) : res())));
out.n = (await b.get('cms-1')).n;
out.stored = typeof (await a.collection.findOne({ _id: 'cms-1' })).session;
await Promise.all([a.close(), b.close()]);
console.log(JSON.stringify(out));
`,
  );
  assert.ok(r.same, 'import and require give the one factory');
  assert.match(r.resolved, /node_modules\/connect-mongo\/dist\/connect-mongodb-session\.cjs$/);
  assert.match(r.esm, /node_modules\/connect-mongo\/dist\/connect-mongodb-session\.mjs$/);
  assert.ok(r.instances);
  assert.is(r.n, 3);
  assert.is(r.stored, 'object', 'the session stored as an object, as connect-mongodb-session writes it');
});

test('the connect-mongo bin is installed and runs with plain node', () => {
  const bin = join(app, 'node_modules/.bin/connect-mongo');
  assert.ok(existsSync(bin), 'node_modules/.bin/connect-mongo exists');
  const r = spawnSync(bin, ['--help'], { cwd: app, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /connect-mongo/);
  assert.match(r.stdout, /validate/);
});

/** Runs the repo's TypeScript on files of the consumer project; answers tsc's output ('' when clean). */
function tsc(files: string[], flags: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(repo, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--target', 'es2022', '--types', 'node', ...flags, ...files],
      { cwd: app, encoding: 'utf8', timeout: 120_000 },
      (err, stdout, stderr) => resolve(err ? `tsc ${flags.join(' ')}:\n${stdout}${stderr}${stdout || stderr ? '' : err.message}` : ''),
    );
  });
}

test("TypeScript: consumers type-check against the package's declarations (ESM, CommonJS, checked JS)", async () => {
  // ESM: the default is the callable export (a constructor, .create, the classic factory), named exports as well.
  writeFileSync(
    join(app, 'consumer.mts'),
    `
import MongoStore, { MongoStore as Named, MongoStoreError, type MongoStoreOptions } from 'connect-mongo';
import session, { type SessionData } from 'express-session';
interface MySession extends SessionData { user: { name: string } }
const opts: MongoStoreOptions = { mongoUrl: 'mongodb://127.0.0.1/x', ttl: 60, autoRemove: 'interval', touchAfter: 10 };
const a: Named = MongoStore.create(opts);
const b: Named = new MongoStore(opts);
const Classic: typeof Named = MongoStore(session);
const typed = Named.create<MySession>(opts);
export const name: Promise<string | undefined> = typed.get('sid').then((s) => s?.user.name);
export const all = [a, b, new Classic(opts)];
export const isErr = (e: unknown) => e instanceof MongoStoreError;
// connect-mongo 6's default export is a class: a type as well as a value, and subclassable.
export let asType: MongoStore = a;
export const asTypeGeneric: MongoStore<MySession> = typed;
export class MyStore extends MongoStore {
  hello(): string {
    return 'hi';
  }
}
export const mine: MyStore = new MyStore(opts);
// @ts-expect-error a typo in an option name is a type error
export const typo: MongoStoreOptions = { mongoUrl: 'mongodb://127.0.0.1/x', tll: 5 };
// @ts-expect-error autoRemove takes one of three words
export const badMode: MongoStoreOptions = { mongoUrl: 'mongodb://127.0.0.1/x', autoRemove: 'sometimes' };
`,
  );
  // CommonJS without esModuleInterop: \`import x = require()\` is what require() gives at run time.
  writeFileSync(
    join(app, 'consumer-require.cts'),
    `
import connectMongo = require('connect-mongo');
import session = require('express-session');
const Classic = connectMongo(session);
export const s = new Classic({ mongoUrl: 'mongodb://127.0.0.1/x' });
export const c: connectMongo.MongoStore = connectMongo.create({ mongoUrl: 'mongodb://127.0.0.1/x' });
export const d = new connectMongo({ mongoUrl: 'mongodb://127.0.0.1/x' });
export const e: connectMongo.MongoStore<session.SessionData & { n: number }> = connectMongo.MongoStore.create({ mongoUrl: 'mongodb://127.0.0.1/x' });
export const o: connectMongo.MongoStoreOptions = { ttl: 5 };
export const asType: connectMongo = c;
export const isErr = (x: unknown): x is connectMongo.MongoStoreError => x instanceof connectMongo.MongoStoreError;
// @ts-expect-error get needs a sid
void c.get();
`,
  );
  // CommonJS with esModuleInterop: default and named imports, types included.
  writeFileSync(
    join(app, 'consumer-interop.cts'),
    `
import connectMongo, { MongoStore, MongoStoreError, type MongoStoreOptions } from 'connect-mongo';
import session from 'express-session';
const o: MongoStoreOptions = { mongoUrl: 'mongodb://127.0.0.1/x' };
export const s: MongoStore = new (connectMongo(session))(o);
export const c: MongoStore = MongoStore.create(o);
export const n: MongoStore = new connectMongo(o);
export const asType: connectMongo = n;
export class MyStore extends connectMongo {}
export const mine: MyStore = new MyStore(o);
export const isErr = (x: unknown): x is MongoStoreError => x instanceof MongoStoreError;
`,
  );
  // Plain JavaScript checked by the editor (// @ts-check): require() is the factory, with .create.
  writeFileSync(
    join(app, 'checked.js'),
    `// @ts-check
const connectMongo = require('connect-mongo');
const session = require('express-session');
const Classic = connectMongo(session);
/** @type {import('connect-mongo').MongoStoreOptions} */
const options = { mongoUrl: 'mongodb://127.0.0.1/x', ttl: 5 };
module.exports = [new Classic(options), connectMongo.create(options)];
// @ts-expect-error a typo in an option name
connectMongo.create({ tll: 4 });
`,
  );
  const started = Date.now();
  const errors = (await Promise.all([
    tsc(['consumer.mts', 'consumer-require.cts'], ['--module', 'node16', '--moduleResolution', 'node16']),
    // The declaration files themselves are checked by the first run; the others look at the consumers only.
    tsc(['consumer-interop.cts'], ['--module', 'nodenext', '--moduleResolution', 'nodenext', '--esModuleInterop', '--skipLibCheck']),
    tsc(['checked.js'], ['--module', 'node16', '--moduleResolution', 'node16', '--allowJs', '--checkJs', '--skipLibCheck']),
  ])).filter(Boolean);
  console.log(`\n# tsc on the consumers: ${Date.now() - started} ms`); // own line: uvu prints progress dots without one
  assert.equal(errors, [], errors.join('\n'));
});

/**
 * The Fastify project sits under this repo, whose node_modules has express-session and its types: node's and tsc's
 * lookups walk up into it. Both are kept inside the project here, as for a project anywhere else on disk.
 */
const CONFINE = `const Module = require('node:module');
const inside = (p) => p.startsWith(${JSON.stringify(`${fastifyApp}/`)});
const paths = Module._nodeModulePaths;
Module._nodeModulePaths = (from) => paths(from).filter(inside);
`;

test('a Fastify project without express-session: not installed, the store has its surface (fallbackMemory, which needs its MemoryStore, says so), a session round trip on the server', () => {
  writeFileSync(join(fastifyApp, 'confine.cjs'), CONFINE);
  assert.not.ok(existsSync(join(fastifyApp, 'node_modules/express-session')), 'npm did not install the optional peer');
  writeFileSync(
    join(fastifyApp, 'round-trip.cjs'),
    `
const Fastify = require('fastify');
const { MongoStore } = require('connect-mongo');
const { EventEmitter } = require('node:events');
(async () => {
  const out = {};
  try { require.resolve('express-session'); out.expressSession = 'found'; } catch { out.expressSession = 'absent'; }
  const store = MongoStore.create({ mongoUrl: process.env.TEST_URI, dbName: process.env.TEST_DB, collectionName: 'fastify_pack' });
  store.on('warning', () => {});
  out.emitter = store instanceof EventEmitter;
  out.methods = ['get', 'set', 'touch', 'destroy', 'regenerate', 'load', 'createSession', 'all', 'length', 'clear', 'close'].filter((m) => typeof store[m] !== 'function');
  try { MongoStore.create({ fallbackMemory: true }); } catch (e) { out.fallbackMemory = [e.code, /install express-session/.test(e.message)]; }
  const app = Fastify();
  app.register(require('@fastify/cookie'));
  app.register(require('@fastify/session'), { secret: 'a secret of at least thirty-two characters', store, cookie: { secure: false } });
  app.get('/', async (req) => ({ n: (req.session.n = (req.session.n ?? 0) + 1) }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const first = await fetch(url);
  const cookie = first.headers.get('set-cookie').split(';')[0];
  out.counts = [(await first.json()).n, (await (await fetch(url, { headers: { cookie } })).json()).n];
  out.loaded = await new Promise((resolve, reject) => store.load(decodeURIComponent(cookie.split('=')[1]).split('.')[0], (e, s) => (e ? reject(e) : resolve(s && s.n))));
  await app.close();
  await store.close();
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`,
  );
  const r = spawnSync(process.execPath, ['--require', './confine.cjs', 'round-trip.cjs'], { cwd: fastifyApp, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', TEST_URI: t.uri, TEST_DB: t.dbName }, timeout: 60_000 });
  assert.is(r.status, 0, `round-trip.cjs failed:\n${r.stderr}\n${r.stdout}`);
  assert.equal(JSON.parse(r.stdout.trim().split('\n').pop()!), { expressSession: 'absent', emitter: true, methods: [], fallbackMemory: ['ERR_CONNECT_MONGO_UNSUPPORTED', true], counts: [1, 2], loaded: 2 });
});

test('TypeScript: fastify.register(fastifySession, { secret, store: MongoStore.create(…) }) under strict, no cast, with and without @types/express-session', async () => {
  const consumer = (augment: boolean) => `
import Fastify from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import MongoStore, { MongoStore as Named } from 'connect-mongo';
${augment ? "declare module 'express-session' { interface SessionData { user: { name: string } } }\n" : ''}declare module 'fastify' { interface Session { views?: number } }
const fastify = Fastify();
fastify.register(fastifyCookie);
fastify.register(fastifySession, { secret: 'a secret of at least thirty-two characters', store: MongoStore.create({ mongoUrl: 'mongodb://127.0.0.1/x' }) });
fastify.register(fastifySession, { secret: 'a secret of at least thirty-two characters', store: Named.create({ mongoUrl: 'mongodb://127.0.0.1/x' }) });
fastify.get('/', async (req) => (req.session.views = (req.session.views ?? 0) + 1));
${augment ? "export const user: Promise<string | undefined> = Named.create({ mongoUrl: 'mongodb://127.0.0.1/x' }).get('sid').then((s) => s?.user.name);\n" : ''}`;
  writeFileSync(join(app, 'consumer-fastify.mts'), consumer(true));
  writeFileSync(join(fastifyApp, 'consumer-fastify.mts'), consumer(false));
  // tsc's API with its file lookups kept inside the Fastify project (and TypeScript's own lib files)
  writeFileSync(
    join(fastifyApp, 'tsc-confined.cjs'),
    `
const ts = require(${JSON.stringify(join(repo, 'node_modules/typescript'))});
const { dirname } = require('node:path');
const lib = dirname(ts.getDefaultLibFilePath({}));
const inside = (p) => p.startsWith(${JSON.stringify(`${fastifyApp}/`)}) || p.startsWith(lib);
const options = { strict: true, noEmit: true, skipLibCheck: false, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16, types: ['node'] };
const host = ts.createCompilerHost(options);
const [fileExists, directoryExists, readFile] = [host.fileExists, host.directoryExists, host.readFile];
host.fileExists = (p) => inside(p) && fileExists.call(host, p);
host.directoryExists = (p) => inside(p) && directoryExists.call(host, p);
host.readFile = (p) => (inside(p) ? readFile.call(host, p) : undefined);
const file = ${JSON.stringify(join(fastifyApp, 'consumer-fastify.mts'))};
const found = ts.resolveModuleName('express-session', file, options, host).resolvedModule;
const program = ts.createProgram([file], options, host);
const errors = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\\n') + (d.file ? ' (' + d.file.fileName + ')' : ''));
console.log(JSON.stringify({ expressSessionTypes: found ? found.resolvedFileName : null, errors }));
`,
  );
  const started = Date.now();
  const [withTypes, without] = await Promise.all([
    tsc(['consumer-fastify.mts'], ['--module', 'node16', '--moduleResolution', 'node16']),
    new Promise<string>((resolve) => execFile(process.execPath, ['tsc-confined.cjs'], { cwd: fastifyApp, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => resolve(err ? `${stderr}${stdout}` : stdout))),
  ]);
  console.log(`\n# tsc on the Fastify consumers: ${Date.now() - started} ms`);
  assert.is(withTypes, '', withTypes);
  assert.equal(JSON.parse(without.trim().split('\n').pop()!), { expressSessionTypes: null, errors: [] }, without);
});

test.run();
