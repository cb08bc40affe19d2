/**
 * MongoStore's base class and session type, so that neither needs express-session (an optional peer: Fastify and Koa
 * apps need not install a middleware they never use). With express-session installed, the base is its Store, as in
 * every connect-mongo (its regenerate/load/createSession, `instanceof session.Store`); without it, LocalStore: an
 * EventEmitter with the same three methods as express-session 1.19's session/store.js has them, but for what only
 * express-session can build (its Session and Cookie: createSession answers the session itself). express-session is
 * looked up once, here. The types are declared here, never imported from @types/express-session.
 */
import { EventEmitter } from 'node:events';

/** A session's cookie as express-session and @fastify/session store it; theirs are assignable to it. */
export interface SessionCookieData {
  originalMaxAge?: number | null;
  maxAge?: number | null;
  expires?: Date | string | null | boolean;
  secure?: boolean | 'auto' | null;
  httpOnly?: boolean;
  path?: string;
  domain?: string | null;
  sameSite?: boolean | 'lax' | 'strict' | 'none' | null;
}

/** A session as a store gets it, when express-session's types are not installed. */
export interface LocalSessionData {
  cookie: SessionCookieData;
}

/** Where the types of express-session are looked up, without requiring them. */
export interface ExpressSessionTypes {
  /** @ts-ignore express-session's types are an optional peer: without them (an error ignored) this is any */
  sessionData: import('express-session').SessionData;
}

/**
 * The default session type: express-session's `SessionData` when its types are installed, with your
 * `declare module 'express-session' { interface SessionData { … } }` additions, as before; else LocalSessionData.
 * @fastify/session's `Session` is assignable to both.
 */
export type SessionData = 0 extends 1 & ExpressSessionTypes['sessionData'] ? LocalSessionData : ExpressSessionTypes['sessionData'];

type Done = (err?: any) => any;
/** What LocalStore calls on itself (MongoStore has them; express-session's middleware adds `generate`). */
interface Own {
  get(sid: string, fn: (err: unknown, session?: any) => void): void;
  destroy(sid: string, fn: Done): void;
  generate?(req: unknown): void;
}

/** express-session's Store, for apps without express-session. */
export class LocalStore extends EventEmitter {
  /** destroy, then a new session (express-session's middleware gives the store `generate`) */
  regenerate(req: any, fn: Done): void {
    const own = this as unknown as Own;
    own.destroy(req.sessionID, (err) => {
      own.generate?.(req);
      fn(err);
    });
  }

  /** get, then createSession */
  load(sid: string, fn: (err?: any, session?: any) => any): void {
    (this as unknown as Own).get(sid, (err, sess) => {
      if (err) return fn(err);
      if (!sess) return fn();
      fn(null, this.createSession({ sessionID: sid, sessionStore: this }, sess));
    });
  }

  /** the session itself, its cookie's expires a Date (a session without a cookie throws, as in express-session) */
  createSession(req: any, sess: any): any {
    const expires = sess.cookie.expires;
    if (typeof expires === 'string') sess.cookie.expires = new Date(expires);
    req.session = sess;
    return sess;
  }
}

/** The parts of express-session this package uses. */
export interface ExpressSessionModule {
  Store: typeof LocalStore;
  MemoryStore: new () => {
    get(sid: string, fn: (err: unknown, session?: any) => void): void;
    set(sid: string, session: any, fn: Done): void;
    destroy(sid: string, fn: Done): void;
    touch(sid: string, session: any, fn: Done): void;
    all(fn: (err: unknown, sessions?: Record<string, any> | null) => void): void;
    clear(fn: Done): void;
  };
}

function find(): ExpressSessionModule | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('express-session') as ExpressSessionModule;
  } catch (e) {
    // not installed: the local base; an installed express-session that fails to load is an error to see
    if ((e as { code?: string })?.code === 'MODULE_NOT_FOUND' && /'express-session'/.test(String((e as Error).message))) return undefined;
    throw e;
  }
}

/** express-session, when installed (once). */
export const expressSession: ExpressSessionModule | undefined = find();

/** MongoStore's base: express-session's Store when installed, else LocalStore. */
export const StoreBase: typeof LocalStore = expressSession?.Store ?? LocalStore;
