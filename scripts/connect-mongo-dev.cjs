#!/usr/bin/env node
// `npx connect-mongo` in a clone of the repo: node_modules/.bin/connect-mongo links here (made by `npm ci`, see
// scripts/link-dev-bin.mjs). It runs the TypeScript source through tsx, so the command is always the checked-out
// code and there is no build to remember. The published package's bin is the compiled dist/src/cli.js instead.
'use strict';
require('tsx/cjs');
require('../src/cli.ts').runCli(process.argv.slice(2));
