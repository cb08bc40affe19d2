/**
 * `connect-mongo sessions --user <id> [--revoke]` and `setup`'s userId index, on the real test server: sessions
 * written by a real MongoStore, the command run as the real process (and through main() for the tables of usage
 * errors). Ids are masked (no sid, no session content in the output), --json matches schema/cli-output.schema.json,
 * --revoke ends them, a number's text finds both forms, a config without userId is refused with its path, and the
 * command builds no index and removes nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { MongoStore } from '../src';
import { sidTag } from '../src/debug';
import { isFerret, openTestDb, type TestDb } from './helpers';
import { freePort, repoRoot } from './server';
import { sessionOf, unhandled } from './fixtures/reliability/kit';
import { runCli, runCliInProcess } from './fixtures/cli-run';

const tmp = join(repoRoot, '.tmp', `cli-sessions-test-${process.pid}`);
const FAKE = 'Cli-Sessions-Pa55word-QQ';
/** in every session's data: must never reach the output */
const CONTENT = 'Session-Content-Marker-77';
let t: TestDb;
const stores: MongoStore[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const run = (args: string[]): Promise<Run> => runCli(args, { cwd: tmp });

const inProcess = runCliInProcess;

const validateOutput = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile<any>(JSON.parse(readFileSync(join(repoRoot, 'schema/cli-output.schema.json'), 'utf8')));

/** stdout of a --json run: one object of the documented shape, whose exitCode is the process's. */
function jsonOf(r: Run): any {
  const out = JSON.parse(r.stdout);
  assert.ok(validateOutput(out), `--json output does not match schema/cli-output.schema.json: ${JSON.stringify(validateOutput.errors)}\n${r.stdout}`);
  assert.is(out.exitCode, r.code, 'exitCode is the exit code');
  return out;
}

function noStack(r: Run) {
  assert.not.match(r.stdout + r.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
}

/** Neither a sid nor a session's content in anything the command printed. */
function nothingSecret(r: Run, sids: string[]) {
  const all = r.stdout + r.stderr;
  for (const sid of sids) assert.not.ok(all.includes(sid), 'no session id is printed');
  assert.not.ok(all.includes(CONTENT), 'no session content is printed');
}

function config(name: string, body: Record<string, unknown>): string {
  const p = join(tmp, name);
  writeFileSync(p, JSON.stringify({ mongoUrl: t.uri, dbName: t.dbName, ...body }, null, 2));
  return p;
}

function store(collectionName: string, extra: Record<string, unknown> = {}): MongoStore {
  const s = MongoStore.create({ client: t.client, dbName: t.dbName, collectionName, autoRemove: 'disabled', createIndexes: false, userId: 'passport.user', ...extra });
  s.on('warning', () => {});
  stores.push(s);
  return s;
}

/** A sid as express-session makes them (random): the test looks for it in the output. */
const newSid = () => randomBytes(18).toString('base64url');
const user = (id: unknown) => sessionOf({ passport: { user: id }, note: CONTENT });

test.before(async () => {
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'package.json'), '{"name": "cli-sessions-test", "private": true}');
  t = await openTestDb(__filename);
});
test.after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
  await t?.close();
  assert.equal(unhandled, [], 'no unhandled rejection');
});

