// Live updates: GET /api/events/stream (text/event-stream). Each event has an
// "id:" (a cursor) and a JSON "data:" of shape {"type": "ready"|"balance"|
// "order"|"payment"|"key"|"budget"|"budget_alert", …}; a fresh stream starts
// with "ready". The stream resumes after a drop with Last-Event-ID (the last
// id seen, the ready event's included). Read with fetch rather than
// EventSource so that a 401 (signed out) or a 404 stops it quietly instead of
// retrying forever.

export type LiveEventType = 'ready' | 'balance' | 'order' | 'payment' | 'key' | 'budget' | 'budget_alert';

export interface LiveEvent {
  id: string;
  type: LiveEventType | string;
  data: Record<string, unknown>;
}

export interface SSEMessage {
  id: string;
  event: string;
  data: string;
}

/** SSEParser turns chunks of an event stream into messages (WHATWG rules: fields, comments, blank-line dispatch). */
export class SSEParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  /** lastId is the last id: seen, kept across messages as the spec says. */
  lastId = '';

  push(chunk: string): SSEMessage[] {
    this.buf += chunk;
    const out: SSEMessage[] = [];
    let nl: number;
    while ((nl = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, nl);
      const sep = this.buf.startsWith('\r\n', nl) ? 2 : 1;
      this.buf = this.buf.slice(nl + sep);
      if (line === '') {
        if (this.data.length) out.push({ id: this.lastId, event: this.event || 'message', data: this.data.join('\n') });
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    }
    return out;
  }
}

export interface StreamOptions {
  onEvent: (e: LiveEvent) => void;
  /** Called once when the server has no stream (404) or refuses it (401/403): the caller may fall back to polling. */
  onUnavailable?: (status: number) => void;
  url?: string;
  fetchFn?: typeof fetch;
  /** Delays between reconnections, ms; the last repeats. */
  backoff?: number[];
}

/** openEventStream connects and reconnects until the returned function is called. */
export function openEventStream(opts: StreamOptions): () => void {
  const url = opts.url ?? '/api/events/stream';
  const fetchFn = opts.fetchFn ?? fetch.bind(globalThis);
  const backoff = opts.backoff ?? [1000, 2000, 5000, 10000, 30000];
  const ctrl = new AbortController();
  let lastId = '';
  let attempt = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      ctrl.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });

  async function run() {
    while (!ctrl.signal.aborted) {
      try {
        const headers: Record<string, string> = { Accept: 'text/event-stream' };
        if (lastId) headers['Last-Event-ID'] = lastId;
        const res = await fetchFn(url, { headers, credentials: 'same-origin', signal: ctrl.signal, cache: 'no-store' });
        if ([401, 403, 404, 405].includes(res.status)) {
          opts.onUnavailable?.(res.status);
          return;
        }
        if (!res.ok || !res.body || !(res.headers.get('Content-Type') ?? '').startsWith('text/event-stream')) {
          throw new Error(`event stream: HTTP ${res.status}`);
        }
        attempt = 0;
        const parser = new SSEParser();
        parser.lastId = lastId;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const m of parser.push(value)) {
            lastId = parser.lastId;
            const ev = toLiveEvent(m);
            if (ev) opts.onEvent(ev);
          }
        }
      } catch {
        if (ctrl.signal.aborted) return;
      }
      await sleep(backoff[Math.min(attempt++, backoff.length - 1)] ?? 30000);
    }
  }
  void run();
  return () => ctrl.abort();
}

/** toLiveEvent decodes a message's JSON data; a message without a type is ignored. */
export function toLiveEvent(m: SSEMessage): LiveEvent | null {
  try {
    const data: unknown = JSON.parse(m.data);
    if (!data || typeof data !== 'object' || typeof (data as { type?: unknown }).type !== 'string') return null;
    return { id: m.id, type: (data as { type: string }).type, data: data as Record<string, unknown> };
  } catch {
    return null;
  }
}
