import { useState } from 'react';
import { Button } from './Button';

/** CopyButton copies text to the clipboard and says so. */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
    setTimeout(() => setState('idle'), 2000);
  }
  return (
    <Button variant="secondary" size="sm" onClick={copy}>
      <span aria-live="polite">{state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed: select and copy' : label}</span>
    </Button>
  );
}

/** SecretBox shows a value that is displayed only once, with a copy button. */
export function SecretBox({ label, value }: { label: string; value: string }) {
  return (
    <div>
      <p className="text-sm font-medium text-gray-900 dark:text-gray-100">{label}</p>
      <div className="mt-1 flex flex-wrap items-center gap-2">
        <code
          className="min-w-0 flex-1 break-all rounded-md bg-gray-100 px-3 py-2 font-mono text-sm text-gray-900 dark:bg-gray-800 dark:text-gray-100"
          data-testid="secret"
        >
          {value}
        </code>
        <CopyButton text={value} />
      </div>
      <p className="mt-2 text-sm text-amber-800 dark:text-amber-300">Copy it now: it will not be shown again.</p>
    </div>
  );
}
