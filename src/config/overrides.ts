/**
 * Step 5, overrides: the options given in code merged over the file's. They are what a file cannot hold (a client, a
 * mongoose connection, functions), so a connection given there replaces the file's connection string.
 */
import { OptionsError, describeFound, isPlainObject } from '../errors';
import { CONNECTION_KINDS } from '../options';
import { deepMerge } from './env';
import { collectSecrets } from './secrets';

/** The options-from-code part that can be described (values of functions and clients are not walked). */
function jsonPart(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v === null || typeof v !== 'object' || isPlainObject(v) || Array.isArray(v)));
}

/** The file's options with the overrides merged over them, and which top-level keys the code set. Adds to `secrets`. */
export function withOverrides(fileOptions: Record<string, unknown>, given: unknown, secrets: Set<string>): { merged: Record<string, unknown>; fromCode: Set<string> } {
  const overrides = (given ?? {}) as Record<string, unknown>;
  if (!isPlainObject(overrides)) {
    throw new OptionsError([{ path: '/', message: `overrides: expected an object of options, found ${describeFound(overrides)}` }], 'createStoreFromConfig options');
  }
  const fromCode = new Set(Object.keys(overrides).filter((k) => overrides[k] !== undefined));
  const merged = { ...fileOptions };
  if (CONNECTION_KINDS.some((k) => k !== 'mongoUrl' && k !== 'url' && overrides[k] !== undefined && overrides[k] !== null)) {
    delete merged.mongoUrl;
    delete merged.url;
  }
  collectSecrets(jsonPart(overrides), '', secrets);
  return { merged: deepMerge(merged, overrides), fromCode };
}
