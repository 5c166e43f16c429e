import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Button } from '../../components/Button';
import { Field, inputClass, SelectField } from '../../components/Field';
import { PageHeader, Section } from '../../components/Page';
import { InlineError } from '../../components/States';
import { errorMessage } from '../../lib/api';
import { credits, integer } from '../../lib/format';
import { useCurrentUser } from '../auth/session';
import type { UsageRecord } from '../usage/api';
import { findUsage, listModels, sendFeedback, streamChat, type ChatMessage, type Rating, type StreamResult } from './api';
import { Markdown } from './Markdown';

interface Feedback {
  rating: Rating | null;
  comment: string;
  saving: boolean;
  saved: boolean;
  error: string;
}

/** Turn is one message of the conversation; an answer carries what the gateway said about it. */
export interface Turn {
  role: 'user' | 'assistant';
  content: string;
  model?: string;
  result?: StreamResult;
  /** undefined: not looked up yet; null: not found in time. */
  usage?: UsageRecord | null;
  feedback?: Feedback;
}

const noFeedback: Feedback = { rating: null, comment: '', saving: false, saved: false, error: '' };

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${Math.round(v)} ms`);

export default function PlaygroundPage() {
  const session = useCurrentUser();
  const models = useQuery({ queryKey: ['models'], queryFn: ({ signal }) => listModels(signal), staleTime: 60_000 });
  const [model, setModel] = useState('');
  const [system, setSystem] = useState('');
  const [temperature, setTemperature] = useState('');
  const [maxTokens, setMaxTokens] = useState('');
  const [input, setInput] = useState('');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const abort = useRef<AbortController | null>(null);

  useEffect(() => () => abort.current?.abort(), []);
  // The list has no kinds: start on the first model that does not look like an embedding model.
  const chosen = model || models.data?.find((id) => !/embed/i.test(id)) || models.data?.[0] || '';

  const update = (i: number, f: (t: Turn) => Turn) => setTurns((ts) => ts.map((t, j) => (j === i ? f(t) : t)));

  async function send(e: FormEvent) {
    e.preventDefault();
    const text = input.trim();
    if (!text || busy || !chosen) return;
    const t = temperature.trim() === '' ? undefined : Number(temperature);
    const m = maxTokens.trim() === '' ? undefined : Number(maxTokens);
    if ((t !== undefined && !(t >= 0 && t <= 2)) || (m !== undefined && !(Number.isInteger(m) && m > 0))) {
      setError(new Error('Temperature must be between 0 and 2, and max tokens a whole number above 0.'));
      return;
    }
    const history: ChatMessage[] = turns.filter((x) => x.content).map((x) => ({ role: x.role, content: x.content }));
    const messages: ChatMessage[] = [...(system.trim() ? [{ role: 'system' as const, content: system.trim() }] : []), ...history, { role: 'user', content: text }];
    const index = turns.length + 1;
    setTurns((ts) => [...ts, { role: 'user', content: text }, { role: 'assistant', content: '', model: chosen }]);
    setInput('');
    setBusy(true);
    setError(null);
    const ctrl = new AbortController();
    abort.current = ctrl;
    try {
      const result = await streamChat({ model: chosen, messages, temperature: t, max_tokens: m }, (d) => update(index, (x) => ({ ...x, content: x.content + d })), ctrl.signal);
      update(index, (x) => ({ ...x, result, feedback: { ...noFeedback } }));
      if (result.id) {
        const usage = await findUsage(result.id, { userId: session.user.id, serverDate: result.serverDate, signal: ctrl.signal }).catch(() => null);
        update(index, (x) => ({ ...x, usage }));
      }
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'AbortError')) setError(err);
      setTurns((ts) => (ts[index]?.content === '' ? ts.slice(0, index) : ts));
    } finally {
      setBusy(false);
    }
  }

  async function rate(i: number, rating: Rating) {
    const t = turns[i];
    if (!t?.result?.id || !t.feedback) return;
    const comment = t.feedback.comment;
    update(i, (x) => ({ ...x, feedback: { ...(x.feedback ?? noFeedback), rating, saving: true, saved: false, error: '' } }));
    try {
      await sendFeedback(t.result.id, rating, comment);
      update(i, (x) => ({ ...x, feedback: { ...(x.feedback ?? noFeedback), saving: false, saved: true } }));
    } catch (err) {
      update(i, (x) => ({ ...x, feedback: { ...(x.feedback ?? noFeedback), saving: false, error: errorMessage(err) } }));
    }
  }

  return (
    <div>
      <PageHeader
        title="Playground"
        description="Chat with any model through the gateway. Answers are charged to your team and recorded under your “console playground” key."
      />
      <div className="grid items-start gap-6 lg:grid-cols-[18rem_minmax(0,1fr)]">
        <Section title="Settings" id="pg-settings">
          <div className="space-y-4">
            {models.isError ? (
              <>
                <Field label="Model" value={model} onChange={(e) => setModel(e.target.value)} hint="The model list could not be loaded; type a model name." />
                <InlineError error={models.error} />
              </>
            ) : (
              <SelectField label="Model" value={chosen} onChange={(e) => setModel(e.target.value)} disabled={models.isPending}>
                {models.isPending && <option value="">Loading models…</option>}
                {models.data?.map((id) => (
                  <option key={id} value={id}>
                    {id}
                  </option>
                ))}
              </SelectField>
            )}
            <div>
              <label htmlFor="pg-system" className="block text-sm font-medium">
                System prompt
              </label>
              <textarea id="pg-system" rows={3} className={`mt-1 ${inputClass}`} value={system} onChange={(e) => setSystem(e.target.value)} placeholder="You are a helpful assistant." />
            </div>
            <div className="grid grid-cols-2 gap-3">
              <Field label="Temperature" type="number" inputMode="decimal" min={0} max={2} step={0.1} value={temperature} onChange={(e) => setTemperature(e.target.value)} placeholder="default" />
              <Field label="Max tokens" type="number" inputMode="numeric" min={1} step={1} value={maxTokens} onChange={(e) => setMaxTokens(e.target.value)} placeholder="default" />
            </div>
          </div>
        </Section>
        <Section title="Chat" id="pg-chat">
          {turns.length === 0 && <p className="mb-4 text-sm text-gray-600 dark:text-gray-300">Send a message to start. Answers stream in as the model writes them.</p>}
          <ol className="mb-4 space-y-3" aria-label="Conversation">
            {turns.map((t, i) => (
              <li
                key={i}
                className={`rounded-lg px-3 py-2 text-sm ${t.role === 'user' ? 'bg-indigo-50 dark:bg-indigo-950' : 'bg-gray-100 dark:bg-gray-800'}`}
                data-testid={t.role === 'assistant' ? 'answer' : undefined}
              >
                <span className="block text-xs font-semibold uppercase text-gray-600 dark:text-gray-300">{t.role === 'user' ? 'You' : t.model}</span>
                {t.role === 'user' ? (
                  <span className="whitespace-pre-wrap break-words">{t.content}</span>
                ) : (
                  <div className="break-words" aria-live={busy && i === turns.length - 1 ? 'polite' : undefined}>
                    {t.content ? <Markdown text={t.content} /> : '…'}
                  </div>
                )}
                {t.result && <AnswerFacts turn={t} />}
                {t.result?.id && t.feedback && <FeedbackBar index={i} feedback={t.feedback} onRate={(r) => void rate(i, r)} onComment={(c) => update(i, (x) => ({ ...x, feedback: { ...(x.feedback ?? noFeedback), comment: c, saved: false } }))} />}
              </li>
            ))}
          </ol>
          <form onSubmit={send} className="space-y-3">
            <label htmlFor="pg-input" className="block text-sm font-medium">
              Message
            </label>
            <textarea
              id="pg-input"
              rows={3}
              className={inputClass}
              value={input}
              onChange={(e) => setInput(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) void send(e);
              }}
            />
            <InlineError error={error} />
            <div className="flex flex-wrap gap-2">
              <Button type="submit" pending={busy} disabled={!input.trim() || !chosen}>
                Send
              </Button>
              {busy && (
                <Button variant="secondary" onClick={() => abort.current?.abort()}>
                  Stop
                </Button>
              )}
              {turns.length > 0 && !busy && (
                <Button variant="ghost" onClick={() => setTurns([])}>
                  Clear
                </Button>
              )}
            </div>
          </form>
        </Section>
      </div>
    </div>
  );
}

/** AnswerFacts says what an answer cost, how fast it came, and who gave it. */
function AnswerFacts({ turn }: { turn: Turn }) {
  const r = turn.result;
  if (!r) return null;
  const u = turn.usage;
  const tokensIn = u?.input_tokens ?? r.usage?.prompt_tokens;
  const tokensOut = u?.output_tokens ?? r.usage?.completion_tokens;
  const deployment = u?.deployment || r.served.deployment;
  const facts: [string, string, string][] = [
    ['Tokens', tokensIn === undefined ? '—' : `${integer(tokensIn)} in / ${integer(tokensOut ?? 0)} out`, 'tokens'],
    ['Cost', u ? `${credits(u.cost)} credits` : u === null ? 'not recorded yet' : 'looking up…', 'cost'],
    ['Latency', `${ms(r.latencyMs)} (server ${u ? ms(u.latency_ms) : '—'})`, 'latency'],
    ['First token', `${ms(r.ttftMs)} (server ${u ? ms(u.ttft_ms) : '—'})`, 'ttft'],
    ['Answered by', [deployment || '—', r.served.provider && `(${r.served.provider})`].filter(Boolean).join(' '), 'deployment'],
  ];
  if (r.served.strategy) facts.push(['Strategy', r.served.strategy + (r.served.cascadeTier ? `, cascade tier ${r.served.cascadeTier}` : ''), 'strategy']);
  if (r.served.model && r.served.model !== turn.model) facts.push(['Model', r.served.model, 'model']);
  return (
    <dl className="mt-2 flex flex-wrap gap-x-4 gap-y-1 border-t border-gray-200 pt-2 text-xs text-gray-700 dark:border-gray-700 dark:text-gray-300">
      {facts.map(([k, v, id]) => (
        <div key={id} className="flex gap-1">
          <dt className="font-semibold">{k}:</dt>
          <dd data-testid={`answer-${id}`}>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

function FeedbackBar({ index, feedback, onRate, onComment }: { index: number; feedback: Feedback; onRate: (r: Rating) => void; onComment: (c: string) => void }) {
  const commentId = `pg-comment-${index}`;
  const thumb = (r: Rating, label: string) => (
    <Button variant={feedback.rating === r ? 'primary' : 'secondary'} size="sm" aria-pressed={feedback.rating === r} aria-label={label} title={label} disabled={feedback.saving} onClick={() => onRate(r)}>
      <ThumbIcon down={r === 'down'} />
    </Button>
  );
  return (
    <div className="mt-2 flex flex-wrap items-center gap-2">
      {thumb('up', 'Good answer')}
      {thumb('down', 'Bad answer')}
      <label htmlFor={commentId} className="sr-only">
        Comment on this answer
      </label>
      <input
        id={commentId}
        className={`${inputClass} min-w-40 max-w-sm flex-1 py-1`}
        placeholder="Comment (optional)"
        value={feedback.comment}
        onChange={(e) => onComment(e.target.value)}
        maxLength={2000}
      />
      {feedback.rating && !feedback.saved && feedback.comment && (
        <Button size="sm" variant="secondary" disabled={feedback.saving} onClick={() => onRate(feedback.rating ?? 'up')}>
          Save comment
        </Button>
      )}
      <span role="status" className="text-xs text-gray-700 dark:text-gray-300">
        {feedback.saving ? 'Saving…' : feedback.saved ? 'Thanks, feedback saved.' : ''}
      </span>
      {feedback.error && (
        <span role="alert" className="text-xs text-red-700 dark:text-red-300">
          {feedback.error}
        </span>
      )}
    </div>
  );
}

/** ThumbIcon is an inline SVG (no emoji font needed), pointing down for a bad answer. */
function ThumbIcon({ down }: { down: boolean }) {
  return (
    <svg viewBox="0 0 20 20" fill="currentColor" aria-hidden="true" className={`h-4 w-4 ${down ? 'rotate-180' : ''}`}>
      <path d="M1 8.25a1.25 1.25 0 1 1 2.5 0v7.5a1.25 1.25 0 1 1-2.5 0v-7.5ZM11 3V1.7c0-.268.14-.526.395-.607A2 2 0 0 1 14 3c0 .995-.182 1.948-.514 2.826-.204.54.166 1.174.744 1.174h2.52c1.243 0 2.261 1.01 2.146 2.247a23.864 23.864 0 0 1-1.341 5.974C17.153 16.323 16.072 17 14.9 17h-3.192a3 3 0 0 1-1.341-.317l-2.734-1.366A3 3 0 0 0 6.292 15H5V8h.963c.685 0 1.258-.483 1.612-1.068a4.011 4.011 0 0 1 2.166-1.73c.432-.143.853-.386 1.011-.814.16-.432.248-.9.248-1.388Z" />
    </svg>
  );
}
