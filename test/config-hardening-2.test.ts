/**
 * Config loading, second round (issue 19, items 9-11): a variable in a secret never turns encryption off (nor becomes
 * the key "false"); an environment name that nearly names a block (letter case, a stray space, "prod") is refused
 * instead of running without the block; outside any project the search stays in its start directory and never runs
 * an ancestor's .connect-mongorc.js; and `--timeout` beyond what a timer holds is refused instead of firing at once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OptionsError } from '../src';
import { ConfigFileError, loadConfig, loadConfigSync } from '../src/config/load';
import { openTestDb, serverUri, type TestDb } from './helpers';
import { repoRoot } from './server';
import { runCli } from './fixtures/cli-run';

let t: TestDb;
const tmp = join(repoRoot, '.tmp', `config-hardening-2-${process.pid}`);
/** Outside the repository (and any project): the system's temp directory, with no package.json above it. */
let outside: string;
test.before(async () => {
  t = await openTestDb(__filename);
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'package.json'), '{"name": "config-hardening-2-test", "private": true}');
  outside = mkdtempSync(join(tmpdir(), 'connect-mongo-search-'));
});
test.after(async () => {
  rmSync(tmp, { recursive: true, force: true });
  if (outside) rmSync(outside, { recursive: true, force: true });
  await t?.close();
});

let n = 0;
function file(body: unknown, name = `c${n++}.json`): string {
  const p = join(tmp, name);
  writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body, null, 2));
  return p;
}

type Outcome = { options?: Record<string, unknown>; envApplied?: boolean; issues?: { path: string; message: string }[] };
/** The async and the sync loader (which must agree): the options, or the issues. */
async function resolve(body: unknown, opts: { env?: Record<string, string>; envName?: string } = {}): Promise<Outcome> {
  const configPath = file(body);
  const once = async (sync: boolean): Promise<Outcome> => {
    try {
      const l = sync ? loadConfigSync({ configPath, ...opts, env: opts.env ?? {} }) : await loadConfig({ configPath, ...opts, env: opts.env ?? {} });
      return { options: l.options as Record<string, unknown>, envApplied: l.envApplied };
    } catch (e) {
      if (!(e instanceof OptionsError)) throw e;
      return { issues: e.issues };
    }
  };
  const [a, s] = [await once(false), await once(true)];
  assert.equal(s, a, 'the sync loader agrees');
  return a;
}

const URL = 'mongodb://h/app';

// ---- item 9: a variable in a secret ---------------------------------------------------------------------------------

test('"secret": "${CS}" with CS=false (any case, spaces) is refused at its path, naming the variable, never turning encryption off', async () => {
  const messages = new Set<string>();
  for (const value of ['false', 'FALSE', ' false ', 'true', 'True']) {
    const r = await resolve({ mongoUrl: URL, crypto: { secret: '${CS}' } }, { env: { CS: value } });
    assert.ok(r.issues, `CS=${JSON.stringify(value)}: refused, not ${JSON.stringify(r.options?.crypto)}`);
    assert.is(r.issues!.length, 1, JSON.stringify(r.issues));
    const [issue] = r.issues!;
    assert.is(issue.path, '/crypto/secret');
    assert.match(issue.message, '${CS} holds a boolean word, not a secret');
    assert.match(issue.message, 'it does not turn encryption off');
    assert.match(issue.message, 'Set CS to the secret');
    assert.match(issue.message, 'write "secret": false in the file itself (in an env block for one environment), not through a variable');
    assert.not.match(issue.message, JSON.stringify(value));
    messages.add(issue.message);
  }
  // The same message for every value: what the variable holds is not told (and the hint's "false" is not masked).
  assert.is(messages.size, 1, [...messages].join('\n'));
  // The default of a reference is a variable's value too: "${CS:-false}" in production would be encryption off.
  const byDefault = await resolve({ mongoUrl: URL, crypto: { secret: '${CS:-false}' } });
  assert.equal(byDefault.issues?.map((i) => i.path), ['/crypto/secret']);
  assert.match(byDefault.issues![0].message, 'the default of ${CS} holds a boolean word');
});

