#!/usr/bin/env node
/**
 * The `connect-mongo` command: validate / print-config / doctor / setup a config file, and one user's sessions. No CLI framework (node:util
 * parseArgs). User errors print a message and an exit code, never a stack trace.
 *
 * Exit codes: 0 ok · 1 invalid config · 2 config not found or unreadable · 3 server unreachable or refused a check
 * (doctor, setup, sessions) · 64 bad command line · 70 internal error (set CONNECT_MONGO_DEBUG=1 for its stack).
 */
import { parseArgs } from 'node:util';
import { MongoStoreError, OptionsError } from './errors';
import { suggestName } from './option-issues';
import { ConfigFileError, describeResolved, loadConfig, type LoadedConfig } from './config/load';
import { DoctorConnectError, MAX_TIMER_MS, runDoctor, type DoctorReport } from './config/doctor';
import { runSetup, setupText } from './config/setup-command';
import { runSessions, sessionsRefusal, sessionsText } from './config/sessions-command';
import { EXIT, type CliOutput, type Io } from './config/cli-output';
import { locateIssues } from './config/positions';
import { envLabel, problemsSummary, problemsText } from './config/report-format';
import { validateFiles } from './config/validate-command';

export { EXIT } from './config/cli-output';
export type { CliOutput } from './config/cli-output';

const MAIN_HELP = `Usage: connect-mongo <command> [path] [options]

Commands:
  validate [path]…     check config files (no database needed), each problem at file:line:column; exit 0 valid,
                       1 invalid, 2 not found (the worst of the files)
  print-config [path]  print the resolved config: env block merged, variables filled, defaults applied, secrets masked
  doctor [path]        connect with the config and report the server, TTL support, the expires index, session counts
  setup [path]         create the TTL index on expires (and with userId the userId index) once (CI / deploy step),
                       for instances with createIndexes: false
  sessions --user <id> [path]
                       list one user's live sessions (ids masked), or end them all with --revoke (needs userId)

[path] is a config file, or a directory to search from (default: the current directory). The search looks for
a "connect-mongo" key in package.json, .connect-mongorc(.json|.yaml|.yml|.js|.cjs|.mjs) and
connect-mongo.config.(json|js|cjs|mjs|yaml|yml), from the directory up to the nearest package.json (outside any
project, in that directory only).

Options (every command):
  --env <name>   environment block to apply (default: $NODE_ENV; none when it is unset)
  --json         machine-readable output: one JSON object on one line, of the same shape for every command and
                 outcome (schema/cli-output.schema.json in the package); validate prints one a file (NDJSON)
  -h, --help     help for a command

Exit codes: 0 ok, 1 invalid config, 2 config not found/unreadable, 3 server unreachable (doctor, setup, sessions),
64 usage error.
Run "connect-mongo <command> --help" for more.`;

