/**
 * Putting each fault of the schedule on and taking it off: toxics on the toxiproxy proxy between the stores and
 * FerretDB, a SIGKILL and restart of FerretDB (on its data, same port), and on the PostgreSQL backend a SIGKILL of
 * PostgreSQL's postmaster and a restart of its cluster.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Fault } from './schedule';
import type { ToxiProxy } from '../../test/fixtures/toxiproxy';

export interface FaultTarget {
  proxy: ToxiProxy;
  /** SIGKILLs the server */
  killServer(): Promise<void>;
  /** starts it again on the same port and data */
  startServer(): Promise<void>;
}

/** Puts `fault` on; answers the function that takes it off. */
export async function applyFault(fault: Fault, target: FaultTarget): Promise<() => Promise<void>> {
  const { stream, ...attributes } = fault.params;
  switch (fault.kind) {
    case 'kill_ferretdb':
      await target.killServer();
      return () => target.startServer();
    case 'kill_postgres':
      await killPostgres();
      return () => startPostgres();
    default: {
      const name = await target.proxy.add({ type: fault.kind, stream: stream as 'upstream' | 'downstream', attributes: attributes as Record<string, number> });
      return () => target.proxy.remove(name);
    }
  }
}

// child processes run asynchronously: the soak's event loop must not stop while PostgreSQL starts (it would count as
// the stores' waits)
const run = promisify(execFile);

/** The local cluster's data directory and version: pg_lsclusters' first cluster on port 5432. */
async function cluster(): Promise<{ version: string; name: string; pidFile: string }> {
  const version = readdirSync('/etc/postgresql').sort().pop();
  if (!version) throw new Error('soak: kill_postgres needs a PostgreSQL cluster managed by pg_ctlcluster (none in /etc/postgresql)');
  const out = (await run('pg_lsclusters', ['--no-header'], { encoding: 'utf8' })).stdout;
  const line = out.split('\n').find((l) => l.trim().split(/\s+/)[2] === '5432');
  if (!line) throw new Error('soak: no PostgreSQL cluster on port 5432 (pg_lsclusters)');
  const [ver, name, , , , dataDir] = line.trim().split(/\s+/);
  return { version: ver ?? version, name, pidFile: `${dataDir}/postmaster.pid` };
}

async function killPostgres() {
  const { pidFile } = await cluster();
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`soak: no postmaster pid in ${pidFile}`);
  process.kill(pid, 'SIGKILL');
}

/** Starts the cluster again; its backends of before the kill may take a moment to go, so it tries for 30 s. */
async function startPostgres() {
  const { version, name } = await cluster();
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, 'start']);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`soak: PostgreSQL did not start again: ${String((e as { stderr?: unknown }).stderr ?? (e as Error).message).trim()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
