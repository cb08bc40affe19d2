/**
 * The one shape `connect-mongo --json` prints (schema/cli-output.schema.json), and the exit codes: their own module
 * so that the commands' modules can build it without importing the command line (cli.ts imports them).
 */
import type { DoctorReport } from './doctor';
import type { LocatedIssue } from './positions';
import type { SessionsReport } from './sessions-command';
import type { SetupReport } from './setup-command';

export const EXIT = { ok: 0, invalid: 1, notFound: 2, unreachable: 3, usage: 64, internal: 70 } as const;

/**
 * What `--json` prints, for every command and every outcome: one object with every key present, on one line
 * (validate prints one a file: NDJSON). Keys that do not apply to a command or an outcome are null (or [] for issues).
 */
export interface CliOutput {
  command: 'validate' | 'print-config' | 'doctor' | 'setup' | 'sessions' | null;
  ok: boolean;
  exitCode: number;
  file: string | null;
  env: string | null;
  envApplied: boolean;
  valid: boolean | null;
  issues: LocatedIssue[];
  error: { code: 'usage' | 'not-found' | 'unreadable' | 'invalid' | 'unreachable' | 'internal'; message: string } | null;
  config: Record<string, unknown> | null;
  doctor: DoctorReport | null;
  setup: SetupReport | null;
  sessions: SessionsReport | null;
  note: string | null;
}

/** Prints the command's human output (stdout, stderr) and, with --json, its objects. */
export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}
