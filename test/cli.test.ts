/**
 * The `connect-mongo` command, driven as a subprocess (`node --import tsx src/cli.ts`, the same code the built bin
 * runs): help, validate / print-config / doctor exit codes and output, --json (one shape for every command, checked
 * against schema/cli-output.schema.json), masking, no stack traces, doctor against the real test server and against
 * a port where nothing listens, and `npx connect-mongo` in the clone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { isFerret, openTestDb, serverUri, type TestDb } from './helpers';
import { freePort, repoRoot } from './server';
import { runCliInProcess } from './fixtures/cli-run';

const cli = join(repoRoot, 'src/cli.ts');
const tmp = join(repoRoot, '.tmp', `cli-test-${process.pid}`);
const FAKE = 'Cli-Fake-Pa55word-QQ';
let t: TestDb;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; command?: string[] } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  if (!opts.env || !('NODE_ENV' in opts.env)) delete env.NODE_ENV;
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const [exe, ...pre] = opts.command ?? [process.execPath, '--import', 'tsx', cli];
  return new Promise((resolve, reject) => {
    const child = spawn(exe, [...pre, ...args], { cwd: opts.cwd ?? tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const outputSchema = JSON.parse(readFileSync(join(repoRoot, 'schema/cli-output.schema.json'), 'utf8'));
const validateOutput = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile<any>(outputSchema);

/** stdout of a --json run: exactly one object of the documented shape, whose exitCode is the process's. */
function jsonOf(r: Run): any {
  const out = JSON.parse(r.stdout);
  const matches = validateOutput(out);
  assert.ok(matches, `--json output does not match schema/cli-output.schema.json: ${JSON.stringify(validateOutput.errors)}\n${r.stdout}`);
  assert.is(out.exitCode, r.code, 'exitCode is the exit code');
  return out;
}
/** The --json object with every key at its "does not apply" value, for whole-object comparisons. */
const blank = { command: null, ok: false, exitCode: 0, file: null, env: null, envApplied: false, valid: null, issues: [], error: null, config: null, doctor: null, setup: null, sessions: null, note: null };

const inProcess = runCliInProcess;

/** No user error may print a stack trace. */
function noStack(r: Run) {
  assert.not.match(r.stdout + r.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
}

function file(name: string, body: unknown): string {
  const p = join(tmp, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body, null, 2));
  return p;
}

test.before(async () => {
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'package.json'), '{"name": "cli-test", "private": true}');
  t = await openTestDb(__filename);
});
test.after(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await t?.close();
});

test('--help for the command and for each subcommand; usage errors exit 64', async () => {
  const main = await run(['--help']);
  assert.is(main.code, 0);
  assert.match(main.stdout, 'Usage: connect-mongo <command> [path] [options]');
  for (const cmd of ['validate', 'print-config', 'doctor', 'setup']) {
    const r = await run([cmd, '--help']);
    assert.is(r.code, 0, cmd);
    assert.match(r.stdout, `Usage: connect-mongo ${cmd} [path]`);
    assert.match(r.stdout, 'Exit codes:');
  }
  assert.match((await run(['help', 'doctor'])).stdout, '--timeout <ms>');
  const none = await run([]);
  assert.is(none.code, 64);
  assert.match(none.stderr, 'Usage: connect-mongo');
  const bad = await run(['frobnicate']);
  assert.is(bad.code, 64);
  assert.match(bad.stderr, 'connect-mongo: unknown command "frobnicate" (commands: validate, print-config, doctor, setup, sessions)');
  const opt = await run(['validate', '--verbose']);
  assert.is(opt.code, 64);
  assert.is(opt.stderr, 'connect-mongo: unknown option "--verbose"\nRun "connect-mongo --help" for usage.\n');
  const timeout = await run(['doctor', '--timeout', 'soon']);
  assert.is(timeout.code, 64);
  assert.match(timeout.stderr, '--timeout expects a number of milliseconds, found "soon"');
  for (const r of [none, bad, opt, timeout]) noStack(r);
});

