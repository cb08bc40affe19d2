/**
 * The only place options are validated and defaults applied. The JSON-expressible part goes through the validator
 * generated from schema/store-options.schema.json (so a typo in code gets the same error as one in a config file);
 * the rest (functions, clients) is checked here by hand.
 */
import { distance } from 'fastest-levenshtein';
import type { Db, MongoClient, MongoClientOptions, WriteConcernSettings } from 'mongodb';
import { validateStoreOptions, storeOptionNames, nestedOptionNames, type StoreOptions, type SchemaError } from '../generated';
import { OptionsError, describeFound, type OptionIssue } from './errors';

/**
 * A mongoose Connection, structurally (we never import mongoose). Loosely typed on purpose: mongoose bundles its own
 * copy of the driver, whose Db and MongoClient types are not this package's.
 */
export interface MongooseConnectionLike {
  readyState?: number;
  db?: unknown;
  name?: string;
  getClient?(): unknown;
  asPromise?(): Promise<unknown>;
  once?(event: string, listener: () => void): unknown;
  off?(event: string, listener: () => void): unknown;
  removeListener?(event: string, listener: () => void): unknown;
}

/** Bring-your-own encryption: both directions async, strings in and out. `context.id` is the stored _id. */
export interface CryptoAdapter {
  encrypt(plaintext: string, context?: { id: string }): Promise<string> | string;
  decrypt(ciphertext: string, context?: { id: string }): Promise<string> | string;
}

type JsonOptions = Omit<StoreOptions, '$schema' | 'env' | 'crypto' | 'mongoOptions'>;

/** Everything `new MongoStore()` accepts: the schema's options plus what JSON cannot hold. */
export interface MongoStoreOptions<S = any> extends JsonOptions {
  mongoOptions?: MongoClientOptions;
  client?: MongoClient;
  clientPromise?: Promise<MongoClient>;
  db?: Db;
  dbPromise?: Promise<Db>;
  mongooseConnection?: MongooseConnectionLike;
  crypto?: StoreOptions['crypto'] | CryptoAdapter;
  /** connect-mongo 6's name for a crypto adapter */
  cryptoAdapter?: CryptoAdapter;
  serialize?: (session: S) => unknown;
  unserialize?: (stored: any) => S;
  transformId?: (sid: string) => string;
  /** ignored in code (a config file's editor hint) */
  $schema?: string;
}

export type ConnectionSpec =
  | { kind: 'url'; url: string; mongoOptions: MongoClientOptions }
  | { kind: 'client'; client: MongoClient }
  | { kind: 'clientPromise'; promise: Promise<MongoClient> }
  | { kind: 'mongooseConnection'; connection: MongooseConnectionLike }
  | { kind: 'db'; db: Db }
  | { kind: 'dbPromise'; promise: Promise<Db> };

export interface NormalizedOptions<S = any> {
  connection?: ConnectionSpec;
  dbName?: string;
  collectionName: string;
  ttlMs: number;
  autoRemove: 'native' | 'interval' | 'disabled';
  autoRemoveIntervalMs: number;
  touchAfterMs: number;
  stringify: boolean;
  fallbackMemory: boolean;
  writeConcern?: WriteConcernSettings;
  timestamps: boolean;
  crypto?: { secrets: string[] } | { adapter: CryptoAdapter };
  hashIdsSecret?: string;
  operationTimeoutMS: number;
  onCorruptSession: 'error' | 'ignore';
  serialize?: (session: S) => unknown;
  unserialize?: (stored: any) => S;
  transformId?: (sid: string) => string;
}

/** Connection kinds in the documented priority order (connect-mongo 6's first): the first one given is used. */
export const CONNECTION_KINDS = ['mongoUrl', 'url', 'clientPromise', 'client', 'mongooseConnection', 'db', 'dbPromise'] as const;
const CODE_ONLY = ['client', 'clientPromise', 'db', 'dbPromise', 'mongooseConnection', 'serialize', 'unserialize', 'transformId', 'cryptoAdapter'] as const;
const ALL_NAMES = [...storeOptionNames.filter((n) => n !== 'env' && n !== '$schema'), ...CODE_ONLY];