const HELP: Record<string, string> = {
  validate: `Usage: connect-mongo validate [path]… [--env <name> | --all-envs] [--require-env] [--format github] [--json]

Checks config files against the options schema: every env block, unknown keys (with "did you mean"), types,
ranges, enums, conflicting options, and the \${VAR} references of the selected environment. Needs no database.
Each path is a file, or a directory to search from (none: the current directory); each is reported on its own.
Each problem is printed as file:line:column, its JSON path and the message (JSON, YAML and package.json; a
JavaScript config has no line:column, only the path). A value that came from a \${VAR} points at its string.

  --all-envs      check the file under each env block it declares: the block merged over the base, checked as the
                  store takes it. Variables that are not set are no error here (CI rarely holds every secret)
  --require-env   each \${VAR} without a default that is used must be set in this environment (named, never its
                  value): with --all-envs, every block's; without it, validate requires its environment's anyway
  --format github GitHub Actions workflow commands (::error file=…,line=…,col=…::…), shown on the pull request

Exit codes: 0 valid, 1 invalid, 2 not found or unreadable: the worst of the files.
--json prints one object a file, one a line (NDJSON; schema/cli-output.schema.json): "valid", "issues" [{"path",
"message", "line", "column"}], "file", "env", "error", ….`,
  'print-config': `Usage: connect-mongo print-config [path] [--env <name>] [--json]

Prints the config the store would use: the env block merged over the base, \${VAR} references filled from the
environment, every default applied, secrets (connection string passwords, crypto and hashIds secrets, password-like
mongoOptions) masked. The default output is JSON after two // comment lines naming the file and the environment;
--json prints the object every command prints (schema/cli-output.schema.json), the config under "config".

Exit codes: 0, 1 invalid, 2 not found or unreadable.`,
  doctor: `Usage: connect-mongo doctor [path] [--env <name>] [--timeout <ms>] [--json]

Connects with the config's connection string and reports: the server (MongoDB or FerretDB, version, topology);
whether it accepts TTL indexes (probed on a scratch collection that is dropped again), so whether autoRemove
"native" will work or fall back to "interval"; the index on "expires" of the sessions collection; the number of
live and of expired-but-stored sessions. Creates nothing else and changes no session.

  --timeout <ms>  how long to wait for the server (default: the config's operationTimeoutMS, at most 10000)
  --json          the object every command prints (schema/cli-output.schema.json), the report under "doctor"

Exit codes: 0 checked, 1 invalid config, 2 config not found, 3 server unreachable or a check refused.`,
  setup: `Usage: connect-mongo setup [path] [--env <name>] [--timeout <ms>] [--json]

The one-time set-up of the sessions collection, from CI or a deploy step: creates the TTL index on "expires"
({ expires: 1 }, expireAfterSeconds 0) unless it is there. Run it once, and start the app instances with
createIndexes: false so that they only check the index instead of each sending createIndexes at boot.
With autoRemove "interval" or "disabled" there is no TTL index to create. With the userId option it also creates
the index { userId: 1 } (userId_1) unless one leading with userId is there, whatever autoRemove is.

  --timeout <ms>  how long to wait for the server (default: the config's operationTimeoutMS, at most 10000)

Exit codes: 0 created or already there, 1 invalid config, 2 config not found, 3 server unreachable, or the server
refused the index (e.g. FerretDB: no TTL indexes, use autoRemove "interval") or another index on expires is in the way,
or refused the userId index.
--json prints {"server", "database", "collection", "autoRemove", "index", "ok", "message", "userIndex", ...} under
"setup" (userIndex: {"index": created | found | refused, "message"}, null without userId).`,
  sessions: `Usage: connect-mongo sessions --user <id> [--revoke] [path] [--env <name>] [--timeout <ms>] [--json]

One user's sessions, for a config with the userId option (the user id each session records):
  without --revoke  lists the user's live sessions, newest write first: the count, and per session its last write
                    and its expiry. Session ids are never printed, only a tag (#xxxxxxxx: 8 characters of a hash of the
                    stored id, the tag DEBUG=connect-mongo logs show for that sid when the sid is the stored id);
                    neither are session contents.
  --revoke          also ends every session of the user (expired ones still stored included) and says how many.

  --user <id>     the user id as the sessions hold it (with hashIds or encryption the store finds its HMAC). A
                  number's text ("12") finds the sessions stored with the number 12 and those with the string "12"
                  (two users to the store; both are listed, or ended). A negative id: --user=-5.
  --timeout <ms>  how long each step waits for the server (default: the config's operationTimeoutMS, at most 10000;
                  taken between 100 and 600000, the store's bounds)
  --json          the object every command prints (schema/cli-output.schema.json), the answer under "sessions":
                  {"user", "count", "revoked" (null without --revoke), "sessions": [{"id" (a tag), "expires",
                  "lastWrite"}]}

Builds a store from the config that creates no index and removes no expired session: it only reads, or ends what
--revoke asks for.

Exit codes: 0 done, 1 invalid config or one without userId (path /userId) or with fallbackMemory, 2 config not found,
3 server unreachable, 64 usage error (no --user, or an empty one).`,
};

class UsageError extends Error {}

const OPTIONS = { help: 'boolean', json: 'boolean', env: 'string', timeout: 'string', user: 'string', revoke: 'boolean', format: 'string', 'all-envs': 'boolean', 'require-env': 'boolean' } as const;
type Flags = { help?: boolean; json?: boolean; env?: string; timeout?: string; user?: string; revoke?: boolean; format?: string; 'all-envs'?: boolean; 'require-env'?: boolean };
const VALUE_NAME: Record<string, string> = { env: 'name', timeout: 'ms', user: 'id', format: 'text|github' };

