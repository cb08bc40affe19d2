/**
 * Config loading under hostile or careless input: nested `${A:-${B}}` references (resolved as sh does, never a
 * wrong value), values from variables coerced to the option's type, options inherited through a prototype and
 * `__proto__` / `constructor` / `prototype` keys, YAML alias bombs and self-referencing anchors, oversized and
 * over-deep files, and a config file the process may not read (exit 2).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { OptionsError } from '../src';
import { loadConfig, loadConfigSync, resolveConfig } from '../src/config/load';
import { loadYaml } from '../src/config/parse';
import { normalizeOptions } from '../src/options';
import { SHAPE_LIMITS } from '../src/option-issues';
import { repoRoot } from './server';
import { runCli } from './fixtures/cli-run';

const tmp = join(repoRoot, '.tmp', `config-hardening-${process.pid}`);
test.before(() => {
  mkdirSync(tmp, { recursive: true, mode: 0o755 });
  writeFileSync(join(tmp, 'package.json'), '{"name": "config-hardening-test", "private": true}');
});
test.after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function file(body: unknown, name = `c${n++}.json`): string {
  const p = join(tmp, name);
  writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body, null, 2));
  return p;
}

/** The resolved options of a config, by the async and the sync loader (which must agree), or the issues. */
async function resolve(body: unknown, env: Record<string, string> = {}, name?: string): Promise<{ options?: Record<string, unknown>; issues?: { path: string; message: string }[] }> {
  const configPath = file(body, name);
  const once = async (sync: boolean) => {
    try {
      const l = sync ? loadConfigSync({ configPath, env }) : await loadConfig({ configPath, env });
      return { options: l.options as Record<string, unknown> };
    } catch (e) {
      if (!(e instanceof OptionsError)) throw e;
      return { issues: e.issues };
    }
  };
  const [a, s] = [await once(false), await once(true)];
  assert.equal(s, a, 'the sync loader agrees');
  return a;
}

// ---- item 8: nested references ----------------------------------------------------------------------------------

test('${A:-${B}}: the default may hold references, resolved only when used; never a stray "}"', async () => {
  const H = 'mongodb://primary/app';
  const F = 'mongodb://fallback/app';
  const cases: [string, Record<string, string>, string][] = [
    ['${URI:-${FALLBACK}}', { URI: H, FALLBACK: F }, H],
    ['${URI:-${FALLBACK}}', { FALLBACK: F }, F],
    ['${URI:-${FALLBACK}}', { URI: '', FALLBACK: F }, F],
    ['${URI:-${FALLBACK:-mongodb://last/app}}', {}, 'mongodb://last/app'],
    ['${URI:-${FALLBACK:-${LAST:-mongodb://deepest/app}}}', { LAST: 'mongodb://third/app' }, 'mongodb://third/app'],
    // A missing variable in a default that is not used is no error (the default is not looked at).
    ['${URI:-${NOT_SET_ANYWHERE}}', { URI: H }, H],
    ['mongodb://${HOST:-${DEFAULT_HOST:-localhost}}:${PORT:-27017}/app', { DEFAULT_HOST: 'db.internal' }, 'mongodb://db.internal:27017/app'],
    // $${ is a literal ${, in a default too.
    ['mongodb://h/app?appName=${APP:-a$${b}', {}, 'mongodb://h/app?appName=a${b'],
    // A variable's value is never expanded again.
    ['${URI}', { URI: 'mongodb://h/app?appName=${NOT_EXPANDED}' }, 'mongodb://h/app?appName=${NOT_EXPANDED}'],
  ];
  for (const [template, env, expected] of cases) {
    const r = await resolve({ mongoUrl: template }, env);
    assert.is(r.options?.mongoUrl, expected, `${template} with ${JSON.stringify(env)}: ${JSON.stringify(r.issues)}`);
  }
});

