#!/usr/bin/env node
// Builds dist/: tsc compiles src/ and generated/ to CommonJS (one implementation, so `instanceof` holds across
// require and import), then two small entry points give the shapes users expect:
//   dist/index.cjs  require('connect-mongo') → the callable export (classic factory, constructor, .create, .MongoStore…)
//   dist/index.mjs  import MongoStore, { MongoStore, createStoreFromConfig } from 'connect-mongo'
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });

const banner = '// Built by scripts/build.mjs.\n';
writeFileSync(join(dist, 'index.cjs'), `${banner}'use strict';\nmodule.exports = require('./src/index.js').default;\n`);
const names = Object.keys(createRequire(join(dist, 'index.cjs'))('./src/index.js')).filter((n) => n !== 'default' && n !== '__esModule');
// Named exports come from the module's own exports object, so none can be missed.
writeFileSync(
  join(dist, 'index.mjs'),
  `${banner}import connectMongo from './index.cjs';\nimport exportsObject from './src/index.js';\nexport default connectMongo;\nexport const { ${names.join(', ')} } = exportsObject;\n`,
);
const types = `${banner}export * from './src/index.js';\nexport { default } from './src/index.js';\n`;
writeFileSync(join(dist, 'index.d.mts'), types);
writeFileSync(join(dist, 'index.d.cts'), types);
chmodSync(join(dist, 'src/cli.js'), 0o755);
console.log(`dist/: index.cjs, index.mjs (${names.length} named exports)`);

