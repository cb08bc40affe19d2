/**
 * connect-mongodb-session 5.0.0's options → this store's. Validated once, against schema/cms-options.schema.json
 * (cms's names, a typo gets "did you mean"), then the connection string and connectionOptions go through the store's
 * own checks (w: 0 refused, an empty host, a timeout no timer holds), reported under cms's names.
 */
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { validateCmsOptions, cmsOptionNames, type CmsOptions } from '../../generated';
import { OptionsError, describeFound, maskMessage, type OptionIssue } from '../errors';
import { FORBIDDEN_KEYS, schemaIssues } from '../option-issues';
import { normalizeOptions } from '../options';
import type { Fields } from './field-view';

export type { CmsOptions };

/** cms's options with its defaults applied. */
export interface NormalizedCms {
  uri: string;
  collection: string;
  connectionOptions: MongoClientOptions;
  expires: number;
  databaseName?: string;
  fields: Fields;
}

const SOURCE = 'connect-mongodb-session options';
const NO_OPS = new Set(['usenewurlparser', 'useunifiedtopology']);
/** connect-mongo's names for cms's options: the likeliest mistake of someone moving between the two */
const THEIR_NAME: Record<string, string> = { mongoUrl: 'uri', url: 'uri', mongoOptions: 'connectionOptions', collectionName: 'collection', dbName: 'databaseName', ttl: 'expires' };
/** the store's paths for the options checked by normalizeOptions, and cms's names for them */
const PATHS: Array<[RegExp, string]> = [
  [/^\/url/, '/uri'],
  [/^\/mongoOptions/, '/connectionOptions'],
];

export function normalizeCmsOptions(input: unknown): NormalizedCms {
  if (input === null || input === undefined) input = {};
  if (typeof input !== 'object' || Array.isArray(input)) throw new OptionsError([{ path: '/', message: `expected an options object, found ${describeFound(input)}` }], SOURCE);
  const json: Record<string, unknown> = {};
  const issues: OptionIssue[] = [];
  for (const k in input) {
    const v = (input as Record<string, unknown>)[k];
    if (FORBIDDEN_KEYS.has(k)) issues.push({ path: `/${k}`, message: 'is not an option name' });
    else if (v !== undefined) json[k] = v;
  }
  if (!validateCmsOptions(json)) {
    for (const i of schemaIssues(validateCmsOptions.errors, json, cmsOptionNames)) {
      const name = i.path.slice(1);
      // connect-mongo's name: say cms's, with the unit where it differs
      if (/^unknown option/.test(i.message) && THEIR_NAME[name]) i.message = `unknown option ${JSON.stringify(name)} — did you mean ${JSON.stringify(THEIR_NAME[name])}?${name === 'ttl' ? ' (in milliseconds)' : ''} (connect-mongodb-session's name; this entry point takes its options)`;
      issues.push(i);
    }
  }
  const o = json as CmsOptions;
  // one field cannot hold both: the view would write the expiry over the sid
  if (!issues.length && o.idField !== undefined && o.idField === o.expiresKey) issues.push({ path: '/expiresKey', message: `is the idField too (${JSON.stringify(o.idField)}): the session id and the expiry need a field each` });
  if (issues.length) throw new OptionsError(issues, SOURCE);
  const uri = o.uri ?? 'mongodb://127.0.0.1:27017/test';
  // useNewUrlParser and useUnifiedTopology: no-ops since driver 4 that cms examples carry; driver 7 refuses them
  const connectionOptions = Object.fromEntries(Object.entries(o.connectionOptions ?? {}).filter(([k]) => !NO_OPS.has(k.toLowerCase()))) as MongoClientOptions;
  try {
    normalizeOptions({ url: uri, mongoOptions: connectionOptions }, SOURCE);
  } catch (e) {
    if (!(e instanceof OptionsError)) throw e;
    throw new OptionsError(
      e.issues.map((i) => ({ ...i, path: PATHS.reduce((p, [re, to]) => p.replace(re, to), i.path), message: i.message.replace(/\bmongoOptions\b/g, 'connectionOptions') })),
      SOURCE,
    );
  }
  // what the driver refuses (an unknown option), said under cms's names before any client is made
  for (const [path, options] of [['/uri', undefined], ['/connectionOptions', connectionOptions]] as const) {
    try {
      new MongoClient(uri, options);
    } catch (e) {
      throw new OptionsError([{ path, message: `the driver refuses it: ${maskMessage(String((e as Error)?.message))}` }], SOURCE);
    }
  }
  return {
    uri,
    collection: o.collection ?? 'sessions',
    connectionOptions,
    expires: o.expires ?? 1_209_600_000,
    databaseName: o.databaseName ?? undefined,
    fields: { id: o.idField ?? '_id', expires: o.expiresKey ?? 'expires', expireAfterSeconds: o.expiresAfterSeconds ?? 0 },
  };
}