test('lists a user\'s live sessions newest first, ids as tags: no sid or content printed; builds no index, removes nothing', async () => {
  const s = store('list');
  const alice = [newSid(), newSid(), newSid()];
  const bob = newSid();
  const expired = newSid();
  for (const sid of alice) await s.set(sid, user('alice'));
  await s.set(bob, user('bob'));
  await s.set(newSid(), sessionOf({ note: CONTENT }));
  // an expired session of alice, still stored (autoRemove disabled): not listed, and the command leaves it there
  await s.set(expired, { ...user('alice'), cookie: { expires: new Date(Date.now() - 60_000), originalMaxAge: 1 } });
  const cfg = config('list.json', { collectionName: 'list', userId: 'passport.user' });
  const sids = [...alice, bob, expired];

  const human = await run(['sessions', '--user', 'alice', cfg]);
  assert.is(human.code, 0, human.stderr);
  nothingSecret(human, sids);
  const lines = human.stdout.trim().split('\n');
  assert.is(lines[0], `config       ${cfg} (environment: none)`);
  assert.is(lines[1], `sessions in  ${t.dbName}.list`);
  assert.is(lines[2], 'user         alice');
  assert.is(lines[3], '3 live sessions, newest first (ids shown as tags):');
  const newestFirst = [...alice].reverse();
  assert.equal(lines.slice(4).map((l) => l.trim().split(/\s+/)[0]), newestFirst.map(sidTag), 'the tags, newest write first');
  assert.match(lines[4], /^ {2}#[\w-]{8} {2}last write \d{4}-\d\d-\d\dT[\d:.]+Z {2}expires \d{4}-/);
  assert.is(lines.length, 7);

  const json = await run(['sessions', cfg, '--user', 'alice', '--json']);
  nothingSecret(json, sids);
  const out = jsonOf(json);
  assert.is(out.command, 'sessions');
  assert.is(out.ok, true);
  assert.equal([out.doctor, out.setup, out.config, out.error], [null, null, null, null]);
  const r = out.sessions;
  assert.equal([r.user, r.count, r.revoked], ['alice', 3, null]);
  assert.equal(r.sessions.map((x: { id: string }) => x.id), newestFirst.map(sidTag));
  const stored = await s.userSessions('alice');
  assert.equal(r.sessions.map((x: { expires: string }) => x.expires), stored.map((e) => e.expires!.toISOString()), 'each one\'s expiry');
  assert.equal(r.sessions.map((x: { lastWrite: string }) => x.lastWrite), stored.map((e) => e.lastWrite!.toISOString()), 'each one\'s last write');

  const nobody = jsonOf(await inProcess(['sessions', cfg, '--user', 'carol', '--json'])).sessions;
  assert.equal(nobody, { user: 'carol', count: 0, revoked: null, sessions: [] });
  const indexes = (await t.db.collection('list').listIndexes().toArray()).map((i) => i.name);
  assert.equal(indexes, ['_id_'], 'the command built no index');
  assert.ok(await t.db.collection('list').findOne({ _id: expired as any }), 'the expired session is still stored');
  noStack(human);
});

test('--revoke ends every session of the user and says how many; the store then lists none; the others stay', async () => {
  const s = store('revoke');
  const alice = [newSid(), newSid()];
  const bob = newSid();
  for (const sid of alice) await s.set(sid, user('alice'));
  await s.set(bob, user('bob'));
  const cfg = config('revoke.json', { collectionName: 'revoke', userId: 'passport.user' });

  const json = await run(['sessions', cfg, '--user', 'alice', '--revoke', '--json']);
  assert.is(json.code, 0, json.stderr);
  nothingSecret(json, [...alice, bob]);
  const r = jsonOf(json).sessions;
  assert.equal([r.count, r.revoked], [2, 2]);
  assert.equal(r.sessions.map((x: { id: string }) => x.id), [...alice].reverse().map(sidTag), 'what it found before ending them');
  assert.equal(await s.userSessions('alice'), []);
  for (const sid of alice) assert.is(await s.get(sid), null, 'ended');
  assert.equal((await s.userSessions('bob')).length, 1, 'another user keeps his');

  const again = await run(['sessions', cfg, '--user', 'alice', '--revoke']);
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stdout, '0 live sessions\n✓ ended 0 sessions of this user');
  await s.set(alice[0], user('alice'));
  const one = await inProcess(['sessions', cfg, '--user', 'alice', '--revoke']);
  assert.match(one.stdout, `1 live session, newest first (ids shown as tags):\n  ${sidTag(alice[0])}  last write `);
  assert.match(one.stdout, '✓ ended 1 session of this user');
});

