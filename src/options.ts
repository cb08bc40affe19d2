/**
 * The only place options are validated and defaults applied. The JSON-expressible part goes through the validator
 * generated from schema/store-options.schema.json (so a typo in code gets the same error as one in a config file);
 * the rest (functions, clients) is checked here by hand.
 */
import { MongoClient, type Db, type MongoClientOptions, type WriteConcernSettings } from 'mongodb';
import type { SessionData } from './store-base';
import { validateStoreOptions, type StoreOptions } from '../generated';
import { OptionsError, describeFound, hideFromInspection, isPlainObject, type OptionIssue } from './errors';
import { CODE_ONLY, FORBIDDEN_KEYS, schemaIssues, shapeIssues } from './option-issues';
import { KRUPTEIN_DEFAULTS, krupteinProblem } from './kruptein';
import type { CryptoAdapter, CryptoOptions } from './crypto-types';

// src/index.ts exports CryptoAdapter from here.
// Only for importers not yet pointed at option-issues.ts (src/config/load.ts, test/config-hardening.test.ts).

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

type JsonOptions = Omit<StoreOptions, '$schema' | 'env' | 'crypto' | 'mongoOptions' | 'userId'>;

/** Everything `new MongoStore()` accepts: the schema's options plus what JSON cannot hold. */
export interface MongoStoreOptions<S = any> extends JsonOptions {
  mongoOptions?: MongoClientOptions;
  client?: MongoClient;
  clientPromise?: Promise<MongoClient>;
  db?: Db;
  dbPromise?: Promise<Db>;
  mongooseConnection?: MongooseConnectionLike;
  crypto?: StoreOptions['crypto'] | CryptoAdapter;
  /** connect-mongo 6's name for a crypto adapter (createKrupteinAdapter, createWebCryptoAdapter, or your own) */
  cryptoAdapter?: CryptoAdapter;
  serialize?: (session: S) => unknown;
  unserialize?: (stored: any) => S;
  transformId?: (sid: string) => string;
  /**
   * Where the session holds its user's id: a dotted path ("passport.user"), or a function of the session answering a
   * non-empty string or a finite number (null or undefined: an anonymous session). See userSessions().
   */
  userId?: string | ((session: S) => string | number | null | undefined);
  /** ignored in code (a config file's editor hint) */
  $schema?: string;
}

/**
 * connect-mongo 6's name, with its default: the session type is SessionData, not `any` (with `any`, a store created
 * from `Partial<ConnectMongoOptions>` has `set(sid, session: any)`, and util.promisify(store.set) takes the session
 * for the callback).
 */
export type ConnectMongoOptions<S extends SessionData = SessionData> = MongoStoreOptions<S>;

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
  /** false: only check that the TTL index is there (it was created once by `connect-mongo setup`) */
  createIndexes: boolean;
  touchAfterMs: number;
  stringify: boolean;
  fallbackMemory: boolean;
  writeConcern?: WriteConcernSettings;
  timestamps: boolean;
  /** kruptein: the `crypto` option (kruptein's format); aes-gcm: `encryption` ("cm1:"); adapter: bring your own */
  crypto?: { kind: 'kruptein'; secrets: string[]; options: Omit<CryptoOptions, 'secret'> } | { kind: 'aes-gcm'; secrets: string[] } | { kind: 'adapter'; adapter: CryptoAdapter };
  hashIdsSecret?: string;
  operationTimeoutMS: number;
  readPreference: 'primary' | 'primaryPreferred' | 'secondary' | 'secondaryPreferred' | 'nearest';
  onCorruptSession: 'error' | 'ignore';
  serialize?: (session: S) => unknown;
  unserialize?: (stored: any) => S;
  transformId?: (sid: string) => string;
  /** the userId option as given: a dotted path or a function */
  userId?: string | ((session: S) => unknown);
  maxSessionsPerUser?: number;
}

/** Connection kinds in the documented priority order (connect-mongo 6's first): the first one given is used. */
export const CONNECTION_KINDS = ['mongoUrl', 'url', 'clientPromise', 'client', 'mongooseConnection', 'db', 'dbPromise'] as const;

