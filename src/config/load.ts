/**
 * Declarative configuration: find a config file (cosmiconfig), apply its env block and ${VAR} references, validate
 * it (generated ajv validator + normalizeOptions, the same checks as `new MongoStore()`), merge code overrides, and
 * build the store.
 *
 * Error policy: a file that cannot be found or read is a ConfigFileError (CLI exit 2); anything wrong inside it is an
 * OptionsError whose `source` is the file path and whose issues carry JSON paths into that file (CLI exit 1). Every
 * message goes through the masking helpers plus a last redaction of the secrets the file holds.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { cosmiconfig, cosmiconfigSync, type CosmiconfigResult } from 'cosmiconfig';
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { validateStoreOptions } from '../../generated';
import { MongoStoreError, OptionsError, describeFound, isPlainObject, isSecretPath, maskDeep, maskMessage, pointer, urlSecrets, type OptionIssue } from '../errors';
import { CONNECTION_KINDS, normalizeOptions, schemaIssues, shapeIssues, type MongoStoreOptions, type NormalizedOptions } from '../options';
import { MongoStore } from '../store';
import { deepMerge, pickEnvName, replacedBy, substituteVars, type Env, type VarSource } from './env';
import { ConfigParseError, asyncLoaders, syncLoaders } from './parse';

export const MODULE_NAME = 'connect-mongo';

/** Where a config is looked for, in this order, in each directory from searchFrom up to the project root. */
export const SEARCH_PLACES = [
  'package.json',
  `.${MODULE_NAME}rc`,
  `.${MODULE_NAME}rc.json`,
  `.${MODULE_NAME}rc.yaml`,
  `.${MODULE_NAME}rc.yml`,
  `.${MODULE_NAME}rc.js`,
  `.${MODULE_NAME}rc.cjs`,
  `.${MODULE_NAME}rc.mjs`,
  `${MODULE_NAME}.config.json`,
  `${MODULE_NAME}.config.js`,
  `${MODULE_NAME}.config.cjs`,
  `${MODULE_NAME}.config.mjs`,
  `${MODULE_NAME}.config.yaml`,
  `${MODULE_NAME}.config.yml`,
] as const;
/** The synchronous loader cannot import ES modules. */
export const SEARCH_PLACES_SYNC = SEARCH_PLACES.filter((p) => !p.endsWith('.mjs'));

export interface ConfigOptions<S = any> {
  /** directory to start the search from (default: process.cwd()); the search walks up to the nearest package.json */
  searchFrom?: string;
  /** an explicit config file (no search); relative to process.cwd() */
  configPath?: string;
  /** environment block to apply (default: NODE_ENV from `env`; none when unset) */
  envName?: string;
  /** options from code, merged over the file: a client, a mongoose connection, serialize functions, … */
  overrides?: Partial<MongoStoreOptions<S>>;
  /** where ${VAR} and NODE_ENV are read (default: process.env) */
  env?: Env;
}

export interface LoadedConfig<S = any> {
  /** absolute path of the file used */
  filepath: string;
  /** the environment name used (undefined: none given) */
  envName?: string;
  /** the env block names the file has */
  envBlocks: string[];
  /** whether an env block was applied */
  envApplied: boolean;
  /** the options given to `new MongoStore()`: file, env block, variables filled, overrides (secrets NOT masked) */
  options: MongoStoreOptions<S>;
  /** what normalizeOptions made of them (defaults applied) */
  normalized: NormalizedOptions<S>;
}

