/**
 * Secrets never leave through a message or a log, however they are given: masking goes by where a value sits
 * (crypto, hashIds, password/secret/token/key-like keys, mongoOptions.auth) and by any `user:password@` in any
 * string (a leading space, quotes, one slash or none after the scheme, another scheme, no scheme), never by the look
 * of a well-formed mongodb:// URL. Checked in OptionsError messages from code, in `connect-mongo validate` (human and
 * --json), and in what util.inspect and JSON show of a store and of its options.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MongoClient } from 'mongodb';
import { format, inspect } from 'node:util';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoStore, OptionsError } from '../src';
import { normalizeOptions } from '../src/options';
import { maskCredentials, maskDeep } from '../src/errors';
import { freePort, repoRoot } from './server';
import { openTestDb, type TestDb } from './helpers';
import { runCli } from './fixtures/cli-run';

const tmp = join(repoRoot, '.tmp', `masking-${process.pid}`);
let t: TestDb;
test.before(async () => {
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'package.json'), '{"name": "masking-test", "private": true}');
  t = await openTestDb(__filename);
});
test.after(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await t?.close();
});

/** [what, options, the secret that must never show, the path the issue must name] */
const CASES: [string, Record<string, unknown>, string, string][] = [
  ['crypto: a string', { crypto: 'Sup3r-Crypto-Secret-01' }, 'Sup3r-Crypto-Secret-01', '/crypto'],
  ['hashIds: a string', { hashIds: 'Sup3r-Hash-Secret-02' }, 'Sup3r-Hash-Secret-02', '/hashIds'],
  ['crypto: an array of strings', { crypto: ['Sup3r-Crypto-Arr-03'] }, 'Sup3r-Crypto-Arr-03', '/crypto'],
  ['crypto.secret: a number', { crypto: { secret: 918273645 } }, '918273645', '/crypto/secret'],
  ['hashIds.secret: an array', { hashIds: { secret: ['Sup3r-Hash-Arr-04'] } }, 'Sup3r-Hash-Arr-04', '/hashIds/secret'],
  ['mongoUrl: a leading space', { mongoUrl: ' mongodb://app:PwLeadSpace05@h/db' }, 'PwLeadSpace05', '/mongoUrl'],
  ['mongoUrl: double quotes', { mongoUrl: '"mongodb://app:PwQuoted06@h/db"' }, 'PwQuoted06', '/mongoUrl'],
  ['mongoUrl: single quotes', { mongoUrl: "'mongodb://app:PwSingle07@h/db'" }, 'PwSingle07', '/mongoUrl'],
  ['mongoUrl: mongodb:/ with one slash', { mongoUrl: 'mongodb:/app:PwOneSlash08@h/db' }, 'PwOneSlash08', '/mongoUrl'],
  ['mongoUrl: mongodb+srv: without slashes', { mongoUrl: 'mongodb+srv:app:PwNoSlash09@h/db' }, 'PwNoSlash09', '/mongoUrl'],
  ['url: mongodb: without slashes', { url: 'mongodb:app:PwNoSlashUrl10@h' }, 'PwNoSlashUrl10', '/url'],
  ['mongoUrl: another scheme', { mongoUrl: 'http://app:PwOtherScheme11@h' }, 'PwOtherScheme11', '/mongoUrl'],
  ['mongoUrl: no scheme', { mongoUrl: 'app:PwNoScheme12@h:27017' }, 'PwNoScheme12', '/mongoUrl'],
  ['mongoUrl: a tab and a password holding @ and /', { mongoUrl: '\tmongodb://app:Pw@With/Slash13@h' }, 'Pw@With/Slash13', '/mongoUrl'],
  ['dbName: user:pass@ in it', { dbName: 'app:PwInDb14@h' }, 'PwInDb14', '/dbName'],
  ['serialize: a connection string', { serialize: 'mongodb://app:PwSerialize15@h' }, 'PwSerialize15', '/serialize'],
  ['client: a quoted connection string', { client: '"mongodb:/app:PwClient16@h"' }, 'PwClient16', '/client'],
  ['ttl: a connection string', { ttl: 'mongodb+srv://app:PwTtl17@cluster0.example.net/?retryWrites=true' }, 'PwTtl17', '/ttl'],
  ['collectionName: secret query parameter', { collectionName: 'x$?tlsCertificateKeyFilePassword=PwQuery18' }, 'PwQuery18', '/collectionName'],
];

test('OptionsError from code: the path is named, the secret never shown', () => {
  for (const [what, opts, secret, path] of CASES) {
    let err: unknown;
    try {
      normalizeOptions({ mongoUrl: 'mongodb://127.0.0.1:1/db', ...opts } as never);
    } catch (e) {
      err = e;
    }
    assert.instance(err, OptionsError, what);
    const e = err as OptionsError;
    assert.ok(e.issues.some((i) => i.path === path), `${what}: no issue at ${path}: ${e.message}`);
    const everything = `${e.message}\n${JSON.stringify(e.issues)}\n${e.stack}\n${inspect(e, { depth: Infinity })}`;
    assert.not.ok(everything.includes(secret), `${what}: shows the secret: ${e.message}`);
    assert.not.ok(everything.includes(encodeURIComponent(secret)), `${what}: shows the secret URL-encoded`);
  }
});

