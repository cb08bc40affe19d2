/**
 * The classic factory: `require('connect-mongo')(session)`.
 *   Express 4/5, Connect 3: pass express-session (a function with .Store).
 *   Express 2/3, Connect 1/2: pass express or connect (an object whose .session.Store is the base class).
 * Given express-session's own Store, the answer is MongoStore itself; given another base class (connect 2's), it is
 * a subclass of that base carrying MongoStore's methods, so the framework's regenerate/load/createSession are used.
 */
import { expressSession } from './store-base';
import { MongoStore } from './store';
import { MongoStoreError, describeFound } from './errors';
import type { MongoStoreOptions } from './options';

type Constructor = new (...args: any[]) => object;
const made = new WeakMap<Constructor, typeof MongoStore>();

export function legacyFactory(connectOrSession: unknown): typeof MongoStore {
  const Base = baseStoreOf(connectOrSession);
  if (!Base) {
    if (isModernFramework(connectOrSession)) {
      throw new MongoStoreError(
        'connect-mongo: Express 4/5 and Connect 3 no longer carry sessions, so require("connect-mongo")(express) has no Store to extend; pass express-session instead: require("connect-mongo")(require("express-session")), or skip the factory: MongoStore.create(options).',
        'ERR_CONNECT_MONGO_OPTIONS',
      );
    }
    const looksLikeOptions = !!connectOrSession && typeof connectOrSession === 'object' && ['mongoUrl', 'url', 'client', 'clientPromise', 'db', 'mongooseConnection'].some((k) => k in (connectOrSession as object));
    throw new MongoStoreError(
      looksLikeOptions
        ? 'connect-mongo: these look like store options; use `new MongoStore(options)` or `MongoStore.create(options)` (require("connect-mongo")(x) is the classic factory and expects express-session)'
        : `connect-mongo: require("connect-mongo")(x) expects express-session (Express 4/5, Connect 3: require("connect-mongo")(require("express-session"))) or, for Express 2/3 and Connect 1/2, express/connect themselves; got ${describeFound(connectOrSession)}. Or skip the factory: MongoStore.create(options).`,
      'ERR_CONNECT_MONGO_OPTIONS',
    );
  }
  if ((Base as unknown) === expressSession?.Store || Base.prototype instanceof MongoStore || Base === MongoStore) return MongoStore;
  let cls = made.get(Base);
  if (!cls) {
    const Memory = memoryStoreOf(connectOrSession);
    cls = class LegacyMongoStore extends (Base as Constructor) {
      constructor(options: MongoStoreOptions) {
        super(options);
        // Same checks and set-up as MongoStore, on this object.
        const store = (MongoStore.prototype as unknown as { initStore(o: MongoStoreOptions): object }).initStore.call(this, options);
        // fallbackMemory: the framework's own MemoryStore, as connect-mongo 1-3 gave (its middleware's Session class).
        if (store !== this && Memory) return new Memory();
        return store;
      }
    } as unknown as typeof MongoStore;
    for (const name of Object.getOwnPropertyNames(MongoStore.prototype)) {
      if (name === 'constructor' || name in Base.prototype) continue;
      Object.defineProperty(cls.prototype, name, Object.getOwnPropertyDescriptor(MongoStore.prototype, name)!);
    }
    Object.defineProperty(cls.prototype, Symbol.asyncIterator, Object.getOwnPropertyDescriptor(MongoStore.prototype, Symbol.asyncIterator)!);
    (cls as unknown as { create: unknown }).create = function create(this: typeof MongoStore, o: MongoStoreOptions) {
      return new this(o);
    };
    made.set(Base, cls);
  }
  return cls;
}

function baseStoreOf(x: unknown): Constructor | undefined {
  return classOf(x, 'Store');
}

function memoryStoreOf(x: unknown): Constructor | undefined {
  return classOf(x, 'MemoryStore');
}

/** `x[name]` or `x.session[name]` when it is a function. Express 4's `.session` is a getter that throws: not ours. */
function classOf(x: unknown, name: 'Store' | 'MemoryStore'): Constructor | undefined {
  if (!x || (typeof x !== 'function' && typeof x !== 'object')) return undefined;
  try {
    const candidate = (x as Record<string, unknown>)[name] ?? (x as { session?: Record<string, unknown> }).session?.[name];
    return typeof candidate === 'function' ? (candidate as Constructor) : undefined;
  } catch {
    return undefined;
  }
}

/** Express 4/5 (has `.Router` and `.application`) or Connect 3 (its export is a bare function named createServer). */
function isModernFramework(x: unknown): boolean {
  if (typeof x !== 'function') return false;
  const f = x as unknown as Record<string, unknown>;
  return (typeof f.Router === 'function' && typeof f.application === 'object') || (x.name === 'createServer' && !('session' in f));
}
