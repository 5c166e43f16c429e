import type { UsageRecord, UsageRow } from './api';

export type Metric = 'requests' | 'tokens' | 'cost';
export type GroupBy = 'model' | 'key';

export interface Series {
  /** One row per day: {day: "2026-12-01", [group]: value}. */
  rows: Array<Record<string, number | string>>;
  /** The groups, biggest first; the smaller ones beyond the limit are folded into "Other". */
  groups: string[];
  total: number;
}

export const OTHER = 'Other';

/** dayOf is a record's UTC day, "YYYY-MM-DD". */
export function dayOf(iso: string): string {
  return iso.slice(0, 10);
}

/** daysBetween lists the UTC days from since to now, inclusive. */
export function daysBetween(since: Date, now = new Date()): string[] {
  const out: string[] = [];
  const d = new Date(Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), since.getUTCDate()));
  const end = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  while (d.getTime() <= end && out.length < 400) {
    out.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}

export function valueOf(r: UsageRow, m: Metric): number {
  if (m === 'requests') return r.requests;
  if (m === 'tokens') return r.input_tokens + r.output_tokens;
  return r.cost;
}

export function groupOf(r: UsageRow, by: GroupBy, keyNames: Map<number, string>): string {
  if (by === 'model') return r.model || '(none)';
  return keyNames.get(r.key_id) ?? `key #${r.key_id}`;
}

/** aggregate sums a metric of rollup rows per day and group, zero-filled over days, keeping the top `limit` groups. */
export function aggregate(rows: UsageRow[], metric: Metric, by: GroupBy, days: string[], keyNames: Map<number, string>, limit = 6): Series {
  const inRange = new Set(days);
  rows = rows.filter((r) => inRange.has(dayOf(r.bucket)));
  const totals = new Map<string, number>();
  for (const r of rows) {
    const g = groupOf(r, by, keyNames);
    totals.set(g, (totals.get(g) ?? 0) + valueOf(r, metric));
  }
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([g]) => g);
  const kept = ranked.slice(0, limit);
  const keep = new Set(kept);
  const groups = ranked.length > limit ? [...kept, OTHER] : kept;

  const byDay = new Map<string, Record<string, number | string>>();
  for (const d of days) {
    const row: Record<string, number | string> = { day: d };
    for (const g of groups) row[g] = 0;
    byDay.set(d, row);
  }
  let total = 0;
  for (const r of rows) {
    const row = byDay.get(dayOf(r.bucket));
    if (!row) continue; // unreachable: filtered above
    const g0 = groupOf(r, by, keyNames);
    const g = keep.has(g0) ? g0 : OTHER;
    const v = valueOf(r, metric);
    row[g] = (row[g] as number) + v;
    total += v;
  }
  return { rows: days.map((d) => byDay.get(d) ?? { day: d }), groups, total };
}

export interface UsageFilter {
  model: string;
  keyId: string;
  outcome: '' | 'ok' | 'error';
}

export function filterRecords(records: UsageRecord[], f: UsageFilter): UsageRecord[] {
  return records.filter(
    (r) =>
      (!f.model || r.model === f.model) &&
      (!f.keyId || String(r.key_id) === f.keyId) &&
      (!f.outcome || (f.outcome === 'ok' ? r.status < 400 : r.status >= 400)),
  );
}

/** filterRows applies the filter to rollup rows (a row is one status: its outcome is the row's). */
export function filterRows(rows: UsageRow[], f: UsageFilter): UsageRow[] {
  return rows.filter(
    (r) =>
      (!f.model || r.model === f.model) &&
      (!f.keyId || String(r.key_id) === f.keyId) &&
      (!f.outcome || (f.outcome === 'ok' ? r.status < 400 : r.status >= 400)),
  );
}
