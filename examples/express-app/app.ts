/**
 * The example's Express app: a visit counter kept in the session, log-in (regenerate) and log-out (destroy), the
 * logged-in user's devices (sessions by user: the config's userId option names req.session.user) with "Log out
 * everywhere else", and a page listing the live sessions read back from the store. Any express-session Store works;
 * the example passes the MongoStore that createStoreFromConfig() built.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import session, { type Store, type SessionData } from 'express-session';
import { adminPage, homePage, shortId, esc, type AdminRow, type DeviceRow, type PageInfo } from './views';

declare module 'express-session' {
  interface SessionData {
    views?: number;
    user?: string;
    /** how many sessions "Log out everywhere else" ended, shown once by the next page */
    ended?: number;
  }
}

export const COOKIE_NAME = 'example.sid';
const MAX_NAME = 40;

export interface AppOptions {
  store: Store;
  /** signs the session cookie; must stay the same across restarts, or every session is lost */
  secret: string;
  info: PageInfo;
  /** the cookie's lifetime, ms */
  maxAge?: number;
}

export function createApp({ store, secret, info, maxAge = 60 * 60 * 1000 }: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.urlencoded({ extended: false, limit: '2kb' }));
  // Before the session middleware: an asset needs no session, and the browser's favicon request, sent while the
  // next page is being saved, would otherwise touch() the session concurrently (FerretDB rewrites whole documents on
  // update, so such a touch could put back the counter it read).
  app.get('/favicon.ico', (_req, res) => void res.status(204).end());
  app.use(
    session({
      name: COOKIE_NAME,
      secret,
      store,
      resave: false, // the store's touch() keeps an unmodified session alive; no need to rewrite it
      saveUninitialized: false, // no document for a visitor until the session holds something
      cookie: { httpOnly: true, sameSite: 'lax', maxAge },
    }),
  );

  app.get('/', async (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1;
    const ended = req.session.ended;
    delete req.session.ended;
    res.type('html').send(home(req, info, undefined, await devices(store, req), ended));
  });

  app.post('/login', (req, res, next) => {
    const name = String(req.body?.name ?? '').trim();
    if (!name || name.length > MAX_NAME) {
      res.status(400).type('html').send(home(req, info, `Please enter a name of 1 to ${MAX_NAME} characters.`));
      return;
    }
    const views = req.session.views ?? 0;
    // A new session id on log-in: an id someone planted before (session fixation) is worth nothing afterwards.
    // The counter is carried over so that the demo reads as one visit.
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = name;
      req.session.views = views;
      req.session.save((err2) => (err2 ? next(err2) : res.redirect(303, '/')));
    });
  });

  // Ends the user's other sessions; this one stays. A device logged out here finds no session on its next request.
  app.post('/logout-others', async (req, res) => {
    const user = req.session.user;
    const byUser = store as Store & Partial<UserSessionStore>;
    if (!user || typeof byUser.destroyUserSessions !== 'function') return void res.redirect(303, '/');
    // The count is shown by the page this redirects to, so that a reload posts nothing again. Saved before the
    // redirect: express-session saves while the response ends, and the browser follows a 303 on its headers alone,
    // so the next page could otherwise read the session before the count is in it.
    req.session.ended = await byUser.destroyUserSessions(user, { except: req.sessionID });
    await new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
    res.redirect(303, '/');
  });

  app.post('/logout', (req, res, next) => {
    req.session.destroy((err) => {
      if (err) return next(err);
      res.clearCookie(COOKIE_NAME, { path: '/', httpOnly: true, sameSite: 'lax' });
      res.redirect(303, '/');
    });
  });

  app.get('/admin', async (req, res) => {
    const rows = (await liveSessions(store)).map(
      ({ id, session: s, expires }): AdminRow => ({
        shortId: shortId(id),
        user: s.user,
        views: s.views,
        expires: expires ?? (s.cookie?.expires ? new Date(s.cookie.expires) : undefined),
        mine: id === req.sessionID,
      }),
    );
    rows.sort((a, b) => Number(b.mine) - Number(a.mine) || (a.expires?.getTime() ?? 0) - (b.expires?.getTime() ?? 0));
    res.type('html').send(adminPage(info, rows));
  });

  app.use((_req: Request, res: Response) => void res.status(404).type('text').send('Not found'));
  // Express 5 routes async rejections here. The message names what failed; it never holds a session id.
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    console.error(`connect-mongo example: request failed: ${err.message}`);
    res.status(500).type('html').send(`<!doctype html><title>Error</title><h1>Something went wrong</h1><p>${esc(err.message)}</p><p><a href="/">Home</a></p>`);
  });
  return app;
}

function home(req: Request, info: PageInfo, error?: string, devices?: DeviceRow[], ended?: number): string {
  return homePage(info, {
    views: req.session.views ?? 0,
    user: req.session.user,
    shortId: shortId(req.sessionID),
    expires: req.session.cookie.expires ?? undefined,
    error,
    devices,
    ended,
  });
}

/** What a MongoStore with the userId option adds to the Store interface (sessions by user). */
interface UserSessionStore {
  userSessions(userId: string): Promise<Array<{ id: string; expires?: Date; lastWrite?: Date; createdAt?: Date; updatedAt?: Date }>>;
  destroyUserSessions(userId: string, options: { except: string }): Promise<number>;
}

/**
 * The logged-in user's sessions, newest first; undefined when nobody is logged in or the store cannot list them (the
 * MemoryStore a config's fallbackMemory gives, or a MongoStore without the userId option). Their stored ids are the sids here: the example's config has no
 * transformId or hashIds, under which "this device" would have to be told apart another way.
 */
async function devices(store: Store, req: Request): Promise<DeviceRow[] | undefined> {
  const byUser = store as Store & Partial<UserSessionStore>;
  const user = req.session.user;
  if (!user || typeof byUser.userSessions !== 'function') return undefined;
  // a MongoStore whose config has no userId: the page says it cannot list them, rather than failing
  const list = await byUser.userSessions(user).catch((e: { code?: string }) => (e?.code === 'ERR_CONNECT_MONGO_UNSUPPORTED' ? undefined : Promise.reject(e)));
  return list?.map((s) => ({
    shortId: shortId(s.id),
    mine: s.id === req.sessionID,
    signedIn: s.createdAt, // a log-in regenerates the session: its document is created then
    lastActivity: s.updatedAt ?? s.lastWrite, // updatedAt (timestamps: true) moves on touch() too
    expires: s.expires,
  }));
}

interface Live {
  id: string;
  session: SessionData;
  expires?: Date;
}

/**
 * The live sessions with their stored ids. A MongoStore streams them from a cursor (entries()); any other store
 * (e.g. the MemoryStore a config's fallbackMemory gives) is asked through the standard all().
 */
async function liveSessions(store: Store): Promise<Live[]> {
  const streaming = store as Store & { entries?: () => AsyncIterable<Live> };
  if (typeof streaming.entries === 'function') {
    const out: Live[] = [];
    for await (const e of streaming.entries()) out.push(e);
    return out;
  }
  if (!store.all) return [];
  const all = await new Promise<unknown>((resolve, reject) => store.all!((err, v) => (err ? reject(err) : resolve(v))));
  // MemoryStore answers an object keyed by sid; other stores an array without ids.
  return Array.isArray(all)
    ? all.map((s, i) => ({ id: `#${i + 1}`, session: s as SessionData }))
    : Object.entries(all as Record<string, SessionData>).map(([id, s]) => ({ id, session: s }));
}
