import { useRef, useState, type FormEvent } from 'react';
import { Button } from '../../components/Button';
import { Field, inputClass } from '../../components/Field';
import { PageHeader, Section } from '../../components/Page';
import { InlineError } from '../../components/States';
import { PlaygroundUnavailable, streamChat, type ChatMessage } from './api';

export default function PlaygroundPage() {
  const [model, setModel] = useState('sim-small');
  const [input, setInput] = useState('');
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [unavailable, setUnavailable] = useState('');
  const abort = useRef<AbortController | null>(null);

  async function send(e: FormEvent) {
    e.preventDefault();
    const text = input.trim();
    if (!text || busy) return;
    const convo: ChatMessage[] = [...messages, { role: 'user', content: text }];
    setMessages([...convo, { role: 'assistant', content: '' }]);
    setInput('');
    setBusy(true);
    setError(null);
    abort.current = new AbortController();
    try {
      await streamChat(
        model,
        convo,
        (d) =>
          setMessages((ms) => {
            const last = ms[ms.length - 1];
            return last ? [...ms.slice(0, -1), { ...last, content: last.content + d }] : ms;
          }),
        abort.current.signal,
      );
    } catch (err) {
      if (err instanceof PlaygroundUnavailable) setUnavailable(err.message);
      else if (!(err instanceof DOMException && err.name === 'AbortError')) setError(err);
      setMessages((ms) => (ms[ms.length - 1]?.content === '' ? ms.slice(0, -1) : ms));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div>
      <PageHeader title="Playground" description="Try models through the gateway. Requests are charged to your team like any other." />
      {unavailable ? (
        <Section title="Not available yet" id="pg-unavailable">
          <p className="text-sm text-gray-700 dark:text-gray-300">{unavailable} Use an API key with any OpenAI-compatible client meanwhile.</p>
        </Section>
      ) : (
        <Section title="Chat" id="pg-chat">
          <div className="mb-4 max-w-xs">
            <Field label="Model" value={model} onChange={(e) => setModel(e.target.value)} />
          </div>
          <ol className="mb-4 space-y-3" aria-live="polite">
            {messages.map((m, i) => (
              <li key={i} className={`rounded-lg px-3 py-2 text-sm ${m.role === 'user' ? 'bg-indigo-50 dark:bg-indigo-950' : 'bg-gray-100 dark:bg-gray-800'}`}>
                <span className="block text-xs font-semibold uppercase text-gray-600 dark:text-gray-400">{m.role === 'user' ? 'You' : model}</span>
                <span className="whitespace-pre-wrap">{m.content || '…'}</span>
              </li>
            ))}
          </ol>
          <form onSubmit={send} className="space-y-3">
            <label htmlFor="pg-input" className="block text-sm font-medium">
              Message
            </label>
            <textarea id="pg-input" rows={3} className={inputClass} value={input} onChange={(e) => setInput(e.target.value)} />
            <InlineError error={error} />
            <div className="flex gap-2">
              <Button type="submit" pending={busy} disabled={!input.trim()}>
                Send
              </Button>
              {busy && (
                <Button variant="secondary" onClick={() => abort.current?.abort()}>
                  Stop
                </Button>
              )}
              {messages.length > 0 && !busy && (
                <Button variant="ghost" onClick={() => setMessages([])}>
                  Clear
                </Button>
              )}
            </div>
          </form>
        </Section>
      )}
    </div>
  );
}