test('a mistyped flag or command gets our own message with a "did you mean"', async () => {
  const cases: Array<[string[], string]> = [
    [['validate', '--jsn'], 'unknown option "--jsn" — did you mean "--json"?'],
    [['doctor', '--timeot', '5'], 'unknown option "--timeot" — did you mean "--timeout"?'],
    [['print-config', '--ENV', 'x'], 'unknown option "--ENV" — did you mean "--env"?'],
    [['validate', '-x'], 'unknown option "-x"'],
    [['valdiate'], 'unknown command "valdiate" — did you mean "validate"? (commands: validate, print-config, doctor, setup, sessions)'],
    [['validate', '--env'], '--env needs a value (--env <name>)'],
    [['doctor', '--timeout', '--json'], '--timeout needs a value (--timeout <ms>)'],
    [['validate', '--json=yes'], '--json takes no value, found "yes"'],
  ];
  for (const [args, message] of cases) {
    const r = await inProcess(args);
    assert.is(r.code, 64, args.join(' '));
    assert.is(r.stderr, `connect-mongo: ${message}\nRun "connect-mongo --help" for usage.\n`, args.join(' '));
    noStack(r);
  }
  // With --json as well, stdout has the answer in the one shape (and the real process says the same).
  const json = await run(['validate', '--json', '--jsn']);
  assert.is(json.stderr, 'connect-mongo: unknown option "--jsn" — did you mean "--json"?\nRun "connect-mongo --help" for usage.\n');
  assert.equal(jsonOf(json), { ...blank, command: 'validate', exitCode: 64, error: { code: 'usage', message: 'unknown option "--jsn" — did you mean "--json"?' } });
});

test('--json: every command and every outcome prints one object of the documented shape', async () => {
  const good = file('shape/good.json', { mongoUrl: 'mongodb://127.0.0.1:27017/app', env: { test: { ttl: 5 } } });
  const bad = file('shape/bad.json', { mongoUrl: 'mongodb://127.0.0.1:27017/app', tll: 5 });
  const mem = file('shape/memory.json', { fallbackMemory: true });
  const port = await freePort();
  const down = file('shape/down.json', { mongoUrl: `mongodb://127.0.0.1:${port}/app` });
  const missing = join(tmp, 'shape/none.json');
  const seen = new Map<string, number>();
  for (const cmd of ['validate', 'print-config', 'doctor']) {
    for (const [args, code] of [
      [[good], 0],
      [[good, '--env', 'test'], 0],
      [[bad], 1],
      [[missing], 2],
      [['--help'], 0],
      [['--bogus'], 64],
      ...(cmd === 'doctor' ? [[[mem], 0], [[down, '--timeout', '300'], 3]] : []),
    ] as Array<[string[], number]>) {
      if (cmd === 'doctor' && args[0] === good) continue; // no server at that URL: covered by the doctor tests
      const r = await inProcess([cmd, ...args, '--json']);
      assert.is(r.code, code, `${cmd} ${args.join(' ')}: ${r.stderr}`);
      const out = jsonOf(r);
      assert.is(out.ok, code === 0);
      assert.is(out.command, cmd);
      assert.equal(Object.keys(out), Object.keys(blank), 'the same keys, in the same order');
      seen.set(`${cmd} ${code}`, (seen.get(`${cmd} ${code}`) ?? 0) + 1);
    }
  }
  for (const args of [[], ['--help'], ['nope']]) jsonOf(await inProcess([...args, '--json']));
  assert.equal([...seen.keys()].sort(), ['doctor 0', 'doctor 1', 'doctor 2', 'doctor 3', 'doctor 64', 'print-config 0', 'print-config 1', 'print-config 2', 'print-config 64', 'validate 0', 'validate 1', 'validate 2', 'validate 64']);
});

test('npx connect-mongo works in the clone after npm ci, running the source (no build step)', async () => {
  // npm ci's prepare links the project's own bin (npm links only the dependencies' bins).
  const link = join(repoRoot, 'node_modules/.bin/connect-mongo');
  assert.is(realpathSync(link), join(repoRoot, 'scripts/connect-mongo-dev.cjs'), 'node_modules/.bin/connect-mongo is the clone\'s launcher (run `npm ci` or `npm run prepare`)');
  const viaNpx = await run(['--help'], { cwd: repoRoot, command: ['npx', '--no-install', 'connect-mongo'], env: { npm_config_update_notifier: 'false' } });
  assert.is(viaNpx.code, 0, viaNpx.stderr);
  const direct = await run(['--help']);
  assert.is(viaNpx.stdout, direct.stdout, 'the same help as the source prints');
  // It runs the checked-out source, so it exits with the source's codes and messages too.
  const bad = await run(['validate', join(tmp, 'nope.json'), '--json'], { command: [link] });
  assert.is(bad.code, 2);
  assert.is(jsonOf(bad).error.code, 'not-found');
});

