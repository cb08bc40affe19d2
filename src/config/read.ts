/**
 * Step 1, reading: find the config file (cosmiconfig), parse it with our loaders, and check that what it holds is an
 * object of options that is safe to walk. A file that cannot be found or read is a ConfigFileError (CLI exit 2); a
 * file that is read but unusable is an OptionsError with the file as its source (CLI exit 1).
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { cosmiconfig, cosmiconfigSync, type CosmiconfigResult } from 'cosmiconfig';
import { MongoStoreError, OptionsError, describeFound, isPlainObject } from '../errors';
import { shapeIssues } from '../option-issues';
import { ConfigParseError, asyncLoaders, syncLoaders } from './parse';
import { collectSecrets, redact } from './secrets';
import type { ConfigOptions } from './types';

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

/** Where to look: the part of ConfigOptions this step reads. */
export type ConfigLocation = Pick<ConfigOptions, 'configPath' | 'searchFrom'>;

/** The nearest directory from `dir` up with a package.json (or package.yaml, as cosmiconfig's project search has it). */
function projectRoot(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json')) || existsSync(join(d, 'package.yaml'))) return d;
    if (dirname(d) === d) return undefined;
  }
}

function explorerOptions(sync: boolean, inProject: boolean) {
  return {
    searchPlaces: [...(sync ? SEARCH_PLACES_SYNC : SEARCH_PLACES)],
    loaders: sync ? syncLoaders : asyncLoaders,
    // An empty .connect-mongorc is a mistake to report, not a reason to keep looking upwards.
    ignoreEmptySearchPlaces: false,
    // Stop at the project root (the nearest directory with a package.json), like prettier and stylelint. Outside any
    // project, cosmiconfig's project search walks up to / and would run whatever .connect-mongorc.js an ancestor
    // (/tmp, a shared home) holds: there only the start directory is searched.
    searchStrategy: inProject ? ('project' as const) : ('none' as const),
    // Configs are read once per call; a long-lived cache would hide edits from tests and the CLI.
    cache: false,
  };
}

interface Target {
  configPath?: string;
  searchFrom: string;
  /** searchFrom is in a project (a package.json in it or above it) */
  inProject: boolean;
}
function target(opts: ConfigLocation): Target {
  if (opts.configPath !== undefined) {
    const p = resolve(opts.configPath);
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new ConfigFileError(`connect-mongo: config file not found: ${p}`, 'not-found', p);
    }
    if (st.isDirectory()) return { searchFrom: p, inProject: projectRoot(p) !== undefined };
    return { configPath: p, searchFrom: p, inProject: true };
  }
  const from = resolve(opts.searchFrom ?? process.cwd());
  if (!existsSync(from)) throw new ConfigFileError(`connect-mongo: directory not found: ${from}`, 'not-found', from);
  return { searchFrom: from, inProject: projectRoot(from) !== undefined };
}

function notFound(t: Target, sync: boolean): ConfigFileError {
  const places = sync ? SEARCH_PLACES_SYNC : SEARCH_PLACES;
  const where = t.inProject ? `from ${t.searchFrom} up to the project root` : `in ${t.searchFrom} (no package.json in it or above it, so no directory above it was searched)`;
  return new ConfigFileError(
    `connect-mongo: no config found ${where} (looked for ${places.map((p) => (p === 'package.json' ? 'a "connect-mongo" key in package.json' : p)).join(', ')})`,
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

/** The config file found (or named) and parsed; an empty named file is a result, reported by fileObject. */
export async function readConfig(opts: ConfigLocation): Promise<NonNullable<CosmiconfigResult>> {
  const t = target(opts);
  const explorer = cosmiconfig(MODULE_NAME, explorerOptions(false, t.inProject));
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

/** readConfig without a Promise (no .mjs). */
export function readConfigSync(opts: ConfigLocation): NonNullable<CosmiconfigResult> {
  const t = target(opts);
  if (t.configPath?.endsWith('.mjs')) {
    throw new OptionsError([{ path: '/', message: 'an .mjs config is an ES module, which the synchronous loader cannot load: use createStoreFromConfig (async)' }], t.configPath);
  }
  const explorer = cosmiconfigSync(MODULE_NAME, explorerOptions(true, t.inProject));
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

/** What the file holds, checked to be an object of options that is safe to walk, and the secrets it holds. */
export function fileObject(result: NonNullable<CosmiconfigResult>): { raw: Record<string, unknown>; secrets: Set<string> } {
  const raw: unknown = result.config;
  if (result.isEmpty || raw === undefined || raw === null) {
    throw new OptionsError([{ path: '/', message: 'the file is empty: expected an object of options, e.g. {"mongoUrl": "${MONGODB_URI}"}' }], result.filepath);
  }
  // Before anything walks it: a YAML alias bomb or a self-referencing anchor must not take time or the stack, and a
  // __proto__ key must not be dropped silently on the way.
  const shape = shapeIssues(raw, { inherited: 'refuse' });
  if (shape.length) throw new OptionsError(shape, result.filepath);
  const secrets = collectSecrets(raw);
  if (!isPlainObject(raw)) {
    throw new OptionsError(redact([{ path: '/', message: `expected an object of options, found ${describeFound(raw, '/')}` }], secrets), result.filepath);
  }
  return { raw, secrets };
}
