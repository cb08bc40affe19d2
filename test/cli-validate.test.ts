/**
 * `connect-mongo validate` as a linter (test/fixtures/config/lint/): file:line:column for JSON, YAML and package.json
 * (the expected positions are found in the fixture's text here, not by the parser under test), none for a JavaScript
 * config, many files in one run with the worst exit code, --json as NDJSON checked against
 * schema/cli-output.schema.json, --format github, --all-envs, --require-env, and the README's CI recipes and the
 * pre-commit hook's entry run as written. No database: validate needs none. In-process where only the output matters;
 * a real process where the exit code or a shell is the point.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import Ajv from 'ajv';
import { parse as parseYaml } from 'yaml';
import { githubLines } from '../src/config/report-format';
import { repoRoot } from './server';
import { runCli, runCliInProcess, runProgram, type CliRun } from './fixtures/cli-run';

const lint = join(repoRoot, 'test/fixtures/config/lint');
const ci = join(lint, 'ci');
const shown = (p: string) => relative(repoRoot, p); // in-process runs have the repository as their cwd
const validateOutput = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile<any>(JSON.parse(readFileSync(join(repoRoot, 'schema/cli-output.schema.json'), 'utf8')));

/** stdout of a --json run: one object a line, each of the documented shape. */
function objects(r: CliRun): any[] {
  const lines = r.stdout.split('\n').filter(Boolean);
  return lines.map((l) => {
    const o = JSON.parse(l);
    assert.ok(validateOutput(o), `not the documented shape: ${JSON.stringify(validateOutput.errors)}\n${l}`);
    return o;
  });
}