test('near misses of a nested reference are errors at their path, never a wrong value', async () => {
  const cases: [string, Record<string, string>, string][] = [
    ['${URI:-${FALLBACK}', { FALLBACK: 'mongodb://f/app' }, 'unterminated variable reference "${URI:-…" (its default has no closing "}")'],
    ['${URI${FALLBACK}}', { FALLBACK: 'mongodb://f/app' }, 'invalid variable reference ${URI${FALLBACK}: expected ${NAME} or ${NAME:-default} with NAME of letters, digits and _'],
    ['${URI:-${FALLBACK}}', {}, 'environment variable FALLBACK is not set and ${FALLBACK} has no default (set it, or write ${FALLBACK:-default})'],
    ['${URI:-${FALLBACK:-${A:-${B:-${C:-${D:-${E:-${F:-${G:-x}}}}}}}}}', {}, 'variable references nested more than 8 deep'],
  ];
  for (const [template, env, message] of cases) {
    const r = await resolve({ mongoUrl: template }, env);
    assert.equal(r.issues, [{ path: '/mongoUrl', message }], template);
  }
  // In an env block too, with the block's path.
  const r = await resolve({ mongoUrl: 'mongodb://h/app', env: { production: { url: '${URI:-${FALLBACK}' } } });
  assert.equal(r.issues, [{ path: '/env/production/url', message: 'unterminated variable reference "${URI:-…" (its default has no closing "}")' }]);
  // One "}" too many is text after the reference, as in sh: the value shows it, and the pattern check refuses it.
  const extra = await resolve({ mongoUrl: '${URI:-${FALLBACK}}', ttl: '${TTL:-${OTHER:-60}}}' }, { FALLBACK: 'mongodb://f/app' });
  assert.equal(extra.issues, [{ path: '/ttl', message: 'expected a number, found the string "60}"' }]);
});

// ---- item 9: coercion ---------------------------------------------------------------------------------------------

test('a value that is one whole ${VAR} takes the option\'s type: numbers, integers, booleans; strings stay strings', async () => {
  const r = await resolve(
    {
      mongoUrl: 'mongodb://h/app',
      ttl: '${SESSION_TTL:-3600}',
      touchAfter: '${TOUCH_AFTER}',
      autoRemoveInterval: '${ARI:-2.5}',
      operationTimeoutMS: '${OP_TIMEOUT:-1500}',
      stringify: '${STRINGIFY:-false}',
      timestamps: '${TIMESTAMPS}',
      writeOperationOptions: { w: '${W:-1}', j: '${J:-true}', wtimeoutMS: '${WT}' },
      collectionName: '${COLLECTION:-2024}',
      dbName: '${DB:-true}',
      mongoOptions: { maxPoolSize: '${POOL:-10}', appName: '${APP:-123}' },
    },
    { TOUCH_AFTER: ' 60\n', TIMESTAMPS: 'true', WT: '500' },
  );
  assert.equal(r.issues, undefined);
  const o = r.options!;
  assert.equal(
    [o.ttl, o.touchAfter, o.autoRemoveInterval, o.operationTimeoutMS, o.stringify, o.timestamps, o.writeOperationOptions],
    [3600, 60, 2.5, 1500, false, true, { w: 1, j: true, wtimeoutMS: 500 }],
  );
  // Where the schema wants a string, a string it is; mongoOptions are the driver's to parse.
  assert.equal([o.collectionName, o.dbName, o.mongoOptions], ['2024', 'true', { maxPoolSize: '10', appName: '123' }]);
  // w accepts a string too: "majority" stays one.
  assert.equal((await resolve({ mongoUrl: 'mongodb://h/app', writeOperationOptions: { w: '${W:-majority}' } })).options?.writeOperationOptions, { w: 'majority' });
  // Only a whole reference: text around it makes a string (and the schema says what it wanted).
  assert.equal((await resolve({ mongoUrl: 'mongodb://h/app', ttl: '${T:-60}s' })).issues, [{ path: '/ttl', message: 'expected a number, found the string "60s"' }]);
});

