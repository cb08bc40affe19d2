/**
 * The soak (scripts/soak/run.ts) for a minute, on the run's backend, with a fixed seed: every fault kind at least
 * once while two instances take load, and its oracle's verdict: nothing acknowledged lost, no call over its bound, no
 * unhandled rejection, no leak after any fault. The 10-minute figures are in docs/reliability.md. Also: the same seed
 * gives the same schedule, another seed another one.
 */
import { spawnSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { repoRoot, tmpRoot } from './server';

const SEED = 20261203;
const SECONDS = 60;
const backend = process.env.TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';
const runner = (args: string[]) => [process.execPath, ['--expose-gc', '--import', 'tsx', join(repoRoot, 'scripts/soak/run.ts'), ...args]] as const;
const test = suite('soak');

test('the same seed gives the same fault schedule; another seed another one', () => {
  const dry = (seed: number) => {
    const [cmd, args] = runner(['--seconds', String(SECONDS), '--seed', String(seed), '--dry-run']);
    const r = spawnSync(cmd, args, { cwd: repoRoot, encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    return r.stdout.trim().split('\n').pop()!;
  };
  const a = dry(SEED);
  assert.is(dry(SEED), a);
  assert.is.not(dry(SEED + 1), a);
  assert.ok(JSON.parse(a).length >= 7, 'a minute holds every fault kind once');
});

test(`a ${SECONDS} s soak (seed ${SEED}, ${backend}): every fault kind, nothing lost, nothing over its bound, no leak`, async () => {
  const json = join(tmpRoot, 'soak', `test-${backend}.json`);
  rmSync(json, { force: true });
  const [cmd, args] = runner(['--seconds', String(SECONDS), '--seed', String(SEED), '--backend', backend, '--json', json]);
  const child = spawn(cmd, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const last = out.trim().split('\n').pop()!;
  assert.is(code, 0, out);
  const m = /^soak: (\d+) operations, (\d+) faults, (\d+) lost, worst wait (\d+) ms, (\d+) unhandled rejections$/.exec(last);
  assert.ok(m, `the last line: ${last}`);
  const report = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(report.kindsNotRun, []);
  assert.equal(report.failures, []);
  assert.is(report.lost, 0);
  assert.is(report.unhandledRejections, 0);
  assert.ok(report.checks > 1000, `the oracle checked ${report.checks} reads`);
  assert.ok(report.worstWaitMs <= report.boundMs.call, `worst wait ${report.worstWaitMs} ms`);
  assert.is(Number(m![1]), report.operations);
  console.log(`# ${last}`);
  for (const r of report.byKind) if (r.kind !== 'none') console.log(`#   ${r.kind}: ${r.faults} faults, ${r.calls} calls (${r.failedCalls} failed) during them, worst ${r.worstCallMs} ms, recovery p50 ${r.recoveryP50Ms} ms, max ${r.recoveryMaxMs} ms`);
});

test.run();
