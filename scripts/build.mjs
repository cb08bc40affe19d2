#!/usr/bin/env node
// Builds dist/: tsc compiles src/ and generated/ to CommonJS (one implementation, so `instanceof` holds across
// require and import), then two small entry points give the shapes users expect:
//   dist/index.cjs  require('connect-mongo') → the callable export (classic factory, constructor, .create, .MongoStore…)
//   dist/index.mjs  import MongoStore, { MongoStore, createStoreFromConfig } from 'connect-mongo'
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The default export is a type too (connect-mongo 6's is a class): `let s: MongoStore` after a default import. */
const DEFAULT_AS_TYPE = 'type connectMongo<S extends SessionData = SessionData> = MongoStore<S>;';

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
writeFileSync(join(dist, 'index.d.mts'), esmTypes());
writeFileSync(join(dist, 'index.d.cts'), cjsTypes());
chmodSync(join(dist, 'src/cli.js'), 0o755);
// connect-mongo/connect-mongodb-session: connect-mongodb-session's factory, `module.exports = function (connect)` as there
writeFileSync(join(dist, 'connect-mongodb-session.cjs'), `${banner}'use strict';\nmodule.exports = require('./src/compat/connect-mongodb-session.js').default;\n`);
writeFileSync(join(dist, 'connect-mongodb-session.mjs'), `${banner}import connectMongoDBSession from './connect-mongodb-session.cjs';\nexport default connectMongoDBSession;\n`);
writeFileSync(join(dist, 'connect-mongodb-session.d.mts'), `${banner}import type * as cms from './src/compat/connect-mongodb-session.js';\nexport type { ConnectMongoDBSessionStore, ConnectMongoDBSessionStoreConstructor, CmsOptions } from './src/compat/connect-mongodb-session.js';\ndeclare const factory: typeof cms.default;\nexport default factory;\n`);
writeFileSync(join(dist, 'connect-mongodb-session.d.cts'), `${banner}import type * as cms from './src/compat/connect-mongodb-session.js';\ndeclare const factory: typeof cms.default;\ndeclare namespace factory {\n  export type ConnectMongoDBSessionStore = cms.ConnectMongoDBSessionStore;\n  export type ConnectMongoDBSessionStoreConstructor = cms.ConnectMongoDBSessionStoreConstructor;\n  export type CmsOptions = cms.CmsOptions;\n}\nexport = factory;\n`);
console.log(`dist/: index.cjs, index.mjs (${names.length} named exports)`);


/**
 * ESM declarations. dist/src/index.d.ts is a CommonJS module, and a TypeScript ESM consumer that imports a CommonJS
 * module's default gets its whole exports object, not `exports.default`; so the default is declared here, typed as
 * the callable export.
 */
function esmTypes() {
  return `${banner}import type { ConnectMongo, MongoStore, SessionData } from './src/index.js';\nexport * from './src/index.js';\ndeclare const connectMongo: ConnectMongo;\n${DEFAULT_AS_TYPE}\nexport default connectMongo;\n`;
}

/**
 * CommonJS declarations: `export =` the callable export, as index.cjs does at run time, so that
 * `import connectMongo = require('connect-mongo')` (and `require()` in checked JS) is callable and constructible,
 * while `import connectMongo, { MongoStore } from 'connect-mongo'` keeps working with esModuleInterop. Values are
 * properties of the callable; every exported type is restated in a type-only namespace merged with it (a namespace
 * holding values could not merge with a const). Type parameters keep their constraints and defaults, whose names
 * are imported here from where the declaring file imported them.
 */
function cjsTypes() {
  const ts = createRequire(import.meta.url)(join(root, 'node_modules/typescript'));
  const entry = join(dist, 'src/index.d.ts');
  const program = ts.createProgram([entry], { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16, target: ts.ScriptTarget.ES2022, types: ['node'], skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const exportsOf = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)));
  const callable = checker.getDeclaredTypeOfSymbol(exportsOf.find((e) => e.name === 'ConnectMongo'));
  const imports = new Map(); // module#name → { alias, line }
  const members = [];
  for (const sym of exportsOf) {
    if (sym.name === 'default') continue;
    const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
    if (target.flags & ts.SymbolFlags.Value && !callable.getProperty(sym.name)) {
      throw new Error(`build: ${sym.name} is exported by src/index.ts but is not a property of the callable default export (require('connect-mongo').${sym.name} would be undefined)`);
    }
    if (!(target.flags & ts.SymbolFlags.Type)) continue;
    const decl = target.declarations[0];
    const params = (ts.getEffectiveTypeParameterDeclarations(decl) ?? []).map((tp) => {
      const text = (node) => rewriteNames(ts, program, checker, node, imports);
      return `${tp.name.text}${tp.constraint ? ` extends ${text(tp.constraint)}` : ''}${tp.default ? ` = ${text(tp.default)}` : ''}`;
    });
    const args = params.length ? `<${params.join(', ')}>` : '';
    const use = params.length ? `<${params.map((p) => p.split(/\s/)[0]).join(', ')}>` : '';
    members.push(`  export type ${sym.name}${args} = api.${sym.name}${use};`);
  }
  return `${banner}import type * as api from './src/index.js';\n${[...imports.values()].map((i) => `${i.line}\n`).join('')}\ntype SessionData = api.SessionData;\ndeclare const connectMongo: api.ConnectMongo;\n${DEFAULT_AS_TYPE.replace('MongoStore<S>', 'api.MongoStore<S>')}\ndeclare namespace connectMongo {\n${members.join('\n')}\n}\nexport = connectMongo;\n`;
}

/** A type node's text with every imported name replaced by an alias imported into the generated file. */
function rewriteNames(ts, program, checker, node, imports) {
  const file = node.getSourceFile();
  const edits = [];
  const visit = (n) => {
    if (ts.isIdentifier(n) && !(ts.isQualifiedName(n.parent) && n.parent.right === n)) {
      const sym = checker.getSymbolAtLocation(n);
      const decl = sym?.declarations?.[0];
      if (decl && (ts.isImportSpecifier(decl) || ts.isNamespaceImport(decl))) {
        let from = ts.findAncestor(decl, ts.isImportDeclaration).moduleSpecifier.text;
        if (from.startsWith('.')) from = `./${relative(dist, join(dirname(file.fileName), from)).replace(/\\/g, '/')}`;
        const imported = ts.isImportSpecifier(decl) ? (decl.propertyName ?? decl.name).text : '*';
        const key = `${from}#${imported}`;
        if (!imports.has(key)) {
          const alias = `__${imported === '*' ? 'ns' : imported}_${imports.size}`;
          imports.set(key, { alias, line: imported === '*' ? `import type * as ${alias} from '${from}';` : `import type { ${imported} as ${alias} } from '${from}';` });
        }
        edits.push([n.getStart(), n.getEnd(), imports.get(key).alias]);
      } else if (decl && !ts.isTypeParameterDeclaration(decl) && !program.isSourceFileDefaultLibrary(decl.getSourceFile())) {
        // A name declared in the file itself (or anywhere but lib.d.ts) would need an import of its own: not done yet.
        throw new Error(`build: cannot restate a type parameter of ${file.fileName}: ${n.text} is neither global nor imported`);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(node);
  const start = node.getStart();
  let text = node.getText();
  for (const [from, to, alias] of edits.sort((a, b) => b[0] - a[0])) text = text.slice(0, from - start) + alias + text.slice(to - start);
  return text;
}
