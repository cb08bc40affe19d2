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

/** The file's options: the base with the selected block merged over it ($schema is the editor's, not an option). */
export function withEnvBlock(base: Record<string, unknown>, selected: Record<string, unknown> | undefined): Record<string, unknown> {
  const { $schema: _s, ...fileBase } = base;
  void _s;
  if (!selected) return fileBase;
  const { $schema: _bs, ...block } = selected;
  void _bs;
  return deepMerge(fileBase, block);
}