/**
 * The command line, checked by us rather than by parseArgs' strict mode, so that a mistyped flag gets a message of
 * ours with a "did you mean" (parseArgs' own is about positionals starting with '-').
 */
function parse(argv: string[]): { values: Flags; positionals: string[] } {
  const { tokens } = parseArgs({ args: argv, allowPositionals: true, strict: false, tokens: true, options: { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' }, env: { type: 'string' }, timeout: { type: 'string' }, user: { type: 'string' }, revoke: { type: 'boolean' }, format: { type: 'string' }, 'all-envs': { type: 'boolean' }, 'require-env': { type: 'boolean' } } });
  const values: Flags = {};
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') positionals.push(t.value);
    if (t.kind !== 'option') continue;
    const type = OPTIONS[t.name as keyof typeof OPTIONS];
    if (!type) {
      const hint = t.rawName.startsWith('--') ? suggestName(t.name, Object.keys(OPTIONS)) : undefined;
      throw new UsageError(`unknown option ${JSON.stringify(t.rawName)}${hint ? ` — did you mean "--${hint}"?` : ''}`);
    }
    if (type === 'boolean') {
      if (t.value !== undefined) throw new UsageError(`${t.rawName} takes no value, found ${JSON.stringify(t.value)}`);
      (values as Record<string, boolean>)[t.name] = true;
    } else {
      // A string option at the end, or followed by another option, has no value.
      if (t.value === undefined || (!t.inlineValue && t.value.startsWith('-'))) throw new UsageError(`${t.rawName} needs a value (${t.rawName} <${VALUE_NAME[t.name]}>)`);
      (values as Record<string, string>)[t.name] = t.value;
    }
  }
  return { values, positionals };
}

const COMMANDS = ['validate', 'print-config', 'doctor', 'setup', 'sessions'] as const;

/** Runs one command line; returns the exit code. Exported for embedding; the tests drive the real process. */
export async function main(argv: string[], io: Io = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) }): Promise<number> {
  // Known before parsing, so that a usage error is answered in JSON too.
  const json = argv.includes('--json');
  const out: CliOutput = { command: null, ok: false, exitCode: EXIT.internal, file: null, env: null, envApplied: false, valid: null, issues: [], error: null, config: null, doctor: null, setup: null, sessions: null, note: null };
  // Named before parsing too, so that a usage error's answer says which command it was about.
  const first = argv.find((a) => !a.startsWith('-'));
  if ((COMMANDS as readonly string[]).includes(first ?? '')) out.command = first as CliOutput['command'];
  const finish = (code: number, fields: Partial<CliOutput> = {}): number => {
    // One line an object: validate prints one a file (NDJSON), the other commands exactly one.
    if (json) io.out(JSON.stringify({ ...out, ...fields, ok: code === EXIT.ok, exitCode: code }));
    return code;
  };
  const fromLoaded = (l: LoadedConfig) => Object.assign(out, { file: l.filepath, env: l.envName ?? null, envApplied: l.envApplied, valid: true });
  try {
    const { values, positionals } = parse(argv);
    const command = positionals[0];
    if (!command) {
      if (values.help && !json) {
        io.out(MAIN_HELP);
        return EXIT.ok;
      }
      if (values.help) return finish(EXIT.ok, { note: MAIN_HELP });
      if (!json) {
        io.err(MAIN_HELP);
        return EXIT.usage;
      }
      throw new UsageError(`no command given (commands: ${COMMANDS.join(', ')})`);
    }
    if (command === 'help') {
      const text = HELP[positionals[1] ?? ''] ?? MAIN_HELP;
      if (json) return finish(EXIT.ok, { note: text });
      io.out(text);
      return EXIT.ok;
    }
    if (!HELP[command]) {
      const hint = suggestName(command, COMMANDS);
      throw new UsageError(`unknown command ${JSON.stringify(command)}${hint ? ` — did you mean "${hint}"?` : ''} (commands: ${COMMANDS.join(', ')})`);
    }
    out.command = command as CliOutput['command'];
    out.env = values.env ?? process.env.NODE_ENV ?? null;
    if (values.help) {
      if (json) return finish(EXIT.ok, { note: HELP[command] });
      io.out(HELP[command]);
      return EXIT.ok;
    }
    if (positionals.length > 2 && command !== 'validate') throw new UsageError(`${command} takes one path, got ${positionals.length - 1}`);
    for (const flag of ['format', 'all-envs', 'require-env'] as const) if (values[flag] !== undefined && command !== 'validate') throw new UsageError(`--${flag} is an option of validate`);
    if (values.format !== undefined && values.format !== 'text' && values.format !== 'github') throw new UsageError(`--format expects text or github, found ${JSON.stringify(values.format)}`);
    if (values.format === 'github' && json) throw new UsageError('--format github and --json are two outputs: give one of them');
    if (values['all-envs'] && values.env !== undefined) throw new UsageError('--all-envs checks every env block: give no --env with it');
    if (values.timeout !== undefined && command !== 'doctor' && command !== 'setup' && command !== 'sessions') throw new UsageError('--timeout is an option of doctor, setup and sessions');
    for (const flag of ['user', 'revoke'] as const) if (values[flag] !== undefined && command !== 'sessions') throw new UsageError(`--${flag} is an option of sessions`);
    if (command === 'sessions' && !values.user) throw new UsageError(values.user === undefined ? 'sessions needs --user <id>: whose sessions to list (or end with --revoke)' : '--user is empty: give the user id the sessions hold');
    let timeoutMS: number | undefined;
    if (values.timeout !== undefined) {
      timeoutMS = Number(values.timeout);
      if (!Number.isInteger(timeoutMS) || timeoutMS < 1) throw new UsageError(`--timeout expects a number of milliseconds, found ${JSON.stringify(values.timeout)}`);
      // Node's timers (and the driver's) hold at most 2^31-1 ms: a longer one fires at once, which doctor and setup
      // would report as "unreachable" without having waited at all.
      if (timeoutMS > MAX_TIMER_MS) throw new UsageError(`--timeout is at most ${MAX_TIMER_MS} ms (24.8 days, the longest timer Node can set), found ${JSON.stringify(values.timeout)}`);
    }
    if (command === 'validate') {
      const flags = { envName: values.env, allEnvs: !!values['all-envs'], requireEnv: !!values['require-env'], format: (values.format ?? 'text') as 'text' | 'github', json };
      return await validateFiles(positionals.slice(1), flags, io, (code, fields) => finish(code, fields));
    }
    const loaded = await loadConfig({ configPath: positionals[1], envName: values.env });
    fromLoaded(loaded);

    if (command === 'print-config') {
      const config = describeResolved(loaded);
      if (!json) io.out(`// file: ${loaded.filepath}\n// environment: ${envLabel(loaded)}\n${JSON.stringify(config, null, 2)}`);
      return finish(EXIT.ok, { config });
    }

    const defaultTimeout = Math.min(loaded.normalized.operationTimeoutMS, 10_000);
    if (command === 'setup') {
      const report = await runSetup(loaded, timeoutMS ?? defaultTimeout);
      if (!json) io.out(`config       ${loaded.filepath} (environment: ${envLabel(loaded)})\n${setupText(report)}`);
      return finish(report.ok ? EXIT.ok : EXIT.unreachable, { setup: report });
    }

    if (command === 'sessions') {
      // A valid file (valid stays true) that cannot serve this command: its issue, with the path to fix.
      const refusal = sessionsRefusal(loaded);
      if (refusal) {
        io.err(`✗ ${loaded.filepath}: ${refusal.path}  ${refusal.message}`);
        return finish(EXIT.invalid, { issues: locateIssues(loaded.filepath, [refusal]).issues, error: { code: 'invalid', message: `${loaded.filepath}: ${refusal.path}: ${refusal.message}` } });
      }
      const result = await runSessions(loaded, values.user!, !!values.revoke, timeoutMS ?? defaultTimeout);
      if (!json) io.out(`config       ${loaded.filepath} (environment: ${envLabel(loaded)})\n${sessionsText(result)}`);
      return finish(EXIT.ok, { sessions: result.report });
    }

    // doctor
    if (loaded.normalized.fallbackMemory) {
      const note = 'fallbackMemory is on: the store is an in-memory MemoryStore, there is no server to check';
      if (!json) io.out(`config      ${loaded.filepath} (environment: ${envLabel(loaded)})\n${note}`);
      return finish(EXIT.ok, { note });
    }
    const report = await runDoctor(loaded, timeoutMS ?? defaultTimeout);
    if (!json) io.out(doctorText(loaded, report));
    return finish(EXIT.ok, { doctor: report });
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`connect-mongo: ${e.message}\nRun "connect-mongo --help" for usage.`);
      return finish(EXIT.usage, { error: { code: 'usage', message: e.message } });
    }
    if (e instanceof ConfigFileError) {
      io.err(e.message);
      return finish(EXIT.notFound, { file: e.filepath ?? null, error: { code: e.reason, message: e.message } });
    }
    if (e instanceof OptionsError) {
      // validate reports its files itself (validate-command.ts): here the other commands', an error (stderr).
      const { issues, note } = locateIssues(e.source, e.issues);
      io.err(problemsText(e.source, issues, note));
      return finish(EXIT.invalid, { file: e.source, valid: false, issues, note, error: { code: 'invalid', message: problemsSummary(e.source, issues.length) } });
    }
    if (e instanceof MongoStoreError && e.code === 'ERR_CONNECT_MONGO_USER_ID') {
      // sessions: a --user the store refuses as a user id (too long): the command line's fault
      const message = `--user: ${e.message.replace(/^MongoStore\.\w+\(\): /, '')}`;
      io.err(`connect-mongo: ${message}`);
      return finish(EXIT.usage, { error: { code: 'usage', message } });
    }
    if (e instanceof DoctorConnectError) {
      io.err(`connect-mongo ${out.command ?? "doctor"}: ${e.message}`);
      return finish(EXIT.unreachable, { error: { code: 'unreachable', message: e.message } });
    }
    const message = `internal error: ${(e as Error)?.message ?? String(e)}`;
    io.err(`connect-mongo: ${message}${process.env.CONNECT_MONGO_DEBUG ? `\n${(e as Error)?.stack}` : ''}`);
    return finish(EXIT.internal, { error: { code: 'internal', message } });
  }
}