/** The config file could not be found or read (CLI exit 2). */
export class ConfigFileError extends MongoStoreError {
  constructor(
    message: string,
    readonly reason: 'not-found' | 'unreadable',
    readonly filepath?: string,
  ) {
    super(message, 'ERR_CONNECT_MONGO_OPTIONS');
    this.name = 'ConfigFileError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Finding and reading the file

function explorerOptions(sync: boolean) {
  return {
    searchPlaces: [...(sync ? SEARCH_PLACES_SYNC : SEARCH_PLACES)],
    loaders: sync ? syncLoaders : asyncLoaders,
    // An empty .connect-mongorc is a mistake to report, not a reason to keep looking upwards.
    ignoreEmptySearchPlaces: false,
    // Stop at the project root (the nearest directory with a package.json), like prettier and stylelint.
    searchStrategy: 'project' as const,
    // Configs are read once per call; a long-lived cache would hide edits from tests and the CLI.
    cache: false,
  };
}

interface Target {
  configPath?: string;
  searchFrom: string;
}
function target(opts: ConfigOptions): Target {
  if (opts.configPath !== undefined) {
    const p = resolve(opts.configPath);
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new ConfigFileError(`connect-mongo: config file not found: ${p}`, 'not-found', p);
    }
    if (st.isDirectory()) return { searchFrom: p };
    return { configPath: p, searchFrom: p };
  }
  const from = resolve(opts.searchFrom ?? process.cwd());
  if (!existsSync(from)) throw new ConfigFileError(`connect-mongo: directory not found: ${from}`, 'not-found', from);
  return { searchFrom: from };
}

function notFound(t: Target, sync: boolean): ConfigFileError {
  const places = sync ? SEARCH_PLACES_SYNC : SEARCH_PLACES;
  return new ConfigFileError(
    `connect-mongo: no config found from ${t.searchFrom} up to the project root (looked for ${places.map((p) => (p === 'package.json' ? 'a "connect-mongo" key in package.json' : p)).join(', ')})`,
    'not-found',
  );
}

/** Turns a loader failure into the right error: unreadable → ConfigFileError, unparsable → OptionsError. */
function readFailure(e: unknown, fallbackPath: string | undefined): Error {
  if (e instanceof ConfigParseError) {
    return new OptionsError([{ path: '/', message: e.message }], e.filepath);
  }
  const err = e as NodeJS.ErrnoException & { filepath?: string };
  const file = err?.filepath ?? err?.path ?? fallbackPath;
  if (err?.code === 'ENOENT') return new ConfigFileError(`connect-mongo: config file not found: ${file}`, 'not-found', file);
  if (err?.code === 'EACCES' || err?.code === 'EISDIR' || err?.code === 'EPERM') {
    return new ConfigFileError(`connect-mongo: cannot read config file ${file}: ${err.code}`, 'unreadable', file);
  }
  if (err?.message?.startsWith('No loader specified')) {
    return new OptionsError([{ path: '/', message: `unsupported file kind (${err.message.replace('No loader specified for ', '')}); use .json, .yaml, .yml, .js, .cjs or .mjs` }], file ?? 'config');
  }
  return new ConfigFileError(`connect-mongo: cannot read config file ${file ?? ''}: ${String(err?.message ?? e).split('\n')[0]}`, 'unreadable', file);
}

async function readConfig(opts: ConfigOptions): Promise<CosmiconfigResult> {
  const t = target(opts);
  const explorer = cosmiconfig(MODULE_NAME, explorerOptions(false));
  let result: CosmiconfigResult;
  try {
    result = t.configPath ? await explorer.load(t.configPath) : await explorer.search(t.searchFrom);
  } catch (e) {
    throw readFailure(e, t.configPath);
  }
  if (!result) {
    if (t.configPath) return { filepath: t.configPath, config: undefined, isEmpty: true };
    throw notFound(t, false);
  }
  return result;
}

function readConfigSync(opts: ConfigOptions): CosmiconfigResult {
  const t = target(opts);
  if (t.configPath?.endsWith('.mjs')) {
    throw new OptionsError([{ path: '/', message: 'an .mjs config is an ES module, which the synchronous loader cannot load: use createStoreFromConfig (async)' }], t.configPath);
  }
  const explorer = cosmiconfigSync(MODULE_NAME, explorerOptions(true));
  let result: CosmiconfigResult;
  try {
    result = t.configPath ? explorer.load(t.configPath) : explorer.search(t.searchFrom);
  } catch (e) {
    throw readFailure(e, t.configPath);
  }
  if (!result) {
    if (t.configPath) return { filepath: t.configPath, config: undefined, isEmpty: true };
    throw notFound(t, true);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Resolving: env block, variables, validation, overrides

const ENV_NAME = /^[A-Za-z0-9_.-]+$/;
const ALIAS_PAIRS = [
  ['mongoUrl', 'url'],
  ['collectionName', 'collection'],
] as const;

/** JSON paths prefixed with the env block they are in. */
function under(prefix: string, issues: OptionIssue[]): OptionIssue[] {
  return prefix ? issues.map((i) => ({ path: i.path === '/' ? prefix : prefix + i.path, message: i.message })) : issues;
}

/** Schema validation of one layer (the base or one env block), with the masking that its own paths give. */
function validateLayer(layer: Record<string, unknown>, skip: Set<string>, whole: Map<string, VarSource>): OptionIssue[] {
  const data = { ...layer };
  delete data.env; // checked by the caller (nested env blocks are refused; the base's are validated one by one)
  if (validateStoreOptions(data)) return [];
  // A value that came from a variable says which one (its value is shown only where it is no secret).
  return schemaIssues(validateStoreOptions.errors, data)
    .filter((i) => !skip.has(i.path))
    .map((i) => {
      const src = whole.get(i.path);
      return src ? { path: i.path, message: `${i.message} (${src.fromDefault ? 'the default of ' : 'from '}\${${src.name}})` } : i;
    });
}

const NUMERIC = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const FAMILY: Record<string, string[]> = { number: ['number', 'integer'], boolean: ['boolean'] };

/**
 * Environment variables are strings: a value that was one whole `${VAR}` reference takes the number or boolean the
 * schema wants at its place ("${SESSION_TTL:-3600}" → 3600). It stays a string where the schema wants no number or
 * boolean (a collection named "123"), and in mongoOptions, whose strings the driver parses itself. Mutates `layer`;
 * `whole` is keyed by paths under `prefix`, and is re-keyed here to the layer's own paths.
 */
function coerceLayer(layer: Record<string, unknown>, whole: Map<string, VarSource>, prefix: string): Map<string, VarSource> {
  const own = new Map<string, VarSource>();
  for (const [p, src] of whole) {
    const rel = p.slice(prefix.length) || '/';
    own.set(rel, src);
    const segs = rel.split('/').slice(1).map((x) => x.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (!segs.length || segs[0] === 'mongoOptions' || segs[0] === '$schema') continue;
    const parent = segs.slice(0, -1).reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), layer) as Record<string, unknown> | undefined;
    const key = segs[segs.length - 1];
    const text = parent && typeof parent === 'object' ? parent[key] : undefined;
    if (typeof text !== 'string') continue;
    const t = text.trim();
    const value = NUMERIC.test(t) ? Number(t) : t === 'true' ? true : t === 'false' ? false : undefined;
    if (value === undefined) continue;
    parent![key] = value;
    const data = { ...layer };
    delete data.env;
    if (validateStoreOptions(data)) continue;
    // Keep it when the schema wants this kind of value here (a range error is then the right message), else undo.
    const typeErrors = (validateStoreOptions.errors ?? []).filter((e) => e.instancePath === rel && e.keyword === 'type');
    const wanted = typeErrors.flatMap((e) => ([] as string[]).concat(e.params.type));
    if (typeErrors.length && !wanted.some((w) => FAMILY[typeof value].includes(w))) parent![key] = text;
  }
  return own;
}

/** Both names of an alias pair in one layer of a file is ambiguous even when equal: refused (code allows equal). */
function aliasIssues(layer: Record<string, unknown>): OptionIssue[] {
  const issues: OptionIssue[] = [];
  for (const [name, alias] of ALIAS_PAIRS) {
    if (layer[name] !== undefined && layer[alias] !== undefined) {
      issues.push({ path: `/${alias}`, message: `conflicts with ${name} (${alias} is its alias): give only one of them` });
    }
  }
  return issues;
}

/** Every secret string a config holds (values at secret paths, URL passwords), for a last redaction of messages. */
function collectSecrets(value: unknown, path = '', out = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    // A ${VAR} reference is not a secret; the value it resolves to is collected after substitution.
    if (value.includes('${')) return out;
    urlSecrets(value).forEach((x) => out.add(x));
    if (isSecretPath(path)) out.add(value);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => collectSecrets(v, `${path}/${i}`, out));
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) collectSecrets(v, pointer(path, k), out);
  }
  return out;
}

