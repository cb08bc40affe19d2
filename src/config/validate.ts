/**
 * Step 4, validation, in two passes. Each layer of the file is checked against the schema on its own, before any
 * merge, so that an issue's path is where the value is written (under /env/<name> for a block). The merged options
 * (with the overrides from code) then go through normalizeOptions and the driver's parse, the same checks as
 * `new MongoStore()`, and their issues are located back to the file, the env block or the code.
 */
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { validateStoreOptions } from '../../generated';
import { OptionsError, maskMessage, pointer, type OptionIssue } from '../errors';
import { normalizeOptions, type MongoStoreOptions, type NormalizedOptions } from '../options';
import { schemaIssues } from '../option-issues';
import { replacedBy, type VarSource } from './env';
import { redact } from './secrets';
import type { Layer } from './variables';

const ALIAS_PAIRS = [
  ['mongoUrl', 'url'],
  ['collectionName', 'collection'],
] as const;

/** JSON paths prefixed with the env block they are in. */
function under(prefix: string, issues: OptionIssue[]): OptionIssue[] {
  return prefix ? issues.map((i) => ({ path: i.path === '/' ? prefix : prefix + i.path, message: i.message })) : issues;
}

/** Schema validation of one layer (the base or one env block), with the masking that its own paths give. */
function schemaCheck(layer: Record<string, unknown>, skip: Set<string>, whole: Map<string, VarSource>): OptionIssue[] {
  const data = { ...layer };
  delete data.env; // checked by envBlocks (nested env blocks are refused; the base's are validated one by one)
  if (validateStoreOptions(data)) return [];
  // A value that came from a variable says which one (its value is shown only where it is no secret).
  return schemaIssues(validateStoreOptions.errors, data)
    .filter((i) => !skip.has(i.path))
    .map((i) => {
      const src = whole.get(i.path);
      return src ? { path: i.path, message: `${i.message} (${src.fromDefault ? 'the default of ' : 'from '}\${${src.name}})` } : i;
    });
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

/** What is wrong in one layer of the file, at its paths in the file. */
export function layerIssues(layer: Layer): OptionIssue[] {
  return under(layer.prefix, [...schemaCheck(layer.value, layer.skip, layer.sources), ...aliasIssues(layer.value)]);
}

/** Where the merged options came from, to point their issues back to it. */
export interface Origins {
  filepath: string;
  /** every secret of the file and the overrides, redacted from messages */
  secrets: Set<string>;
  /** the top-level keys set by the overrides */
  fromCode: Set<string>;
  envName?: string;
  /** the selected env block, variables filled (undefined: none applied) */
  selected?: Record<string, unknown>;
  /** the names of the file's env blocks */
  blockNames: string[];
}

/** An issue found on the merged options, pointed back to where the value was written: code, the env block, or the base. */
function locate(i: OptionIssue, o: Origins): OptionIssue {
  const key = (i.path.split('/')[1] ?? '').replace(/~1/g, '/').replace(/~0/g, '~');
  if (o.fromCode.has(key)) return { path: i.path, message: `${i.message} (set in code, by overrides)` };
  if (o.selected && i.path !== '/' && replacedBy(o.selected, i.path)) return { path: pointer('/env', o.envName!) + i.path, message: i.message };
  if (i.path === '/' && /no connection/.test(i.message) && o.blockNames.length) {
    const hint = o.envName
      ? o.selected
        ? ''
        : ` (the file has no env block for ${JSON.stringify(o.envName)}; its blocks: ${o.blockNames.join(', ')})`
      : ` (no env block applied: NODE_ENV is not set; this file has blocks for ${o.blockNames.join(', ')})`;
    return { path: i.path, message: i.message + hint };
  }
  return i;
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

/** The merged options as `new MongoStore()` will take them (normalizeOptions), or an OptionsError located in the file. */
export function normalizedOptions<S>(merged: Record<string, unknown>, o: Origins): NormalizedOptions<S> {
  let normalized: NormalizedOptions<S>;
  try {
    normalized = normalizeOptions<S>(merged as MongoStoreOptions<S>, o.filepath);
  } catch (e) {
    if (!(e instanceof OptionsError)) throw e;
    throw new OptionsError(redact(e.issues.map((i) => locate(i, o)), o.secrets), o.filepath);
  }
  // The driver's own parse of the connection string and mongoOptions (no connection is made): an unknown or
  // mistyped driver option is a config error with a path, not a crash when the store starts.
  const spec = normalized.connection;
  if (spec?.kind === 'url') {
    const issue = driverIssue(spec.url, spec.mongoOptions, merged.mongoUrl !== undefined ? '/mongoUrl' : '/url');
    if (issue) throw new OptionsError(redact([locate(issue, o)], o.secrets), o.filepath);
  }
  return normalized;
}
