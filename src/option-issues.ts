/**
 * The wording of option problems: ajv's errors and the options' shape turned into OptionIssues that say path,
 * expected and found (never a secret's value), with "did you mean" for an unknown name. options.ts decides what is
 * checked; this module only says what is wrong, so the CLI and config loader word problems the same way.
 */
import { distance } from 'fastest-levenshtein';
import { storeOptionNames, nestedOptionNames, type SchemaError } from '../generated';
import { describeFound, isPlainObject, pointer, type OptionIssue } from './errors';

/** The options only code can give (functions, clients): not in the schema, not in a config file. */
export const CODE_ONLY = ['client', 'clientPromise', 'db', 'dbPromise', 'mongooseConnection', 'serialize', 'unserialize', 'transformId', 'cryptoAdapter'] as const;
/** Every option name a user can write, for "did you mean". */
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

const TYPE_ISSUE = /^expected (an? \w+(?: or an? \w+)*), found (.*)$/;
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
  if (/\/userId$/.test(path)) return 'expected a dotted path into the session such as "passport.user" (no empty part)';
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

/** Keys that would reach an object's prototype (or look like it) instead of naming an option. */
export const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Bounds on the options' shape: far above any real config, far below what would take time or stack to walk. */
export const SHAPE_LIMITS = { depth: 32, values: 10_000, stringLength: 1 << 20 } as const;

/**
 * Problems with the shape of options before anything reads them: `__proto__` / `constructor` / `prototype` keys,
 * cycles (a YAML anchor used inside itself), too deep, too many values (counted as expanded, so a YAML alias bomb
 * stops here after SHAPE_LIMITS.values), and, with `inherited: 'refuse'`, options an object inherits through its
 * prototype (a JS config's `__proto__: {…}`). Only plain objects and arrays are walked; clients, Buffers, Dates and
 * functions are values. Stops at the first size problem, so its cost is bounded whatever the input.
 */
export function shapeIssues(value: unknown, opts: { inherited: 'refuse' | 'ignore' }): OptionIssue[] {
  const issues: OptionIssue[] = [];
  const ancestors = new Set<object>();
  let values = 0;
  const walk = (v: unknown, path: string, depth: number): boolean => {
    if (++values > SHAPE_LIMITS.values) {
      issues.push({ path: '/', message: `more than ${SHAPE_LIMITS.values} values (a YAML alias bomb?): a config holds a few dozen options` });
      return false;
    }
    if (typeof v === 'string' && v.length > SHAPE_LIMITS.stringLength) {
      issues.push({ path: path || '/', message: `a string of ${v.length} characters: longer than any option needs` });
      return false;
    }
    if (!v || typeof v !== 'object') return true;
    if (ancestors.has(v)) {
      issues.push({ path: path || '/', message: 'refers to itself (a YAML anchor used inside its own value, or a cycle)' });
      return false;
    }
    if (depth >= SHAPE_LIMITS.depth) {
      issues.push({ path: path || '/', message: `nested more than ${SHAPE_LIMITS.depth} levels deep` });
      return false;
    }
    const array = Array.isArray(v);
    if (!array && !isPlainObject(v)) {
      // A prototype that is a data object (no `constructor` of its own, unlike Buffer.prototype or a class's).
      const proto = Object.getPrototypeOf(v);
      if (opts.inherited === 'refuse' && proto && !Object.prototype.hasOwnProperty.call(proto, 'constructor')) {
        const names: string[] = [];
        for (const k in v) if (!Object.prototype.hasOwnProperty.call(v, k)) names.push(k);
        issues.push({
          path: path || '/',
          message: `an object with a prototype of its own${names.length ? ` (inheriting ${names.slice(0, 5).join(', ')})` : ''}: inherited options are not read; write them on the object itself (no __proto__)`,
        });
      }
      return true;
    }
    ancestors.add(v);
    const keys = Object.keys(v);
    for (const k of keys) {
      const p = pointer(path, array ? Number(k) : k);
      if (!array && FORBIDDEN_KEYS.has(k)) {
        issues.push({ path: p, message: `the key ${JSON.stringify(k)} is refused: it would reach an object's prototype, not set an option` });
        continue;
      }
      if (!walk((v as Record<string, unknown>)[k], p, depth + 1)) return false;
    }
    ancestors.delete(v);
    return true;
  };
  walk(value, '', 0);
  return issues;
}