test('validate: 0 for a valid file (explicit, or found by the search from the cwd), human and --json', async () => {
  const example = join(repoRoot, 'connect-mongo.config.example.json');
  const r = await run(['validate', example]);
  assert.is(r.code, 0);
  assert.is(r.stdout.trim(), `✓ ${example} is valid (environment: none (NODE_ENV is not set; blocks: development, test, production))`);

  const dir = join(tmp, 'search');
  file('search/package.json', { name: 'search', private: true });
  const rc = file('search/.connect-mongorc.yaml', 'mongoUrl: ${CLI_URI:-mongodb://127.0.0.1:27017/app}\nttl: 60\nenv:\n  test:\n    ttl: 5\n');
  const found = await run(['validate', '--json'], { cwd: dir, env: { NODE_ENV: 'test' } });
  assert.is(found.code, 0);
  assert.equal(jsonOf(found), { ...blank, command: 'validate', ok: true, file: rc, env: 'test', envApplied: true, valid: true });
  // A directory as the path: searched from there.
  assert.is((await run(['validate', dir])).code, 0);
});

test('validate: 1 for an invalid file, every problem with its path, the secret never shown', async () => {
  const bad = file('bad.json', {
    mongoUrl: `mongodb://app:${FAKE}@127.0.0.1:27017/app`,
    touchafter: 60,
    ttl: '2 weeks',
    encryption: { secret: ['short', FAKE] },
    env: { production: { autoRemove: 'never', url: `http://app:${FAKE}@x` } },
  });
  const human = await run(['validate', bad]);
  assert.is(human.code, 1);
  assert.is(
    human.stdout.trim(),
    [
      `✗ ${bad}: 5 problems`,
      '  bad.json:3:3  /touchafter  unknown option "touchafter" — did you mean "touchAfter"?',
      '  bad.json:4:10  /ttl  expected a number, found the string "2 weeks"',
      '  bad.json:7:7  /encryption/secret/0  expected at least 8 characters, found 5',
      '  bad.json:14:14  /env/production/url  expected a connection string starting with mongodb:// or mongodb+srv://, found "http://app:****@x"',
      '  bad.json:13:21  /env/production/autoRemove  expected one of "native", "interval", "disabled", found the string "never"',
    ].join('\n'),
  );
  const json = await run(['validate', bad, '--json']);
  assert.is(json.code, 1);
  const out = jsonOf(json);
  assert.is(out.valid, false);
  assert.is(out.file, bad);
  assert.equal(out.error, { code: 'invalid', message: `${bad}: 5 problems` });
  assert.equal(
    out.issues.map((i: { path: string }) => i.path),
    ['/touchafter', '/ttl', '/encryption/secret/0', '/env/production/url', '/env/production/autoRemove'],
  );
  for (const r of [human, json]) {
    assert.not.ok((r.stdout + r.stderr).includes(FAKE), 'the password never appears');
    noStack(r);
  }
  const broken = file('broken.json', `{\n  "mongoUrl": "mongodb://app:${FAKE}@h/app"\n  "ttl": 5\n}\n`);
  const parse = await run(['validate', broken]);
  assert.is(parse.code, 1);
  assert.is(parse.stdout.trim(), `✗ ${broken}: 1 problem\n  broken.json:3:3  /  invalid JSON at line 3, column 3: Expected ',' or '}' after property value`);
  assert.not.ok((parse.stdout + parse.stderr).includes(FAKE));
});

test('validate: the selected environment\'s variables must be set', async () => {
  const cfg = file('vars.json', { mongoUrl: 'mongodb://127.0.0.1:27017/dev', env: { production: { mongoUrl: '${CLI_PROD_URI}' } } });
  const missing = await run(['validate', cfg, '--env', 'production']);
  assert.is(missing.code, 1);
  assert.match(missing.stdout, '/env/production/mongoUrl  environment variable CLI_PROD_URI is not set and ${CLI_PROD_URI} has no default');
  const fromNodeEnv = await run(['validate', cfg], { env: { NODE_ENV: 'production' } });
  assert.is(fromNodeEnv.code, 1);
  const set = await run(['validate', cfg], { env: { NODE_ENV: 'production', CLI_PROD_URI: 'mongodb://db:27017/prod' } });
  assert.is(set.code, 0);
  assert.match(set.stdout, '(environment: production)');
  assert.is((await run(['validate', cfg])).code, 0, 'without NODE_ENV the production block is not used');
});

