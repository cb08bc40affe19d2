/**
 * "Timed out" means the operation is over: once a caller is told ERR_CONNECT_MONGO_TIMEOUT, no command of that call
 * is sent later. The case the review found: an app's own client (the driver's 30 s server selection), the server
 * SIGKILLed, calls made and timed out while it is away, the server restarted. Command monitoring on the app's client
 * shows every command started and when. Runs its own FerretDB (test/server.ts), so it can kill and restart it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { MongoStore } from '../src';
import { startFerretDB, tmpRoot, type FerretProcess, type Backend } from './server';
import { dbNameFor, sleep, waitFor } from './helpers';
import { unhandled, dropDatabase, sessionOf } from './fixtures/reliability/kit';

const backend: Backend = process.env.TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';
const OP_TIMEOUT = 1000;
let server: FerretProcess | undefined;
let dataDir: string;

test.before(() => void (dataDir = mkdtempSync(join(tmpRoot, 'fault-late-'))));
test.after(async () => {
  if (server) await dropDatabase(server.uri, dbNameFor(__filename)).catch(() => {});
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('no command of a call is sent after its caller was told it timed out (an app client, the server killed and restarted)', async () => {
  server = await startFerretDB({ backend, dataDir });
  const client = new MongoClient(server.uri, { monitorCommands: true, heartbeatFrequencyMS: 500 });
  await client.connect();
  const store = MongoStore.create({ client, dbName: dbNameFor(__filename), autoRemove: 'disabled', operationTimeoutMS: OP_TIMEOUT });
  const late: string[] = [];
  const toldAt = new Map<string, number>();
  let sent = 0;
  client.on('commandStarted', (e) => {
    const c = e.command as { updates?: Array<{ q: { _id?: string } }>; filter?: { _id?: string } };
    const id = c.updates?.[0]?.q?._id ?? c.filter?._id;
    if (id && id.startsWith('late-')) sent++;
    if (id && toldAt.has(id)) late.push(`${e.commandName}(${id}) started ${Date.now() - toldAt.get(id)!} ms after its caller was told it timed out`);
  });
  try {
    await store.set('warm', sessionOf());
    const port = server.port;
    await server.kill();
    await sleep(500);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['late-set', () => store.set('late-set', sessionOf({ v: 1 }))],
      ['late-destroy', () => store.destroy('late-destroy')],
      ['late-get', () => store.get('late-get')],
    ];
    const answers = await Promise.all(
      calls.map(([id, call]) =>
        call().then(
          () => 'ok',
          (e) => {
            toldAt.set(id, Date.now());
            return e.code;
          },
        ),
      ),
    );
    assert.equal(answers, ['ERR_CONNECT_MONGO_TIMEOUT', 'ERR_CONNECT_MONGO_TIMEOUT', 'ERR_CONNECT_MONGO_TIMEOUT'], 'the server is away: each call times out');
    server = await startFerretDB({ backend, port, dataDir });
    await waitFor(async () => (await store.get('warm')) !== null, 'the store serving again', 30_000);
    await sleep(1500); // longer than any wait of the driver's that could still send them
    assert.equal(late, [], `commands sent after their callers were told they timed out (${sent} of the calls' commands were sent in all)`);
    assert.is(await store.get('late-set'), null, 'the set that timed out never landed');
  } finally {
    await store.close();
    await client.close();
  }
  assert.equal(unhandled, []);
});

test.run();