/** Known names in order of closeness to `name`, for "did you mean". */
export function suggestName(name: string, known: readonly string[] = ALL_NAMES): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === lower ? 0 : distance(lower, k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** ajv errors → issues that say path, expected and found (never a secret's value). */
export function schemaIssues(errors: SchemaError[] | null | undefined, data: unknown, known: readonly string[] = ALL_NAMES): OptionIssue[] {
  const issues: OptionIssue[] = [];
  const seen = new Set<string>();
  // oneOf reports every branch; keep the branch errors and drop the summary when a branch explains it.
  const list = errors ?? [];
  for (const e of list) {
    if (e.keyword === 'oneOf' && list.some((o) => o !== e && o.instancePath === e.instancePath)) continue;
    let path = e.instancePath || '';
    let message: string;
    const found = valueAt(data, path);
    switch (e.keyword) {
      case 'additionalProperties': {
        const name = String(e.params.additionalProperty);
        path = `${path}/${name}`;
        const parent = e.instancePath.split('/').slice(1).join('.');
        const siblings = parent === '' ? known : (nestedOptionNames[parent.replace(/^env\.[^.]+\.?/, '')] ?? (parent.startsWith('env.') ? known : []));
        const hint = suggestName(name, siblings);
        message = `unknown option ${JSON.stringify(name)}${hint ? ` — did you mean ${JSON.stringify(hint)}?` : ''}`;
        break;
      }
      case 'required':
        path = `${path}/${e.params.missingProperty}`;
        message = 'is required';
        break;
      case 'type':
        message = `expected ${article(e.params.type)}, found ${describeFound(found, path)}`;
        break;
      case 'enum':
        message = `expected one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, found ${describeFound(found, path)}`;
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
        message = `expected a number ${{ minimum: '>=', maximum: '<=', exclusiveMinimum: '>', exclusiveMaximum: '<' }[e.keyword]} ${e.params.limit}${unitOf(path)}, found ${describeFound(found, path)}`;
        break;
      case 'minLength':
        message = e.params.limit === 1 ? `must not be empty` : `expected at least ${e.params.limit} characters, found ${typeof found === 'string' ? found.length : '?'}`;
        break;
      case 'maxLength':
        message = `expected at most ${e.params.limit} characters, found ${typeof found === 'string' ? found.length : '?'}`;
        break;
      case 'pattern':
        message = `${patternHint(path)}, found ${describeFound(found, path)}`;
        break;
      case 'minItems':
        message = `expected at least ${e.params.limit} item(s)`;
        break;
      default:
        message = `${e.message ?? 'is invalid'}, found ${describeFound(found, path)}`;
    }
    const key = `${path}\u0000${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push({ path: path || '/', message });
    }
  }
  return tidy(issues);
}

const TYPE_ISSUE = /^expected (an? \w+), found (.*)$/;
/**
 * A oneOf (crypto.secret: string | string[]; w: integer | string) reports each branch. When one branch explains the
 * value (e.g. "at least 8 characters" for an item), the other's "expected a string" is noise; when every branch is
 * a type mismatch, one line says all the types. An empty string needs no pattern message besides "must not be empty".
 */
function tidy(issues: OptionIssue[]): OptionIssue[] {
  const near = (i: OptionIssue, o: OptionIssue) => o !== i && (o.path === i.path || o.path.startsWith(`${i.path}/`));
  const out: OptionIssue[] = [];
  for (const i of issues) {
    const type = TYPE_ISSUE.exec(i.message);
    if (type && issues.some((o) => near(i, o) && !TYPE_ISSUE.test(o.message))) continue;
    if (/^expected a connection string|^expected a (collection|database) name/.test(i.message) && issues.some((o) => o.path === i.path && o.message === 'must not be empty')) continue;
    if (type) {
      const first = out.find((o) => o.path === i.path && TYPE_ISSUE.test(o.message));
      if (first) {
        const [, types, found] = TYPE_ISSUE.exec(first.message)!;
        first.message = `expected ${types} or ${type[1]}, found ${found}`;
        continue;
      }
    }
    out.push({ ...i });
  }
  return out;
}


function article(type: string): string {
  return type === 'integer' ? 'an integer' : type === 'object' || type === 'array' ? `an ${type}` : `a ${type}`;
}
function unitOf(path: string): string {
  if (/\/(ttl|touchAfter)$/.test(path)) return ' (seconds)';
  if (/\/autoRemoveInterval$/.test(path)) return ' (minutes; this option is in minutes, not seconds or ms)';
  if (/MS$/.test(path)) return ' (ms)';
  return '';
}
function patternHint(path: string): string {
  if (/\/(mongoUrl|url)$/.test(path)) return 'expected a connection string starting with mongodb:// or mongodb+srv://';
  if (/\/(collectionName|collection)$/.test(path)) return 'expected a collection name without "$" or NUL that does not start with "system."';
  if (/\/dbName$/.test(path)) return 'expected a database name without / \\ . space " $ * < > : | ?';
  if (/^\/env\/[^/]+$/.test(path)) return 'expected an environment name of letters, digits, _ . -';
  return 'has an invalid format';
}
function valueAt(data: unknown, pointer: string): unknown {
  if (!pointer) return data;
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), data);
}

function isThenable(v: unknown): v is Promise<unknown> {
  return !!v && typeof (v as { then?: unknown }).then === 'function';
}
function isCryptoAdapter(v: unknown): v is CryptoAdapter {
  return !!v && typeof (v as CryptoAdapter).encrypt === 'function' && typeof (v as CryptoAdapter).decrypt === 'function';
}

/** Refuses an unacknowledged write concern wherever one can be given. */
function checkWriteConcern(issues: OptionIssue[], path: string, wc: unknown) {
  if (wc && typeof wc === 'object') {
    const w = (wc as { w?: unknown }).w;
    if (w === 0 || w === '0') issues.push({ path: `${path}/w`, message: 'w: 0 (unacknowledged writes) is refused: a session store must know its writes landed; use w: 1 or "majority"' });
    if ((wc as { writeConcern?: unknown }).writeConcern) checkWriteConcern(issues, `${path}/writeConcern`, (wc as { writeConcern?: unknown }).writeConcern);
  }
}

/**
 * Validates options from code or a config file and applies every default. Throws an OptionsError listing every
 * problem (JSON path, expected, found); `source` names the file in messages.
 */
export function normalizeOptions<S = any>(input: MongoStoreOptions<S>, source = 'MongoStore options'): NormalizedOptions<S> {
  if (!input || typeof input !== 'object' || Array.isArray(input)) {
    throw new OptionsError([{ path: '/', message: `expected an options object, found ${describeFound(input)}` }], source);
  }
  const issues: OptionIssue[] = [];
  const o = input as MongoStoreOptions<S> & Record<string, unknown>;

  // The JSON-expressible part, checked by the generated validator.
  const json: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || (CODE_ONLY as readonly string[]).includes(k)) continue;
    if (k === 'crypto' && isCryptoAdapter(v)) continue;
    if (k === 'env') {
      issues.push({ path: '/env', message: 'per-environment blocks belong in a config file (createStoreFromConfig); in code, pick the options yourself' });
      continue;
    }
    json[k] = v;
  }
  if (!validateStoreOptions(json)) issues.push(...schemaIssues(validateStoreOptions.errors, json));

  for (const k of ['serialize', 'unserialize', 'transformId'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'function') issues.push({ path: `/${k}`, message: `expected a function, found ${describeFound(o[k])}` });
  }
  if (o.client !== undefined && typeof (o.client as MongoClient)?.db !== 'function') issues.push({ path: '/client', message: `expected a MongoClient, found ${describeFound(o.client)}` });
  if (o.db !== undefined && typeof (o.db as Db)?.collection !== 'function') {
    issues.push({ path: '/db', message: `expected a mongodb Db (client.db(name)), found ${describeFound(o.db)}${typeof o.db === 'string' ? '; to name the database, use dbName' : ''}` });
  }
  for (const k of ['clientPromise', 'dbPromise'] as const) {
    if (o[k] !== undefined && !isThenable(o[k])) issues.push({ path: `/${k}`, message: `expected a Promise, found ${describeFound(o[k])}` });
  }
  const mc = o.mongooseConnection;
  if (mc !== undefined && (typeof mc !== 'object' || mc === null || (typeof mc.getClient !== 'function' && !mc.db))) {
    issues.push({ path: '/mongooseConnection', message: `expected a mongoose Connection (mongoose.connection or mongoose.createConnection()), found ${describeFound(mc)}` });
  }
  if (o.cryptoAdapter !== undefined && !isCryptoAdapter(o.cryptoAdapter)) issues.push({ path: '/cryptoAdapter', message: 'expected an object with encrypt and decrypt functions' });
  if (o.cryptoAdapter && o.crypto) issues.push({ path: '/cryptoAdapter', message: 'give either crypto or cryptoAdapter, not both' });
  if (o.mongoUrl !== undefined && o.url !== undefined && o.mongoUrl !== o.url) issues.push({ path: '/url', message: 'conflicts with mongoUrl (url is its alias): give one of them' });
  if (o.collection !== undefined && o.collectionName !== undefined && o.collection !== o.collectionName) {
    issues.push({ path: '/collection', message: 'conflicts with collectionName (collection is its alias): give one of them' });
  }
  const wcIssues: OptionIssue[] = [];
  checkWriteConcern(wcIssues, '/writeOperationOptions', o.writeOperationOptions);
  checkWriteConcern(wcIssues, '/mongoOptions', o.mongoOptions);
  if (typeof o.mongoOptions === 'object' && o.mongoOptions) checkWriteConcern(wcIssues, '/mongoOptions/writeConcern', o.mongoOptions.writeConcern);
  // Our message for w: 0 replaces the schema's "expected >= 1" at the same path.
  for (const w of wcIssues) {
    for (let i = issues.length - 1; i >= 0; i--) if (issues[i].path === w.path) issues.splice(i, 1);
    issues.push(w);
  }
  const url = o.mongoUrl ?? o.url;
  if (typeof url === 'string' && /[?&]w=0(&|$)/i.test(url)) issues.push({ path: o.mongoUrl ? '/mongoUrl' : '/url', message: 'w=0 (unacknowledged writes) in the connection string is refused; use w=1 or w=majority' });

  const kinds = CONNECTION_KINDS.filter((k) => o[k] !== undefined && o[k] !== null);
  if (kinds.length === 0 && !o.fallbackMemory && issues.length === 0) {
    issues.push({ path: '/', message: 'no connection: give one of mongoUrl (or url), client, clientPromise, db, dbPromise or mongooseConnection' });
  }
  if (issues.length) throw new OptionsError(issues, source);

  const wo = o.writeOperationOptions;
  const wcSource = (wo?.writeConcern ?? wo) as { w?: number | string; j?: boolean; wtimeoutMS?: number; wtimeout?: number } | undefined;
  const writeConcern: WriteConcernSettings | undefined = wcSource
    ? Object.fromEntries(
        Object.entries({ w: wcSource.w, journal: wcSource.j, wtimeoutMS: wcSource.wtimeoutMS ?? wcSource.wtimeout }).filter(([, v]) => v !== undefined),
      )
    : undefined;
  const cryptoOpt = o.cryptoAdapter ?? o.crypto;

  return {
    connection: connectionSpec(o, kinds[0]),
    dbName: o.dbName,
    collectionName: o.collectionName ?? o.collection ?? 'sessions',
    ttlMs: (o.ttl ?? 1_209_600) * 1000,
    autoRemove: o.autoRemove ?? 'native',
    autoRemoveIntervalMs: (o.autoRemoveInterval ?? 10) * 60_000,
    touchAfterMs: (o.touchAfter ?? 0) * 1000,
    stringify: o.stringify ?? true,
    fallbackMemory: o.fallbackMemory ?? false,
    writeConcern: writeConcern && Object.keys(writeConcern).length ? writeConcern : undefined,
    timestamps: o.timestamps ?? false,
    crypto: !cryptoOpt ? undefined : isCryptoAdapter(cryptoOpt) ? { adapter: cryptoOpt } : { secrets: ([] as string[]).concat(cryptoOpt.secret) },
    hashIdsSecret: o.hashIds?.secret,
    operationTimeoutMS: o.operationTimeoutMS ?? 10_000,
    onCorruptSession: o.onCorruptSession ?? 'error',
    serialize: o.serialize,
    unserialize: o.unserialize,
    transformId: o.transformId,
  };
}

function connectionSpec(o: MongoStoreOptions<any>, kind: (typeof CONNECTION_KINDS)[number] | undefined): ConnectionSpec | undefined {
  switch (kind) {
    case 'mongoUrl':
    case 'url':
      return { kind: 'url', url: (o.mongoUrl ?? o.url)!, mongoOptions: o.mongoOptions ?? {} };
    case 'client':
      return { kind: 'client', client: o.client! };
    case 'clientPromise':
      return { kind: 'clientPromise', promise: o.clientPromise! };
    case 'mongooseConnection':
      return { kind: 'mongooseConnection', connection: o.mongooseConnection! };
    case 'db':
      return { kind: 'db', db: o.db! };
    case 'dbPromise':
      return { kind: 'dbPromise', promise: o.dbPromise! };
    default:
      return undefined;
  }
}