test('every secret option and an env block: refused where it is written; the other blocks too; other values still coerced', async () => {
  const r = await resolve(
    {
      mongoUrl: URL,
      stringify: '${STRINGIFY}',
      hashIds: { secret: '${HASH}' },
      env: {
        production: { encryption: { secret: '${ENC}' } },
        staging: { crypto: { secret: ['${ROTATE_NEW}', '${ROTATE_OLD}'] } },
      },
    },
    { env: { NODE_ENV: 'production', STRINGIFY: 'false', HASH: 'false', ENC: 'true', ROTATE_NEW: 'a-real-secret', ROTATE_OLD: 'false' } },
  );
  assert.equal(r.issues?.map((i) => i.path), ['/hashIds/secret', '/env/production/encryption/secret', '/env/staging/crypto/secret/1']);
  // One message per path (the schema's "at least 8 characters" would only add noise).
  for (const [i, name] of [[0, 'HASH'], [1, 'ENC'], [2, 'ROTATE_OLD']] as const) assert.match(r.issues![i].message, `\${${name}} holds a boolean word`);
  // A non-secret option still takes the boolean the schema wants there.
  const ok = await resolve({ mongoUrl: URL, stringify: '${STRINGIFY}', crypto: { secret: '${CS}' } }, { env: { STRINGIFY: 'false', CS: 'a-real-secret' } });
  assert.is(ok.options?.stringify, false);
  assert.equal(ok.options?.crypto, { secret: 'a-real-secret' });
});

test('encryption off is still written as the JSON boolean in the file (or an env block), and a secret spelled "false…" is a secret', async () => {
  const off = await resolve({ mongoUrl: URL, crypto: { secret: '${CS}' }, env: { development: { crypto: { secret: false } } } }, { env: { NODE_ENV: 'development' } });
  assert.equal(off.options?.crypto, { secret: false });
  const word = await resolve({ mongoUrl: URL, crypto: { secret: '${CS}' } }, { env: { CS: 'falsehood-is-a-secret' } });
  assert.equal(word.options?.crypto, { secret: 'falsehood-is-a-secret' });
});

// ---- item 9: NODE_ENV that nearly names a block --------------------------------------------------------------------

const BLOCKS = { mongoUrl: URL, env: { production: { touchAfter: 3600 }, development: { fallbackMemory: true } } };

test('NODE_ENV=Production / "production " / prod with a "production" block: refused at /env, naming the block, not run without it', async () => {
  for (const [nodeEnv, block] of [['Production', 'production'], ['production ', 'production'], [' PRODUCTION', 'production'], ['prod', 'production'], ['Dev', 'development']]) {
    const r = await resolve(BLOCKS, { env: { NODE_ENV: nodeEnv } });
    assert.ok(r.issues, `NODE_ENV=${JSON.stringify(nodeEnv)}: refused, not run with envApplied=${r.envApplied}`);
    assert.equal(r.issues!.map((i) => i.path), ['/env']);
    assert.match(r.issues![0].message, `NODE_ENV is ${JSON.stringify(nodeEnv)}, which names no env block`);
    assert.match(r.issues![0].message, `The file has "${block}": set NODE_ENV to it, or rename the block`);
  }
  // The other way round: a block named "prod" and the usual NODE_ENV=production.
  const prod = await resolve({ mongoUrl: URL, env: { prod: { touchAfter: 3600 } } }, { env: { NODE_ENV: 'production' } });
  assert.match(prod.issues?.[0].message ?? '', 'The file has "prod"');
  // envName from code (or --env) is named as such.
  const named = await resolve(BLOCKS, { envName: 'PRODUCTION', env: {} });
  assert.match(named.issues?.[0].message ?? '', 'the environment name "PRODUCTION" (envName, or --env) names no env block');
  assert.match(named.issues?.[0].message ?? '', 'set envName to it');
});

test('an exact name applies its block; a name like no block (NODE_ENV=test) still runs without one; no blocks, no check', async () => {
  const exact = await resolve(BLOCKS, { env: { NODE_ENV: 'production' } });
  assert.is(exact.envApplied, true);
  assert.is(exact.options?.touchAfter, 3600);
  const other = await resolve(BLOCKS, { env: { NODE_ENV: 'test' } });
  assert.is(other.envApplied, false);
  assert.is(other.options?.touchAfter, undefined);
  // A file with both spellings: the exact one applies, nothing is refused.
  const both = await resolve({ mongoUrl: URL, env: { production: { touchAfter: 1 }, Production: { touchAfter: 2 } } }, { env: { NODE_ENV: 'Production' } });
  assert.is(both.options?.touchAfter, 2);
  assert.equal((await resolve({ mongoUrl: URL }, { env: { NODE_ENV: 'Production' } })).options, { mongoUrl: URL });
});

test('CLI validate with NODE_ENV=Production: exit 1 and the problem printed', async () => {
  const cfg = file(BLOCKS);
  const r = await runCli(['validate', cfg], { cwd: tmp, env: { NODE_ENV: 'Production' } });
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, '/env  NODE_ENV is "Production", which names no env block');
});

