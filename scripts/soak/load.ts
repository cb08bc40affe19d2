/**
 * The soak's load: Express apps, each with its own store (and its own client) on one collection, and users that
 * log in, read, modify, touch and log out, each user's requests one after the other on either app at random. Every
 * store call is timed where express-session makes it; every answer goes to the oracle.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import session from 'express-session';
import type { MongoStore } from '../../src';
import { rng } from './schedule';
import type { Oracle } from './oracle';

export interface Call {
  name: string;
  instance: number;
  started: number;
  ms: number;
  ok: boolean;
}

export interface Instance {
  store: MongoStore;
  url: string;
  server: Server;
}

/** Times every get/set/touch/destroy express-session makes on `store` (callback form, as it calls them). */
function timeCalls(store: MongoStore, instance: number, now: () => number, onCall: (c: Call) => void) {
  const methods = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown> | undefined>;
  for (const name of ['get', 'set', 'touch', 'destroy']) {
    const original = methods[name].bind(store);
    methods[name] = (...args: unknown[]) => {
      const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as (e: unknown, v?: unknown) => void) : undefined;
      const started = now();
      const p = original(...args)!;
      p.then(
        (v) => {
          onCall({ name, instance, started, ms: now() - started, ok: true });
          cb?.(null, v);
        },
        (e) => {
          onCall({ name, instance, started, ms: now() - started, ok: false });
          cb?.(e);
        },
      );
      return cb ? undefined : p;
    };
  }
}

/**
 * GET /login?v=N   a new session holding v, 200 once the store acknowledged it (an explicit save)
 * GET /read        { v } of the cookie's session (null: none); express-session touches it at the end
 * GET /modify?v=N  { was } and the session's v set to N, 200 once acknowledged; 409 when there was no session
 * GET /logout      { was }, the session destroyed, 200 once acknowledged
 * 503 when a save failed, or express-session runs without its store (after the store's 'disconnect'); 500 when
 * express-session's get failed.
 */
