/**
 * The loader's pipeline, shared by the sync and async entries: the content of a config file → validated store
 * options. Each step is a module of its own; this file only runs them in order. Every issue of the file is gathered
 * before one OptionsError is thrown, so a user fixes the file in one go; every message is redacted of its secrets.
 */
import type { CosmiconfigResult } from 'cosmiconfig';
import { OptionsError, type OptionIssue } from '../errors';
import type { MongoStoreOptions } from '../options';
import { pickEnvName, type Env } from './env';
import { envBlocks, envNameIssue, withEnvBlock, type EnvBlocks } from './env-block';
import { withOverrides } from './overrides';
import { fileObject } from './read';
import { collectSecrets, redact } from './secrets';
import type { ConfigOptions, LoadedConfig } from './types';
import { layerIssues, normalizedOptions } from './validate';
import { filledLayers, type Layer } from './variables';

/** What steps 1-4 make of a file under one environment name: everything wrong where it is written, and the layers. */
export interface FileCheck {
  secrets: Set<string>;
  blocks: EnvBlocks;
  /** every problem of the layers, in the file's order (missing variables among them when `requireVars`) */
  report: OptionIssue[];
  /** the file's paths of strings left as written because a variable is missing */
  unresolved: Set<string>;
  base: Layer;
  /** the selected env block, variables filled (undefined: none applies) */
  selected?: Record<string, unknown>;
}

/**
 * Steps 1 to 4 on the file, nothing thrown about its options. `requireVars: false` leaves out the missing variables
 * (validate --all-envs: one machine rarely holds every environment's secrets).
 */
export function checkFile(result: NonNullable<CosmiconfigResult>, o: { envName?: string; env: Env; fromCode: boolean; requireVars: boolean }): FileCheck {
  // 1. read: what the file holds, an object of options
  const { raw, secrets } = fileObject(result);
  // 2. env block: the file's blocks, and which of them applies
  const { blocks, issues } = envBlocks(raw);
  // 3. variables: the base and every block with ${VAR} filled
  const layers = filledLayers(raw, blocks, o.envName, o.env);
  // 4. validate each layer where it is written
  const report: OptionIssue[] = [...issues];
  const nameIssue = envNameIssue(o.envName, o.fromCode, blocks);
  if (nameIssue) report.push(nameIssue);
  const unresolved = new Set<string>();
  for (const layer of layers) {
    collectSecrets(layer.value, layer.prefix, secrets);
    report.push(...layer.issues, ...(o.requireVars ? layer.missing : []), ...layerIssues(layer));
    for (const p of layer.unresolved) unresolved.add(p);
  }
  const [base, ...blockLayers] = layers;
  return { secrets, blocks, report, unresolved, base, selected: blockLayers.find((l) => l.name === o.envName)?.value };
}

/** The heart of it, shared by the sync and async loaders: raw file content → validated store options. */
export function resolveConfig<S = any>(result: NonNullable<CosmiconfigResult>, opts: ConfigOptions<S> = {}): LoadedConfig<S> {
  const filepath = result.filepath;
  const env: Env = opts.env ?? process.env;
  const envName = pickEnvName(opts.envName, env);
  const { secrets, blocks, report, base, selected } = checkFile(result, { envName, env, fromCode: opts.envName !== undefined && opts.envName !== '', requireVars: true });
  if (report.length) throw new OptionsError(redact(report, secrets), filepath);
  // 2'. the env block merged over the base; 5. the overrides from code over both
  const { merged, fromCode } = withOverrides(withEnvBlock(base.value, selected), opts.overrides, secrets);
  // 4'. the merged options validated as `new MongoStore()` will take them
  const normalized = normalizedOptions<S>(merged, { filepath, secrets, fromCode, envName, selected, blockNames: Object.keys(blocks) });
  return {
    filepath,
    envName,
    envBlocks: Object.keys(blocks),
    envApplied: !!selected,
    options: merged as MongoStoreOptions<S>,
    normalized,
  };
}
