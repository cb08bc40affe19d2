/**
 * The loader's pipeline, shared by the sync and async entries: the content of a config file → validated store
 * options. Each step is a module of its own; this file only runs them in order. Every issue of the file is gathered
 * before one OptionsError is thrown, so a user fixes the file in one go; every message is redacted of its secrets.
 */
import type { CosmiconfigResult } from 'cosmiconfig';
import { OptionsError, type OptionIssue } from '../errors';
import type { MongoStoreOptions } from '../options';
import { pickEnvName, type Env } from './env';
import { envBlocks, envNameIssue, withEnvBlock } from './env-block';
import { withOverrides } from './overrides';
import { fileObject } from './read';
import { collectSecrets, redact } from './secrets';
import type { ConfigOptions, LoadedConfig } from './types';
import { layerIssues, normalizedOptions } from './validate';
import { filledLayers } from './variables';

/** The heart of it, shared by the sync and async loaders: raw file content → validated store options. */
export function resolveConfig<S = any>(result: NonNullable<CosmiconfigResult>, opts: ConfigOptions<S> = {}): LoadedConfig<S> {
  const filepath = result.filepath;
  const env: Env = opts.env ?? process.env;
  // 1. read: what the file holds, an object of options
  const { raw, secrets } = fileObject(result);
  // 2. env block: the file's blocks, and which of them applies
  const envName = pickEnvName(opts.envName, env);
  const { blocks, issues } = envBlocks(raw);
  // 3. variables: the base and every block with ${VAR} filled
  const layers = filledLayers(raw, blocks, envName, env);
  // 4. validate each layer where it is written
  const report: OptionIssue[] = [...issues];
  const nameIssue = envNameIssue(envName, opts.envName !== undefined && opts.envName !== '', blocks);
  if (nameIssue) report.push(nameIssue);
  for (const layer of layers) {
    collectSecrets(layer.value, layer.prefix, secrets);
    report.push(...layer.issues, ...layerIssues(layer));
  }
  if (report.length) throw new OptionsError(redact(report, secrets), filepath);
  const [base, ...blockLayers] = layers;
  const selected = blockLayers.find((l) => l.name === envName)?.value;
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
