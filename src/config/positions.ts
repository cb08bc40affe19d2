/**
 * Where an issue's JSON path is written in its file, as line:column (1-based), for `connect-mongo validate` as a
 * linter. The positions come from a parser that keeps them: the `yaml` package's nodes and LineCounter, for YAML and
 * for JSON alike (JSON is YAML 1.2's flow style; the values themselves are still read by the loaders of parse.ts).
 * In package.json the options are under its "connect-mongo" key. A JavaScript config is run, not parsed: it has no
 * positions, and none is guessed.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from 'yaml';
import type { OptionIssue } from '../errors';
import { MAX_CONFIG_BYTES, parseErrorPosition } from './parse';

/** An issue with where it is written; line and column are null where no parser could tell (a JavaScript config). */
export interface LocatedIssue extends OptionIssue {
  line: number | null;
  column: number | null;
}

export const NO_POSITIONS_JS = 'a JavaScript config is run, not parsed: its problems have JSON paths but no line:column';

/** Issues about a key itself point at the key; the others at the value written there. */
const KEY_ISSUE = /^(?:unknown option |conflicts with |invalid environment name |the key )/;

type Kind = 'json' | 'yaml' | 'package.json' | 'js';
function kindOf(filepath: string): Kind | undefined {
  if (basename(filepath) === 'package.json') return 'package.json';
  const ext = extname(filepath);
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml' || ext === '') return 'yaml';
  if (ext === '.js' || ext === '.cjs' || ext === '.mjs') return 'js';
  return undefined;
}

interface Found {
  node?: Node | null;
  key?: Node | null;
  /** every segment of the path was found */
  complete: boolean;
}

function keyText(pair: Pair): string | undefined {
  return isScalar(pair.key) ? String(pair.key.value) : undefined;
}

/** The pair for `seg` in a map: the last one (JSON.parse keeps the last of duplicate keys), or one a YAML `<<` merges. */
function pairIn(doc: Document, node: Node, seg: string, depth = 0): Pair | undefined {
  if (!isMap(node) || depth > 8) return undefined;
  const pairs = node.items as Pair[];
  const own = pairs.filter((p) => keyText(p) === seg).pop();
  if (own) return own;
  for (const merge of pairs.filter((p) => keyText(p) === '<<')) {
    const sources = isSeq(merge.value) ? merge.value.items : [merge.value];
    for (const s of sources) {
      const src = isAlias(s) ? s.resolve(doc) : s;
      const hit = src ? pairIn(doc, src as Node, seg, depth + 1) : undefined;
      if (hit) return hit;
    }
  }
  return undefined;
}

/** Walks a JSON pointer down the document's nodes, as far as it is written. */
function walk(doc: Document, root: Node | null | undefined, rootKey: Node | null | undefined, path: string): Found {
  const segs = path === '/' || path === '' ? [] : path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let node = root;
  let key = rootKey;
  for (const seg of segs) {
    const here = node && isAlias(node) ? (node.resolve(doc) as Node | undefined) : node;
    if (here && isSeq(here) && /^\d+$/.test(seg) && Number(seg) < here.items.length) {
      node = here.items[Number(seg)] as Node;
      key = undefined;
      continue;
    }
    const pair = here ? pairIn(doc, here, seg) : undefined;
    if (!pair) return { node, key, complete: false };
    key = pair.key as Node;
    node = pair.value as Node | null;
  }
  return { node, key, complete: true };
}

/** Each issue of `filepath` with its line and column (null where they cannot be known), and a note when none can. */
export function locateIssues(filepath: string, issues: OptionIssue[]): { issues: LocatedIssue[]; note: string | null } {
  const none = (i: OptionIssue): LocatedIssue => ({ path: i.path, message: i.message, line: null, column: null });
  const kind = kindOf(filepath);
  if (kind === 'js') return { issues: issues.map(none), note: NO_POSITIONS_JS };
  let text: string;
  try {
    text = readFileSync(filepath, 'utf8').replace(/^\uFEFF/, '');
  } catch {
    return { issues: issues.map(none), note: null };
  }
  const lc = new LineCounter();
  const doc = kind && text.length <= MAX_CONFIG_BYTES ? parseDocument(text, { lineCounter: lc, uniqueKeys: false, strict: false, prettyErrors: false }) : undefined;
  const usable = doc && doc.errors.length === 0;
  let root = usable ? (doc.contents as Node | null) : undefined;
  let rootKey: Node | undefined;
  if (usable && kind === 'package.json') {
    const pair = root ? pairIn(doc, root, 'connect-mongo') : undefined;
    root = pair?.value as Node | undefined;
    rootKey = pair?.key as Node | undefined;
  }
  return {
    note: null,
    issues: issues.map((i) => {
      // A file that does not parse: the parser's own position, as its message gives it.
      const parsed = parseErrorPosition(i.message);
      if (parsed) return { ...none(i), ...parsed };
      if (!usable || (!root && !rootKey)) return none(i);
      const f = walk(doc, root, rootKey, i.path);
      const target = f.complete && !KEY_ISSUE.test(i.message) ? (f.node ?? f.key) : (f.key ?? f.node);
      const offset = target?.range?.[0];
      if (offset === undefined) return none(i);
      const { line, col } = lc.linePos(offset);
      return { ...none(i), line, column: col };
    }),
  };
}
