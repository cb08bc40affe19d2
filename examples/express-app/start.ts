/**
 * `npm start`: the example app. Picks a server (server-choice.ts), builds the store from this directory's
 * connect-mongo.config.json with createStoreFromConfig(), serves the app on PORT (default 3000; 0 = a free port),
 * and on Ctrl-C / SIGTERM closes the HTTP server, the store and the server it started, in that order.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createStoreFromConfig } from '../../src';
import { createApp } from './app';
import { chooseServer } from './server-choice';

const log = (line: string) => console.log(`connect-mongo example: ${line}`);
const CONFIG = join(__dirname, 'connect-mongo.config.json');
// Cleanups of what has been started so far, run last-first on shutdown (also when a signal comes mid-start).
const cleanups: Array<{ name: string; run: () => Promise<void> }> = [];
let stopping: Promise<void> | undefined;

/** Registers a cleanup; when shutdown has begun meanwhile, runs it at once and answers false (stop starting). */
async function track(name: string, run: () => Promise<void>): Promise<boolean> {
  if (!stopping) {
    cleanups.push({ name, run });
    return true;
  }
  await run().catch((e: Error) => console.error(`connect-mongo example: closing the ${name} failed: ${e.message}`));
  return false;
}

async function main() {
  const port = parsePort(process.env.PORT);
  const host = process.env.HOST || '127.0.0.1';

  const server = await chooseServer(process.env, log);
  if (!(await track('database server', server.stop))) return;
  log(`server: ${server.description}`);

  // The config reads ${MONGODB_URI}: hand it the chosen server without changing this process's environment.
  const store = await createStoreFromConfig({ configPath: CONFIG, env: { ...process.env, MONGODB_URI: server.uri } });
  const closable = store as typeof store & { close?: () => Promise<void>; ready?: () => Promise<{ autoRemove: string }> };
  if (!(await track('session store', async () => void (await closable.close?.())))) return;
  store.on('warning', (w: Error) => log(`store warning: ${w.message}`));
  const { autoRemove } = closable.ready ? await closable.ready() : { autoRemove: 'none (MemoryStore)' };
  if (stopping) return;

  const secret = process.env.SESSION_SECRET || 'connect-mongo example secret: set SESSION_SECRET in a real app';
  const app = createApp({ store, secret, info: { server: server.description, autoRemove } });
  const http: Server = app.listen(port, host);
  await once(http, 'listening');
  const closeHttp = () =>
    new Promise<void>((resolve) => {
      http.close(() => resolve());
      http.closeAllConnections(); // keep-alive browser connections would hold close() open
    });
  if (!(await track('HTTP server', closeHttp))) return;
  const { port: actual } = http.address() as AddressInfo;
  log(`sessions in database "${(store as { options?: { dbName?: string } }).options?.dbName ?? '?'}", expiry: ${autoRemove}`);
  log(`listening on http://${host}:${actual}/ (Ctrl-C to stop)`);
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value === '') return 3000;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`PORT must be a port number from 0 to 65535 (0 = any free port), not ${JSON.stringify(value)}`);
  return n;
}

function shutdown(reason: string, code: number): Promise<void> {
  stopping ??= (async () => {
    log(`${reason}: shutting down…`);
    // A stuck close must not keep the terminal hostage; unref'd, so it never delays a clean exit.
    setTimeout(() => {
      console.error('connect-mongo example: shutdown took over 10 s; exiting anyway');
      process.exit(1);
    }, 10_000).unref();
    for (const c of [...cleanups].reverse()) {
      try {
        await c.run();
      } catch (e) {
        console.error(`connect-mongo example: closing the ${c.name} failed: ${(e as Error).message}`);
        code ||= 1;
      }
    }
    log('stopped');
    process.exitCode = code;
  })();
  return stopping;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (stopping) {
      console.error(`connect-mongo example: ${sig} again: exiting now`);
      process.exit(130);
    }
    void shutdown(sig, 0);
  });
}

main().catch((e: Error) => {
  console.error(`connect-mongo example: could not start: ${e.message}`);
  void shutdown('start failed', 1);
});