/** Line and column (1-based) of the `nth` occurrence of `needle` in a fixture: the oracle for the positions. */
function at(file: string, needle: string, nth = 1): { line: number; column: number } {
  const text = readFileSync(file, 'utf8');
  let i = -1;
  for (let k = 0; k < nth; k++) i = text.indexOf(needle, i + 1);
  assert.ok(i >= 0, `${needle} in ${file}`);
  const before = text.slice(0, i).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

/** A program run as it is (the hook's entry, a shell for the README's lines), NODE_ENV unset. */
function exec(cmd: string[], cwd: string, env: Record<string, string> = {}): Promise<CliRun> {
  const all: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete all.NODE_ENV;
  return runProgram(cmd, cwd, all);
}

async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => Object.entries(v).forEach(([k, x]) => (x === undefined ? delete process.env[k] : (process.env[k] = x)));
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

test('JSON and YAML: an unknown option at its key, a nested value, and a ${VAR} value at the string that held it', async () => {
  for (const [name, ttl, key, item, alias] of [
    ['positions.json', '"${LINT_TTL}"', '"wtimeoutMs"', '"short"', '"url"'],
    ['positions.yaml', '${LINT_TTL}', 'wtimeoutMs', 'short', 'url:'],
  ]) {
    const f = join(lint, name);
    const r = await withEnv({ LINT_TTL: 'abc' }, () => runCliInProcess(['validate', f, '--json']));
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.equal(objects(r)[0].issues, [
      { path: '/ttl', message: 'expected a number, found the string "abc" (from ${LINT_TTL})', ...at(f, ttl) },
      { path: '/writeOperationOptions/wtimeoutMs', message: 'unknown option "wtimeoutMs" — did you mean "wtimeoutMS"?', ...at(f, key) },
      { path: '/encryption/secret/1', message: 'expected at least 8 characters, found 5', ...at(f, item) },
      { path: '/url', message: 'conflicts with mongoUrl (url is its alias): give only one of them', ...at(f, alias) },
    ]);
    // The text: today's message, the position in front.
    const text = await withEnv({ LINT_TTL: 'abc' }, () => runCliInProcess(['validate', f]));
    const { line, column } = at(f, ttl);
    assert.match(text.stdout, `\n  ${shown(f)}:${line}:${column}  /ttl  expected a number, found the string "abc" (from \${LINT_TTL})\n`);
  }
});

test('package.json: positions under its "connect-mongo" key; a JavaScript config has none and says so', async () => {
  const pkg = join(lint, 'package-json/package.json');
  const r = objects(await runCliInProcess(['validate', pkg, '--json']))[0];
  assert.equal(r.issues.map((i: any) => [i.path, i.line, i.column]), [
    ['/touchafter', at(pkg, '"touchafter"').line, at(pkg, '"touchafter"').column],
    ['/writeOperationOptions/w', at(pkg, '0 }').line, at(pkg, '0 }').column],
    // a missing option: the key of the object it belongs in
    ['/crypto/secret', at(pkg, '"crypto"').line, at(pkg, '"crypto"').column],
  ]);
  // The whole options object of the wrong type: its value, under the key.
  const root = join(lint, 'package-root/package.json');
  assert.equal(objects(await runCliInProcess(['validate', root, '--json']))[0].issues[0], { path: '/', message: 'expected an object of options, found the string "mongodb://127.0.0.1:27017/app"', ...at(root, '"mongodb:') });

  const js = join(lint, 'bad.cjs');
  const out = objects(await runCliInProcess(['validate', js, '--json']))[0];
  assert.equal(out.issues, [{ path: '/ttl', message: 'expected a number, found the string "two weeks"', line: null, column: null }]);
  assert.is(out.note, 'a JavaScript config is run, not parsed: its problems have JSON paths but no line:column');
  const text = await runCliInProcess(['validate', js]);
  assert.is(text.stdout, `✗ ${js}: 1 problem\n  /ttl  expected a number, found the string "two weeks"\n  (${out.note})\n`);
});

test('a file that does not parse: the parser\'s own line and column', async () => {
  const f = join(lint, 'broken.yaml');
  const [o] = objects(await runCliInProcess(['validate', f, '--json']));
  assert.equal(o.issues, [{ path: '/', message: 'invalid YAML at line 3, column 13: bad indentation of a mapping entry', line: 3, column: 13 }]);
});

test('many files in one run: each reported, exit code the worst of them, --json one object a line (NDJSON)', async () => {
  const good = join(ci, 'apps/api/connect-mongo.config.json');
  const bad = join(ci, 'apps/web/connect-mongo.config.yaml');
  const missing = join(lint, 'none.json');
  const r = await runCli(['validate', good, bad, missing], { cwd: ci });
  assert.is(r.code, 2, 'not found (2) is worse than invalid (1)');
  assert.is(r.stdout, `✓ ${good} is valid (environment: none)\n✗ ${bad}: 1 problem\n  apps/web/connect-mongo.config.yaml:4:17  /env/production/autoRemove  expected one of "native", "interval", "disabled", found the string "never"\n`);
  assert.is(r.stderr, `connect-mongo: config file not found: ${missing}\n`);
  const json = await runCliInProcess(['validate', good, bad, missing, '--json']);
  assert.is(json.code, 2);
  assert.equal(objects(json).map((o) => [o.file, o.exitCode, o.valid, o.error?.code ?? null]), [
    [good, 0, true, null],
    [bad, 1, false, 'invalid'],
    [missing, 2, null, 'not-found'],
  ]);
  assert.is((await runCliInProcess(['validate', good, bad])).code, 1);
  assert.is((await runCliInProcess(['validate', good, join(ci, 'connect-mongo.config.json')])).code, 0);
});

test('--format github: one workflow command a problem, file= relative to $GITHUB_WORKSPACE, data and properties escaped', async () => {
  const f = join(lint, 'positions.yaml');
  const r = await withEnv({ LINT_TTL: 'abc', GITHUB_WORKSPACE: lint }, () => runCliInProcess(['validate', f, join(lint, 'none.json'), '--format', 'github']));
  assert.is(r.code, 2);
  assert.is(r.stderr, '');
  assert.equal(r.stdout.trimEnd().split('\n'), [
    `::error file=positions.yaml,line=4,col=6,title=connect-mongo validate::/ttl  expected a number, found the string "abc" (from \${LINT_TTL})`,
    '::error file=positions.yaml,line=7,col=3,title=connect-mongo validate::/writeOperationOptions/wtimeoutMs  unknown option "wtimeoutMs" — did you mean "wtimeoutMS"?',
    '::error file=positions.yaml,line=11,col=7,title=connect-mongo validate::/encryption/secret/1  expected at least 8 characters, found 5',
    '::error file=positions.yaml,line=3,col=1,title=connect-mongo validate::/url  conflicts with mongoUrl (url is its alias): give only one of them',
    `::error title=connect-mongo validate::connect-mongo: config file not found: ${join(lint, 'none.json')}`,
  ]);
  const escaped = await withEnv({ GITHUB_WORKSPACE: '/w' }, async () => githubLines('/w/a,b:c.json', [{ path: '/x', message: '100% sure\nor not', line: null, column: null }]));
  assert.equal(escaped, ['::error file=a%2Cb%3Ac.json,title=connect-mongo validate::/x  100%25 sure%0Aor not']);
});

test('--all-envs: each block merged over the base and checked; unset variables no error; --require-env names them, never a value', async () => {
  const f = join(lint, 'every-env.json');
  const noConnection = 'You must provide either mongoUrl|clientPromise|client in options (or url, db, dbPromise, mongooseConnection): no connection was given';
  const all = await withEnv({ LINT_PROD_URI: undefined, LINT_CRYPTO_SECRET: undefined }, () => runCliInProcess(['validate', f, '--all-envs', '--json']));
  assert.is(all.code, 1);
  const o = objects(all)[0];
  assert.equal([o.env, o.issues], [null, [{ path: '/', message: `${noConnection} (with env block "staging")`, line: 1, column: 1 }]]);
  const secret = 'Lint-Secret-Value-7731';
  const req = await withEnv({ LINT_PROD_URI: undefined, LINT_CRYPTO_SECRET: secret }, () => runCliInProcess(['validate', f, '--all-envs', '--require-env']));
  assert.is(req.code, 1);
  assert.is(
    req.stdout,
    `✗ ${f}: 2 problems\n  ${shown(f)}:1:1  /  ${noConnection} (with env block "staging")\n` +
      `  ${shown(f)}:${at(f, '"${LINT_PROD_URI}"').line}:${at(f, '"${LINT_PROD_URI}"').column}  /env/production/mongoUrl  environment variable LINT_PROD_URI is not set and \${LINT_PROD_URI} has no default (set it, or write \${LINT_PROD_URI:-default})\n`,
  );
  assert.not.ok((req.stdout + req.stderr).includes(secret), 'a set variable\'s value is never printed');
  // One environment (a deploy step): its variables are required with or without --require-env; an empty one too.
  const one = await withEnv({ LINT_PROD_URI: '', LINT_CRYPTO_SECRET: secret }, () => runCliInProcess(['validate', f, '--env', 'production', '--require-env', '--json']));
  assert.equal(objects(one)[0].issues, [{ path: '/env/production/mongoUrl', message: 'environment variable LINT_PROD_URI is empty and ${LINT_PROD_URI} has no default (set it, or write ${LINT_PROD_URI:-default})', ...at(f, '"${LINT_PROD_URI}"') }]);
  assert.not.ok(one.stdout.includes(secret));
  // Every block valid: the blocks are named; a file without blocks is checked as it is.
  const ok = await runCliInProcess(['validate', join(ci, 'connect-mongo.config.json'), join(ci, 'apps/api/connect-mongo.config.json'), '--all-envs']);
  assert.is(ok.code, 0, ok.stdout);
  assert.is(ok.stdout, `✓ ${join(ci, 'connect-mongo.config.json')} is valid (every environment: development, production)\n✓ ${join(ci, 'apps/api/connect-mongo.config.json')} is valid (no env blocks)\n`);
});

test('usage errors of the new options exit 64', async () => {
  for (const [args, message] of [
    [['validate', '--format', 'xml'], '--format expects text or github, found "xml"'],
    [['validate', '--format', 'github', '--json'], '--format github and --json are two outputs: give one of them'],
    [['validate', '--all-envs', '--env', 'production'], '--all-envs checks every env block: give no --env with it'],
    [['print-config', '--all-envs'], '--all-envs is an option of validate'],
    [['print-config', 'a.json', 'b.json'], 'print-config takes one path, got 2'],
  ] as Array<[string[], string]>) {
    const r = await runCliInProcess(args);
    assert.is(r.code, 64, args.join(' '));
    assert.is(r.stderr, `connect-mongo: ${message}\nRun "connect-mongo --help" for usage.\n`);
  }
});

/** Files under `dir`, relative and with / (as pre-commit passes them). */
function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir).sort().flatMap((n) => (statSync(join(dir, n)).isDirectory() ? filesUnder(join(dir, n), base) : [relative(base, join(dir, n))]));
}

