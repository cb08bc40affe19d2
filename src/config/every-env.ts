/**
 * `validate --all-envs`: the file resolved under each env block it declares, as each deployment will run it. Every
 * layer is schema-checked in any case; what this adds is the merged result of each block over the base, checked as
 * `new MongoStore()` takes it (an alias pair split across base and block, a connection that only a block gives…).
 *
 * Missing variables are no error here unless `requireVars` (--require-env): one machine (CI) rarely holds every
 * environment's secrets. A value left unresolved for that reason is not checked in the merged result either: what it
 * will hold is unknown, and a message about the reference's text would be a false alarm.
 */
import type { CosmiconfigResult } from 'cosmiconfig';
import { OptionsError, pointer, type OptionIssue } from '../errors';
import type { Env } from './env';
import { withEnvBlock } from './env-block';
import { checkFile } from './resolve';
import { redact } from './secrets';
import { normalizedOptions } from './validate';

const under = (path: string, set: Set<string>) => [...set].some((p) => path === p || path.startsWith(`${p}/`));

/** Checks the file under each of its env blocks (under none when it has no block); the block names, or an OptionsError. */
export function checkEveryEnv(result: NonNullable<CosmiconfigResult>, env: Env, requireVars: boolean): string[] {
  const filepath = result.filepath;
  const first = checkFile(result, { env, fromCode: true, requireVars });
  const names = Object.keys(first.blocks);
  const issues: OptionIssue[] = [];
  const seen = new Set<string>();
  // The base's problems (and every layer's) are found again under each block: reported once.
  const add = (list: OptionIssue[]) => {
    for (const i of list) {
      const key = `${i.path}\u0000${i.message}`;
      if (!seen.has(key)) issues.push(i), seen.add(key);
    }
  };
  for (const name of names.length ? names : [undefined]) {
    const c = name === undefined ? first : checkFile(result, { envName: name, env, fromCode: true, requireVars });
    add(redact(c.report, c.secrets));
    if (c.report.length) continue; // as when loading: the merged check runs on layers that pass their own
    try {
      normalizedOptions(withEnvBlock(c.base.value, c.selected), { filepath, secrets: c.secrets, fromCode: new Set(), envName: name, selected: c.selected, blockNames: names });
    } catch (e) {
      if (!(e instanceof OptionsError)) throw e;
      const block = name === undefined ? undefined : pointer('/env', name);
      add(
        e.issues
          .filter((i) => requireVars || !under(i.path, c.unresolved))
          // A problem of the merged result at a base path: say under which block it arises.
          .map((i) => (block && !i.path.startsWith(`${block}/`) ? { path: i.path, message: `${i.message} (with env block ${JSON.stringify(name)})` } : i)),
      );
    }
  }
  if (issues.length) throw new OptionsError(issues, filepath);
  return names;
}
