/**
 * Step 3, variables: each layer of the file (the base, and every env block) with its ${VAR} references filled
 * (substituteVars, env.ts) and a value that was one whole reference given the type the schema wants there. Every
 * block is filled, not only the selected one, so that a malformed reference anywhere in the file is reported.
 */
import { secretKeys, validateStoreOptions } from '../../generated';
import { pointer, type OptionIssue } from '../errors';
import { replacedBy, substituteVars, type Env, type VarSource } from './env';
import type { EnvBlocks } from './env-block';

/** One layer of the file with its variables filled. */
export interface Layer {
  /** the env block's name (undefined: the base) */
  name?: string;
  /** the layer's JSON pointer in the file: '' for the base, /env/<name> for a block */
  prefix: string;
  value: Record<string, unknown>;
  /** malformed references and secrets that hold a boolean word */
  issues: OptionIssue[];
  /** missing variables where the value is used (an error unless the caller checks without the environment's values) */
  missing: OptionIssue[];
  /** the file's paths (prefix included) of strings left as written because a variable is missing */
  unresolved: Set<string>;
  /** the layer's own paths the schema check leaves alone: a reference is the problem reported there */
  skip: Set<string>;
  /** the layer's own paths of values that were one whole reference, and which */
  sources: Map<string, VarSource>;
}

/** A secret option (crypto, encryption and hashIds secrets, or one item of a list of them) at a layer's own path. */
function isSecretValue(rel: string): boolean {
  return secretKeys[rel.replace(/^\//, '').replace(/\/\d+$/, '').replace(/\//g, '.')] === 'value';
}

/**
 * A variable in a secret stays a string; one that reads true or false is refused. `"secret": "${CS}"` with CS=false
 * would otherwise be the boolean false (crypto's "no encryption") and turn encryption off without a word, or, kept
 * as text, make the word the key. Either is a surprise: off is written as a JSON boolean in the file (an env block
 * can do it per environment), never through a variable. The message names the variable, never what it holds.
 */
function secretIssue(text: string, src: VarSource): OptionIssue | undefined {
  if (!/^(?:true|false)$/i.test(text.trim())) return undefined;
  const from = src.fromDefault ? `the default of \${${src.name}}` : `\${${src.name}}`;
  return {
    path: '',
    message:
      `${from} holds a boolean word, not a secret: a variable in a secret is always a string, and this one would be a ` +
      `guessable key (it does not turn encryption off). Set ${src.name} to the secret; to turn crypto's encryption off, ` +
      'write "secret": false in the file itself (in an env block for one environment), not through a variable',
  };
}

const NUMERIC = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const FAMILY: Record<string, string[]> = { number: ['number', 'integer'], boolean: ['boolean'] };

/**
 * Environment variables are strings: a value that was one whole `${VAR}` reference takes the number or boolean the
 * schema wants at its place ("${SESSION_TTL:-3600}" → 3600). It stays a string where the schema wants no number or
 * boolean (a collection named "123"), and in mongoOptions, whose strings the driver parses itself. Mutates `layer`;
 * `whole` is keyed by paths under `prefix`, and is re-keyed here to the layer's own paths.
 */
function coerceLayer(layer: Record<string, unknown>, whole: Map<string, VarSource>, prefix: string, issues: OptionIssue[]): Map<string, VarSource> {
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
    if (isSecretValue(rel)) {
      const issue = secretIssue(text, src);
      if (issue) {
        issues.push({ ...issue, path: p });
        // The reference again, not the word: it is refused, and the report's redaction of secrets would mask the
        // word everywhere in the messages (the "false" of the hint too).
        parent![key] = `\${${src.name}}`;
      }
      continue;
    }
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

function filled(name: string | undefined, prefix: string, written: Record<string, unknown>, env: Env, used: (missing: OptionIssue) => boolean): Layer {
  const sub = substituteVars(written, env, prefix);
  const secretIssues: OptionIssue[] = [];
  const sources = coerceLayer(sub.value, sub.whole, prefix, secretIssues);
  const skip = new Set([...sub.unresolved, ...sub.issues.map((i) => i.path), ...secretIssues.map((i) => i.path)].map((p) => p.slice(prefix.length) || '/'));
  return { name, prefix, value: sub.value, issues: [...sub.issues, ...secretIssues], missing: sub.missing.filter(used), unresolved: sub.unresolved, skip, sources };
}

/**
 * The base, then every env block, with variables filled. A missing variable is an error where its value is used: in
 * the base (unless the selected block replaces that value) and in the selected block. Other blocks' variables may
 * be absent on this machine.
 */
export function filledLayers(raw: Record<string, unknown>, blocks: EnvBlocks, envName: string | undefined, env: Env): Layer[] {
  const { env: _env, ...baseRaw } = raw;
  void _env;
  const selectedRaw = envName !== undefined ? blocks[envName] : undefined;
  const layers = [filled(undefined, '', baseRaw, env, (m) => !replacedBy(selectedRaw, m.path))];
  for (const [name, block] of Object.entries(blocks)) layers.push(filled(name, pointer('/env', name), block, env, () => name === envName));
  return layers;
}