test('a number\'s text finds the sessions stored with the number and with the string; "012" is no 12', async () => {
  const s = store('numbers', { userId: 'account.id' });
  const num = newSid();
  const str = newSid();
  const other = newSid();
  await s.set(num, sessionOf({ account: { id: 12 }, note: CONTENT }));
  await s.set(str, sessionOf({ account: { id: '12' }, note: CONTENT }));
  await s.set(other, sessionOf({ account: { id: 120 }, note: CONTENT }));
  const cfg = config('numbers.json', { collectionName: 'numbers', userId: 'account.id' });

  const human = await run(['sessions', cfg, '--user', '12']);
  assert.is(human.code, 0, human.stderr);
  nothingSecret(human, [num, str, other]);
  assert.match(human.stdout, 'user         12 (the string "12" and the number 12)\n2 live sessions');
  const r = jsonOf(await inProcess(['sessions', cfg, '--user', '12', '--json'])).sessions;
  assert.equal([r.user, r.count], ['12', 2]);
  assert.equal(r.sessions.map((x: { id: string }) => x.id), [str, num].map(sidTag), 'both forms, newest write first');
  assert.is(jsonOf(await inProcess(['sessions', cfg, '--user', '012', '--json'])).sessions.count, 0);
  assert.is(jsonOf(await inProcess(['sessions', cfg, '--user', '12.0', '--json'])).sessions.count, 0);

  const revoked = jsonOf(await inProcess(['sessions', cfg, '--user', '12', '--revoke', '--json'])).sessions;
  assert.is(revoked.revoked, 2);
  assert.equal([await s.userSessions(12), await s.userSessions('12')], [[], []]);
  assert.is((await s.userSessions(120)).length, 1);
});

