import { describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { customerSession, errorBody, list, mockApi, renderApp } from '../../test/utils';
import { aggregate, daysBetween, filterRecords, filterRows, OTHER } from './aggregate';
import { sinceFor, type UsageRecord, type UsageRow } from './api';
import { usageCSV } from './UsagePage';

const rec = (id: number, model: string, key_id: number, day: string, over: Partial<UsageRecord> = {}): UsageRecord => ({
  id,
  request_id: `req_${id}`,
  key_id,
  user_id: 7,
  model,
  provider: 'simulator',
  endpoint: 'chat',
  stream: false,
  input_tokens: 10,
  output_tokens: 20,
  latency_ms: 12.4,
  status: 200,
  cost: 1000,
  created_at: `${day}T12:00:00Z`,
  ...over,
});

/** rollup sums records into GET /api/usage/summary rows (day × key × model × status), as the server's rollups do. */
const rollup = (records: UsageRecord[]): UsageRow[] => {
  const rows = new Map<string, UsageRow>();
  for (const r of records) {
    const bucket = `${r.created_at.slice(0, 10)}T00:00:00Z`;
    const k = `${bucket}|${r.key_id}|${r.model}|${r.status}`;
    const row = rows.get(k) ?? { id: rows.size + 1, bucket, key_id: r.key_id, model: r.model, status: r.status, requests: 0, errors: 0, input_tokens: 0, output_tokens: 0, cost: 0 };
    row.requests++;
    row.errors += r.status >= 400 ? 1 : 0;
    row.input_tokens += r.input_tokens;
    row.output_tokens += r.output_tokens;
    row.cost += r.cost;
    rows.set(k, row);
  }
  return [...rows.values()];
};

describe('aggregate', () => {
  const days = ['2026-12-01', '2026-12-02'];
  const names = new Map([[1, 'web']]);
  const records = [rec(1, 'a', 1, '2026-12-01'), rec(2, 'a', 1, '2026-12-02'), rec(3, 'b', 2, '2026-12-02', { cost: 5000 }), rec(4, 'c', 2, '2026-11-01')];
  const rows = rollup(records);

  it('sums per day and group, zero-filled', () => {
    const s = aggregate(rows, 'requests', 'model', days, names);
    expect(s.groups).toEqual(['a', 'b']);
    expect(s.rows).toEqual([
      { day: '2026-12-01', a: 1, b: 0 },
      { day: '2026-12-02', a: 1, b: 1 },
    ]);
    expect(s.total).toBe(3); // the record outside the days is not counted
    expect(aggregate(rows, 'tokens', 'key', days, names).groups).toEqual(['web', 'key #2']);
    expect(aggregate(rows, 'cost', 'model', days, names).rows[1]).toMatchObject({ a: 1000, b: 5000 });
    // A row counts all its requests.
    expect(aggregate(rollup([rec(5, 'a', 1, '2026-12-01'), rec(6, 'a', 1, '2026-12-01')]), 'requests', 'model', days, names).total).toBe(2);
  });

  it('folds small groups into Other', () => {
    const s = aggregate(rows, 'requests', 'model', days, names, 1);
    expect(s.groups).toEqual(['a', OTHER]);
    expect(s.rows[1]).toEqual({ day: '2026-12-02', a: 1, [OTHER]: 1 });
  });

  it('days and filters', () => {
    expect(daysBetween(new Date('2026-12-30T00:00:00Z'), new Date('2027-01-02T10:00:00Z'))).toEqual(['2026-12-30', '2026-12-31', '2027-01-01', '2027-01-02']);
    expect(sinceFor(7, new Date('2026-12-07T15:00:00Z')).toISOString()).toBe('2026-12-01T00:00:00.000Z');
    const failed = rec(5, 'a', 1, '2026-12-01', { status: 429 });
    expect(filterRecords([...records, failed], { model: 'a', keyId: '', outcome: 'error' })).toEqual([failed]);
    expect(filterRecords(records, { model: '', keyId: '2', outcome: 'ok' }).map((r) => r.id)).toEqual([3, 4]);
    expect(filterRows(rollup([...records, failed]), { model: 'a', keyId: '', outcome: 'error' })).toMatchObject([{ status: 429, requests: 1 }]);
  });

  it('CSV', () => {
    const csv = usageCSV([rec(1, '=cmd', 1, '2026-12-01')], new Map([[1, 'web']]));
    expect(csv.split('\r\n')[0]).toBe('time,request_id,model,key_id,key_name,endpoint,stream,input_tokens,output_tokens,cost_micro_credits,cost_credits,latency_ms,status,error_code');
    expect(csv.split('\r\n')[1]).toBe("2026-12-01T12:00:00Z,req_1,'=cmd,1,web,chat,false,10,20,1000,0.001,12,200,");
  });
});

describe('UsagePage', () => {
  it('totals, charts, filters, paging and export', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const records = Array.from({ length: 30 }, (_, i) => rec(i + 1, i % 3 ? 'sim-small' : 'sim-large', 1, today, i === 0 ? { status: 500, error_code: 'upstream' } : {}));
    const { calls } = mockApi({
      'GET /api/auth/session': { body: customerSession() },
      'GET /api/usage': { body: list(records) },
      'GET /api/usage/summary': { body: list(rollup(records)) },
      'GET /api/keys': { body: list([{ id: 1, name: 'web', prefix: 'sk', created_at: '' }]) },
    });
    const create = vi.fn(() => 'blob:x');
    Object.assign(URL, { createObjectURL: create, revokeObjectURL: vi.fn() });
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {});
    renderApp('/usage');
    expect(await screen.findByTestId('total-requests')).toHaveTextContent('30');
    expect(screen.getByTestId('total-failed')).toHaveTextContent('1');
    expect(screen.getByTestId('total-tokens')).toHaveTextContent('900');
    expect(calls.find((c) => c.path === '/api/usage')?.url).toMatch(/since=\d{4}-\d{2}-\d{2}T00%3A00%3A00Z/);
    expect(calls.find((c) => c.path === '/api/usage/summary')?.url).toMatch(/interval=day&group_by=key,model,status&since=\d{4}-\d{2}-\d{2}T00%3A00%3A00Z/);
    expect(screen.getByRole('tab', { name: 'Requests' })).toHaveAttribute('aria-selected', 'true');
    await userEvent.click(screen.getByRole('tab', { name: 'Tokens' }));
    expect(screen.getByRole('tab', { name: 'Tokens' })).toHaveAttribute('aria-selected', 'true');
    await userEvent.selectOptions(screen.getByLabelText('Group by'), 'key');

    expect(screen.getByText('1–25 of 30')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Next' }));
    expect(screen.getByText('26–30 of 30')).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText('Outcome'), 'error');
    expect(screen.getByTestId('total-requests')).toHaveTextContent('1');
    const table = screen.getByRole('table', { name: 'Requests, newest first' });
    expect(within(table).getByText('500')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Export CSV' }));
    expect(create).toHaveBeenCalledTimes(1);
    await userEvent.selectOptions(screen.getByLabelText('Model'), 'sim-small');
    expect(screen.getByText('No matching requests')).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText('Period'), '30');
    await waitFor(() => expect(calls.filter((c) => c.path === '/api/usage')).toHaveLength(2));
  });

  it('Empty, truncated and error', async () => {
    mockApi({ 'GET /api/auth/session': { body: customerSession() }, 'GET /api/usage': { body: list([]) }, 'GET /api/usage/summary': { body: list([]) }, 'GET /api/keys': { body: list([]) } });
    renderApp('/usage');
    expect(await screen.findByText('No requests in this period')).toBeInTheDocument();

    const many = rollup([rec(1, 'a', 1, '2026-12-01')]).map((r) => ({ ...r, requests: 12345 }));
    mockApi({
      'GET /api/auth/session': { body: customerSession() },
      'GET /api/usage': { body: list([rec(1, 'a', 1, '2026-12-01')], true, 1) },
      'GET /api/usage/summary': { body: list(many) },
      'GET /api/keys': { body: list([]) },
    });
    renderApp('/usage');
    expect(await screen.findByText(/This period has more than 10,000 requests/)).toBeInTheDocument();
    expect(screen.getAllByTestId('total-requests').at(-1)).toHaveTextContent('12,345'); // the totals count them all

    mockApi({
      'GET /api/auth/session': { body: customerSession() },
      'GET /api/usage': { status: 400, body: errorBody('since must be RFC 3339') },
      'GET /api/usage/summary': { body: list([]) },
      'GET /api/keys': { body: list([]) },
    });
    renderApp('/usage');
    expect(await screen.findByText('since must be RFC 3339')).toBeInTheDocument();

    // Try again asks for both again: once the server answers, the page shows the usage.
    mockApi({
      'GET /api/auth/session': { body: customerSession() },
      'GET /api/usage': { body: list([]) },
      'GET /api/usage/summary': { body: list([]) },
      'GET /api/keys': { body: list([]) },
    });
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }));
    // (the first page rendered above still shows it too)
    await waitFor(() => expect(screen.getAllByText('No requests in this period')).toHaveLength(2));
    expect(screen.queryByText('since must be RFC 3339')).not.toBeInTheDocument();
  });
});