/** The bin: runs `main` on a command line and sets the exit code (also used by scripts/connect-mongo-dev.cjs). */
export function runCli(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`connect-mongo: internal error: ${(e as Error)?.message ?? String(e)}\n`);
      process.exitCode = EXIT.internal;
    },
  );
}

function doctorText(l: LoadedConfig, r: DoctorReport): string {
  const s = r.server;
  const server =
    s.kind === 'FerretDB'
      ? `FerretDB ${s.ferretdbVersion ?? '(this build does not report its version)'}, compatible with MongoDB ${s.version}, ${s.topology}`
      : `MongoDB ${s.version}, ${s.topology}`;
  const idx = r.expiresIndex;
  const index =
    idx.state === 'no-collection'
      ? 'the sessions collection does not exist yet (the store creates it on the first write)'
      : idx.state === 'missing'
        ? 'no index on expires'
        : idx.state === 'ttl'
          ? `TTL index ${idx.name} (expireAfterSeconds ${idx.expireAfterSeconds})`
          : `index ${idx.name} without expireAfterSeconds (not a TTL index)`;
  const ttl = r.ttl.supported === true ? 'supported' : r.ttl.supported === false ? `not supported: ${r.ttl.detail}` : `unknown: ${r.ttl.detail}`;
  return [
    `config       ${l.filepath} (environment: ${envLabel(l)})`,
    `server       ${server} at ${s.url}`,
    `sessions in  ${r.database}.${r.collection}`,
    `TTL indexes  ${ttl}`,
    `autoRemove   ${r.autoRemove.configured} → ${r.autoRemove.effective}: ${r.autoRemove.note}`,
    `expires      ${index}`,
    `sessions     ${r.sessions.live} live, ${r.sessions.expired} expired (still stored)`,
  ].join('\n');
}

if (require.main === module) runCli(process.argv.slice(2));
