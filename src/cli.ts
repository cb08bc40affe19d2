#!/usr/bin/env node
/**
 * The `connect-mongo` command: validate / print-config / doctor a config file. No CLI framework (node:util
 * parseArgs). User errors print a message and an exit code, never a stack trace.
 *
 * Exit codes: 0 ok · 1 invalid config · 2 config not found or unreadable · 3 server unreachable or refused a check
 * (doctor) · 64 bad command line · 70 internal error (set CONNECT_MONGO_DEBUG=1 for its stack).
 */
import { parseArgs } from 'node:util';
import { OptionsError } from './errors';
import { ConfigFileError, describeResolved, loadConfig, type LoadedConfig } from './config/load';
import { DoctorConnectError, runDoctor, type DoctorReport } from './config/doctor';
import { runSetup, setupText } from './config/setup-command';

export const EXIT = { ok: 0, invalid: 1, notFound: 2, unreachable: 3, usage: 64, internal: 70 } as const;

const MAIN_HELP = `Usage: connect-mongo <command> [path] [options]

Commands:
  validate [path]      check a config file (no database needed); exit 0 valid, 1 invalid, 2 not found
  print-config [path]  print the resolved config: env block merged, variables filled, defaults applied, secrets masked
  doctor [path]        connect with the config and report the server, TTL support, the expires index, session counts
  setup [path]         create the TTL index on expires once (CI / deploy step), for instances with createIndexes: false

[path] is a config file, or a directory to search from (default: the current directory). The search looks for
a "connect-mongo" key in package.json, .connect-mongorc(.json|.yaml|.yml|.js|.cjs|.mjs) and
connect-mongo.config.(json|js|cjs|mjs|yaml|yml), from the directory up to the nearest package.json.

Options (every command):
  --env <name>   environment block to apply (default: $NODE_ENV; none when it is unset)
  --json         machine-readable output
  -h, --help     help for a command

Exit codes: 0 ok, 1 invalid config, 2 config not found/unreadable, 3 server unreachable (doctor), 64 usage error.
Run "connect-mongo <command> --help" for more.`;

const HELP: Record<string, string> = {
  validate: `Usage: connect-mongo validate [path] [--env <name>] [--json]

Checks a config file against the options schema: every env block, unknown keys (with "did you mean"), types,
ranges, enums, conflicting options, and the \${VAR} references of the selected environment. Needs no database.

Exit codes: 0 valid, 1 invalid (each problem is printed with its JSON path), 2 not found or unreadable.
--json prints {"valid", "file", "env", "issues": [{"path", "message"}]} (and "error" when not found).`,
  'print-config': `Usage: connect-mongo print-config [path] [--env <name>] [--json]

Prints the config the store would use: the env block merged over the base, \${VAR} references filled from the
environment, every default applied, secrets (connection string passwords, crypto and hashIds secrets, password-like
mongoOptions) masked. The default output is JSON after two // comment lines naming the file and the environment;
--json prints {"file", "env", "envApplied", "config"}.

Exit codes: 0, 1 invalid, 2 not found or unreadable.`,
  doctor: `Usage: connect-mongo doctor [path] [--env <name>] [--timeout <ms>] [--json]

Connects with the config's connection string and reports: the server (MongoDB or FerretDB, version, topology);
whether it accepts TTL indexes (probed on a scratch collection that is dropped again), so whether autoRemove
"native" will work or fall back to "interval"; the index on "expires" of the sessions collection; the number of
live and of expired-but-stored sessions. Creates nothing else and changes no session.

  --timeout <ms>  how long to wait for the server (default: the config's operationTimeoutMS, at most 10000)

Exit codes: 0 checked, 1 invalid config, 2 config not found, 3 server unreachable or a check refused.`,
  setup: `Usage: connect-mongo setup [path] [--env <name>] [--timeout <ms>] [--json]

The one-time set-up of the sessions collection, from CI or a deploy step: creates the TTL index on "expires"
({ expires: 1 }, expireAfterSeconds 0) unless it is there. Run it once, and start the app instances with
createIndexes: false so that they only check the index instead of each sending createIndexes at boot.
With autoRemove "interval" or "disabled" there is nothing to create.

  --timeout <ms>  how long to wait for the server (default: the config's operationTimeoutMS, at most 10000)

Exit codes: 0 created or already there, 1 invalid config, 2 config not found, 3 server unreachable, or the server
refused the index (e.g. FerretDB: no TTL indexes, use autoRemove "interval") or another index on expires is in the way.
--json prints {"server", "database", "collection", "autoRemove", "index", "ok", "message", ...}.`,
};

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