test('the pre-commit hook: its entry run on the fixture files its `files` pattern picks', async () => {
  const [hook] = parseYaml(readFileSync(join(repoRoot, '.pre-commit-hooks.yaml'), 'utf8'));
  assert.equal([hook.id, hook.language, hook.pass_filenames], ['connect-mongo-validate', 'node', true]);
  const pattern = new RegExp(hook.files);
  for (const yes of ['connect-mongo.config.json', 'a/connect-mongo.config.yml', '.connect-mongorc', 'b/.connect-mongorc.cjs']) assert.ok(pattern.test(yes), yes);
  for (const no of ['package.json', 'connect-mongo.config.json.bak', 'my-connect-mongo.config.json', 'a/settings.json']) assert.not.ok(pattern.test(no), no);
  const picked = filesUnder(ci).filter((f) => pattern.test(f));
  assert.equal(picked, ['apps/api/connect-mongo.config.json', 'apps/web/connect-mongo.config.yaml', 'connect-mongo.config.json']);
  // language: node installs the package, whose bin the entry names: here the clone's node_modules/.bin one.
  const [bin, ...args] = hook.entry.split(' ');
  const r = await exec([join(repoRoot, 'node_modules/.bin', bin), ...args, ...picked], ci);
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, '\n  apps/web/connect-mongo.config.yaml:4:17  /env/production/autoRemove  expected one of');
  assert.is(r.stdout.split('\n').filter((l) => l.startsWith('✓')).length, 2);
});