function redact(issues: OptionIssue[], secrets: Set<string>): OptionIssue[] {
  const list = [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  if (!list.length) return issues;
  return issues.map((i) => {
    let message = i.message;
    for (const s of list) message = message.split(s).join('****');
    return { path: i.path, message };
  });
}

/** The options-from-code part that can be described (values of functions and clients are not walked). */
function jsonPart(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v === null || typeof v !== 'object' || isPlainObject(v) || Array.isArray(v)));
}

/** The heart of it, shared by the sync and async loaders: raw file content → validated store options. */
export function resolveConfig<S = any>(result: NonNullable<CosmiconfigResult>, opts: ConfigOptions<S> = {}): LoadedConfig<S> {
  const filepath = result.filepath;
  const env: Env = opts.env ?? process.env;
  const raw: unknown = result.config;
  if (result.isEmpty || raw === undefined || raw === null) {
    throw new OptionsError([{ path: '/', message: 'the file is empty: expected an object of options, e.g. {"mongoUrl": "${MONGODB_URI}"}' }], filepath);
  }
  // Before anything walks it: a YAML alias bomb or a self-referencing anchor must not take time or the stack, and a
  // __proto__ key must not be dropped silently on the way.
  const shape = shapeIssues(raw, { inherited: 'refuse' });
  if (shape.length) throw new OptionsError(shape, filepath);
  const secrets = collectSecrets(raw);
  if (!isPlainObject(raw)) {
    throw new OptionsError(redact([{ path: '/', message: `expected an object of options, found ${describeFound(raw, '/')}` }], secrets), filepath);
  }
  const issues: OptionIssue[] = [];
  const envName = pickEnvName(opts.envName, env);

  // The env blocks: an object of objects, named sanely, never nested.
  const blocks: Record<string, Record<string, unknown>> = {};
  if (raw.env !== undefined) {
    if (!isPlainObject(raw.env)) {
      issues.push({ path: '/env', message: `expected an object of per-environment blocks ({"production": {...}}), found ${describeFound(raw.env)}` });
    } else {
      for (const [name, block] of Object.entries(raw.env)) {
        const p = pointer('/env', name);
        if (!ENV_NAME.test(name)) issues.push({ path: p, message: `invalid environment name ${JSON.stringify(name)}: expected letters, digits, _ . -` });
        if (!isPlainObject(block)) {
          issues.push({ path: p, message: `expected an object of options for environment ${JSON.stringify(name)}, found ${describeFound(block)}` });
          continue;
        }
        if (block.env !== undefined) issues.push({ path: `${p}/env`, message: 'env blocks cannot be nested: put every environment directly under the top-level "env"' });
        blocks[name] = block;
      }
    }
  }

  // Variables: a missing one is an error where its value is used: in the base (unless the selected block replaces
  // that value) and in the selected block. Other blocks' variables may be absent on this machine. Strings still
  // holding a reference are exempt from the format checks (the missing variable is the problem to report).
  const { env: _env, ...baseRaw } = raw;
  void _env;
  const selectedRaw = envName !== undefined ? blocks[envName] : undefined;
  const base = substituteVars(baseRaw, env, '');
  const baseWhole = coerceLayer(base.value, base.whole, '');
  issues.push(...base.issues, ...base.missing.filter((m) => !replacedBy(selectedRaw, m.path)));
  collectSecrets(base.value, '', secrets);
  const baseSkip = new Set([...base.unresolved, ...base.issues.map((i) => i.path)]);
  issues.push(...validateLayer(base.value, baseSkip, baseWhole), ...aliasIssues(base.value));

  let selected: Record<string, unknown> | undefined;
  for (const [name, block] of Object.entries(blocks)) {
    const prefix = pointer('/env', name);
    const sub = substituteVars(block, env, prefix);
    const subWhole = coerceLayer(sub.value, sub.whole, prefix);
    issues.push(...sub.issues);
    if (name === envName) {
      issues.push(...sub.missing);
      selected = sub.value;
    }
    collectSecrets(sub.value, prefix, secrets);
    const skip = new Set([...sub.unresolved, ...sub.issues.map((i) => i.path)].map((p) => p.slice(prefix.length) || '/'));
    issues.push(...under(prefix, [...validateLayer(sub.value, skip, subWhole), ...aliasIssues(sub.value)]));
  }
  if (issues.length) throw new OptionsError(redact(issues, secrets), filepath);

  // Merge: base ← env block ← overrides. A connection given in code replaces the file's connection string.
  const { $schema: _s, ...fileBase } = base.value;
  void _s;
  let merged = fileBase;
  const fromBlock = new Set<string>();
  if (selected) {
    const { $schema: _bs, ...block } = selected;
    void _bs;
    Object.keys(block).forEach((k) => fromBlock.add(k));
    merged = deepMerge(merged, block);
  }
  const overrides = (opts.overrides ?? {}) as Record<string, unknown>;
  if (!isPlainObject(overrides)) {
    throw new OptionsError([{ path: '/', message: `overrides: expected an object of options, found ${describeFound(overrides)}` }], 'createStoreFromConfig options');
  }
  const fromCode = new Set(Object.keys(overrides).filter((k) => overrides[k] !== undefined));
  if (CONNECTION_KINDS.some((k) => k !== 'mongoUrl' && k !== 'url' && overrides[k] !== undefined && overrides[k] !== null)) {
    delete merged.mongoUrl;
    delete merged.url;
  }
  merged = deepMerge(merged, overrides);
  collectSecrets(jsonPart(overrides), '', secrets);

  // Issues found on the merged options point back to where the value was written: code, the env block, or the base.
  const locate = (i: OptionIssue): OptionIssue => {
    const key = (i.path.split('/')[1] ?? '').replace(/~1/g, '/').replace(/~0/g, '~');
    if (fromCode.has(key)) return { path: i.path, message: `${i.message} (set in code, by overrides)` };
    if (selected && i.path !== '/' && replacedBy(selected, i.path)) return { path: pointer('/env', envName!) + i.path, message: i.message };
    if (i.path === '/' && /no connection/.test(i.message) && Object.keys(blocks).length) {
      const hint = envName
        ? selected
          ? ''
          : ` (the file has no env block for ${JSON.stringify(envName)}; its blocks: ${Object.keys(blocks).join(', ')})`
        : ` (no env block applied: NODE_ENV is not set; this file has blocks for ${Object.keys(blocks).join(', ')})`;
      return { path: i.path, message: i.message + hint };
    }
    return i;
  };
  let normalized: NormalizedOptions<S>;
  try {
    normalized = normalizeOptions<S>(merged as MongoStoreOptions<S>, filepath);
  } catch (e) {
    if (!(e instanceof OptionsError)) throw e;
    throw new OptionsError(redact(e.issues.map(locate), secrets), filepath);
  }
  // The driver's own parse of the connection string and mongoOptions (no connection is made): an unknown or
  // mistyped driver option is a config error with a path, not a crash when the store starts.
  const spec = normalized.connection;
  if (spec?.kind === 'url') {
    const issue = driverIssue(spec.url, spec.mongoOptions, merged.mongoUrl !== undefined ? '/mongoUrl' : '/url');
    if (issue) throw new OptionsError(redact([locate(issue)], secrets), filepath);
  }
  return {
    filepath,
    envName,
    envBlocks: Object.keys(blocks),
    envApplied: !!selected,
    options: merged as MongoStoreOptions<S>,
    normalized,
  };
}

