/**
 * Step 2, the env block: the file's per-environment blocks, checked for their form, and later the chosen one merged
 * over the base. Which name applies is pickEnvName's (env.ts); the blocks' values are filled and validated like the
 * base's in between (variables.ts, validate.ts), so the merge is the last thing done to the file's options.
 */
import { describeFound, isPlainObject, pointer, type OptionIssue } from '../errors';
import { deepMerge } from './env';

const ENV_NAME = /^[A-Za-z0-9_.-]+$/;

export type EnvBlocks = Record<string, Record<string, unknown>>;

/** The env blocks of a file (an object of objects, named sanely, never nested); a block of another form is an issue. */
export function envBlocks(raw: Record<string, unknown>): { blocks: EnvBlocks; issues: OptionIssue[] } {
  const blocks: EnvBlocks = {};
  const issues: OptionIssue[] = [];
  if (raw.env === undefined) return { blocks, issues };
  if (!isPlainObject(raw.env)) {
    issues.push({ path: '/env', message: `expected an object of per-environment blocks ({"production": {...}}), found ${describeFound(raw.env)}` });
    return { blocks, issues };
  }
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
  return { blocks, issues };
}

/** Common short names of environments, for recognising a block that a slightly different name meant. */
const ALIASES: Record<string, string> = { prod: 'production', prd: 'production', dev: 'development', develop: 'development', stage: 'staging', stg: 'staging', testing: 'test' };
const canonical = (name: string) => {
  const n = name.trim().toLowerCase();
  return ALIASES[n] ?? n;
};

/**
 * An environment name that names no block but nearly names one ("Production", "production ", "prod" for a block
 * "production", or "production" for a block "prod") is refused rather than run with no block: the block is most
 * likely what the deployment meant (its secret, its server), and running without it is the silent failure; applying
 * it anyway would be a guess that differs from what was written. A name that resembles no block stays "no block".
 */
export function envNameIssue(envName: string | undefined, fromCode: boolean, blocks: EnvBlocks): OptionIssue | undefined {
  if (envName === undefined || Object.prototype.hasOwnProperty.call(blocks, envName)) return undefined;
  const near = Object.keys(blocks).filter((b) => canonical(b) === canonical(envName));
  if (!near.length) return undefined;
  const given = fromCode ? `the environment name ${JSON.stringify(envName)} (envName, or --env)` : `NODE_ENV is ${JSON.stringify(envName)}, which`;
  const names = near.map((b) => JSON.stringify(b)).join(' or ');
  return {
    path: '/env',
    message:
      `${given} names no env block: block names are matched exactly (letter case and spaces count), so no block would ` +
      `apply. The file has ${names}: set ${fromCode ? 'envName' : 'NODE_ENV'} to ${near.length === 1 ? 'it' : 'one of them'}, or rename the block`,
  };
}

/** The file's options: the base with the selected block merged over it ($schema is the editor's, not an option). */
export function withEnvBlock(base: Record<string, unknown>, selected: Record<string, unknown> | undefined): Record<string, unknown> {
  const { $schema: _s, ...fileBase } = base;
  void _s;
  if (!selected) return fileBase;
  const { $schema: _bs, ...block } = selected;
  void _bs;
  return deepMerge(fileBase, block);
}