test('the type is still said where it is no secret, and a string given for crypto or hashIds is never echoed', () => {
  const issues = (opts: object) => {
    try {
      normalizeOptions({ mongoUrl: 'mongodb://127.0.0.1:1/db', ...opts } as never);
    } catch (e) {
      return (e as OptionsError).issues;
    }
    throw new Error('not refused');
  };
  assert.equal(issues({ crypto: 'Sup3r-Crypto-Secret-01' }), [{ path: '/crypto', message: 'expected an object, found "****"' }]);
  assert.equal(issues({ hashIds: 'Sup3r-Hash-Secret-02' }), [{ path: '/hashIds', message: 'expected an object, found "****"' }]);
  assert.equal(issues({ mongoUrl: 'mongodb:/app:PwOneSlash08@h/db' }), [
    { path: '/mongoUrl', message: 'expected a connection string starting with mongodb:// or mongodb+srv://, found "mongodb:/app:****@h/db"' },
  ]);
  // Nothing secret about these: shown as they are.
  assert.equal(issues({ dbName: 'my.db' }), [{ path: '/dbName', message: 'expected a database name without / \\ . space " $ * < > : | ?, found the string "my.db"' }]);
  assert.equal(issues({ crypto: true }), [{ path: '/crypto', message: 'expected an object, found boolean true' }]);
});

test('maskCredentials: any user:password@, whatever the malformation; nothing else touched', () => {
  const cases: [string, string][] = [
    ['mongodb://u:p@h/db', 'mongodb://u:****@h/db'],
    [' mongodb://u:p@h/db', ' mongodb://u:****@h/db'],
    ['"mongodb://u:p@h/db"', '"mongodb://u:****@h/db"'],
    ['mongodb:/u:p@h/db', 'mongodb:/u:****@h/db'],
    ['mongodb+srv:u:p@h/db', 'mongodb+srv:u:****@h/db'],
    ['u:p@h', 'u:****@h'],
    ['redis://:p@cache:6379', 'redis://:****@cache:6379'],
    ['mongodb://u:p@ss/w:rd@h1,h2/db', 'mongodb://u:****@h1,h2/db'],
    ['mongodb://u@h/db', 'mongodb://u@h/db'],
    ['mongodb://h:27017/db', 'mongodb://h:27017/db'],
    ['someone@example.com', 'someone@example.com'],
    ['mongodb://h/db?tlsCertificateKeyFilePassword=p&w=1', 'mongodb://h/db?tlsCertificateKeyFilePassword=****&w=1'],
  ];
  for (const [input, expected] of cases) assert.is(maskCredentials(input), expected, input);
});

test('maskDeep (print-config, debug): every value under a secret-bearing key, whatever its type; not a user name', () => {
  const masked = maskDeep({
    mongoUrl: ' mongodb://app:PwUrl@h/db',
    crypto: { secret: ['Sec-One-0001', 12345678] },
    hashIds: 'Sup3r-Hash-String',
    mongoOptions: {
      auth: { username: 'app', password: 'PwAuth' },
      authMechanismProperties: { AWS_SESSION_TOKEN: 'Tok-123' },
      autoEncryption: { kmsProviders: { local: { key: 'KmsKey-1' } }, bypassAutoEncryption: true },
      tlsCertificateKeyFilePassword: 'PwTls',
      appName: 'shop',
    },
    env: { production: { hashIds: { secret: 'Prod-Hash-0001' } } },
  });
  assert.equal(masked, {
    mongoUrl: ' mongodb://app:****@h/db',
    crypto: { secret: ['****', '****'] },
    hashIds: '****',
    mongoOptions: {
      auth: { username: 'app', password: '****' },
      authMechanismProperties: { AWS_SESSION_TOKEN: '****' },
      autoEncryption: { kmsProviders: { local: { key: '****' } }, bypassAutoEncryption: true },
      tlsCertificateKeyFilePassword: '****',
      appName: 'shop',
    },
    env: { production: { hashIds: { secret: '****' } } },
  });
});

test('connect-mongo validate: every malformed secret in a file is reported with its path and never shown (human and --json)', async () => {
  // One env block per case: every block is validated, so one file reports them all.
  const env: Record<string, unknown> = {};
  CASES.forEach(([, opts], i) => (env[`case${i}`] = opts));
  const file = join(tmp, 'secrets.json');
  writeFileSync(file, JSON.stringify({ mongoUrl: 'mongodb://127.0.0.1:1/db', mongoOptions: { auth: { username: 'app', password: 'PwAuth19' } }, env }, null, 2));
  for (const args of [['validate', file], ['validate', file, '--json'], ['print-config', file]]) {
    const r = await runCli(args, { cwd: tmp });
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    const out = r.stdout + r.stderr;
    for (const [what, , secret, path] of CASES) {
      assert.ok(out.includes(`/env/case${CASES.findIndex((c) => c[0] === what)}${path}`), `${args.join(' ')}: ${what}: the path is not named:\n${out}`);
      assert.not.ok(out.includes(secret), `${args.join(' ')}: ${what}: the secret is shown:\n${out}`);
    }
    assert.not.ok(out.includes('PwAuth19'));
  }
  // A driver refusal of a valid-looking URL: the message is the driver's, the password still masked.
  const driver = join(tmp, 'driver.yaml');
  writeFileSync(driver, 'mongoUrl: "mongodb://app:p:PwColon20@h/db"\n');
  const r = await runCli(['validate', driver], { cwd: tmp });
  assert.is(r.code, 1);
  assert.match(r.stdout, /\/mongoUrl {2}the MongoDB driver refuses it: Password contains unescaped characters/);
  assert.not.ok((r.stdout + r.stderr).includes('PwColon20'));
});

