/**
 * The package's exports. The default export (and `require('connect-mongo')`) is one callable that serves every API
 * generation: `require('connect-mongo')(session)` (classic factory), `new MongoStore(opts)`, `MongoStore.create(opts)`,
 * and `.MongoStore` / `.createStoreFromConfig` on it.
 */
import { MongoStore } from './store';
import { legacyFactory } from './legacy';
import './memory-fallback'; // registers the store fallbackMemory gives
import type { SessionData } from './store-base';
import type { MongoStoreOptions } from './options';
import { createStoreFromConfig, createStoreFromConfigSync, loadConfig, loadConfigSync, ConfigFileError } from './config/load';
import { MongoStoreError, OptionsError, SessionCorruptError } from './errors';
import { aesGcmAdapter } from './crypto';
import { ensureSessionIndexes } from './setup';
import { createKrupteinAdapter } from './kruptein';
import { createWebCryptoAdapter } from './webcrypto';
import { koaSessionStore } from './koa';

export { MongoStore } from './store';
export type { SessionData, SessionCookieData, LocalSessionData } from './store-base';
export type { Callback, SessionEntry } from './callback';
export type { UserId, UserSession } from './user-sessions';
export type { MongoStoreOptions, ConnectMongoOptions, MongooseConnectionLike } from './options';
export type { CryptoAdapter, CryptoOptions } from './crypto-types';
export type { StoreOptions, SessionDocument } from '../generated';
export { MongoStoreError, OptionsError, SessionCorruptError } from './errors';
export type { OptionIssue } from './errors';
export { aesGcmAdapter } from './crypto';
export { ensureSessionIndexes } from './setup';
export type { SetupResult } from './setup';
export { createKrupteinAdapter } from './kruptein';
export { createWebCryptoAdapter, type WebCryptoAdapterOptions, type WebCryptoEncoding } from './webcrypto';
export { createStoreFromConfig, createStoreFromConfigSync, loadConfig, loadConfigSync, ConfigFileError } from './config/load';
export type { ConfigOptions, LoadedConfig } from './config/load';
export { koaSessionStore, type KoaSessionStore, type KoaSessionStoreOptions, type KoaSessionData } from './koa';

/** The callable default export: a MongoStore constructor that, called without `new`, is the classic factory. */
export type ConnectMongo = typeof MongoStore & {
  (connectOrSession: unknown): typeof MongoStore;
  default: ConnectMongo;
} & typeof named;

/** Every runtime named export, also reachable as a property of `require('connect-mongo')`. */
const named = { MongoStore, createStoreFromConfig, createStoreFromConfigSync, loadConfig, loadConfigSync, ConfigFileError, MongoStoreError, OptionsError, SessionCorruptError, aesGcmAdapter, ensureSessionIndexes, createKrupteinAdapter, createWebCryptoAdapter, koaSessionStore };

function connectMongo(this: unknown, arg: unknown) {
  // `new connectMongo(options)` builds a store; `connectMongo(session)` is the classic factory. Constructing with
  // new.target keeps subclasses working: `class MyStore extends MongoStore` on the default export is a MyStore.
  if (new.target) return Reflect.construct(MongoStore, [arg as MongoStoreOptions], new.target);
  return legacyFactory(arg);
}
Object.setPrototypeOf(connectMongo, MongoStore); // statics: create
connectMongo.prototype = MongoStore.prototype; // instanceof works either way

const exported = connectMongo as unknown as ConnectMongo;
Object.assign(exported, named, { default: exported, __esModule: true });
/** The default export is also a type, as connect-mongo 6's class is: `let store: MongoStore` after a default import. */
type exported<S extends SessionData = SessionData> = MongoStore<S>;
export default exported;