class UsageError extends Error {}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' },
        env: { type: 'string' },
        timeout: { type: 'string' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function issuesText(e: OptionsError): string {
  const n = e.issues.length;
  return `✗ ${e.source}: ${n === 1 ? '1 problem' : `${n} problems`}\n${e.issues.map((i) => `  ${i.path}  ${i.message}`).join('\n')}`;
}

function envLabel(l: LoadedConfig): string {
  if (!l.envName) return l.envBlocks.length ? `none (NODE_ENV is not set; blocks: ${l.envBlocks.join(', ')})` : 'none';
  return l.envApplied ? l.envName : `${l.envName} (no block for it in the file)`;
}

/** Runs one command line; returns the exit code. Exported for embedding; the tests drive the real process. */
export async function main(argv: string[], io: Io = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) }): Promise<number> {
  let command: string | undefined;
  let json = false;
  try {
    const { values, positionals } = parse(argv);
    json = !!values.json;
    command = positionals[0];
    if (!command) {
      io[values.help ? 'out' : 'err'](MAIN_HELP);
      return values.help ? EXIT.ok : EXIT.usage;
    }
    if (command === 'help') {
      io.out(HELP[positionals[1] ?? ''] ?? MAIN_HELP);
      return EXIT.ok;
    }
    if (!HELP[command]) throw new UsageError(`unknown command ${JSON.stringify(command)} (commands: validate, print-config, doctor, setup)`);
    if (values.help) {
      io.out(HELP[command]);
      return EXIT.ok;
    }
    if (positionals.length > 2) throw new UsageError(`${command} takes one path, got ${positionals.length - 1}`);
    if (values.timeout !== undefined && command !== 'doctor' && command !== 'setup') throw new UsageError('--timeout is an option of doctor and setup');
    let timeoutMS: number | undefined;
    if (values.timeout !== undefined) {
      timeoutMS = Number(values.timeout);
      if (!Number.isInteger(timeoutMS) || timeoutMS < 1) throw new UsageError(`--timeout expects a number of milliseconds, found ${JSON.stringify(values.timeout)}`);
    }
    const path = positionals[1];
    const loadOpts = { configPath: path, envName: values.env };

    if (command === 'validate') {
      let loaded: LoadedConfig;
      try {
        loaded = await loadConfig(loadOpts);
      } catch (e) {
        if (e instanceof OptionsError) {
          if (json) io.out(JSON.stringify({ valid: false, file: e.source, env: values.env ?? process.env.NODE_ENV ?? null, issues: e.issues }, null, 2));
          else io.out(issuesText(e));
          return EXIT.invalid;
        }
        throw e;
      }
      if (json) io.out(JSON.stringify({ valid: true, file: loaded.filepath, env: loaded.envName ?? null, envApplied: loaded.envApplied, issues: [] }, null, 2));
      else io.out(`✓ ${loaded.filepath} is valid (environment: ${envLabel(loaded)})`);
      return EXIT.ok;
    }

    const loaded = await loadConfig(loadOpts);
    if (command === 'print-config') {
      const config = describeResolved(loaded);
      if (json) io.out(JSON.stringify({ file: loaded.filepath, env: loaded.envName ?? null, envApplied: loaded.envApplied, config }, null, 2));
      else io.out(`// file: ${loaded.filepath}\n// environment: ${envLabel(loaded)}\n${JSON.stringify(config, null, 2)}`);
      return EXIT.ok;
    }

    if (command === 'setup') {
      const report = await runSetup(loaded, timeoutMS ?? Math.min(loaded.normalized.operationTimeoutMS, 10_000));
      if (json) io.out(JSON.stringify({ file: loaded.filepath, env: loaded.envName ?? null, ...report }, null, 2));
      else io.out(`config       ${loaded.filepath} (environment: ${envLabel(loaded)})\n${setupText(report)}`);
      return report.ok ? EXIT.ok : EXIT.unreachable;
    }

    // doctor
    if (loaded.normalized.fallbackMemory) {
      const note = 'fallbackMemory is on: the store is an in-memory MemoryStore, there is no server to check';
      if (json) io.out(JSON.stringify({ file: loaded.filepath, env: loaded.envName ?? null, fallbackMemory: true, note }, null, 2));
      else io.out(`config      ${loaded.filepath} (environment: ${envLabel(loaded)})\n${note}`);
      return EXIT.ok;
    }
    const report = await runDoctor(loaded, timeoutMS ?? Math.min(loaded.normalized.operationTimeoutMS, 10_000));
    if (json) io.out(JSON.stringify({ file: loaded.filepath, env: loaded.envName ?? null, ...report }, null, 2));
    else io.out(doctorText(loaded, report));
    return EXIT.ok;
  } catch (e) {
    if (e instanceof UsageError) {
      if (json) io.out(JSON.stringify({ error: 'usage', message: e.message }));
      io.err(`connect-mongo: ${e.message}\nRun "connect-mongo --help" for usage.`);
      return EXIT.usage;
    }
    if (e instanceof ConfigFileError) {
      if (json) io.out(JSON.stringify({ valid: false, error: e.reason, file: e.filepath ?? null, message: e.message, issues: [] }, null, 2));
      io.err(e.message);
      return EXIT.notFound;
    }
    if (e instanceof OptionsError) {
      if (json) io.out(JSON.stringify({ error: 'invalid', file: e.source, issues: e.issues }, null, 2));
      io.err(issuesText(e));
      return EXIT.invalid;
    }
    if (e instanceof DoctorConnectError) {
      if (json) io.out(JSON.stringify({ error: 'unreachable', message: e.message }, null, 2));
      io.err(`connect-mongo ${command}: ${e.message}`);
      return EXIT.unreachable;
    }
    io.err(`connect-mongo: internal error: ${(e as Error)?.message ?? String(e)}${process.env.CONNECT_MONGO_DEBUG ? `\n${(e as Error)?.stack}` : ''}`);
    return EXIT.internal;
  }
}

function doctorText(l: LoadedConfig, r: DoctorReport): string {
  const s = r.server;
  const server = s.kind === 'FerretDB' ? `FerretDB ${s.ferretdbVersion ?? ''} (reports MongoDB ${s.version}), ${s.topology}` : `MongoDB ${s.version}, ${s.topology}`;
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

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`connect-mongo: internal error: ${(e as Error)?.message ?? String(e)}\n`);
      process.exitCode = EXIT.internal;
    },
  );
}