/** What the driver says about a connection string and its options, as an issue (undefined: it accepts them). */
function driverIssue(url: string, mongoOptions: object, urlPath: string): OptionIssue | undefined {
  try {
    new MongoClient(url, mongoOptions as MongoClientOptions);
    return undefined;
  } catch (e) {
    const msg = maskMessage(String((e as Error)?.message ?? e).split('\n')[0]);
    const named = /option (\S+) is not supported|Expected (\S+) to be/i.exec(msg);
    const name = named?.[1] ?? named?.[2];
    const key = name ? Object.keys(mongoOptions).find((k) => k.toLowerCase() === name.toLowerCase()) : undefined;
    return { path: key ? pointer('/mongoOptions', key) : urlPath, message: `the MongoDB driver refuses it: ${msg}` };
  }
}

/** Finds, reads and validates a config (see ConfigOptions). Does not connect. */
export async function loadConfig<S = any>(opts: ConfigOptions<S> = {}): Promise<LoadedConfig<S>> {
  return resolveConfig(await readConfig(opts) as NonNullable<CosmiconfigResult>, opts);
}

/** loadConfig without a Promise: .mjs configs (and ES-module .js ones) cannot be loaded this way. */
export function loadConfigSync<S = any>(opts: ConfigOptions<S> = {}): LoadedConfig<S> {
  return resolveConfig(readConfigSync(opts) as NonNullable<CosmiconfigResult>, opts);
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