test('a value from a variable that cannot be the option\'s type: the path, the variable, the expected type; a secret never shown', async () => {
  const r = await resolve(
    {
      mongoUrl: 'mongodb://h/app',
      ttl: '${SESSION_TTL}',
      touchAfter: '${TOUCH_AFTER:--5}',
      operationTimeoutMS: '${OP_TIMEOUT:-1500.5}',
      fallbackMemory: '${FALLBACK:-yes}',
      hashIds: { secret: '${HASH_SECRET}' },
      env: { production: { ttl: '${PROD_TTL:-two weeks}' } },
    },
    { SESSION_TTL: 'abc', HASH_SECRET: '1234567' },
  );
  assert.equal(r.issues, [
    { path: '/ttl', message: 'expected a number, found the string "abc" (from ${SESSION_TTL})' },
    { path: '/touchAfter', message: 'expected a number >= 0 (seconds), found number -5 (the default of ${TOUCH_AFTER})' },
    { path: '/fallbackMemory', message: 'expected a boolean, found the string "yes" (the default of ${FALLBACK})' },
    { path: '/hashIds/secret', message: 'expected at least 8 characters, found 7 (from ${HASH_SECRET})' },
    { path: '/operationTimeoutMS', message: 'expected an integer, found number 1500.5 (the default of ${OP_TIMEOUT})' },
    { path: '/env/production/ttl', message: 'expected a number, found the string "two weeks" (the default of ${PROD_TTL})' },
  ]);
  // A number-looking secret is a string option's value: not coerced, and a number given there is never shown.
  const secret = await resolve({ mongoUrl: 'mongodb://h/app', crypto: { secret: '${CRYPTO_SECRET}' } }, { CRYPTO_SECRET: '918273645' });
  assert.equal((secret.options?.crypto as { secret: unknown }).secret, '918273645');
  const numeric = await resolve({ mongoUrl: 'mongodb://h/app', hashIds: { secret: 918273645 } });
  assert.not.ok(JSON.stringify(numeric.issues).includes('918273645'));
});

// ---- item 10: prototypes --------------------------------------------------------------------------------------------