function isThenable(v: unknown): v is Promise<unknown> {
  return !!v && typeof (v as { then?: unknown }).then === 'function';
}
function isCryptoAdapter(v: unknown): v is CryptoAdapter {
  return !!v && typeof (v as CryptoAdapter).encrypt === 'function' && typeof (v as CryptoAdapter).decrypt === 'function';
}

/** True when the connection string's host list (between the credentials and the path) has an empty entry. */
function emptyHost(url: string): boolean {
  const m = /^mongodb(?:\+srv)?:\/\/([^/?#]*)/i.exec(url.trim());
  if (!m) return false;
  const hosts = m[1].slice(m[1].lastIndexOf('@') + 1);
  return hosts.split(',').some((h) => h.trim() === '' || h.trim().startsWith(':'));
}

const W0 = 'w: 0 (unacknowledged writes) is refused: a session store must know its writes landed; use w: 1 or "majority"';
const W0_URL = 'w=0 (unacknowledged writes) in the connection string is refused; use w=1 or w=majority';

/**
 * Whether the driver takes `w` as 0: every copy (mongodb 5, 6, 7) keeps `Number(w)` when it is a number, so "00",
 * "-0", " 0", "0x0", "0e1" and false are 0 to it too, not only 0 and "0".
 */
function isW0(w: unknown): boolean {
  if (w === undefined || w === null) return false;
  try {
    return Number(w) === 0;
  } catch {
    return false; // a symbol: the driver would throw, not write unacknowledged
  }
}

/** Refuses an unacknowledged write concern wherever one can be given. */
function checkWriteConcern(issues: OptionIssue[], path: string, wc: unknown) {
  if (wc && typeof wc === 'object') {
    const w = (wc as { w?: unknown }).w;
    if (isW0(w)) issues.push({ path: `${path}/w`, message: w === 0 || w === '0' ? W0 : `${W0} (the driver reads ${describeFound(w)} as 0)` });
    if ((wc as { writeConcern?: unknown }).writeConcern) checkWriteConcern(issues, `${path}/writeConcern`, (wc as { writeConcern?: unknown }).writeConcern);
  }
}

/** The longest delay Node's timers keep (2^31-1 ms, 24.8 days): a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the store's driver makes of a connection string and options; undefined when it refuses them (reported when the client is made). */
function driverParse(url: string, mongoOptions?: object): MongoClientOptions | undefined {
  try {
    // No connection: the constructor only parses (the client the store opens is made the same way, in connection.ts).
    return new MongoClient(url, mongoOptions as MongoClientOptions).options;
  } catch {
    return undefined;
  }
}

/**
 * The connection string and mongoOptions as the driver parses them, not as written: `w=00`, `w=%30`, `w=-0`, `%77=0`
 * are all w: 0 to it; and a timeout longer than a timer holds (`serverSelectionTimeoutMS=3000000000`) fires at once,
 * so every operation would fail as "unreachable" without waiting.
 */
function driverParsedIssues(url: string, mongoOptions: Record<string, unknown> | undefined, urlPath: string, known: OptionIssue[]): OptionIssue[] {
  const issues: OptionIssue[] = [];
  const fromUrl = driverParse(url);
  if (isW0(fromUrl?.writeConcern?.w) || /[?&]w=0(&|$)/i.test(url)) issues.push({ path: urlPath, message: W0_URL });
  const parsed = mongoOptions ? driverParse(url, mongoOptions) : fromUrl;
  if (!issues.length && !known.length && isW0(parsed?.writeConcern?.w)) issues.push({ path: '/mongoOptions', message: W0 });
  for (const [key, value] of Object.entries(parsed ?? {})) {
    if (!/MS$/.test(key) || typeof value !== 'number' || value <= MAX_TIMER_MS) continue;
    const given = mongoOptions && Object.keys(mongoOptions).find((k) => k.toLowerCase() === key.toLowerCase());
    issues.push({
      path: given ? `/mongoOptions/${given}` : urlPath,
      message: `${key} ${value} ms${given ? '' : ' (in the connection string)'} is more than the ${MAX_TIMER_MS} ms (24.8 days) a timer can hold: the driver's timer would fire at once`,
    });
  }
  return issues;
}

/**
 * An options object as one flat object of its own: every enumerable option, inherited ones included (so that
 * `Object.create({ ttl: 'abc' })` is validated like `{ ttl: 'abc' }`, never read unvalidated), read once.
 */
function flatten(input: object): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const k in input) Object.defineProperty(out, k, { value: (input as Record<string, unknown>)[k], enumerable: true, writable: true, configurable: true });
  return out;
}

