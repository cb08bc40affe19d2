/**
 * The query plan the server uses for `find({_id})`, so that a benchmark shows whether lookups by `_id` use the index
 * (FerretDB v1.24.2 unpatched scans: see scripts/ferretdb/id-index.patch). FerretDB's `explain` returns its
 * backend's plan (SQLite: EXPLAIN QUERY PLAN rows; PostgreSQL: EXPLAIN's JSON); a real mongod its winning plan.
 */
import type { Document, MongoClient } from 'mongodb';

export interface IdPlan {
  /** one line: e.g. "SEARCH t USING INDEX t__id_ (<expr>=?)", "Index Scan using t__id__idx", "EXPRESS_IXSCAN" */
  summary: string;
  /** false when the plan reads the whole collection */
  usesIndex: boolean;
  /** FerretDB only: whether the filter went to SQL at all */
  filterPushdown?: boolean;
}

function pgNode(p: Document): string[] {
  const own = [p['Node Type'], p['Index Name'] ? `using ${p['Index Name']}` : '', p['Index Cond'] ? `(${p['Index Cond']})` : p.Filter ? `(filter ${p.Filter})` : '']
    .filter(Boolean)
    .join(' ');
  return [own, ...((p.Plans as Document[] | undefined) ?? []).flatMap(pgNode)];
}

function mongoStages(p: Document | undefined): string[] {
  if (!p) return [];
  return [String(p.stage), ...mongoStages(p.inputStage), ...((p.inputStages as Document[] | undefined) ?? []).flatMap(mongoStages)];
}

export function summarizePlan(explain: Document): IdPlan {
  const qp = (explain.queryPlanner ?? {}) as Document;
  const pushdown = typeof explain.filterPushdown === 'boolean' ? explain.filterPushdown : undefined;
  let lines: string[];
  if (Array.isArray(qp.Plan)) lines = qp.Plan.map((row: string) => String(row).replace(/^.*detail=/, ''));
  else if (qp.Plan && typeof qp.Plan === 'object') lines = pgNode(qp.Plan as Document);
  else if (qp.winningPlan) lines = mongoStages(qp.winningPlan as Document);
  else lines = [`(no plan: ${JSON.stringify(qp).slice(0, 120)})`];
  const summary = lines.join(' ← ');
  const scans = /\bSCAN\b(?! .* USING)|Seq Scan|COLLSCAN/.test(summary) && !/USING (INDEX|PRIMARY KEY|COVERING INDEX)|Index Scan|Index Only Scan|IXSCAN|IDHACK/.test(summary);
  return { summary, usesIndex: !scans && !summary.startsWith('(no plan'), filterPushdown: pushdown };
}

/** explain of `find({_id: sid})` on one collection, summarized. */
export async function idQueryPlan(client: MongoClient, dbName: string, collection: string, sid: string, filter: object = { _id: sid }): Promise<IdPlan> {
  const explain = await client.db(dbName).command({ explain: { find: collection, filter, limit: 1 }, verbosity: 'queryPlanner' });
  return summarizePlan(explain);
}