test('README "Checking configs in CI": its example output, the GitHub Actions step and the GitLab CI job, run as written', async () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Checking configs in CI'), readme.indexOf('\n## ', readme.indexOf('### Checking configs in CI')));
  const yamlBlocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parseYaml(m[1]));
  const githubRun = yamlBlocks[0].find((s: any) => String(s.run).includes('connect-mongo validate')).run as string;
  const gitlabRun = (yamlBlocks[1]['connect-mongo-config'].script as string[]).find((s) => s.includes('connect-mongo validate'))!;
  assert.equal(yamlBlocks[2].repos[0].hooks, [{ id: 'connect-mongo-validate' }]);
  // A copy of the monorepo fixture where `npx connect-mongo` finds this clone's bin, as an app finds its dependency's.
  const dir = join(repoRoot, '.tmp', `cli-validate-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(ci, dir, { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  try {
    const sh = (line: string) => exec(['sh', '-c', line], dir, { npm_config_update_notifier: 'false', npm_config_offline: 'true', GITHUB_WORKSPACE: dir });
    const gh = await sh(githubRun);
    assert.is(gh.code, 1, gh.stdout + gh.stderr);
    assert.match(gh.stdout, '\n::error file=apps/web/connect-mongo.config.yaml,line=4,col=17,title=connect-mongo validate::/env/production/autoRemove  expected one of');
    const gl = await sh(gitlabRun);
    assert.is(gl.code, 1, gl.stdout + gl.stderr);
    // The example output, /repo standing for the checkout.
    const example = /```sh\n\$ (.*)\n([\s\S]*?)```/.exec(section)!;
    const shownRun = await sh(example[1]);
    assert.is(shownRun.stdout, example[2].replaceAll('/repo/', `${dir}/`));
    assert.is(gl.stdout, shownRun.stdout.replace('(environment: none (NODE_ENV is not set; blocks: development, production))', '(every environment: development, production)').replace('(environment: none)', '(no env blocks)'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
