import { useEffect, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { Button } from '../../components/Button';
import { Dialog } from '../../components/Dialog';
import { Field } from '../../components/Field';
import { InlineError } from '../../components/States';
import { ApiError, STEP_UP_CANCELLED, setStepUpHandler } from '../../lib/api';
import { reauth, verifyMFA } from './api';
import { sessionKey } from './session';
import type { SessionInfo } from './types';

interface Pending {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * StepUpProvider answers the API's "mfa_required": it asks for a code from
 * the authenticator (or the password, without MFA), verifies it, and lets
 * the API client retry the call. Concurrent calls share one dialog.
 */
export function StepUpProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  const pending = useRef<Pending | null>(null);

  useEffect(() => {
    setStepUpHandler(() => {
      if (!pending.current) {
        let resolve!: () => void;
        let reject!: (err: unknown) => void;
        const promise = new Promise<void>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        pending.current = { promise, resolve, reject };
        setOpen(true);
      }
      return pending.current.promise;
    });
    return () => setStepUpHandler(null);
  }, []);

  const mfa = qc.getQueryData<SessionInfo | null>(sessionKey)?.mfa_enabled ?? false;

  function finish(ok: boolean) {
    const p = pending.current;
    pending.current = null;
    setOpen(false);
    if (ok) p?.resolve();
    else p?.reject(new ApiError(403, 'Verification cancelled: the action was not carried out.', { code: STEP_UP_CANCELLED }));
  }

  return (
    <>
      {children}
      <Dialog
        open={open}
        onOpenChange={(o) => !o && finish(false)}
        title="Confirm it's you"
        description={
          mfa
            ? 'This action needs a fresh check of your second factor. Enter the code from your authenticator app.'
            : 'This action needs a fresh check. Enter your password again.'
        }
      >
        {open && <StepUpForm mfa={mfa} onDone={() => finish(true)} onCancel={() => finish(false)} />}
      </Dialog>
    </>
  );
}

function StepUpForm({ mfa, onDone, onCancel }: { mfa: boolean; onDone: () => void; onCancel: () => void }) {
  const [value, setValue] = useState('');
  const [backup, setBackup] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (!mfa) await reauth(value);
      else await verifyMFA(backup ? { backup_code: value.trim() } : { code: value.replace(/\s/g, '') });
      onDone();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      {mfa ? (
        <Field
          key={backup ? 'backup' : 'code'}
          label={backup ? 'Backup code' : 'Authentication code'}
          name="step-up-code"
          inputMode={backup ? 'text' : 'numeric'}
          autoComplete={backup ? 'off' : 'one-time-code'}
         
          required
          value={value}
          onChange={(e) => setValue(e.target.value)}
        />
      ) : (
        <Field label="Password" type="password" name="step-up-password" autoComplete="current-password" required value={value} onChange={(e) => setValue(e.target.value)} />
      )}
      <InlineError error={error} />
      <div className="flex flex-wrap items-center justify-between gap-2">
        {mfa ? (
          <button
            type="button"
            className="text-sm font-semibold text-indigo-700 hover:underline dark:text-indigo-300"
            onClick={() => {
              setBackup(!backup);
              setValue('');
            }}
          >
            {backup ? 'Use the authenticator app' : 'Use a backup code'}
          </button>
        ) : (
          <span />
        )}
        <div className="flex gap-2">
          <Button variant="secondary" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="submit" pending={busy}>
            Confirm
          </Button>
        </div>
      </div>
    </form>
  );
}