test('validate: 2 when the file is missing or nothing is found', async () => {
  const missing = await run(['validate', join(tmp, 'nope.json')]);
  assert.is(missing.code, 2);
  assert.is(missing.stderr.trim(), `connect-mongo: config file not found: ${join(tmp, 'nope.json')}`);
  const json = await run(['validate', join(tmp, 'nope.json'), '--json']);
  assert.is(json.code, 2);
  assert.equal(jsonOf(json), { ...blank, command: 'validate', exitCode: 2, file: join(tmp, 'nope.json'), error: { code: 'not-found', message: `connect-mongo: config file not found: ${join(tmp, 'nope.json')}` } });
  const empty = join(tmp, 'empty-project');
  file('empty-project/package.json', { name: 'empty', private: true });
  const none = await run(['validate'], { cwd: empty });
  assert.is(none.code, 2);
  assert.match(none.stderr, `connect-mongo: no config found from ${empty} up to the project root`);
  for (const r of [missing, json, none]) noStack(r);
});

test('print-config: env merged, variables filled, defaults applied, secrets masked', async () => {
  const cfg = file('print.yaml', [
    'mongoUrl: ${CLI_PRINT_URI}',
    'mongoOptions:',
    '  auth:',
    '    username: app',
    `    password: ${FAKE}`,
    'crypto:',
    `  secret: [${FAKE}, another-${FAKE}]`,
    'env:',
    '  production:',
    '    touchAfter: 300',
    `    hashIds: { secret: hash-${FAKE} }`,
    '',
  ].join('\n'));
  const env = { CLI_PRINT_URI: `mongodb://app:${FAKE}@db.internal:27017/shop?authSource=admin`, NODE_ENV: 'production' };
  const human = await run(['print-config', cfg], { env });
  assert.is(human.code, 0);
  const [l1, l2, ...rest] = human.stdout.split('\n');
  assert.is(l1, `// file: ${cfg}`);
  assert.is(l2, '// environment: production');
  const config = JSON.parse(rest.join('\n'));
  assert.equal(config, {
    mongoUrl: 'mongodb://app:****@db.internal:27017/shop?authSource=admin',
    mongoOptions: { auth: { username: 'app', password: '****' } },
    collectionName: 'sessions',
    ttl: 1209600,
    autoRemove: 'native',
    autoRemoveInterval: 10,
    touchAfter: 300,
    stringify: true,
    fallbackMemory: false,
    timestamps: false,
    crypto: { secret: ['****', '****'] },
    hashIds: { secret: '****' },
    operationTimeoutMS: 10000,
    onCorruptSession: 'error',
    readPreference: 'primary',
  });
  const json = await run(['print-config', cfg, '--json'], { env });
  assert.is(json.code, 0);
  assert.equal(jsonOf(json), { ...blank, command: 'print-config', ok: true, file: cfg, env: 'production', envApplied: true, valid: true, config });
  for (const r of [human, json]) assert.not.ok((r.stdout + r.stderr).includes(FAKE), 'no secret printed');

  const invalid = await run(['print-config', cfg], { env: { NODE_ENV: 'production' } });
  assert.is(invalid.code, 1);
  assert.match(invalid.stderr, '/mongoUrl  environment variable CLI_PRINT_URI is not set');
  assert.is((await run(['print-config', join(tmp, 'nope.json')])).code, 2);
  noStack(invalid);
});