// ---- item 10: the search outside any project ----------------------------------------------------------------------

/** An rc file that leaves a mark and throws when it is run. */
function trap(dir: string): string {
  const mark = join(dir, 'ran.mark');
  rmSync(mark, { force: true });
  writeFileSync(join(dir, '.connect-mongorc.js'), `require('node:fs').writeFileSync(${JSON.stringify(mark)}, 'ran');\nthrow new Error('an ancestor config was run');\n`);
  return mark;
}

test('outside any project the search stays in the start directory: an ancestor .connect-mongorc.js is never run', async () => {
  for (let d = outside; ; d = dirname(d)) {
    assert.not.ok(existsSync(join(d, 'package.json')) || existsSync(join(d, 'package.yaml')), `the test needs no package.json above ${outside}, found one in ${d}`);
    if (dirname(d) === d) break;
  }
  const mark = trap(outside);
  const start = join(outside, 'app', 'config');
  mkdirSync(start, { recursive: true });
  for (const load of [() => loadConfig({ searchFrom: start, env: {} }), async () => loadConfigSync({ searchFrom: start, env: {} })]) {
    let err: unknown;
    try {
      await load();
    } catch (e) {
      err = e;
    }
    assert.instance(err, ConfigFileError, String(err));
    assert.is((err as ConfigFileError).reason, 'not-found');
    assert.match((err as Error).message, `no config found in ${start} (no package.json in it or above it, so no directory above it was searched)`);
  }
  // The command in that directory (tsx by its path: `--import tsx` would be looked up from the directory, outside the repo).
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_ENV;
  const loader = pathToFileURL(join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
  const cli = spawnSync(process.execPath, ['--import', loader, join(repoRoot, 'src/cli.ts'), 'validate'], { cwd: start, env, encoding: 'utf8' });
  assert.is(cli.status, 2, cli.stdout + cli.stderr);
  assert.match(cli.stderr, `no config found in ${start}`);
  assert.not.ok(existsSync(mark), 'the ancestor rc file was run');
  // A config in the start directory itself is found.
  writeFileSync(join(start, '.connect-mongorc.json'), JSON.stringify({ mongoUrl: URL }));
  assert.is((await loadConfig({ searchFrom: start, env: {} })).filepath, join(start, '.connect-mongorc.json'));
  assert.is(loadConfigSync({ configPath: start, env: {} }).filepath, join(start, '.connect-mongorc.json'));
  assert.not.ok(existsSync(mark), 'the ancestor rc file was run');
});

test('inside a project the search still walks up to the package.json, and not past it', async () => {
  const project = join(outside, 'project');
  const deep = join(project, 'src', 'server');
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(project, 'package.json'), '{"name": "p", "private": true}');
  writeFileSync(join(project, '.connect-mongorc.json'), JSON.stringify({ mongoUrl: URL }));
  const mark = trap(outside); // above the project root
  assert.is((await loadConfig({ searchFrom: deep, env: {} })).filepath, join(project, '.connect-mongorc.json'));
  rmSync(join(project, '.connect-mongorc.json'));
  let err: unknown;
  try {
    await loadConfig({ searchFrom: deep, env: {} });
  } catch (e) {
    err = e;
  }
  assert.instance(err, ConfigFileError);
  assert.match((err as Error).message, `no config found from ${deep} up to the project root`);
  assert.not.ok(existsSync(mark), 'the rc file above the project root was run');
});

// ---- item 11: --timeout beyond a timer ------------------------------------------------------------------------------

test('--timeout above 2147483647 ms is refused (exit 64, naming --timeout); 2147483647 itself waits and works', async () => {
  const cfg = file({ mongoUrl: '${CONNECT_MONGO_TEST_URI}', dbName: t.dbName, collectionName: 'hardening2_timeout', autoRemove: 'interval' });
  const env = { CONNECT_MONGO_TEST_URI: serverUri() };
  for (const command of ['doctor', 'setup']) {
    for (const value of ['2147483648', '99999999999']) {
      const r = await runCli([command, cfg, '--timeout', value], { cwd: tmp, env });
      assert.is(r.code, 64, `${command} --timeout ${value}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, `--timeout is at most 2147483647 ms (24.8 days, the longest timer Node can set), found "${value}"`);
    }
    // The largest timer Node holds: the server is reached, not reported unreachable at once.
    const max = await runCli([command, cfg, '--timeout', '2147483647'], { cwd: tmp, env });
    assert.is(max.code, 0, `${command} --timeout 2147483647: ${max.stdout}${max.stderr}`);
  }
});

test.run();
