/**
 * File loaders for cosmiconfig whose errors say file, line and column but never quote the file's text: the stock
 * ones (parse-json, js-yaml) print a code frame, and the line they show may be the one holding a password.
 */
import { defaultLoaders, defaultLoadersSync, type Loader, type LoaderSync } from 'cosmiconfig';

/** A file that exists but cannot be parsed. `line`/`column` are 1-based when the parser knew them. */
export class ConfigParseError extends Error {
  constructor(
    readonly filepath: string,
    readonly format: string,
    readonly reason: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(`invalid ${format}${line ? ` at line ${line}, column ${column}` : ''}: ${reason}`);
    this.name = 'ConfigParseError';
  }
}

/** The line and column a ConfigParseError's message names (the issue `validate` reports for a file that does not parse). */
export function parseErrorPosition(message: string): { line: number; column: number } | undefined {
  const m = /^invalid (?:JSON|YAML) at line (\d+), column (\d+): /.exec(message);
  return m ? { line: Number(m[1]), column: Number(m[2]) } : undefined;
}

/** A config holds a few options; a bigger file is a mistake (or an attack), refused before it is parsed. */
export const MAX_CONFIG_BYTES = 1 << 20;

function checkSize(filepath: string, format: string, content: string) {
  if (content.length > MAX_CONFIG_BYTES) {
    throw new ConfigParseError(filepath, format, `the file has ${content.length} characters, more than a config needs (at most ${MAX_CONFIG_BYTES})`);
  }
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

export const loadJson: LoaderSync = (filepath, content) => {
  checkSize(filepath, 'JSON', content);
  const text = content.replace(/^\uFEFF/, '');
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    // V8: `Unexpected token 'x', "…source…" is not valid JSON` or `… in JSON at position N`; keep the reason only.
    const pos = /at position (\d+)/.exec(msg);
    const reason = msg
      .replace(/, ".*" is not valid JSON$/s, '')
      .replace(/ in JSON at position \d+.*$/s, '')
      .replace(/ \(line \d+ column \d+\)$/, '');
    const at = lineColumn(text, pos ? Number(pos[1]) : text.length);
    throw new ConfigParseError(filepath, 'JSON', reason, at.line, at.column);
  }
};

function yamlError(filepath: string, e: unknown): never {
  const err = e as { reason?: string; mark?: { line: number; column: number }; message?: string };
  if (e instanceof RangeError) throw new ConfigParseError(filepath, 'YAML', 'nested too deeply to parse');
  if (err && typeof err.reason === 'string') {
    throw new ConfigParseError(filepath, 'YAML', err.reason, err.mark ? err.mark.line + 1 : undefined, err.mark ? err.mark.column + 1 : undefined);
  }
  throw new ConfigParseError(filepath, 'YAML', 'cannot be parsed');
}

export const loadYaml: LoaderSync = (filepath, content) => {
  checkSize(filepath, 'YAML', content);
  try {
    return defaultLoadersSync['.yaml'](filepath, content);
  } catch (e) {
    yamlError(filepath, e);
  }
};

/** A JS config that throws (or does not parse): the error's first line, not its stack or source excerpt. */
function jsError(filepath: string, e: unknown): never {
  const first = String((e as Error)?.message ?? e).split('\n')[0];
  throw new ConfigParseError(filepath, 'JavaScript module', first.replace(filepath, '<the file>'));
}

export const loadJs: Loader = async (filepath, content) => {
  checkSize(filepath, 'JavaScript module', content);
  try {
    const mod = await defaultLoaders['.js'](filepath, content);
    return mod;
  } catch (e) {
    jsError(filepath, e);
  }
};

export const loadJsSync: LoaderSync = (filepath, content) => {
  checkSize(filepath, 'JavaScript module', content);
  try {
    const mod = defaultLoadersSync['.js'](filepath, content);
    // require() of a transpiled ESM module gives { default }: take the default export like the async loader does.
    return mod && typeof mod === 'object' && (mod as { __esModule?: boolean }).__esModule && 'default' in mod ? (mod as { default: unknown }).default : mod;
  } catch (e) {
    // Node without require(esm) (before 20.19 / 22.12), or an ES module with top-level await.
    if ((e as { code?: string })?.code === 'ERR_REQUIRE_ESM' || (e as { code?: string })?.code === 'ERR_REQUIRE_ASYNC_MODULE') {
      throw new ConfigParseError(filepath, 'JavaScript module', 'is an ES module, which the synchronous loader cannot load: use createStoreFromConfig (async), or a .cjs / .json / .yaml config');
    }
    jsError(filepath, e);
  }
};

export const asyncLoaders = { '.json': loadJson, '.yaml': loadYaml, '.yml': loadYaml, noExt: loadYaml, '.js': loadJs, '.cjs': loadJs, '.mjs': loadJs };
export const syncLoaders = { '.json': loadJson, '.yaml': loadYaml, '.yml': loadYaml, noExt: loadYaml, '.js': loadJsSync, '.cjs': loadJsSync };
