import { fetchAll } from '../../lib/api';

export interface UsageRecord {
  id: number;
  request_id: string;
  response_id?: string;
  key_id: number;
  user_id: number;
  model: string;
  deployment?: string;
  provider: string;
  endpoint: string;
  stream: boolean;
  input_tokens: number;
  output_tokens: number;
  latency_ms: number;
  ttft_ms?: number;
  status: number;
  error_code?: string;
  cost: number;
  route?: string;
  created_at: string;
}

/** MAX_PAGES × 500 records is what the page aggregates in the browser. */
export const MAX_PAGES = 20;

/** sinceFor is the start (UTC midnight) of a range of days ending today. */
export function sinceFor(days: number, now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1)));
}

export function fetchUsage(days: number, signal?: AbortSignal) {
  return fetchAll<UsageRecord>(`/api/usage?since=${encodeURIComponent(sinceFor(days).toISOString().replace(/\.\d{3}Z$/, 'Z'))}`, MAX_PAGES, signal);
}

/** UsageRow is one row of GET /api/usage/summary: a day × key × model × status of the rollups. */
export interface UsageRow {
  id: number;
  bucket: string;
  key_id: number;
  model: string;
  status: number;
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cost: number;
}

/**
 * fetchSummary reads the team's usage per UTC day, key, model and status from the rollups
 * (docs/usage-analytics.md): totals and charts count every request, however many there were.
 */
export function fetchSummary(days: number, signal?: AbortSignal) {
  const since = encodeURIComponent(sinceFor(days).toISOString().replace(/\.\d{3}Z$/, 'Z'));
  return fetchAll<UsageRow>(`/api/usage/summary?interval=day&group_by=key,model,status&since=${since}`, MAX_PAGES, signal);
}
