import { describe, expect, it, vi } from 'vitest';
import { openEventStream, SSEParser, toLiveEvent, type LiveEvent } from './stream';
import { queriesFor } from './useLiveEvents';

describe('SSEParser', () => {
  it('parses fields, comments, multi-line data and chunk boundaries', () => {
    const p = new SSEParser();
    expect(p.push(': keep-alive\n\nid: 1\ndata: {"type":')).toEqual([]);
    expect(p.push('"balance"}\n\n')).toEqual([{ id: '1', event: 'message', data: '{"type":"balance"}' }]);
    expect(p.push('event: x\r\ndata: a\r\ndata:b\r\n\r\n')).toEqual([{ id: '1', event: 'x', data: 'a\nb' }]);
    expect(p.push('id\ndata: c\n\n')).toEqual([{ id: '', event: 'message', data: 'c' }]);
    expect(p.push('data: no-dispatch-yet\n')).toEqual([]);
  });

  it('toLiveEvent keeps typed JSON only', () => {
    expect(toLiveEvent({ id: '3', event: 'message', data: '{"type":"order","order_id":5}' })).toEqual({ id: '3', type: 'order', data: { type: 'order', order_id: 5 } });
    expect(toLiveEvent({ id: '', event: 'message', data: 'not json' })).toBeNull();
    expect(toLiveEvent({ id: '', event: 'message', data: '{"no":"type"}' })).toBeNull();
  });

  it('queriesFor maps events to stale queries', () => {
    const ev = (type: string): LiveEvent => ({ id: '', type, data: {} });
    expect(queriesFor(ev('balance'))).toEqual([['balance'], ['ledger']]);
    expect(queriesFor(ev('payment'))).toContainEqual(['orders']);
    expect(queriesFor(ev('budget_alert'))).toEqual([['budgets'], ['events']]);
    expect(queriesFor(ev('key'))).toEqual([['keys'], ['budgets']]);
    expect(queriesFor(ev('budget'))).toEqual([['budgets']]);
    expect(queriesFor(ev('ready'))).toEqual([]);
    expect(queriesFor(ev('other'))).toEqual([]);
  });
});

function streamResponse(chunks: string[]): Response {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(new TextEncoder().encode(ch));
      c.close();
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
}

describe('openEventStream', () => {
  it('Unavailable: a 404 stops quietly', async () => {
    const fetchFn = vi.fn(async () => new Response('', { status: 404 }));
    const onUnavailable = vi.fn();
    openEventStream({ onEvent: () => {}, onUnavailable, fetchFn });
    await vi.waitFor(() => expect(onUnavailable).toHaveBeenCalledWith(404));
    expect(fetchFn).toHaveBeenCalledTimes(1);
  });

  it('Resume: reconnects with Last-Event-ID and delivers events', async () => {
    const seen: string[] = [];
    const fetchFn = vi
      .fn()
      .mockResolvedValueOnce(streamResponse(['id: 6\ndata: {"type":"ready"}\n\nid: 7\ndata: {"type":"balance"}\n\n']))
      .mockResolvedValueOnce(new Response('', { status: 500 }))
      .mockResolvedValue(streamResponse(['id: 8\ndata: {"type":"key"}\n\n']));
    const stop = openEventStream({ onEvent: (e) => seen.push(`${e.id}:${e.type}`), fetchFn, backoff: [1] });
    await vi.waitFor(() => expect(seen).toEqual(['6:ready', '7:balance', '8:key']));
    stop();
    const calls = fetchFn.mock.calls as [string, RequestInit][];
    expect((calls[1]?.[1].headers as Record<string, string>)['Last-Event-ID']).toBe('7');
    expect(calls[0]?.[0]).toBe('/api/events/stream');
  });
});
