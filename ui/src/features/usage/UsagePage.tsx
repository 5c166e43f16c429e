import { useMemo, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import * as Tabs from '@radix-ui/react-tabs';
import { Button } from '../../components/Button';
import { SelectField } from '../../components/Field';
import { Badge, PageHeader, Section } from '../../components/Page';
import { Pager, usePager } from '../../components/Pager';
import { EmptyState, ErrorState, Loading } from '../../components/States';
import { Table, Td, Th } from '../../components/Table';
import { toCSV } from '../../lib/csv';
import { downloadText } from '../../lib/download';
import { compact, credits, dateTime, integer } from '../../lib/format';
import { keysKey, listKeys } from '../keys/api';
import { aggregate, daysBetween, filterRecords, filterRows, type GroupBy, type Metric, type UsageFilter } from './aggregate';
import { fetchSummary, fetchUsage, MAX_PAGES, sinceFor, type UsageRecord, type UsageRow } from './api';
import { UsageChart } from './UsageChart';

const RANGES = [7, 14, 30, 90];

const METRICS: { id: Metric; label: string; format: (v: number) => string }[] = [
  { id: 'requests', label: 'Requests', format: compact },
  { id: 'tokens', label: 'Tokens', format: compact },
  { id: 'cost', label: 'Spend (credits)', format: (v) => credits(v, 2) },
];

export default function UsagePage() {
  const [days, setDays] = useState(7);
  const [by, setBy] = useState<GroupBy>('model');
  const [filter, setFilter] = useState<UsageFilter>({ model: '', keyId: '', outcome: '' });
  // Totals and charts read the rollups; the list of requests reads the records.
  const summary = useQuery({ queryKey: ['usage-summary', days], queryFn: ({ signal }) => fetchSummary(days, signal) });
  const usage = useQuery({ queryKey: ['usage', days], queryFn: ({ signal }) => fetchUsage(days, signal) });
  const keys = useQuery({ queryKey: keysKey, queryFn: listKeys });
  const keyNames = useMemo(() => new Map((keys.data ?? []).map((k) => [k.id, k.name])), [keys.data]);

  const records = useMemo(() => usage.data?.items ?? [], [usage.data]);
  const rows = useMemo(() => summary.data?.items ?? [], [summary.data]);
  const dayList = useMemo(() => daysBetween(sinceFor(days)), [days]);
  const filtered = useMemo(() => filterRecords(records, filter), [records, filter]);
  const filteredRows = useMemo(() => filterRows(rows, filter), [rows, filter]);
  const models = useMemo(() => [...new Set(rows.map((r) => r.model))].sort(), [rows]);
  const keyIds = useMemo(() => [...new Set(rows.map((r) => r.key_id))].sort((a, b) => a - b), [rows]);

  return (
    <div>
      <PageHeader
        title="Usage"
        description="Requests, tokens and spend of your team's API keys, per UTC day."
        actions={
          <SelectField label="Period" value={String(days)} onChange={(e) => setDays(Number(e.target.value))} className="w-40">
            {RANGES.map((d) => (
              <option key={d} value={d}>
                Last {d} days
              </option>
            ))}
          </SelectField>
        }
      />
      {usage.isPending || summary.isPending ? (
        <Loading label="Loading usage…" />
      ) : usage.isError || summary.isError ? (
        <ErrorState
          error={usage.error ?? summary.error}
          onRetry={() => {
            void usage.refetch();
            void summary.refetch();
          }}
        />
      ) : (
        <>
          {usage.data.truncated && (
            <p role="status" className="mb-4 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-100">
              This period has more than {integer(MAX_PAGES * 500)} requests: the list below shows the first {integer(records.length)}; the totals and charts count them all.
            </p>
          )}
          <Totals rows={filteredRows} />
          <Section
            title="By day"
            id="charts-heading"
            actions={
              <SelectField label="Group by" value={by} onChange={(e) => setBy(e.target.value as GroupBy)} className="w-36">
                <option value="model">Model</option>
                <option value="key">API key</option>
              </SelectField>
            }
          >
            {rows.length === 0 ? (
              <EmptyState title="No requests in this period">Requests made with your team's API keys show up here.</EmptyState>
            ) : (
              <Tabs.Root defaultValue="requests">
                <Tabs.List aria-label="Metric" className="mb-3 flex flex-wrap gap-1 border-b border-gray-200 dark:border-gray-800">
                  {METRICS.map((m) => (
                    <Tabs.Trigger
                      key={m.id}
                      value={m.id}
                      className="-mb-px border-b-2 border-transparent px-3 py-1.5 text-sm font-medium text-gray-600 hover:text-gray-900 data-[state=active]:border-indigo-600 data-[state=active]:text-indigo-700 dark:text-gray-300 dark:hover:text-gray-100 dark:data-[state=active]:text-indigo-300"
                    >
                      {m.label}
                    </Tabs.Trigger>
                  ))}
                </Tabs.List>
                {METRICS.map((m) => (
                  <Tabs.Content key={m.id} value={m.id} className="focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600">
                    <UsageChart series={aggregate(filteredRows, m.id, by, dayList, keyNames)} format={m.format} label={`${m.label} per day by ${by}`} />
                  </Tabs.Content>
                ))}
              </Tabs.Root>
            )}
          </Section>
          <Section
            title="Requests"
            id="requests-heading"
            actions={
              <Button variant="secondary" size="sm" disabled={filtered.length === 0} onClick={() => exportCSV(filtered, keyNames, days)}>
                Export CSV
              </Button>
            }
          >
            <div className="mb-4 grid gap-3 sm:grid-cols-3">
              <SelectField label="Model" value={filter.model} onChange={(e) => setFilter({ ...filter, model: e.target.value })}>
                <option value="">All models</option>
                {models.map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </SelectField>
              <SelectField label="API key" value={filter.keyId} onChange={(e) => setFilter({ ...filter, keyId: e.target.value })}>
                <option value="">All keys</option>
                {keyIds.map((id) => (
                  <option key={id} value={String(id)}>
                    {keyNames.get(id) ?? `key #${id}`}
                  </option>
                ))}
              </SelectField>
              <SelectField label="Outcome" value={filter.outcome} onChange={(e) => setFilter({ ...filter, outcome: e.target.value as UsageFilter['outcome'] })}>
                <option value="">All</option>
                <option value="ok">Succeeded</option>
                <option value="error">Failed</option>
              </SelectField>
            </div>
            <RecordsTable records={filtered} keyNames={keyNames} />
          </Section>
        </>
      )}
    </div>
  );
}

function Totals({ rows }: { rows: UsageRow[] }) {
  const t = rows.reduce(
    (a, r) => ({ requests: a.requests + r.requests, tokens: a.tokens + r.input_tokens + r.output_tokens, cost: a.cost + r.cost, errors: a.errors + r.errors }),
    { requests: 0, tokens: 0, cost: 0, errors: 0 },
  );
  const cards = [
    { label: 'Requests', value: integer(t.requests) },
    { label: 'Tokens', value: integer(t.tokens) },
    { label: 'Spend', value: `${credits(t.cost, 4)} credits` },
    { label: 'Failed', value: integer(t.errors) },
  ];
  return (
    <dl className="mb-6 grid grid-cols-2 gap-4 lg:grid-cols-4">
      {cards.map((c) => (
        <div key={c.label} className="rounded-lg bg-white p-4 shadow-sm ring-1 ring-gray-200 dark:bg-gray-900 dark:ring-gray-800">
          <dt className="text-sm text-gray-600 dark:text-gray-300">{c.label}</dt>
          <dd className="mt-1 text-xl font-semibold tabular-nums" data-testid={`total-${c.label.toLowerCase()}`}>
            {c.value}
          </dd>
        </div>
      ))}
    </dl>
  );
}

function RecordsTable({ records, keyNames }: { records: UsageRecord[]; keyNames: Map<number, string> }) {
  const newest = useMemo(() => [...records].reverse(), [records]);
  const pager = usePager(newest, 25);
  if (records.length === 0) return <EmptyState title="No matching requests" />;
  return (
    <>
      <Table caption="Requests, newest first">
        <thead>
          <tr>
            <Th>Time</Th>
            <Th>Model</Th>
            <Th className="hidden md:table-cell">Key</Th>
            <Th className="hidden sm:table-cell text-right">Tokens in / out</Th>
            <Th className="text-right">Cost</Th>
            <Th className="hidden lg:table-cell text-right">Latency</Th>
            <Th>Status</Th>
          </tr>
        </thead>
        <tbody className="divide-y divide-gray-100 dark:divide-gray-800">
          {pager.rows.map((r) => (
            <tr key={r.id}>
              <Td className="whitespace-nowrap">{dateTime(r.created_at)}</Td>
              <Td>{r.model}</Td>
              <Td className="hidden md:table-cell">{keyNames.get(r.key_id) ?? `#${r.key_id}`}</Td>
              <Td className="hidden sm:table-cell text-right tabular-nums">
                {integer(r.input_tokens)} / {integer(r.output_tokens)}
              </Td>
              <Td className="text-right tabular-nums">{credits(r.cost)}</Td>
              <Td className="hidden lg:table-cell text-right tabular-nums">{Math.round(r.latency_ms)} ms</Td>
              <Td>
                <Badge tone={r.status < 400 ? 'green' : 'red'}>{r.status}</Badge>
              </Td>
            </tr>
          ))}
        </tbody>
      </Table>
      <Pager {...pager} label="Requests" />
    </>
  );
}

/** usageCSV renders records as CSV, costs in micro-credits (exact) and credits. */
export function usageCSV(records: UsageRecord[], keyNames: Map<number, string>): string {
  return toCSV(
    ['time', 'request_id', 'model', 'key_id', 'key_name', 'endpoint', 'stream', 'input_tokens', 'output_tokens', 'cost_micro_credits', 'cost_credits', 'latency_ms', 'status', 'error_code'],
    records.map((r) => [
      r.created_at,
      r.request_id,
      r.model,
      r.key_id,
      keyNames.get(r.key_id) ?? '',
      r.endpoint,
      r.stream,
      r.input_tokens,
      r.output_tokens,
      r.cost,
      r.cost / 1e6,
      Math.round(r.latency_ms),
      r.status,
      r.error_code ?? '',
    ]),
  );
}

function exportCSV(records: UsageRecord[], keyNames: Map<number, string>, days: number) {
  downloadText(`chorus-usage-last-${days}-days.csv`, usageCSV(records, keyNames), 'text/csv');
}
