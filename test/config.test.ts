/**
 * Declarative configuration: every file kind is found, the search order and the walk up to the project root, an
 * explicit path, env blocks, ${VAR} references, overrides from code, the synchronous variant, the example config,
 * and createStoreFromConfig building a store that works against the real server.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { MemoryFallbackStore } from '../src/memory-fallback';
import connectMongo, * as api from '../src';
import { MongoStore, OptionsError } from '../src';
import { ConfigFileError, SEARCH_PLACES, SEARCH_PLACES_SYNC, createStoreFromConfig, createStoreFromConfigSync, loadConfig, loadConfigSync } from '../src/config/load';
import { openTestDb, serverUri, type TestDb } from './helpers';
import { repoRoot } from './server';

const fixtures = join(__dirname, 'fixtures/config');
const tmp = join(repoRoot, '.tmp', `config-test-${process.pid}`);
let t: TestDb;

test.before(async () => {
  mkdirSync(tmp, { recursive: true });
  t = await openTestDb(__filename);
});
test.after(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await t?.close();
});

async function rejects(p: Promise<unknown> | (() => unknown)): Promise<any> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, got none');
}

const KINDS: Record<string, string> = {
  'package-json': 'package.json',
  rc: '.connect-mongorc',
  'rc-json': '.connect-mongorc.json',
  'rc-yaml': '.connect-mongorc.yaml',
  'rc-yml': '.connect-mongorc.yml',
  'rc-js': '.connect-mongorc.js',
  'rc-cjs': '.connect-mongorc.cjs',
  'rc-mjs': '.connect-mongorc.mjs',
  'config-json': 'connect-mongo.config.json',
  'config-js': 'connect-mongo.config.js',
  'config-cjs': 'connect-mongo.config.cjs',
  'config-mjs': 'connect-mongo.config.mjs',
  'config-yaml': 'connect-mongo.config.yaml',
  'config-yml': 'connect-mongo.config.yml',
};

test('every file kind is found by the search (async)', async () => {
  assert.equal(Object.values(KINDS).sort(), [...SEARCH_PLACES].sort(), 'the fixtures cover every search place');
  for (const [kind, file] of Object.entries(KINDS)) {
    const loaded = await loadConfig({ searchFrom: join(fixtures, 'kinds', kind), env: {} });
    assert.is(basename(loaded.filepath), file, kind);
    assert.is(loaded.options.collectionName, `kind_${kind.replace(/-/g, '_')}`, kind);
    assert.is(loaded.options.mongoUrl, 'mongodb://127.0.0.1:27017/kinds', kind);
  }
});

test('the sync variant finds every kind but .mjs, and says why it cannot load ES modules', async () => {
  for (const [kind, file] of Object.entries(KINDS)) {
    const dir = join(fixtures, 'kinds', kind);
    if (file.endsWith('.mjs')) {
      const e = await rejects(() => loadConfigSync({ searchFrom: dir, env: {} }));
      assert.instance(e, ConfigFileError, kind);
      assert.is(e.reason, 'not-found');
      const explicit = await rejects(() => loadConfigSync({ configPath: join(dir, file), env: {} }));
      assert.instance(explicit, OptionsError);
      assert.equal(explicit.issues, [{ path: '/', message: 'an .mjs config is an ES module, which the synchronous loader cannot load: use createStoreFromConfig (async)' }]);
      continue;
    }
    const loaded = loadConfigSync({ searchFrom: dir, env: {} });
    assert.is(basename(loaded.filepath), file, kind);
    assert.is(loaded.options.collectionName, `kind_${kind.replace(/-/g, '_')}`, kind);
  }
  // A .js config in a "type": "module" package is ESM: the async loader imports it; the sync one require()s it
  // where Node can (require(esm), Node 20.19+) and explains where it cannot.
  const esm = join(fixtures, 'esm-js');
  assert.is((await loadConfig({ searchFrom: esm, env: {} })).options.collectionName, 'kind_esm_js');
  if (process.features.require_module) {
    assert.is(loadConfigSync({ searchFrom: esm, env: {} }).options.collectionName, 'kind_esm_js');
  } else {
    const e = await rejects(() => loadConfigSync({ searchFrom: esm, env: {} }));
    assert.instance(e, OptionsError);
    assert.is(e.source, join(esm, 'connect-mongo.config.js'));
    assert.match(e.issues[0].message, 'is an ES module, which the synchronous loader cannot load');
  }
  // Top-level await can never be require()d.
  const tla = join(tmp, 'tla');
  mkdirSync(tla, { recursive: true });
  writeFileSync(join(tla, 'package.json'), '{"type": "module"}');
  writeFileSync(join(tla, '.connect-mongorc.js'), "await Promise.resolve();\nexport default { mongoUrl: 'mongodb://127.0.0.1:27017/tla' };\n");
  assert.is((await loadConfig({ searchFrom: tla, env: {} })).options.mongoUrl, 'mongodb://127.0.0.1:27017/tla');
  const e = await rejects(() => loadConfigSync({ searchFrom: tla, env: {} }));
  assert.instance(e, OptionsError);
  assert.equal(e.issues, [
    { path: '/', message: 'invalid JavaScript module: is an ES module, which the synchronous loader cannot load: use createStoreFromConfig (async), or a .cjs / .json / .yaml config' },
  ]);
});

test('search order: package.json key first, then .connect-mongorc*, then connect-mongo.config.*', async () => {
  for (const [places, load] of [
    [SEARCH_PLACES, (dir: string) => loadConfig({ searchFrom: dir, env: {} })],
    [SEARCH_PLACES_SYNC, async (dir: string) => loadConfigSync({ searchFrom: dir, env: {} })],
  ] as const) {
    const dir = join(tmp, `order-${places.length}`);
    mkdirSync(dir, { recursive: true });
    const name = (p: string) => `order_${p.replace(/[^a-z]/gi, '_')}`;
    for (const place of SEARCH_PLACES) {
      const url = 'mongodb://127.0.0.1:27017/order';
      const body =
        place === 'package.json'
          ? JSON.stringify({ name: 'order', private: true, 'connect-mongo': { mongoUrl: url, collectionName: name(place) } })
          : place.endsWith('.mjs')
            ? `export default { mongoUrl: '${url}', collectionName: '${name(place)}' };\n`
            : /\.c?js$/.test(place)
              ? `module.exports = { mongoUrl: '${url}', collectionName: '${name(place)}' };\n`
              : JSON.stringify({ mongoUrl: url, collectionName: name(place) }); // JSON is YAML too
      writeFileSync(join(dir, place), body);
    }
    const seen: string[] = [];
    for (let i = 0; i < places.length; i++) {
      const loaded = await load(dir);
      seen.push(basename(loaded.filepath));
      assert.is(loaded.options.collectionName, name(basename(loaded.filepath)));
      if (basename(loaded.filepath) === 'package.json') writeFileSync(loaded.filepath, JSON.stringify({ name: 'order', private: true }));
      else unlinkSync(loaded.filepath);
    }
    assert.equal(seen, [...places]);
    // package.json (without the key) is still there, and is no config: nothing left to find.
    assert.is((await rejects(load(dir))).reason, 'not-found');
  }
});

test('the search walks up to the nearest package.json and no further', async () => {
  const found = await loadConfig({ searchFrom: join(fixtures, 'walk/a/b'), env: {} });
  assert.is(found.filepath, join(fixtures, 'walk/.connect-mongorc.json'));
  // stop/inner has a package.json: the config one level above it belongs to another project.
  const e = await rejects(loadConfig({ searchFrom: join(fixtures, 'stop/inner'), env: {} }));
  assert.instance(e, ConfigFileError);
  assert.is(e.reason, 'not-found');
  assert.match(e.message, `no config found from ${join(fixtures, 'stop/inner')} up to the project root`);
  assert.match(e.message, 'connect-mongo.config.json');
});

test('an explicit path: absolute, relative to the cwd, a directory (searched), missing', async () => {
  const abs = join(fixtures, 'kinds/config-yaml/connect-mongo.config.yaml');
  assert.is((await loadConfig({ configPath: abs, env: {} })).filepath, abs);
  assert.is((await loadConfig({ configPath: relative(process.cwd(), abs), env: {} })).filepath, abs);
  // An explicit file needs no conventional name.
  const odd = join(tmp, 'sessions.settings.json');
  writeFileSync(odd, '{"mongoUrl": "mongodb://127.0.0.1:27017/odd"}');
  assert.is((await loadConfig({ configPath: odd, env: {} })).options.mongoUrl, 'mongodb://127.0.0.1:27017/odd');
  assert.is((await loadConfig({ configPath: join(fixtures, 'kinds/rc-yml'), env: {} })).options.collectionName, 'kind_rc_yml');
  const e = await rejects(loadConfig({ configPath: join(tmp, 'nope.json'), env: {} }));
  assert.instance(e, ConfigFileError);
  assert.is(e.reason, 'not-found');
  assert.is(e.message, `connect-mongo: config file not found: ${join(tmp, 'nope.json')}`);
});

test('env blocks: merged over the base by NODE_ENV or envName; aliases replace; objects deep-merged', async () => {
  const configPath = join(fixtures, 'env-blocks.json');
  const none = await loadConfig({ configPath, env: {} });
  assert.is(none.envName, undefined);
  assert.is(none.envApplied, false);
  assert.equal(none.envBlocks, ['development', 'staging', 'production']);
  assert.equal(none.options, { mongoUrl: 'mongodb://127.0.0.1:27017/base', collectionName: 'base_sessions', ttl: 3600, writeOperationOptions: { w: 1, wtimeoutMS: 500 } });

  const dev = await loadConfig({ configPath, env: { NODE_ENV: 'development' } });
  assert.is(dev.envApplied, true);
  assert.is(dev.options.fallbackMemory, true);
  assert.is(dev.options.ttl, 3600, 'the base stays under the block');

  const staging = await loadConfig({ configPath, env: { NODE_ENV: 'staging' } });
  assert.is(staging.options.mongoUrl, undefined, "the block's url replaces the base's mongoUrl (one option, two names)");
  assert.is(staging.options.url, 'mongodb://staging.example:27017/app');
  assert.is(staging.options.collectionName, undefined);
  assert.is(staging.normalized.collectionName, 'staging_sessions');

  const prod = await loadConfig({ configPath, env: { NODE_ENV: 'production', CFG_PROD_URI: 'mongodb://db.internal:27017/prod' } });
  assert.equal(prod.options, {
    mongoUrl: 'mongodb://db.internal:27017/prod',
    collectionName: 'base_sessions',
    ttl: 86400,
    writeOperationOptions: { w: 'majority', wtimeoutMS: 500 },
  });
  assert.is(prod.normalized.ttlMs, 86_400_000);

  // envName beats NODE_ENV; a name without a block applies nothing.
  assert.is((await loadConfig({ configPath, envName: 'development', env: { NODE_ENV: 'production' } })).options.fallbackMemory, true);
  const other = await loadConfig({ configPath, envName: 'qa', env: {} });
  assert.is(other.envName, 'qa');
  assert.is(other.envApplied, false);
  assert.is(other.options.collectionName, 'base_sessions');

  // The selected block's variables are required; the others' are not (production needs CFG_PROD_URI, dev does not).
  const e = await rejects(loadConfig({ configPath, env: { NODE_ENV: 'production' } }));
  assert.equal(e.issues, [{ path: '/env/production/mongoUrl', message: 'environment variable CFG_PROD_URI is not set and ${CFG_PROD_URI} has no default (set it, or write ${CFG_PROD_URI:-default})' }]);
  assert.is(e.source, configPath);
});

test('${VAR}: set, default, empty (uses the default), escaped, several in one string, inside arrays', async () => {
  const file = join(tmp, 'vars.json');
  writeFileSync(
    file,
    JSON.stringify({
      mongoUrl: 'mongodb://${CFG_USER}:${CFG_PASS:-dev}@${CFG_HOST:-127.0.0.1}:${CFG_PORT:-27017}/${CFG_DB}',
      mongoOptions: { appName: 'literal_$${NOT_A_VAR}' },
      crypto: { secret: ['${CFG_SECRET_1}', '${CFG_SECRET_2:-fallback-secret}'] },
      dbName: '${CFG_DB}',
    }),
  );
  const env = { CFG_USER: 'app', CFG_PASS: '', CFG_DB: 'shop', CFG_SECRET_1: 'first-secret', CFG_HOST: 'db.local' };
  const loaded = await loadConfig({ configPath: file, env });
  assert.is(loaded.options.mongoUrl, 'mongodb://app:dev@db.local:27017/shop');
  assert.equal(loaded.options.mongoOptions, { appName: 'literal_${NOT_A_VAR}' });
  assert.equal((loaded.options.crypto as { secret: string[] }).secret, ['first-secret', 'fallback-secret']);
  assert.is(loaded.options.dbName, 'shop');

  const e = await rejects(loadConfig({ configPath: file, env: { CFG_USER: 'app', CFG_DB: '' } }));
  assert.equal(e.issues, [
    { path: '/mongoUrl', message: 'environment variable CFG_DB is empty and ${CFG_DB} has no default (set it, or write ${CFG_DB:-default})' },
    { path: '/crypto/secret/0', message: 'environment variable CFG_SECRET_1 is not set and ${CFG_SECRET_1} has no default (set it, or write ${CFG_SECRET_1:-default})' },
    { path: '/dbName', message: 'environment variable CFG_DB is empty and ${CFG_DB} has no default (set it, or write ${CFG_DB:-default})' },
  ]);
});

test('variables are filled before validation: a bad value from the environment is reported at its key', async () => {
  const file = join(tmp, 'vars-bad.json');
  writeFileSync(file, JSON.stringify({ mongoUrl: '${CFG_URI}', ttl: 60 }));
  const e = await rejects(loadConfig({ configPath: file, env: { CFG_URI: 'http://user:Pw-From-Env-77@example.com' } }));
  assert.equal(e.issues, [{ path: '/mongoUrl', message: 'expected a connection string starting with mongodb:// or mongodb+srv://, found "http://user:****@example.com" (from ${CFG_URI})' }]);
  assert.not.match(e.message, 'Pw-From-Env-77');
});

test('overrides from code win; a connection given in code drops the file\'s connection string', async () => {
  const configPath = join(fixtures, 'env-blocks.json');
  const serialize = (s: unknown) => s;
  const loaded = await loadConfig({ configPath, env: {}, overrides: { client: t.client, serialize, ttl: 10, writeOperationOptions: { j: true } } });
  assert.is(loaded.options.mongoUrl, undefined);
  assert.is(loaded.options.client, t.client);
  assert.is(loaded.options.serialize, serialize);
  assert.is(loaded.options.ttl, 10);
  assert.equal(loaded.options.writeOperationOptions, { w: 1, wtimeoutMS: 500, j: true });
  assert.is(loaded.normalized.connection?.kind, 'client');

  const url = await loadConfig({ configPath, env: {}, overrides: { url: 'mongodb://other:27017/x' } });
  assert.is(url.options.mongoUrl, undefined, 'url from code replaces mongoUrl from the file');
  assert.is(url.options.url, 'mongodb://other:27017/x');

  const e = await rejects(loadConfig({ configPath, env: {}, overrides: { ttl: 'long' as unknown as number } }));
  assert.equal(e.issues, [{ path: '/ttl', message: 'expected a number, found the string "long" (set in code, by overrides)' }]);
});

test('createStoreFromConfig builds a store that works against the real server', async () => {
  const file = join(tmp, 'store.json');
  writeFileSync(file, JSON.stringify({ mongoUrl: '${CFG_STORE_URI}', dbName: t.dbName, collectionName: 'cfg_store', autoRemove: 'interval', ttl: 600 }));
  const store = await createStoreFromConfig({ configPath: file, env: { CFG_STORE_URI: serverUri() } });
  try {
    assert.instance(store, MongoStore);
    const sess = { cookie: { originalMaxAge: null, path: '/' }, user: 'ada' };
    await store.set('cfg-sid-1', sess as any);
    assert.is(((await store.get('cfg-sid-1')) as any).user, 'ada');
    const doc = await t.db.collection<{ _id: string; expires: Date }>('cfg_store').findOne({ _id: 'cfg-sid-1' });
    assert.ok(doc, 'the session is in the configured database and collection');
    // ttl 600 s from the file: a cookie without expiry lives 10 minutes.
    const lifetime = doc!.expires.getTime() - Date.now();
    assert.ok(lifetime > 500_000 && lifetime <= 600_000, `expires in ${lifetime} ms`);
  } finally {
    await store.close();
  }
});

test('createStoreFromConfig with a client override never uses the file\'s connection string', async () => {
  const file = join(tmp, 'override.yaml');
  writeFileSync(file, `mongoUrl: mongodb://127.0.0.1:1/unreachable\ndbName: ${t.dbName}\ncollectionName: cfg_override\nautoRemove: disabled\noperationTimeoutMS: 2000\n`);
  const store = await createStoreFromConfig({ configPath: file, env: {}, overrides: { client: t.client } });
  try {
    await store.set('cfg-sid-2', { cookie: { originalMaxAge: null, path: '/' }, n: 2 } as any);
    assert.is(await store.length(), 1);
    assert.is(await t.db.collection('cfg_override').countDocuments(), 1);
  } finally {
    await store.close();
  }
  t.client.db('admin'); // the app's client stays open: the store did not own it
  assert.ok(await t.db.command({ ping: 1 }));
});

test('createStoreFromConfigSync builds a working store; a development block gives a MemoryFallbackStore', async () => {
  const file = join(tmp, 'sync.yml');
  writeFileSync(
    file,
    [
      'mongoUrl: ${CFG_SYNC_URI}',
      `dbName: ${t.dbName}`,
      'collectionName: cfg_sync',
      'autoRemove: disabled',
      'env:',
      '  development:',
      '    fallbackMemory: true',
      '',
    ].join('\n'),
  );
  const store = createStoreFromConfigSync({ configPath: file, env: { CFG_SYNC_URI: serverUri() } });
  try {
    assert.instance(store, MongoStore);
    await store.set('cfg-sid-3', { cookie: { originalMaxAge: null, path: '/' } } as any);
    assert.is(await t.db.collection('cfg_sync').countDocuments(), 1);
  } finally {
    await store.close();
  }
  const dev = await createStoreFromConfig({ configPath: file, env: { NODE_ENV: 'development', CFG_SYNC_URI: serverUri() } });
  assert.instance(dev, MemoryFallbackStore, 'a MongoStore over a MemoryStore');
  await dev.close();
  // The base's mongoUrl still applies under the development block, so its variable is still required.
  const e = await rejects(createStoreFromConfig({ configPath: file, env: { NODE_ENV: 'development' } }));
  assert.equal(e.issues, [{ path: '/mongoUrl', message: 'environment variable CFG_SYNC_URI is not set and ${CFG_SYNC_URI} has no default (set it, or write ${CFG_SYNC_URI:-default})' }]);
});

test('a base value that the selected block replaces needs no variable', async () => {
  const file = join(tmp, 'replaced.json');
  writeFileSync(
    file,
    JSON.stringify({
      mongoUrl: '${CFG_DEV_URI}',
      writeOperationOptions: { w: '${CFG_W}', j: true },
      env: { production: { url: 'mongodb://prod:27017/app', writeOperationOptions: { w: 'majority' } }, staging: { ttl: 5 } },
    }),
  );
  const prod = await loadConfig({ configPath: file, env: { NODE_ENV: 'production' } });
  assert.equal(prod.options, { url: 'mongodb://prod:27017/app', writeOperationOptions: { w: 'majority', j: true } });
  const e = await rejects(loadConfig({ configPath: file, env: { NODE_ENV: 'staging' } }));
  assert.equal(
    e.issues.map((i: { path: string }) => i.path),
    ['/mongoUrl', '/writeOperationOptions/w'],
  );
});

test('the example config is valid, holds every option with the schema default, and validates in production', async () => {
  const example = join(repoRoot, 'connect-mongo.config.example.json');
  const raw = JSON.parse(readFileSync(example, 'utf8'));
  const schema = JSON.parse(readFileSync(join(repoRoot, 'schema/store-options.schema.json'), 'utf8'));
  // The $schema path an app's config has (the example is meant to be copied to an app's root): the schema inside the
  // installed package, a path the package ships and exports.
  assert.is(raw.$schema, './node_modules/connect-mongo/schema/store-options.schema.json');
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  const inPackage = raw.$schema.replace(`./node_modules/${pkg.name}/`, './');
  assert.ok(pkg.exports[inPackage] === inPackage && pkg.files.includes(inPackage.split('/')[1]), `${inPackage} is shipped and exported`);
  assert.equal(JSON.parse(readFileSync(join(repoRoot, inPackage), 'utf8')), schema);
  // One name of each pair: both in one file is an error (crypto and encryption too: the example shows encryption).
  const aliases = ['url', 'collection', 'crypto'];
  const everywhere = { ...raw, ...raw.env.production };
  for (const name of Object.keys(schema.properties)) {
    if (aliases.includes(name)) continue;
    assert.ok(name in everywhere, `the example shows ${name}`);
    if ('default' in schema.properties[name]) assert.equal(raw[name], schema.properties[name].default, `${name} shows its default`);
  }
  const base = await loadConfig({ configPath: example, env: {} });
  assert.is(base.options.mongoUrl, 'mongodb://127.0.0.1:27017/myapp');
  const prod = await loadConfig({
    configPath: example,
    env: { NODE_ENV: 'production', MONGODB_URI: 'mongodb://db:27017/app', SESSION_CRYPTO_SECRET: 'a-long-secret', SESSION_HASH_SECRET: 'another-secret' },
  });
  assert.equal(prod.normalized.crypto, { kind: 'aes-gcm', secrets: ['a-long-secret'] });
  assert.is(prod.normalized.hashIdsSecret, 'another-secret');
});

test('the package exports the config API, by name and on the callable default export', () => {
  for (const name of ['createStoreFromConfig', 'createStoreFromConfigSync', 'loadConfig', 'loadConfigSync'] as const) {
    assert.type(api[name], 'function', name);
    assert.is((connectMongo as unknown as Record<string, unknown>)[name], api[name], `${name} on the default export`);
  }
  assert.is(api.createStoreFromConfig, createStoreFromConfig);
});

test.run();