test('with hashIds the stored user is an HMAC: the command finds it with the config\'s secret', async () => {
  const hashIds = { secret: `hash-${FAKE}` };
  const s = store('hashed', { hashIds });
  const sid = newSid();
  await s.set(sid, user('alice@example.com'));
  const cfg = config('hashed.json', { collectionName: 'hashed', userId: 'passport.user', hashIds });
  const r = await inProcess(['sessions', cfg, '--user', 'alice@example.com', '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.is(jsonOf(r).sessions.count, 1);
  nothingSecret(r, [sid]);
  assert.not.ok(r.stdout.includes(FAKE), 'no secret printed');
});

test('a config without userId is refused (exit 1, path /userId); so is fallbackMemory; the file stays valid', async () => {
  const cfg = config('no-user.json', { collectionName: 'list' });
  const human = await run(['sessions', cfg, '--user', 'alice']);
  assert.is(human.code, 1);
  assert.is(human.stdout, '');
  assert.match(human.stderr, `✗ ${cfg}: /userId  the sessions command needs the userId option`);
  noStack(human);
  const json = await run(['sessions', cfg, '--user', 'alice', '--json']);
  const out = jsonOf(json);
  assert.is(json.code, 1);
  assert.equal(out.issues.map((i: { path: string }) => i.path), ['/userId']);
  assert.equal([out.valid, out.error.code, out.sessions, out.file], [true, 'invalid', null, cfg]);
  assert.match(out.error.message, `${cfg}: /userId: `);

  const mem = join(tmp, 'memory.json');
  writeFileSync(mem, JSON.stringify({ fallbackMemory: true, userId: 'passport.user' }));
  const m = jsonOf(await inProcess(['sessions', mem, '--user', 'alice', '--json']));
  assert.equal([m.exitCode, m.issues.map((i: { path: string }) => i.path)], [1, ['/fallbackMemory']]);
});

test('usage errors (64): no --user or an empty one; --user and --revoke are options of sessions only', async () => {
  const cfg = config('usage.json', { collectionName: 'list', userId: 'passport.user' });
  const cases: Array<[string[], string]> = [
    [['sessions', cfg], 'sessions needs --user <id>: whose sessions to list (or end with --revoke)'],
    [['sessions', cfg, '--user', ''], '--user is empty: give the user id the sessions hold'],
    [['sessions', cfg, '--user='], '--user is empty: give the user id the sessions hold'],
    [['sessions', cfg, '--user'], '--user needs a value (--user <id>)'],
    [['sessions', cfg, '--user', '--revoke'], '--user needs a value (--user <id>)'],
    [['sessions', cfg, '--user', 'a', '--revoke=yes'], '--revoke takes no value, found "yes"'],
    [['sessions', cfg, '--usr', 'a'], 'unknown option "--usr" — did you mean "--user"?'],
    [['validate', cfg, '--user', 'alice'], '--user is an option of sessions'],
    [['doctor', cfg, '--revoke'], '--revoke is an option of sessions'],
    [['print-config', cfg, '--timeout', '5'], '--timeout is an option of doctor, setup and sessions'],
    [['sessions', cfg, 'extra', '--user', 'a'], 'sessions takes one path, got 2'],
  ];
  // one the store refuses as a user id (checked where the store checks it, once connected)
  const long = await inProcess(['sessions', cfg, '--user', 'x'.repeat(1025), '--json']);
  assert.equal(jsonOf(long).error, { code: 'usage', message: '--user: a user id is a non-empty string or a finite number, got a string of 1025 characters (at most 1024)' });
  for (const [args, message] of cases) {
    const r = await inProcess(args);
    assert.is(r.code, 64, args.join(' '));
    assert.is(r.stderr, `connect-mongo: ${message}\nRun "connect-mongo --help" for usage.\n`, args.join(' '));
    const j = jsonOf(await inProcess([...args, '--json']));
    assert.equal([j.exitCode, j.error], [64, { code: 'usage', message }], args.join(' '));
  }
  const help = await run(['sessions', '--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, 'Usage: connect-mongo sessions --user <id> [--revoke] [path]');
  assert.match(help.stdout, 'the number 12 and those with the string "12"');
  assert.match((await inProcess(['--help'])).stdout, /\n {2}sessions --user <id> \[path\]\n/);
});

test('an unreachable server: exit 3 within the timeout, the password masked', async () => {
  const port = await freePort();
  const cfg = join(tmp, 'down.json');
  writeFileSync(cfg, JSON.stringify({ mongoUrl: `mongodb://app:${FAKE}@127.0.0.1:${port}/app`, userId: 'passport.user' }));
  const started = Date.now();
  const r = await run(['sessions', cfg, '--user', 'alice', '--timeout', '500']);
  assert.is(r.code, 3, r.stderr);
  assert.is(r.stderr.split('\n')[0], `connect-mongo sessions: no answer within 500 ms (mongodb://app:****@127.0.0.1:${port}/app): MongoStore.userSessions() timed out after 500 ms: before its command was sent`);
  assert.ok(Date.now() - started < 15_000, 'bounded');
  noStack(r);
  const json = await inProcess(['sessions', cfg, '--user', 'alice', '--timeout', '300', '--json']);
  assert.is(jsonOf(json).error.code, 'unreachable');
  for (const x of [r, json]) assert.not.ok((x.stdout + x.stderr).includes(FAKE), 'no password printed');
});

test('setup with userId creates userId_1 in every autoRemove mode and reports it; without userId, userIndex is null', async () => {
  for (const autoRemove of ['interval', 'disabled', 'native'] as const) {
    const collectionName = `setup_${autoRemove}`;
    const cfg = config(`setup-${autoRemove}.json`, { collectionName, userId: 'passport.user', autoRemove });
    const first = await run(['setup', cfg, '--json']);
    const out = jsonOf(first);
    const ns = `${t.dbName}.${collectionName}`;
    assert.equal(out.setup.userIndex, { index: 'created', message: `created the index userId_1 on "userId" in ${ns}` }, autoRemove);
    const names = (await t.db.collection(collectionName).listIndexes().toArray()).map((i) => i.name);
    assert.ok(names.includes('userId_1'), `${autoRemove}: ${names}`);
    // native on FerretDB: the TTL index is refused (exit 3, as before), the userId index is made all the same
    const ttlRefused = autoRemove === 'native' && isFerret;
    assert.is(first.code, ttlRefused ? 3 : 0, first.stderr);
    assert.is(out.setup.ok, !ttlRefused);
    const human = await run(['setup', cfg]);
    assert.is(human.code, ttlRefused ? 3 : 0);
    assert.match(human.stdout, `\n✓ an index on userId is already in ${ns}`);
    assert.match(human.stdout, ttlRefused ? '\n✗ the server refused the TTL index' : '\n✓ ');
  }
  const plain = config('setup-plain.json', { collectionName: 'setup_plain', autoRemove: 'interval' });
  const p = jsonOf(await inProcess(['setup', plain, '--json']));
  assert.equal([p.exitCode, p.setup.userIndex], [0, null]);
  assert.not.match((await inProcess(['setup', plain])).stdout, 'userId');
});

test.run();