export async function startInstance(store: MongoStore, instance: number, now: () => number, onCall: (c: Call) => void): Promise<Instance> {
  timeCalls(store, instance, now, onCall);
  const app = express();
  app.use(session({ store, secret: 'soak-cookie-secret', resave: false, saveUninitialized: false, cookie: { maxAge: 3_600_000 } }));
  type S = { v?: number };
  // express-session goes on without sessions while its store is disconnected (its 'disconnect' event): say so
  app.use((req, res, next) => (req.session ? next() : void res.status(503).json({ error: 'no-session' })));
  const version = (req: express.Request) => (req.session as unknown as S).v ?? null;
  const saved = (res: express.Response, body: object) => (err: unknown) => (err ? res.status(503).json({ error: 'store', ...body }) : res.json(body));
  app.get('/login', (req, res) => {
    (req.session as unknown as S).v = Number(req.query.v);
    req.session.save(saved(res, { v: Number(req.query.v) }));
  });
  app.get('/read', (req, res) => void res.json({ v: version(req) }));
  app.get('/modify', (req, res) => {
    const was = version(req);
    if (was === null) return void res.status(409).json({ was });
    (req.session as unknown as S).v = Number(req.query.v);
    req.session.save(saved(res, { was }));
  });
  app.get('/logout', (req, res) => {
    const was = version(req);
    req.session.destroy(saved(res, { was }));
  });
  // express-session's errors (a failed get, or a touch after the response started): a 500, or a cut response
  app.use((_err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    if (process.env.SOAK_DEBUG) console.error('soak: app error', _req.path, _err.message);
    if (res.headersSent) return void res.destroy();
    res.status(500).json({ error: 'store' });
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { store, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export interface LoadOptions {
  users: number;
  seed: number;
  instances: Instance[];
  oracle: Oracle;
  /** a request with no answer after this is "hung" (counted, and the user goes on) */
  requestTimeoutMs: number;
  now: () => number;
  onRequest: (r: { path: string; ms: number; status: number | string }) => void;
}

export interface Load {
  /** users finish their request in flight, then wait; resolves once none is in flight */
  pause(): Promise<void>;
  resume(): void;
  stop(): Promise<void>;
  requests(): number;
}

/** Starts the users; each one's choices come from the seed and its number. */
export function startLoad(o: LoadOptions): Load {
  let paused: Promise<void> | undefined;
  let resumeNow = () => {};
  let stopped = false;
  let busy = 0;
  let idle = () => {};
  let count = 0;

  async function request(instance: Instance, path: string, cookie?: string) {
    const started = o.now();
    count++;
    busy++;
    try {
      const res = await fetch(`${instance.url}${path}`, { headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(o.requestTimeoutMs) });
      const body = (await res.json().catch(() => ({}))) as { v?: number | null; was?: number | null; error?: string };
      o.onRequest({ path: path.split('?')[0], ms: o.now() - started, status: res.status === 200 ? 200 : `${res.status} ${body.error ?? ''}`.trim() });
      return { status: res.status, body, cookie: res.headers.get('set-cookie')?.split(';')[0] };
    } catch (e) {
      const hung = (e as Error).name === 'TimeoutError';
      o.onRequest({ path: path.split('?')[0], ms: o.now() - started, status: hung ? 'hung' : 'error' });
      return { status: 0, body: {} as { v?: number | null; was?: number | null }, cookie: undefined };
    } finally {
      if (--busy === 0) idle();
    }
  }

  async function user(n: number) {
    const r = rng(o.seed * 1_000 + n);
    let cookie: string | undefined;
    while (!stopped) {
      if (paused) await paused;
      if (stopped) break;
      const inst = o.instances[Math.floor(r() * o.instances.length)];
      const via = `instance ${o.instances.indexOf(inst)}`;
      const s = o.oracle.session(n);
      if (!s || !cookie) {
        const v = o.oracle.nextVersion();
        const res = await request(inst, `/login?v=${v}`);
        if (res.status === 200 && res.cookie) {
          cookie = res.cookie;
          o.oracle.loggedIn(n, decodeURIComponent(cookie.split('=')[1]).slice(2).split('.')[0], v);
        }
      } else {
        const pick = r();
        if (pick < 0.45) {
          const res = await request(inst, '/read', cookie);
          if (res.status === 200) o.oracle.read(n, res.body.v ?? null, via);
        } else if (pick < 0.85) {
          const v = o.oracle.nextVersion();
          o.oracle.saveSent(n, v);
          const res = await request(inst, `/modify?v=${v}`, cookie);
          if ('was' in res.body) o.oracle.read(n, res.body.was ?? null, via);
          if (res.status === 200) o.oracle.saveAcked(n, v);
        } else {
          o.oracle.destroySent(n);
          const res = await request(inst, '/logout', cookie);
          if ('was' in res.body) o.oracle.read(n, res.body.was ?? null, via);
          if (res.status === 200) {
            o.oracle.destroyAcked(n);
            // now and then, the old cookie again: a destroyed session must stay gone
            if (r() < 0.3) {
              const ghost = await request(o.instances[Math.floor(r() * o.instances.length)], '/read', cookie);
              if (ghost.status === 200) o.oracle.readDestroyed(n, ghost.body.v != null, via);
            }
            cookie = undefined;
          }
        }
      }
      await new Promise((res) => setTimeout(res, Math.floor(r() * 30)));
    }
  }

  const users = Array.from({ length: o.users }, (_, n) => user(n));
  return {
    pause: async () => {
      paused ??= new Promise<void>((res) => (resumeNow = res));
      if (busy > 0) await new Promise<void>((res) => (idle = res));
      idle = () => {};
    },
    resume: () => {
      const go = resumeNow;
      paused = undefined;
      go();
    },
    stop: async () => {
      stopped = true;
      const go = resumeNow;
      paused = undefined;
      go();
      await Promise.all(users);
    },
    requests: () => count,
  };
}
