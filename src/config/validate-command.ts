/**
 * `connect-mongo validate [path…]`: the config checks as a linter runs them in CI. Each path (a file, or a directory
 * searched from) is reported on its own: its problems with file:line:column, as text or as GitHub workflow commands,
 * and with --json one object per file (NDJSON). The exit code is the worst of the files'.
 */
import { OptionsError } from '../errors';
import { EXIT, type CliOutput, type Io } from './cli-output';
import { checkEveryEnv } from './every-env';
import { ConfigFileError, loadConfig } from './load';
import { locateIssues } from './positions';
import { readConfig } from './read';
import { envLabel, githubError, githubLines, problemsSummary, problemsText } from './report-format';

export interface ValidateFlags {
  envName?: string;
  /** every env block the file declares, each merged and checked (variables not required unless requireEnv) */
  allEnvs: boolean;
  /** with allEnvs: every variable without a default that a block uses must be set (without it, they always must) */
  requireEnv: boolean;
  format: 'text' | 'github';
  json: boolean;
}

/** Prints one file's --json object (the caller's, so that it holds the command's common keys). */
export type Emit = (code: number, fields: Partial<CliOutput>) => void;

async function validateOne(target: string | undefined, f: ValidateFlags, io: Io, emit: Emit): Promise<number> {
  const say = (s: string) => {
    if (!f.json) io.out(s);
  };
  try {
    if (f.allEnvs) {
      const result = await readConfig({ configPath: target });
      const envs = checkEveryEnv(result, process.env, f.requireEnv);
      say(`✓ ${result.filepath} is valid (${envs.length ? `every environment: ${envs.join(', ')}` : 'no env blocks'})`);
      emit(EXIT.ok, { file: result.filepath, env: null, envApplied: false, valid: true, note: envs.length ? `checked under each env block: ${envs.join(', ')}` : 'the file has no env block: checked as it is' });
      return EXIT.ok;
    }
    const loaded = await loadConfig({ configPath: target, envName: f.envName });
    say(`✓ ${loaded.filepath} is valid (environment: ${envLabel(loaded)})`);
    emit(EXIT.ok, { file: loaded.filepath, env: loaded.envName ?? null, envApplied: loaded.envApplied, valid: true });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof ConfigFileError) {
      if (!f.json && f.format === 'github') io.out(githubError(e.message));
      else if (!f.json) io.err(e.message);
      emit(EXIT.notFound, { file: e.filepath ?? null, error: { code: e.reason, message: e.message } });
      return EXIT.notFound;
    }
    if (!(e instanceof OptionsError)) throw e;
    const { issues, note } = locateIssues(e.source, e.issues);
    say(f.format === 'github' ? githubLines(e.source, issues).join('\n') : problemsText(e.source, issues, note));
    emit(EXIT.invalid, { file: e.source, ...(f.allEnvs ? { env: null } : {}), valid: false, issues, note, error: { code: 'invalid', message: problemsSummary(e.source, issues.length) } });
    return EXIT.invalid;
  }
}

/** Validates each target in turn (none: the search from the current directory); the worst exit code. */
export async function validateFiles(targets: string[], f: ValidateFlags, io: Io, emit: Emit): Promise<number> {
  let worst: number = EXIT.ok;
  for (const t of targets.length ? targets : [undefined]) worst = Math.max(worst, await validateOne(t, f, io, emit));
  return worst;
}