test('options inherited through the prototype are validated like own ones, never read unvalidated', () => {
  const inherit = (proto: object) => Object.assign(Object.create(proto), { mongoUrl: 'mongodb://127.0.0.1:1/db' });
  let err: unknown;
  try {
    normalizeOptions(inherit({ ttl: 'abc' }));
  } catch (e) {
    err = e;
  }
  assert.instance(err, OptionsError);
  assert.equal((err as OptionsError).issues, [{ path: '/ttl', message: 'expected a number, found the string "abc"' }]);
  // Valid inherited options are used, as `o.ttl` would read them.
  assert.is(normalizeOptions(inherit({ ttl: 60, touchAfter: 5 })).ttlMs, 60_000);
  assert.is(normalizeOptions(inherit({ ttl: 60, touchAfter: 5 })).touchAfterMs, 5_000);
  // Parsed JSON holding "__proto__" (an own key), at the top or nested: refused with its path.
  for (const [json, path] of [
    ['{"mongoUrl": "mongodb://h/db", "__proto__": {"ttl": "abc"}}', '/__proto__'],
    ['{"mongoUrl": "mongodb://h/db", "mongoOptions": {"__proto__": {"w": 0}}}', '/mongoOptions/__proto__'],
    ['{"mongoUrl": "mongodb://h/db", "writeOperationOptions": {"constructor": {"w": 0}}}', '/writeOperationOptions/constructor'],
  ]) {
    let e: unknown;
    try {
      normalizeOptions(JSON.parse(json));
    } catch (x) {
      e = x;
    }
    assert.instance(e, OptionsError, json);
    assert.ok((e as OptionsError).issues.some((i) => i.path === path && /is refused: it would reach an object's prototype/.test(i.message)), `${json}: ${(e as Error).message}`);
  }
});

test('__proto__, constructor and prototype keys in a config file (also in env blocks, and a JS config\'s __proto__) are refused', async () => {
  const refused = (k: string) => `the key "${k}" is refused: it would reach an object's prototype, not set an option`;
  assert.equal((await resolve('{"mongoUrl": "mongodb://h/app", "__proto__": {"ttl": "abc"}}')).issues, [{ path: '/__proto__', message: refused('__proto__') }]);
  assert.equal((await resolve('mongoUrl: mongodb://h/app\n__proto__:\n  ttl: abc\n', {}, 'proto.yaml')).issues, [{ path: '/__proto__', message: refused('__proto__') }]);
  assert.equal(
    (await resolve('{"mongoUrl": "mongodb://h/app", "env": {"production": {"__proto__": {"ttl": 5}}, "prototype": {"ttl": 5}}, "crypto": {"constructor": "x"}}')).issues,
    [
      { path: '/env/production/__proto__', message: refused('__proto__') },
      { path: '/env/prototype', message: refused('prototype') },
      { path: '/crypto/constructor', message: refused('constructor') },
    ],
  );
  assert.equal((await resolve('module.exports = { mongoUrl: "mongodb://h/app", __proto__: { ttl: "abc" } };\n', {}, 'proto.cjs')).issues, [
    { path: '/', message: 'an object with a prototype of its own (inheriting ttl): inherited options are not read; write them on the object itself (no __proto__)' },
  ]);
  // The command says the file is invalid.
  const p = file('{"mongoUrl": "mongodb://h/app", "env": {"production": {"__proto__": {"fallbackMemory": true}}}}');
  const r = await runCli(['validate', p, '--env', 'production'], { cwd: tmp });
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.is(r.stdout.trim(), `✗ ${p}: 1 problem\n  ${basename(p)}:1:56  /env/production/__proto__  ${refused('__proto__')}`);
});

// ---- item 11: alias bombs, cycles, size ------------------------------------------------------------------------------

/** A billion laughs: 9 levels of 9 aliases, 9^9 strings when expanded; a few hundred bytes. */
function yamlBomb(): string {
  const rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  let prev = 'a';
  for (const name of 'bcdefghi') {
    rows.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    prev = name;
  }
  return `mongoUrl: mongodb://h/app\n${rows.join('\n')}\n`;
}

/** `value` behind proxies that count every property read, and throw past `budget` (so a runaway walk fails, not hangs). */
function counted(value: unknown, budget: number) {
  let reads = 0;
  const proxies = new WeakMap<object, object>();
  const wrap = (v: unknown): unknown => {
    if (!v || typeof v !== 'object') return v;
    if (!proxies.has(v)) {
      proxies.set(v, new Proxy(v, {
        get(target, key, receiver) {
          if (++reads > budget) throw new Error(`more than ${budget} reads of the loaded config`);
          return wrap(Reflect.get(target, key, receiver));
        },
      }));
    }
    return proxies.get(v);
  };
  return { value: wrap(value), reads: () => reads };
}

test('a YAML alias bomb is refused after a bounded amount of work, with a clear message', async () => {
  const text = yamlBomb();
  assert.ok(text.length < 500, `${text.length} bytes`);
  const filepath = join(tmp, 'bomb.yaml');
  const loaded = loadYaml(filepath, text);
  const c = counted(loaded, 100 * SHAPE_LIMITS.values);
  let err: unknown;
  try {
    resolveConfig({ filepath, config: c.value, isEmpty: false });
  } catch (e) {
    err = e;
  }
  assert.instance(err, OptionsError, String(err));
  assert.equal((err as OptionsError).issues, [{ path: '/', message: `more than ${SHAPE_LIMITS.values} values (a YAML alias bomb?): a config holds a few dozen options` }]);
  console.log(`\n# config-hardening: a ${text.length}-byte alias bomb (${9 ** 9} strings expanded) refused after ${c.reads()} property reads`);
  // And by the command: exit 1, the message, no stack.
  writeFileSync(filepath, text);
  const r = await runCli(['validate', filepath], { cwd: tmp });
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.is(r.stdout.trim(), `✗ ${filepath}: 1 problem\n  bomb.yaml:1:1  /  more than ${SHAPE_LIMITS.values} values (a YAML alias bomb?): a config holds a few dozen options`);
});

test('self-referencing anchors, cycles, deep nesting and big files: exit 1 with the path, never a stack overflow', async () => {
  const cycle = 'refers to itself (a YAML anchor used inside its own value, or a cycle)';
  assert.equal((await resolve('mongoUrl: mongodb://h/app\nmongoOptions: &x\n  nested: *x\n', {}, 'self.yaml')).issues, [{ path: '/mongoOptions/nested', message: cycle }]);
  assert.equal((await resolve('mongoUrl: mongodb://h/app\nenv:\n  production: &p\n    env: [*p]\n', {}, 'self2.yaml')).issues, [{ path: '/env/production/env/0', message: cycle }]);
  assert.equal((await resolve('const o = { mongoUrl: "mongodb://h/app", mongoOptions: {} };\no.mongoOptions.self = o;\nmodule.exports = o;\n', {}, 'cycle.cjs')).issues, [{ path: '/mongoOptions/self', message: cycle }]);
  const deep = await resolve(`{"mongoUrl": "mongodb://h/app", "mongoOptions": ${'{"a": '.repeat(100)}1${'}'.repeat(100)}}`);
  assert.equal(deep.issues?.map((i) => i.message), [`nested more than ${SHAPE_LIMITS.depth} levels deep`]);
  assert.equal((await resolve('['.repeat(200_000) + ']'.repeat(200_000))).issues?.map((i) => i.message), [`nested more than ${SHAPE_LIMITS.depth} levels deep`]);
  assert.equal((await resolve('['.repeat(200_000) + ']'.repeat(200_000), {}, 'deep.yaml')).issues?.map((i) => i.path), ['/']);
  const many = await resolve({ mongoUrl: 'mongodb://h/app', mongoOptions: { list: Array(SHAPE_LIMITS.values).fill(1) } });
  assert.equal(many.issues, [{ path: '/', message: `more than ${SHAPE_LIMITS.values} values (a YAML alias bomb?): a config holds a few dozen options` }]);
  const big = await resolve({ mongoUrl: 'mongodb://h/app', dbName: 'x'.repeat(1 << 20) });
  assert.match(big.issues![0].message, /^invalid JSON: the file has \d+ characters, more than a config needs \(at most 1048576\)$/);
  // A sane config is far inside every limit.
  assert.equal((await resolve({ mongoUrl: 'mongodb://h/app', crypto: { secret: Array(1000).fill('long-enough-secret') } })).issues, undefined);

  const self = file('mongoUrl: mongodb://h/app\na: &x [*x]\n', 'self3.yaml');
  const r = await runCli(['validate', self, '--json'], { cwd: tmp });
  assert.is(r.code, 1, r.stdout + r.stderr);
  assert.equal(JSON.parse(r.stdout).issues, [{ path: '/a/0', message: cycle, line: 2, column: 8 }]);
});

// ---- exit 2 for an unreadable file ------------------------------------------------------------------------------

test('validate: exit 2 for a config file the process may not read (as an unprivileged user when run as root)', async () => {
  const p = file({ mongoUrl: 'mongodb://h/app' }, 'unreadable.json');
  // root reads any file: drop to nobody for both runs, so the control run proves that user can run the command.
  const asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'] : [];
  const env = { HOME: tmp };
  const ok = await runCli(['validate', p], { cwd: tmp, env, argv0: asUser });
  assert.is(ok.code, 0, `control: ${ok.stdout}${ok.stderr}`);
  chmodSync(p, 0o000);
  try {
    const r = await runCli(['validate', p], { cwd: tmp, env, argv0: asUser });
    assert.is(r.code, 2, r.stdout + r.stderr);
    assert.is(r.stderr.trim(), `connect-mongo: cannot read config file ${p}: EACCES`);
    const json = await runCli(['validate', p, '--json'], { cwd: tmp, env, argv0: asUser });
    assert.is(json.code, 2);
    const out = JSON.parse(json.stdout);
    assert.equal([out.command, out.ok, out.exitCode, out.file, out.error], ['validate', false, 2, p, { code: 'unreadable', message: `connect-mongo: cannot read config file ${p}: EACCES` }]);
  } finally {
    chmodSync(p, 0o644);
  }
});

test.run();
