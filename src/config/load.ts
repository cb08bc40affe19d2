/**
 * Declarative configuration, the public entry: find a config file, resolve it and build the store. The steps are
 * modules of their own, run in this order by resolveConfig (resolve.ts):
 *   read.ts       find and parse the file (cosmiconfig), check it is an object of options
 *   env-block.ts  the per-environment blocks, and the one NODE_ENV selects merged over the base
 *   variables.ts  ${VAR} references filled in the base and every block
 *   validate.ts   each layer against the schema, then the merged options as `new MongoStore()` checks them
 *   overrides.ts  the options given in code merged over the file's
 * and the store is built here, through MongoStore's public constructor only.
 *
 * Error policy: a file that cannot be found or read is a ConfigFileError (CLI exit 2); anything wrong inside it is an
 * OptionsError whose `source` is the file path and whose issues carry JSON paths into that file (CLI exit 1). Every
 * message goes through the masking helpers plus a last redaction of the secrets the file holds (secrets.ts).
 */
import { isPlainObject, maskDeep } from '../errors';
import type { MongoStoreOptions } from '../options';
import { MongoStore } from '../store';
import { readConfig, readConfigSync } from './read';
import { resolveConfig } from './resolve';
import type { ConfigOptions, LoadedConfig } from './types';

export { ConfigFileError, MODULE_NAME, SEARCH_PLACES, SEARCH_PLACES_SYNC } from './read';
export { resolveConfig } from './resolve';
export type { ConfigOptions, LoadedConfig } from './types';

/** Finds, reads and validates a config (see ConfigOptions). Does not connect. */
export async function loadConfig<S = any>(opts: ConfigOptions<S> = {}): Promise<LoadedConfig<S>> {
  return resolveConfig(await readConfig(opts), opts);
}

/** loadConfig without a Promise: .mjs configs (and ES-module .js ones) cannot be loaded this way. */
export function loadConfigSync<S = any>(opts: ConfigOptions<S> = {}): LoadedConfig<S> {
  return resolveConfig(readConfigSync(opts), opts);
}

/**
 * Builds the store a config file describes: a MongoStore, or express-session's MemoryStore when the resolved
 * config says `fallbackMemory: true`. `overrides` are merged over the file (a connection given there wins over the
 * file's mongoUrl).
 */
export async function createStoreFromConfig<S = any>(opts: ConfigOptions<S> = {}): Promise<MongoStore> {
  const loaded = await loadConfig(opts);
  return new MongoStore(loaded.options as unknown as MongoStoreOptions);
}

/** createStoreFromConfig, synchronously: it reads JSON, YAML, .js (CommonJS) and .cjs configs, not .mjs / ESM ones. */
export function createStoreFromConfigSync<S = any>(opts: ConfigOptions<S> = {}): MongoStore {
  const loaded = loadConfigSync(opts);
  return new MongoStore(loaded.options as unknown as MongoStoreOptions);
}

// ---------------------------------------------------------------------------------------------------------------
// For print-config: the resolved options in option terms, defaults filled from normalizeOptions, secrets masked

/** The resolved config as option names (aliases folded, every default present), JSON-only, secrets masked. */
export function describeResolved(loaded: LoadedConfig): Record<string, unknown> {
  const o = loaded.options as Record<string, unknown>;
  const n = loaded.normalized;
  const out: Record<string, unknown> = {};
  const url = (o.mongoUrl ?? o.url) as string | undefined;
  if (url !== undefined) out.mongoUrl = url;
  for (const k of ['client', 'clientPromise', 'db', 'dbPromise', 'mongooseConnection']) if (o[k] !== undefined) out[k] = `<${k} from code>`;
  if (o.mongoOptions !== undefined) out.mongoOptions = o.mongoOptions;
  if (n.dbName !== undefined) out.dbName = n.dbName;
  Object.assign(out, {
    collectionName: n.collectionName,
    ttl: n.ttlMs / 1000,
    autoRemove: n.autoRemove,
    autoRemoveInterval: n.autoRemoveIntervalMs / 60_000,
    touchAfter: n.touchAfterMs / 1000,
    stringify: n.stringify,
    fallbackMemory: n.fallbackMemory,
  });
  if (o.writeOperationOptions !== undefined) out.writeOperationOptions = o.writeOperationOptions;
  out.timestamps = n.timestamps;
  if (o.crypto !== undefined) out.crypto = isPlainObject(o.crypto) ? o.crypto : '<crypto adapter from code>';
  if (o.cryptoAdapter !== undefined) out.crypto = '<crypto adapter from code>';
  if (o.encryption !== undefined) out.encryption = o.encryption;
  if (o.hashIds !== undefined) out.hashIds = o.hashIds;
  out.operationTimeoutMS = n.operationTimeoutMS;
  out.readPreference = n.readPreference;
  out.onCorruptSession = n.onCorruptSession;
  for (const k of ['serialize', 'unserialize', 'transformId']) if (o[k] !== undefined) out[k] = '<function from code>';
  return maskDeep(out) as Record<string, unknown>;
}
