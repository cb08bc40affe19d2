/**
 * The shapes the loader's steps share: what a caller asks for and what it gets back. Their own module so that every
 * step can name them without importing the public entry (load.ts), which imports the steps.
 */
import type { MongoStoreOptions, NormalizedOptions } from '../options';
import type { Env } from './env';

export interface ConfigOptions<S = any> {
  /** directory to start the search from (default: process.cwd()); the search walks up to the nearest package.json; with none above it, only this directory is searched */
  searchFrom?: string;
  /** an explicit config file (no search); relative to process.cwd() */
  configPath?: string;
  /** environment block to apply (default: NODE_ENV from `env`; none when unset) */
  envName?: string;
  /** options from code, merged over the file: a client, a mongoose connection, serialize functions, … */
  overrides?: Partial<MongoStoreOptions<S>>;
  /** where ${VAR} and NODE_ENV are read (default: process.env) */
  env?: Env;
}

export interface LoadedConfig<S = any> {
  /** absolute path of the file used */
  filepath: string;
  /** the environment name used (undefined: none given) */
  envName?: string;
  /** the env block names the file has */
  envBlocks: string[];
  /** whether an env block was applied */
  envApplied: boolean;
  /** the options given to `new MongoStore()`: file, env block, variables filled, overrides (secrets NOT masked) */
  options: MongoStoreOptions<S>;
  /** what normalizeOptions made of them (defaults applied) */
  normalized: NormalizedOptions<S>;
}
