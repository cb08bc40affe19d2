/** Programmatic options go through the generated validator: a typo in code gets the same clear error as in a file. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { MongoStore, OptionsError } from '../src';
import { normalizeOptions } from '../src/options';
import { repoRoot, tmpRoot } from './server';

const client = new MongoClient('mongodb://127.0.0.1:1'); // never connected: validation happens before any I/O

function issuesOf(opts: object): { path: string; message: string }[] {
  try {
    normalizeOptions({ client, ...opts });
  } catch (e) {
    assert.instance(e, OptionsError);
    return (e as OptionsError).issues;
  }
  throw new Error(`expected ${JSON.stringify(opts)} to be refused`);
}

test('defaults are applied in one place', () => {
  const o = normalizeOptions({ client });
  assert.equal(
    { c: o.collectionName, ttl: o.ttlMs, ar: o.autoRemove, ari: o.autoRemoveIntervalMs, ta: o.touchAfterMs, s: o.stringify, ts: o.timestamps, to: o.operationTimeoutMS, oc: o.onCorruptSession },
    { c: 'sessions', ttl: 1_209_600_000, ar: 'native', ari: 600_000, ta: 0, s: true, ts: false, to: 10_000, oc: 'error' },
  );
});

test('a connection string with an empty host (a stray comma, an empty variable) is refused, password masked', () => {
  for (const url of ['mongodb://127.0.0.1:27017,/app', 'mongodb://u:Pw-secret-1@,db.example/app', 'mongodb+srv://u:Pw-secret-1@/app']) {
    assert.throws(
      () => new MongoStore({ mongoUrl: url }),
      (e: Error) => e instanceof OptionsError && /\/mongoUrl: the host list has an empty host/.test(e.message) && !e.message.includes('Pw-secret-1'),
    );
  }
  // Not every comma is a problem.
  assert.is(normalizeOptions({ mongoUrl: 'mongodb://127.0.0.1:1,127.0.0.2:2/app?replicaSet=rs0' }).connection?.kind, 'url');
});

test('a typo gets "did you mean", at its JSON path', () => {
  assert.equal(issuesOf({ touchafter: 10 }), [{ path: '/touchafter', message: 'unknown option "touchafter" — did you mean "touchAfter"?' }]);
  assert.equal(issuesOf({ colection: 'x' }), [{ path: '/colection', message: 'unknown option "colection" — did you mean "collection"?' }]);
  assert.equal(issuesOf({ writeOperationOptions: { wtimeoutMs: 5 } }), [{ path: '/writeOperationOptions/wtimeoutMs', message: 'unknown option "wtimeoutMs" — did you mean "wtimeoutMS"?' }]);
  assert.equal(issuesOf({ zzzzzzzz: 1 }), [{ path: '/zzzzzzzz', message: 'unknown option "zzzzzzzz"' }]);
});

test('types, bounds and enums name what was expected and what was found', () => {
  const cases: [object, string, RegExp][] = [
    [{ ttl: '3600' }, '/ttl', /expected a number, found the string "3600"/],
    [{ ttl: 0 }, '/ttl', /expected a number >= 1 \(seconds\), found number 0/],
    [{ ttl: Number.NaN }, '/ttl', /expected a number/],
    [{ autoRemoveInterval: 100000 }, '/autoRemoveInterval', /<= 71582 \(minutes; this option is in minutes, not seconds or ms\)/],
    [{ autoRemove: 'ttl' }, '/autoRemove', /expected one of "native", "interval", "disabled", found the string "ttl"/],
    [{ touchAfter: -1 }, '/touchAfter', /expected a number >= 0 \(seconds\)/],
    [{ stringify: 'yes' }, '/stringify', /expected a boolean, found the string "yes"/],
    [{ collectionName: 'system.sessions' }, '/collectionName', /expected a collection name/],
    [{ collectionName: '' }, '/collectionName', /must not be empty/],
    [{ dbName: 'a.b' }, '/dbName', /expected a database name/],
    [{ operationTimeoutMS: 10 }, '/operationTimeoutMS', />= 100 \(ms\)/],
    [{ onCorruptSession: 'drop' }, '/onCorruptSession', /expected one of "error", "ignore"/],
    [{ serialize: 'JSON' }, '/serialize', /expected a function, found the string "JSON"/],
    [{ hashIds: {} }, '/hashIds/secret', /is required/],
    [{ env: { production: {} } }, '/env', /belong in a config file/],
  ];
  for (const [opts, path, re] of cases) {
    const issues = issuesOf(opts);
    assert.ok(issues.some((i) => i.path === path && re.test(i.message)), `${JSON.stringify(opts)} → ${JSON.stringify(issues)}`);
  }
});

test('one message per problem: w: 0 says why it is refused; a oneOf reports the branch that explains the value', () => {
  assert.equal(issuesOf({ writeOperationOptions: { w: 0 } }), [
    { path: '/writeOperationOptions/w', message: 'w: 0 (unacknowledged writes) is refused: a session store must know its writes landed; use w: 1 or "majority"' },
  ]);
  assert.equal(issuesOf({ encryption: { secret: 'short' } }), [{ path: '/encryption/secret', message: 'expected at least 8 characters, found 5' }]);
  assert.equal(issuesOf({ encryption: { secret: 42 } }), [{ path: '/encryption/secret', message: 'expected a string or an array, found "****"' }]); // a secret's value never shows, whatever it is
  assert.equal(issuesOf({ crypto: { secret: 42 } }), [{ path: '/crypto/secret', message: 'expected a string or an array or a boolean, found "****"' }]);
});

test('every problem is reported at once, and secrets never appear in messages', () => {
  const url = 'mongodb://admin:hunter2-secret@127.0.0.1:1/db';
  try {
    new MongoStore({ mongoUrl: url, ttl: -5, encryption: { secret: 'tiny' }, hashIds: { secret: 'x' }, autoRemove: 'sometimes' } as any);
    assert.unreachable();
  } catch (e) {
    const err = e as OptionsError;
    assert.ok(err.issues.length >= 4, err.message);
    assert.not.match(err.message, /hunter2|tiny"|"x"/);
    assert.match(err.message, /4 problems|[5-9] problems/);
  }
  // A connection string given where something else was expected is shown, but never with its password.
  const misplaced = issuesOf({ client: 'mongodb://admin:hunter2-secret@127.0.0.1/db' });
  assert.equal(misplaced, [{ path: '/client', message: 'expected a MongoClient, found the string "mongodb://admin:****@127.0.0.1/db"' }]);
});

test('npm run generate:check fails when a schema changed without regenerating', () => {
  const dir = join(tmpRoot, 'generate-check');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(repoRoot, 'schema'), join(dir, 'schema'), { recursive: true });
  cpSync(join(repoRoot, 'generated'), join(dir, 'generated'), { recursive: true });
  const run = () => execFileSync(process.execPath, [join(repoRoot, 'scripts/generate.mjs'), '--check', '--root', dir], { encoding: 'utf8', stdio: 'pipe' });
  assert.match(run(), /generated\/ matches schema\//);
  const file = join(dir, 'schema/store-options.schema.json');
  writeFileSync(file, readFileSync(file, 'utf8').replace('"default": 1209600', '"default": 3600'));
  try {
    run();
    assert.unreachable('generate:check should fail');
  } catch (e) {
    assert.match(String((e as { stderr?: string }).stderr), /generated\/ is out of date with schema\/ \(validators\.ts/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
