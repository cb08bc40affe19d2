/**
 * The Express side of the mixed HTTP workload, in a process of its own so that autocannon (in the parent) does not
 * share an event loop with the app it measures. One Express app per contender, each on its own 127.0.0.1 port.
 * Config comes as JSON in BENCH_HTTP_CONFIG; the ports go out as one JSON line on stdout. The MongoDB collections are
 * filled by the parent; the MemoryStore is filled here with the same sessions.
 * Routes: GET /r reads the session and leaves it unmodified (express-session then calls store.touch);
 *         POST /w modifies it (express-session then calls store.set). A missing session answers 500, so that
 *         autocannon counts it as an error rather than a fast request. GET /__commands (no session) answers the
 *         commands the contender's client has sent so far, by name, and those still unanswered (command monitoring).
 * For "this store", a Fastify 5 app too (@fastify/session 11, `rolling` at its default: it saves the unchanged
 * session on every response) on the same store and port map (`fastify`), with the same routes and cookie, for its
 * page-load row.
 */
import express from 'express';
import session from 'express-session';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyCookie, { Signer } from '@fastify/cookie';
import fastifySession from '@fastify/session';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createContender, docOf, sidOf, type Contender, type ContenderName } from './contenders';

export interface HttpConfig {
  uri: string;
  dbName: string;
  prefix: string;
  n: number;
  secret: string;
  sidPrefix: string;
  contenders: ContenderName[];
}

declare module 'express-session' {
  interface SessionData {
    n?: number;
  }
}

async function main() {
  const cfg = JSON.parse(process.env.BENCH_HTTP_CONFIG ?? '') as HttpConfig;
  const contenders: Contender[] = [];
  const servers: Server[] = [];
  const ports: Record<string, number> = {};
  const fastifies: FastifyInstance[] = [];
  for (const name of cfg.contenders) {
    // Command monitoring on every contender alike: the page-load workload counts what each sends per visit.
    const c = await createContender(name, { uri: cfg.uri, dbName: cfg.dbName, prefix: cfg.prefix, monitorCommands: true });
    contenders.push(c);
    const commands: Record<string, number> = {};
    let inFlight = 0;
    c.client?.on('commandStarted', (e) => {
      commands[e.commandName] = (commands[e.commandName] ?? 0) + 1;
      inFlight++;
    });
    c.client?.on('commandSucceeded', () => inFlight--);
    c.client?.on('commandFailed', () => inFlight--);
    if (name === 'memory') {
      const now = Date.now();
      await c.insert(Array.from({ length: cfg.n }, (_, i) => docOf(sidOf(cfg.sidPrefix, i), i, now)));
    }
    const app = express();
    // Outside the session middleware: the commands this contender's client has sent so far, by name, and how many
    // are still unanswered (requests autocannon gave up on keep the server busy until their commands end).
    app.get('/__commands', (_req, res) => void res.json({ commands, inFlight }));
    app.use(session({ store: c.store, secret: cfg.secret, resave: false, saveUninitialized: false, cookie: { maxAge: 86_400_000 } }));
    app.get('/r', (req, res) => {
      if (typeof req.session.n !== 'number') return void res.status(500).end('no session');
      res.end(String(req.session.n));
    });
    app.post('/w', (req, res) => {
      if (typeof req.session.n !== 'number') return void res.status(500).end('no session');
      req.session.n += 1;
      res.end(String(req.session.n));
    });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    servers.push(server);
    ports[name] = (server.address() as AddressInfo).port;
    if (name === 'this') ports.fastify = await fastifyApp(c, commands, () => inFlight, cfg.secret, fastifies);
  }
  process.stdout.write(`${JSON.stringify({ ports })}\n`);
  const shutdown = async () => {
    for (const s of servers) s.closeAllConnections?.();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await Promise.all(fastifies.map((f) => f.close()));
    await Promise.all(contenders.map((c) => c.close()));
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  // The parent's end of stdin closing means the parent is gone: never outlive it.
  process.stdin.on('end', () => void shutdown());
  process.stdin.resume();
}

/** The Fastify app of a contender: express-session's cookie (name, `s:` prefix, signature), so the same visitors load it. */
async function fastifyApp(c: Contender, commands: Record<string, number>, inFlight: () => number, secret: string, apps: FastifyInstance[]): Promise<number> {
  const app = Fastify();
  apps.push(app);
  app.get('/__commands', async () => ({ commands, inFlight: inFlight() }));
  await app.register(fastifyCookie);
  await app.register(fastifySession, { secret: new Signer(secret), store: c.store, cookieName: 'connect.sid', cookiePrefix: 's:', saveUninitialized: false, cookie: { secure: false, maxAge: 86_400_000 } });
  app.get('/r', async (req, reply) => {
    const n = (req.session as { n?: unknown }).n;
    if (typeof n !== 'number') return reply.code(500).send('no session');
    return String(n);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as AddressInfo).port;
}

main().catch((e) => {
  console.error(`http-server: ${(e as Error).message}`);
  process.exit(1);
});
