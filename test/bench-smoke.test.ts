/**
 * The benchmark scripts must not rot: run `scripts/bench/run.ts --smoke` (tiny N, one round, no thresholds, writes
 * no file) against the run's server as a subprocess, and check that it finished and reported every contender on
 * every workload, the client CPU per op and the server's plan for find({_id}), and the sessions-by-user pass
 * (scripts/bench/users.ts, N=200): a figure for each op, the plan of userSessions' query, and the commands each set()
 * sends (those are counts, not timings: asserted exactly). No timing is asserted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { dbNameFor, serverUri } from './helpers';

const repoRoot = join(__dirname, '..');
const dbName = dbNameFor(__filename);

function runSmoke(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/bench/run.ts'), '--smoke'], {
      cwd: repoRoot,
      env: { ...process.env, MONGODB_URI: serverUri(), BENCH_DB: dbName },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('npm run bench -- --smoke completes and reports every contender on every workload', async () => {
  const t0 = Date.now();
  const r = await runSmoke();
  assert.is(r.code, 0, `bench --smoke exited with ${r.code}:\n${r.stderr.slice(-3000)}`);
  assert.match(r.stderr, /bench: done in \d+ s/);

  const lines = r.stdout.split('\n');
  // the ops table comes first, the CPU table (same row shape) after it
  const opsRows = lines.filter((l) => /^\| 50 \| (get|set|touch|destroy) \|/.test(l)).slice(0, 4);
  assert.equal(opsRows.map((l) => l.split('|')[2].trim()), ['get', 'set', 'touch', 'destroy']);
  for (const row of opsRows) {
    // N, op, four contenders (ops/s), two ratios: every cell has a figure.
    const cells = row.split('|').slice(1, -1).map((c) => c.trim());
    assert.is(cells.length, 8, row);
    for (const c of cells.slice(2)) assert.not.equal(c, '–', `a contender has no figure: ${row}`);
  }
  // client CPU per op: a figure for every contender and op (µs; no value is asserted)
  const cpuAt = r.stdout.indexOf('client CPU per operation');
  assert.ok(cpuAt >= 0, 'no client CPU table');
  const cpuRows = r.stdout.slice(cpuAt).split('\n').filter((l) => /^\| 50 \| (get|set|touch|destroy) \|/.test(l)).slice(0, 4);
  assert.equal(cpuRows.map((l) => l.split('|')[2].trim()), ['get', 'set', 'touch', 'destroy']);
  for (const row of cpuRows) {
    const cells = row.split('|').slice(1, -1).map((c) => c.trim());
    assert.is(cells.length, 8, row);
    for (const c of cells.slice(2)) assert.not.equal(c, '–', `a contender has no CPU figure: ${row}`);
  }
  // the server's plan for find({_id}) is printed, whatever it is
  assert.match(r.stdout, /plan of find\(\{_id\}\)\n\n- 50: `[^`]+` \((uses an index|\*\*scans the collection\*\*)/);
  for (const label of ['this store', 'raw driver', 'connect-mongo 6', 'MemoryStore']) {
    assert.ok(r.stdout.includes(`${label} ops/s`), `no ops column for ${label}`);
    assert.ok(r.stdout.includes(`${label} req/s`), `no HTTP column for ${label}`);
  }
  const httpRow = lines.find((l) => /^\| 50 \| \d/.test(l) && l.includes('('));
  assert.ok(httpRow, 'no HTTP result row');
  // touchAfter: with it on, one write per session (they were last written in an earlier window); off, one a read.
  assert.match(r.stdout, /\| this store \| 3600 s \| 10 × 3 \| 10 \| 1\.00 \|/);
  // touchAfter off: connect-mongo 6 writes on every request; this store shares only touches not yet sent (src/shared.ts),
  // and the 3 requests of each session come one after another, so it writes once per request too.
  assert.match(r.stdout, /\| connect-mongo 6 \| off \| 10 × 3 \| 30 \| 3\.00 \|/);
  const off = /\| this store \| off \| 10 × 3 \| (\d+) \|/.exec(r.stdout);
  assert.ok(off && Number(off[1]) >= 10 && Number(off[1]) <= 30, `this store, touchAfter off: ${off?.[1]} writes`);
  // page loads: a figure for every contender; the store shares reads and touches of a visit's requests, so it sends
  // fewer commands per visit than the raw driver's 2 per request (18)
  const visitAt = r.stdout.indexOf(': commands per visit |');
  assert.ok(visitAt >= 0, 'no commands-per-visit table');
  const perVisit = /\| 50 \| ([\d.]+) \([^)]*\) \| ([\d.]+) \([^)]*\) \| ([\d.]+) \([^)]*\) \|/.exec(r.stdout.slice(visitAt));
  assert.ok(perVisit, 'no commands-per-visit row');
  assert.is(Number(perVisit![2]), 18, 'raw driver: a find and an update per request');
  assert.is(Number(perVisit![3]), 18, 'connect-mongo 6: a find and an update per request');
  assert.ok(Number(perVisit![1]) < 18, `this store: ${perVisit![1]} commands per visit`);
  assert.match(r.stdout, /for await \(… of store\.entries\(\)\)` \| 50 \|/);
  assert.match(r.stdout, /connect-mongo 6: `all\(\)` \| 50 \|/);
  // npm start at scale: the example app served its page with 20 and with 50 sessions stored
  assert.match(r.stdout, /## npm start \(FerretDB .*\): one page at a time/);
  assert.match(r.stdout, /\| 20 \| [\d.]+ \| [\d.]+ \| 10 \|/);
  assert.match(r.stdout, /\| 50 \| [\d.]+ \| [\d.]+ \| 10 \|/);
  assert.match(r.stdout, /## Targets/);
  // sessions by user (users.ts): every op has a figure; the plan of userSessions' query is printed, whatever it is
  const usersAt = r.stdout.indexOf(': sessions by user, 200 sessions');
  assert.ok(usersAt >= 0, 'no sessions-by-user section');
  const users = r.stdout.slice(usersAt);
  for (const op of ['get', 'raw findOne\\(\\{_id\\}\\)', 'set, logged in', 'set, new user, max 10', 'userSessions', 'raw find\\(\\{userId\\}\\)', 'destroyUserSessions']) {
    assert.match(users, new RegExp(`\\| ${op} \\| [\\d.]+ \\| [\\d.]+× \\| [\\d.]+× \\|`), `no figure for ${op}`);
  }
  assert.match(users, /- `userSessions: find\(\{.*"userId":"bench-user-target"\}\)\.sort\(\{"stamp":-1\}\)`: `[^`]+` \((uses an index|\*\*scans the collection\*\*)/);
  // commands per call: the userId option costs a set no command; maxSessionsPerUser one find when a session is new to
  // its user, and the ending update only over N
  const counts = [...users.matchAll(/^\| ([^|]+) \| (\d+) \| (\d+) \| [a-z, ]+ \|$/gm)].map((m) => [m[1], Number(m[2]), Number(m[3])] as const);
  assert.is(counts.length, 14, 'rows of the commands table');
  for (const [what, sent, expected] of counts) assert.is(sent, expected, `${what}: ${sent} commands`);
  const sent = (what: string) => counts.find((c) => c[0] === what)?.[1];
  assert.is(sent('no userId option: set() of an existing session'), 1);
  assert.is(sent('userId: set() of an existing logged-in session (same user)'), 1, 'the owner rides in the upsert filter');
  assert.is(sent('userId: set() creating a logged-in session'), 1);
  assert.is(sent('maxSessionsPerUser 3: set() creating the 3rd session (not over N)'), 2, 'an update and the trim\'s find');
  console.log(`# bench --smoke finished in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

test('the smoke run leaves no data behind', async () => {
  const client = await MongoClient.connect(serverUri());
  try {
    const dbs = await client.db('admin').admin().listDatabases({ nameOnly: true });
    assert.not.ok(dbs.databases.some((d) => d.name === dbName), `database ${dbName} was left behind`);
  } finally {
    await client.close();
  }
});

test.run();