test('doctor: reports the server, TTL support, the expires index and session counts', async () => {
  const col = t.db.collection<{ _id: string; session: string; expires: Date }>('cli_doctor');
  const now = Date.now();
  await col.insertMany([
    { _id: 'live-1', session: '{}', expires: new Date(now + 3_600_000) },
    { _id: 'live-2', session: '{}', expires: new Date(now + 7_200_000) },
    { _id: 'expired-1', session: '{}', expires: new Date(now - 3_600_000) },
  ]);
  const cfg = file('doctor.json', { mongoUrl: '${CONNECT_MONGO_TEST_URI}', dbName: t.dbName, collectionName: 'cli_doctor' });
  const env = { CONNECT_MONGO_TEST_URI: serverUri() };
  const before = (await t.db.listCollections().toArray()).map((c) => c.name).sort();

  const json = await run(['doctor', cfg, '--json', '--timeout', '5000'], { env });
  assert.is(json.code, 0, json.stderr);
  const out = jsonOf(json);
  const r = out.doctor;
  console.log(`# doctor: ${r.server.kind} ${r.server.ferretdbVersion ?? ''} ${r.server.version}, TTL ${r.ttl.supported}, autoRemove ${r.autoRemove.effective}`);
  assert.is(out.file, cfg);
  assert.is(r.server.kind, isFerret ? 'FerretDB' : 'MongoDB');
  // The tests' FerretDB is built from the module, without FerretDB's version file: it says "unknown", which is no
  // version. (A release build reports e.g. "v1.24.2", and doctor shows it.)
  if (isFerret) assert.is(r.server.ferretdbVersion, null);
  assert.match(r.server.version, /^\d+\.\d+\.\d+/);
  assert.is(r.database, t.dbName);
  assert.is(r.collection, 'cli_doctor');
  assert.equal(r.sessions, { live: 2, expired: 1 });
  assert.equal(r.expiresIndex, { state: 'missing' });
  if (isFerret) {
    // FerretDB refuses TTL indexes (code 238): native autoRemove falls back to interval.
    assert.is(r.ttl.supported, false);
    assert.match(r.ttl.detail, 'NotImplemented');
    assert.equal(r.autoRemove, { configured: 'native', effective: 'interval', note: 'TTL indexes are not supported here: the store will fall back to deleting expired sessions every 10 min (with one warning)' });
  } else {
    assert.is(r.ttl.supported, true);
    assert.is(r.autoRemove.effective, 'native');
  }
  const after = (await t.db.listCollections().toArray()).map((c) => c.name).sort();
  assert.equal(after, before, 'the TTL probe collection was dropped');

  await col.createIndex({ expires: 1 }, { name: 'expires_plain' });
  const human = await run(['doctor', cfg], { env });
  assert.is(human.code, 0, human.stderr);
  const lines = human.stdout.trim().split('\n');
  assert.is(lines[0], `config       ${cfg} (environment: none)`);
  assert.match(lines[1], isFerret ? /^server {7}FerretDB \(this build does not report its version\), compatible with MongoDB \d+\.\d+\.\d+, standalone at mongodb:\/\/127\.0\.0\.1:\d+/ : /^server {7}MongoDB \d+\./);
  assert.not.match(lines[1], 'unknown');
  assert.is(lines[2], `sessions in  ${t.dbName}.cli_doctor`);
  assert.match(lines[3], isFerret ? /^TTL indexes  not supported: the server refused a TTL index/ : /^TTL indexes  supported/);
  assert.is(lines[5], 'expires      index expires_plain without expireAfterSeconds (not a TTL index)');
  assert.is(lines[6], 'sessions     2 live, 1 expired (still stored)');

  // A collection that does not exist yet.
  const fresh = file('doctor-fresh.json', { mongoUrl: '${CONNECT_MONGO_TEST_URI}', dbName: t.dbName, collectionName: 'cli_doctor_none', autoRemove: 'interval' });
  const r2 = jsonOf(await run(['doctor', fresh, '--json'], { env })).doctor;
  assert.equal(r2.expiresIndex, { state: 'no-collection' });
  assert.equal(r2.sessions, { live: 0, expired: 0 });
  assert.equal(r2.autoRemove, { configured: 'interval', effective: 'interval', note: 'the store deletes expired sessions every 10 min' });
});

test('doctor: a clear error and exit 3 when nothing listens; fallbackMemory needs no server', async () => {
  const port = await freePort();
  const cfg = file('unreachable.json', { mongoUrl: `mongodb://app:${FAKE}@127.0.0.1:${port}/app` });
  const r = await run(['doctor', cfg, '--timeout', '500']);
  assert.is(r.code, 3);
  assert.is(r.stdout, '');
  assert.is(r.stderr.trim(), `connect-mongo doctor: cannot reach the server within 500 ms (mongodb://app:****@127.0.0.1:${port}/app): connect ECONNREFUSED 127.0.0.1:${port}`);
  noStack(r);
  const json = await run(['doctor', cfg, '--timeout', '500', '--json']);
  assert.is(json.code, 3);
  assert.is(jsonOf(json).error.code, 'unreachable');
  for (const x of [r, json]) assert.not.ok((x.stdout + x.stderr).includes(FAKE));

  const mem = file('memory.json', { fallbackMemory: true });
  const m = await run(['doctor', mem]);
  assert.is(m.code, 0);
  assert.match(m.stdout, 'fallbackMemory is on: the store is an in-memory MemoryStore, there is no server to check');
  const mj = jsonOf(await run(['doctor', mem, '--json']));
  assert.equal([mj.doctor, mj.note], [null, 'fallbackMemory is on: the store is an in-memory MemoryStore, there is no server to check']);
  assert.is((await run(['doctor', join(tmp, 'nope.json')])).code, 2);
});

test.run();
