/**
 * How the command line prints a config's problems: for a person (the messages as they always were, each with its
 * file:line:column in front, clickable in terminals and editors) or as GitHub Actions workflow commands, which the
 * runner turns into annotations on the pull request's diff.
 */
import { isAbsolute, relative } from 'node:path';
import { printable } from '../errors';
import type { LoadedConfig } from './load';
import type { LocatedIssue } from './positions';

/** `file` relative to `base` when it is inside it (what CI logs and `file=` want), else as it is. */
export function shownPath(file: string, base: string = process.cwd()): string {
  const rel = relative(base, file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split('\\').join('/') : file;
}

export function envLabel(l: LoadedConfig): string {
  if (!l.envName) return l.envBlocks.length ? `none (NODE_ENV is not set; blocks: ${l.envBlocks.join(', ')})` : 'none';
  return l.envApplied ? l.envName : `${l.envName} (no block for it in the file)`;
}

const count = (n: number) => (n === 1 ? '1 problem' : `${n} problems`);

/** "✗ file: N problems", then each problem as `  file:line:col  /path  message` (no position: `  /path  message`). */
export function problemsText(source: string, issues: LocatedIssue[], note: string | null): string {
  const shown = printable(shownPath(source));
  const lines = issues.map((i) => `  ${i.line !== null ? `${shown}:${i.line}:${i.column}  ` : ''}${printable(i.path)}  ${printable(i.message)}`);
  return [`✗ ${printable(source)}: ${count(issues.length)}`, ...lines, ...(note ? [`  (${note})`] : [])].join('\n');
}

export function problemsSummary(source: string, n: number): string {
  return `${printable(source)}: ${count(n)}`;
}

// Workflow commands: https://docs.github.com/actions/reference/workflow-commands-for-github-actions
const data = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const prop = (s: string) => data(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

/**
 * One `::error file=…,line=…,col=…::/path  message` line a problem. `file=` is relative to the workspace
 * ($GITHUB_WORKSPACE, else the current directory), as the runner matches it against the repository's paths.
 */
export function githubLines(source: string, issues: LocatedIssue[]): string[] {
  const file = shownPath(source, process.env.GITHUB_WORKSPACE || process.cwd());
  return issues.map((i) => `::error file=${prop(file)}${i.line !== null ? `,line=${i.line},col=${i.column}` : ''},title=connect-mongo validate::${data(`${printable(i.path)}  ${i.message}`)}`);
}

/** A failure that is about no line of a file (not found, unreadable): an annotation without a position. */
export function githubError(message: string): string {
  return `::error title=connect-mongo validate::${data(message)}`;
}