/** JSON.stringify that survives cycles, as log libraries do. */
function safeJson(value: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, (_k, v) => {
    if (v && typeof v === 'object') {
      if (seen.has(v)) return '[Circular]';
      seen.add(v);
    }
    return typeof v === 'bigint' ? String(v) : v;
  });
}

test('logging a store shows no password, crypto or hashIds secret: util.inspect at depth 3 and Infinity, %o, JSON', async () => {
  const PW = 'PwInspect-7f3a';
  const port = await freePort(); // nothing listens: the client the store opened keeps its credentials all the same
  const store = new MongoStore({
    mongoUrl: `mongodb://app:${PW}@127.0.0.1:${port}/db`,
    crypto: { secret: 'CryptoInspect-91' },
    hashIds: { secret: 'HashInspect-55' },
    mongoOptions: { serverSelectionTimeoutMS: 500, auth: { username: 'app', password: 'AuthInspect-12' } },
  });
  try {
    await inspectedSafely(store, PW, port);
  } finally {
    await store.close();
  }
});

async function inspectedSafely(store: MongoStore, PW: string, port: number) {
  const secrets = [PW, 'CryptoInspect-91', 'HashInspect-55', 'AuthInspect-12'];
  // The password is there to be found: the store's own connection holds the client that holds it.
  const internals = inspect((store as unknown as { connection: object }).connection, { depth: Infinity, showHidden: true });
  assert.ok(internals.includes(PW), 'control: the client the store opened holds the password');

  const shown = {
    'inspect (console.log)': inspect(store),
    'inspect depth 3': inspect(store, { depth: 3 }),
    'inspect depth Infinity': inspect(store, { depth: Infinity }),
    'inspect showHidden': inspect(store, { depth: Infinity, showHidden: true }),
    '%o': format('%o', store),
    'JSON (circular-safe)': safeJson(store),
    'JSON of { store }': safeJson({ store }),
    'inspect options': inspect(store.options, { depth: Infinity }),
    'JSON options': safeJson(store.options),
    'Object.keys': Object.keys(store).join(','),
  };
  for (const [how, text] of Object.entries(shown)) {
    for (const s of secrets) assert.not.ok(text.includes(s), `${how} shows ${s}:\n${text.slice(0, 3000)}`);
  }
  // What is shown is still useful: the masked connection string and the options.
  assert.match(shown['inspect depth Infinity'], /^MongoStore \{/);
  assert.match(shown['inspect depth Infinity'], `mongodb://app:****@127.0.0.1:${port}/db`);
  assert.match(shown['JSON (circular-safe)'], '"collectionName":"sessions"');
  assert.not.match(shown['Object.keys'], /connection|autoRemover/);
}

test('a store connected to the real server logs the same way, and still works', async () => {
  const store = new MongoStore({ mongoUrl: t.uri, dbName: t.dbName, crypto: { secret: 'CryptoLive-0042' } });
  try {
    await store.ready();
    await store.set('sid-inspect', { cookie: { originalMaxAge: null }, n: 1 } as never);
    assert.is(((await store.get('sid-inspect')) as unknown as { n: number }).n, 1);
    const text = inspect(store, { depth: Infinity }) + safeJson(store);
    assert.not.ok(text.includes('CryptoLive-0042'));
    assert.not.match(text, /MongoClient \{|topology/i, 'no driver internals');
    // What a user can reach from the store: its collection (the driver's object, whose client holds the URL) and the
    // options' connection; with a password in the URL, neither shows it at any depth.
    // (A client of the app's: FerretDB refuses every login, and collection() needs no round trip with a client.)
    const client = new MongoClient(t.uri.replace('mongodb://', 'mongodb://u:Coll-Secret-77@'));
    const withPassword = new MongoStore({ client, dbName: t.dbName, autoRemove: 'disabled' });
    const col = await withPassword.collection();
    const seen = [inspect(col), inspect(col, { depth: Infinity }), safeJson(col), inspect(withPassword.options.connection, { depth: Infinity }), inspect(store.options.connection, { depth: Infinity }), safeJson(withPassword.options)].join('\n');
    assert.not.ok(seen.includes('Coll-Secret-77'), seen);
    assert.match(inspect(col), new RegExp(`namespace: '${t.dbName}\\.sessions'`));
    await withPassword.close();
    await client.close();
  } finally {
    await store.close();
  }
});

test.run();
