/**
 * The two things that make one config file serve every environment: `${VAR}` / `${VAR:-default}` references read
 * from the process environment, and per-environment `env` blocks merged over the base.
 *
 * Nothing here throws: problems come back as issues (JSON path of the key in the file + message) so that the loader
 * can report every problem of a file at once. Messages name variables, never their values or defaults (a default
 * may be a development password).
 */
import { isPlainObject, pointer, type OptionIssue } from '../errors';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Env = Record<string, string | undefined>;

/** `$${` is a literal `${`; `${NAME}`; `${NAME:-default}` (default when NAME is unset or empty, as in sh). */
const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface SubstituteResult<T> {
  value: T;
  /** malformed references (always errors) */
  issues: OptionIssue[];
  /** references to unset variables without a default: the caller decides (an error where the value is used) */
  missing: OptionIssue[];
  /** JSON paths of strings left unresolved (as written) because of a missing variable */
  unresolved: Set<string>;
}

/**
 * Replaces variable references in every string value (object keys are left alone). `path` is the JSON pointer of
 * `value` in the file, for messages. A string that references a missing variable is left as written, its path
 * recorded in `unresolved` and an issue in `missing`: whether that is an error depends on whether the value is used
 * (the selected env block's is; another block's, or a base value the block replaces, is not).
 */
export function substituteVars<T>(value: T, env: Env, path = ''): SubstituteResult<T> {
  const issues: OptionIssue[] = [];
  const missing: OptionIssue[] = [];
  const unresolved = new Set<string>();
  const walk = (v: Json, p: string): Json => {
    if (typeof v === 'string') return substituteString(v, p);
    if (Array.isArray(v)) return v.map((item, i) => walk(item, pointer(p, i)));
    if (v && typeof v === 'object') {
      const out: Record<string, Json> = {};
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, pointer(p, k));
      return out;
    }
    return v;
  };
  const substituteString = (s: string, p: string): string => {
    if (!s.includes('${')) return s;
    let incomplete = false;
    const out = s.replace(REFERENCE, (match, body: string | undefined) => {
      if (match === '$${') return '${';
      if (body === undefined) {
        issues.push({ path: p || '/', message: 'unterminated variable reference "${" (write "$${" for a literal "${")' });
        return match;
      }
      const sep = body.indexOf(':-');
      const name = sep === -1 ? body : body.slice(0, sep);
      if (!NAME.test(name)) {
        issues.push({ path: p || '/', message: `invalid variable reference \${${name.length > 40 ? '…' : name}}: expected \${NAME} or \${NAME:-default} with NAME of letters, digits and _` });
        return match;
      }
      const set = env[name];
      if (set !== undefined && set !== '') return set;
      if (sep !== -1) return body.slice(sep + 2);
      incomplete = true;
      missing.push({
        path: p || '/',
        message: `environment variable ${name} is ${set === '' ? 'empty' : 'not set'} and \${${name}} has no default (set it, or write \${${name}:-default})`,
      });
      return match;
    });
    if (incomplete) unresolved.add(p || '/');
    return out;
  };
  return { value: walk(value as Json, path) as T, issues, missing, unresolved };
}


/** Aliases: setting one of a pair in a later layer replaces the other from an earlier one. */
const ALIASES: Record<string, string> = { mongoUrl: 'url', url: 'mongoUrl', collectionName: 'collection', collection: 'collectionName' };

/**
 * `over` merged onto `base`: plain objects deeply, everything else (arrays, strings, clients…) replaced. An alias in
 * `over` (url, collection) drops its partner from `base`, so an env block's `url` replaces the base's `mongoUrl`.
 */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    if (ALIASES[k] && !(ALIASES[k] in over)) delete out[ALIASES[k]];
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

/**
 * Whether the value at `path` (a JSON pointer into the base) is replaced by `block` when merged with deepMerge:
 * a key the block sets (or its alias, at the top) replaces it unless both are plain objects (then deeper keys).
 */
export function replacedBy(block: Record<string, unknown> | undefined, path: string): boolean {
  if (!block) return false;
  const segs = path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let level: unknown = block;
  for (let i = 0; i < segs.length; i++) {
    if (!isPlainObject(level)) return false;
    const seg = segs[i];
    const here = seg in level ? level[seg] : i === 0 && ALIASES[seg] && ALIASES[seg] in level ? level[ALIASES[seg]] : undefined;
    if (here === undefined) return false;
    if (!isPlainObject(here) || i === segs.length - 1) return true;
    level = here;
  }
  return false;
}

/** The environment name: an explicit one, else NODE_ENV. Unset means "no block" (see README: safer than guessing). */
export function pickEnvName(explicit: string | undefined, env: Env): string | undefined {
  if (explicit !== undefined && explicit !== '') return explicit;
  const nodeEnv = env.NODE_ENV;
  return nodeEnv === undefined || nodeEnv === '' ? undefined : nodeEnv;
}