/**
 * Validates options from code or a config file and applies every default. Throws an OptionsError listing every
 * problem (JSON path, expected, found); `source` names the file in messages.
 */
export function normalizeOptions<S = any>(input: MongoStoreOptions<S>, source = 'MongoStore options'): NormalizedOptions<S> {
  if (!input || typeof input !== 'object' || Array.isArray(input)) {
    throw new OptionsError([{ path: '/', message: `expected an options object, found ${describeFound(input)}` }], source);
  }
  const o = flatten(input) as MongoStoreOptions<S> & Record<string, unknown>;
  const issues: OptionIssue[] = shapeIssues(o, { inherited: 'ignore' });
  if (issues.some((i) => !/^the key /.test(i.message))) throw new OptionsError(issues, source);

  // The JSON-expressible part, checked by the generated validator.
  const json: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || (CODE_ONLY as readonly string[]).includes(k) || FORBIDDEN_KEYS.has(k)) continue;
    if (k === 'crypto' && isCryptoAdapter(v)) continue;
    if (k === 'userId' && typeof v !== 'string') {
      if (typeof v !== 'function') issues.push({ path: '/userId', message: `expected a dotted path into the session such as "passport.user" (or, in code, a function of the session), found ${describeFound(v)}` });
      continue;
    }
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
  // connect-mongo 6 refuses crypto with cryptoAdapter even when crypto.secret is false; so does this.
  const encryptionKinds = (['crypto', 'encryption', 'cryptoAdapter'] as const).filter((k) => o[k] !== undefined && o[k] !== null);
  // connect-mongo 6's words first ("Provide either the legacy crypto option or cryptoAdapter, not both").
  if (encryptionKinds.length > 1) issues.push({ path: `/${encryptionKinds[1]}`, message: `Provide either the legacy crypto option or cryptoAdapter, not both: give one of crypto, encryption or cryptoAdapter, not ${encryptionKinds.join(' and ')}` });
  if (isPlainObject(o.crypto) && (o.crypto.secret as unknown) === true) issues.push({ path: '/crypto/secret', message: 'expected a string, a list of strings, or false (no encryption), found boolean true' });
  const kruptein = isPlainObject(o.crypto) && o.crypto.secret !== false ? (o.crypto as CryptoOptions) : undefined;
  if (kruptein && issues.length === 0) {
    const problem = krupteinProblem(kruptein);
    if (problem) issues.push({ path: '/crypto', message: `kruptein cannot encrypt and decrypt with these options (algorithm ${JSON.stringify(kruptein.algorithm ?? KRUPTEIN_DEFAULTS.algorithm)}, hashing ${JSON.stringify(kruptein.hashing ?? KRUPTEIN_DEFAULTS.hashing)}, encodeas ${JSON.stringify(kruptein.encodeas ?? KRUPTEIN_DEFAULTS.encodeas)}): ${problem}` });
  }
  if (o.maxSessionsPerUser !== undefined && (o.userId === undefined || o.userId === null)) issues.push({ path: '/maxSessionsPerUser', message: 'needs the userId option: it is how the store knows whose sessions to count' });
  // A copy of the collection must not name who is logged in: with encryption the user id is stored as an HMAC, and a
  // cryptoAdapter gives the store no key for one.
  if (o.userId !== undefined && o.userId !== null && (o.cryptoAdapter !== undefined || isCryptoAdapter(o.crypto)) && !o.hashIds) {
    issues.push({ path: '/userId', message: 'with cryptoAdapter the store has no secret to key the HMAC the user id is stored as (encrypted sessions never name their user in clear): add hashIds: { secret }' });
  }
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
  if (typeof url === 'string') {
    issues.push(...driverParsedIssues(url, isPlainObject(o.mongoOptions) ? o.mongoOptions : undefined, o.mongoUrl ? '/mongoUrl' : '/url', wcIssues.filter((i) => i.path.startsWith('/mongoOptions'))));
  }
  // The driver accepts `mongodb://a,/db` (a stray comma, an empty variable) and later throws from its monitor, out
  // of any operation: an uncaught exception in the app. Refused here, without echoing the URL (it may hold a password).
  if (typeof url === 'string' && emptyHost(url)) issues.push({ path: o.mongoUrl ? '/mongoUrl' : '/url', message: 'the host list has an empty host (a stray comma, or a variable that was empty)' });

  const kinds = CONNECTION_KINDS.filter((k) => o[k] !== undefined && o[k] !== null);
  if (kinds.length === 0 && !o.fallbackMemory && issues.length === 0) {
    // connect-mongo 6's words first: apps and tests match them.
    issues.push({ path: '/', message: 'You must provide either mongoUrl|clientPromise|client in options (or url, db, dbPromise, mongooseConnection): no connection was given' });
  }
  if (issues.length) throw new OptionsError(issues, source);

  const wo = o.writeOperationOptions;
  const wcSource = (wo?.writeConcern ?? wo) as { w?: number | string; j?: boolean; wtimeoutMS?: number; wtimeout?: number } | undefined;
  const writeConcern: WriteConcernSettings | undefined = wcSource
    ? Object.fromEntries(
        Object.entries({ w: wcSource.w, journal: wcSource.j, wtimeoutMS: wcSource.wtimeoutMS ?? wcSource.wtimeout }).filter(([, v]) => v !== undefined),
      )
    : undefined;
  const adapter = o.cryptoAdapter ?? (isCryptoAdapter(o.crypto) ? o.crypto : undefined);
  let crypto: NormalizedOptions['crypto'];
  if (adapter) crypto = { kind: 'adapter', adapter };
  else if (o.encryption) crypto = { kind: 'aes-gcm', secrets: ([] as string[]).concat(o.encryption.secret) };
  else if (kruptein) {
    const { secret, ...rest } = kruptein;
    crypto = { kind: 'kruptein', secrets: ([] as string[]).concat(secret as string | string[]), options: { ...KRUPTEIN_DEFAULTS, ...rest } };
  }

  const normalized: NormalizedOptions<S> = {
    connection: connectionSpec(o, kinds[0]),
    dbName: o.dbName,
    collectionName: o.collectionName ?? o.collection ?? 'sessions',
    ttlMs: (o.ttl ?? 1_209_600) * 1000,
    autoRemove: o.autoRemove ?? 'native',
    autoRemoveIntervalMs: (o.autoRemoveInterval ?? 10) * 60_000,
    createIndexes: o.createIndexes ?? true,
    touchAfterMs: (o.touchAfter ?? 0) * 1000,
    stringify: o.stringify ?? true,
    fallbackMemory: o.fallbackMemory ?? false,
    writeConcern: writeConcern && Object.keys(writeConcern).length ? writeConcern : undefined,
    timestamps: o.timestamps ?? false,
    crypto,
    hashIdsSecret: o.hashIds?.secret,
    operationTimeoutMS: o.operationTimeoutMS ?? 10_000,
    readPreference: o.readPreference ?? 'primary',
    onCorruptSession: o.onCorruptSession ?? 'error',
    serialize: o.serialize,
    unserialize: o.unserialize,
    transformId: o.transformId,
    userId: o.userId ?? undefined,
    maxSessionsPerUser: o.maxSessionsPerUser,
  };
  // store.options is public: logging it shows the connection string masked and no secret.
  hideFromInspection(normalized, [], () => normalized as unknown as Record<string, unknown>);
  // Logged on its own, the connection shows its kind (and a URL masked), never a client with its credentials.
  const spec = normalized.connection;
  if (spec) hideFromInspection(spec, [], () => (spec.kind === 'url' ? { kind: spec.kind, url: spec.url, mongoOptions: spec.mongoOptions } : { kind: spec.kind }));
  return normalized;
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
