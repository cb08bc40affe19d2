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

/**
 * `$${` is a literal `${`; `${NAME}`; `${NAME:-default}` (default when NAME is unset or empty, as in sh). A default
 * may itself hold references, nested: `${A:-${B:-x}}`. A default ends at the first `}` that closes no reference of
 * its own (as in sh); it is only looked at when it is used, so a missing variable there is no error otherwise.
 */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Deeper nesting than this is surely a mistake (and would let a string recurse without bound). */
const MAX_NESTING = 8;

/** Where a value that is one whole `${…}` reference came from: for coercion to the option's type and messages. */
export interface VarSource {
  name: string;
  /** the value is the reference's default (the variable was unset or empty) */
  fromDefault: boolean;
}

export interface SubstituteResult<T> {
  value: T;
  /** malformed references (always errors) */
  issues: OptionIssue[];
  /** references to unset variables without a default: the caller decides (an error where the value is used) */
  missing: OptionIssue[];
  /** JSON paths of strings left unresolved (as written) because of a missing variable */
  unresolved: Set<string>;
  /** JSON paths of strings that were one whole reference, resolved (e.g. "${SESSION_TTL:-3600}") */
  whole: Map<string, VarSource>;
}

interface Parsed {
  text: string;
  /** index just after what was read: the end of the string, or (in a default) its closing `}` */
  end: number;
  missing: string[];
  /** the one reference this text consists of, when it is exactly one */
  only?: VarSource;
  /** a syntax error (reported, the string is left as written) */
  error?: string;
}

function invalidName(name: string): string {
  const shown = name.length > 40 || /[@:]/.test(name) ? '…' : name;
  return `invalid variable reference \${${shown}}: expected \${NAME} or \${NAME:-default} with NAME of letters, digits and _`;
}

/** Reads `s` from `pos`; in a default (`depth` > 0) it stops at the `}` that closes it. */
function parse(s: string, pos: number, depth: number, env: Env): Parsed {
  let text = '';
  const missing: string[] = [];
  let refs = 0;
  let literal = false;
  let only: VarSource | undefined;
  while (pos < s.length) {
    if (s.startsWith('$${', pos)) {
      text += '${';
      literal = true;
      pos += 3;
      continue;
    }
    if (s.startsWith('${', pos)) {
      if (depth >= MAX_NESTING) return { text, end: pos, missing, error: `variable references nested more than ${MAX_NESTING} deep` };
      let k = pos + 2;
      while (k < s.length && s[k] !== '}' && !s.startsWith(':-', k) && !s.startsWith('${', k)) k++;
      if (k >= s.length) return { text, end: pos, missing, error: 'unterminated variable reference "${" (write "$${" for a literal "${")' };
      const name = s.slice(pos + 2, k);
      if (s.startsWith('${', k) || !NAME.test(name)) {
        const close = s.indexOf('}', k);
        return { text, end: pos, missing, error: invalidName(close === -1 ? s.slice(pos + 2) : s.slice(pos + 2, close)) };
      }
      const set = env[name];
      let value: string;
      let fromDefault = false;
      if (s[k] === '}') {
        pos = k + 1;
        if (set !== undefined && set !== '') value = set;
        else {
          missing.push(name);
          value = '';
        }
      } else {
        const def = parse(s, k + 2, depth + 1, env);
        if (def.error) return { text, end: def.end, missing, error: def.error };
        if (def.end >= s.length) return { text, end: pos, missing, error: `unterminated variable reference "\${${name}:-…" (its default has no closing "}")` };
        pos = def.end + 1;
        if (set !== undefined && set !== '') value = set;
        else {
          value = def.text;
          fromDefault = true;
          missing.push(...def.missing);
        }
      }
      text += value;
      refs++;
      only = { name, fromDefault };
      continue;
    }
    if (depth > 0 && s[pos] === '}') break;
    text += s[pos];
    literal = true;
    pos++;
  }
  return { text, end: pos, missing, only: refs === 1 && !literal ? only : undefined };
}

/**
 * Replaces variable references in every string value (object keys are left alone). `path` is the JSON pointer of
 * `value` in the file, for messages. A string that references a missing variable is left as written, its path
 * recorded in `unresolved` and an issue in `missing`: whether that is an error depends on whether the value is used
 * (the selected env block's is; another block's, or a base value the block replaces, is not). A variable's value
 * is never expanded again.
 */
export function substituteVars<T>(value: T, env: Env, path = ''): SubstituteResult<T> {
  const issues: OptionIssue[] = [];
  const missing: OptionIssue[] = [];
  const unresolved = new Set<string>();
  const whole = new Map<string, VarSource>();
  const walk = (v: Json, p: string): Json => {
    if (typeof v === 'string') return substituteString(v, p || '/');
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
    const r = parse(s, 0, 0, env);
    if (r.error) {
      issues.push({ path: p, message: r.error });
      return s;
    }
    if (r.missing.length) {
      unresolved.add(p);
      for (const name of new Set(r.missing)) {
        const empty = env[name] === '';
        missing.push({ path: p, message: `environment variable ${name} is ${empty ? 'empty' : 'not set'} and \${${name}} has no default (set it, or write \${${name}:-default})` });
      }
      return s;
    }
    if (r.only) whole.set(p, r.only);
    return r.text;
  };
  return { value: walk(value as Json, path) as T, issues, missing, unresolved, whole };
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
