import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Button } from '../../components/Button';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { CopyButton } from '../../components/CopyButton';
import { Dialog } from '../../components/Dialog';
import { Field } from '../../components/Field';
import { Badge, Section } from '../../components/Page';
import { ErrorState, InlineError, Loading } from '../../components/States';
import { useToast } from '../../components/Toast';
import { ApiError, STEP_UP_CANCELLED } from '../../lib/api';
import { downloadText } from '../../lib/download';
import { sessionKey, useCurrentUser } from '../auth/session';
import { confirmEnrolment, disableMFA, getMFA, isSafeQR, mfaKey, regenerateBackupCodes, startEnrolment, type Enrolment } from './api';

/** MFASection: turn two-factor authentication on (QR code, then backup codes shown once) or off. */
export function MFASection() {
  const q = useQuery({ queryKey: mfaKey, queryFn: getMFA });
  const qc = useQueryClient();
  const toast = useToast();
  const [enrolling, setEnrolling] = useState(false);
  const [disabling, setDisabling] = useState(false);
  const [codes, setCodes] = useState<string[] | null>(null);

  const refresh = () => {
    void qc.invalidateQueries({ queryKey: mfaKey });
    void qc.invalidateQueries({ queryKey: sessionKey });
  };

  return (
    <Section
      title="Two-factor authentication"
      id="mfa-heading"
      description="A code from an authenticator app on your phone, on top of your password, when you sign in and before sensitive changes."
    >
      {q.isPending ? (
        <Loading label="Loading…" />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : q.data.enabled ? (
        <div className="space-y-3">
          <p className="flex flex-wrap items-center gap-2 text-sm">
            <Badge tone="green">On</Badge>
            <span data-testid="backup-remaining">{q.data.backup_codes_remaining} backup codes left.</span>
          </p>
          <div className="flex flex-wrap gap-2">
            <ConfirmDialog
              trigger={<Button variant="secondary">New backup codes</Button>}
              title="Make new backup codes?"
              description="Your current backup codes stop working."
              confirmLabel="Make new codes"
              destructive={false}
              onConfirm={async () => {
                const r = await regenerateBackupCodes();
                setCodes(r.backup_codes);
                refresh();
              }}
            />
            <Button variant="danger" onClick={() => setDisabling(true)}>
              Turn off
            </Button>
          </div>
        </div>
      ) : (
        <div className="space-y-3">
          <p className="flex items-center gap-2 text-sm">
            <Badge tone="amber">Off</Badge> Your account is protected by your password only.
          </p>
          <Button onClick={() => setEnrolling(true)}>Turn on two-factor authentication</Button>
        </div>
      )}

      <Dialog open={enrolling} onOpenChange={setEnrolling} title="Set up your authenticator" wide>
        {enrolling && (
          <Enrol
            onDone={(c) => {
              setEnrolling(false);
              setCodes(c);
              refresh();
              toast({ title: 'Two-factor authentication is on', tone: 'success' });
            }}
            onCancel={() => setEnrolling(false)}
          />
        )}
      </Dialog>
      <Dialog open={disabling} onOpenChange={setDisabling} title="Turn off two-factor authentication">
        {disabling && (
          <Disable
            onDone={() => {
              setDisabling(false);
              refresh();
              toast({ title: 'Two-factor authentication is off', tone: 'success' });
            }}
            onCancel={() => setDisabling(false)}
          />
        )}
      </Dialog>
      <Dialog open={!!codes} onOpenChange={(o) => !o && setCodes(null)} title="Your backup codes" dismissible={false}>
        {codes && <BackupCodes codes={codes} onDone={() => setCodes(null)} />}
      </Dialog>
    </Section>
  );
}

function Enrol({ onDone, onCancel }: { onDone: (codes: string[]) => void; onCancel: () => void }) {
  const [code, setCode] = useState('');
  const start = useQuery<Enrolment>({ queryKey: ['mfa-enrol'], queryFn: startEnrolment, retry: false, gcTime: 0, staleTime: Infinity, refetchOnWindowFocus: false });
  const confirm = useMutation({ mutationFn: () => confirmEnrolment(code.replace(/\s/g, '')), onSuccess: (r) => onDone(r.backup_codes) });

  if (start.isPending) return <Loading label="Making your secret…" />;
  if (start.isError) {
    const cancelled = start.error instanceof ApiError && start.error.code === STEP_UP_CANCELLED;
    return (
      <div className="space-y-3">
        {cancelled ? <p className="text-sm">Set-up needs you to confirm your password first.</p> : <ErrorState error={start.error} />}
        <div className="flex gap-2">
          <Button onClick={() => void start.refetch()}>Try again</Button>
          <Button variant="secondary" onClick={onCancel}>
            Cancel
          </Button>
        </div>
      </div>
    );
  }
  const e = start.data;
  function submit(ev: FormEvent) {
    ev.preventDefault();
    confirm.mutate();
  }
  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      <ol className="list-decimal space-y-2 pl-5 text-sm text-gray-700 dark:text-gray-300">
        <li>Scan this code with an authenticator app (1Password, Google Authenticator, Authy…).</li>
        <li>Enter the {e.digits}-digit code it shows.</li>
      </ol>
      <div className="flex flex-wrap items-center gap-4">
        {isSafeQR(e.qr_code) && <img src={e.qr_code} alt={`QR code to add ${e.account} to an authenticator app`} width={192} height={192} className="rounded bg-white p-2" />}
        <div className="min-w-0 text-sm">
          <p className="text-gray-600 dark:text-gray-300">Can't scan? Type this key:</p>
          <code className="mt-1 block break-all font-mono text-base" data-testid="totp-secret">
            {e.secret}
          </code>
          <div className="mt-2">
            <CopyButton text={e.secret.replace(/\s/g, '')} label="Copy key" />
          </div>
        </div>
      </div>
      <Field label="Code from the app" inputMode="numeric" autoComplete="one-time-code" maxLength={7} value={code} onChange={(ev) => setCode(ev.target.value)} required />
      <InlineError error={confirm.error} />
      <div className="flex justify-end gap-2">
        <Button variant="secondary" onClick={onCancel}>
          Cancel
        </Button>
        <Button type="submit" pending={confirm.isPending} disabled={code.replace(/\s/g, '').length < 6}>
          Turn on
        </Button>
      </div>
    </form>
  );
}

function BackupCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  const me = useCurrentUser();
  const text = `Chorus backup codes for ${me.user.email}\nEach code works once.\n\n${codes.join('\n')}\n`;
  return (
    <div className="space-y-4">
      <p className="text-sm text-gray-700 dark:text-gray-300">
        Each code signs you in once if you lose your phone. Save them somewhere safe now: they will not be shown again.
      </p>
      <ul className="grid grid-cols-2 gap-2 font-mono text-sm" data-testid="backup-codes">
        {codes.map((c) => (
          <li key={c} className="rounded bg-gray-100 px-2 py-1 text-center dark:bg-gray-800">
            {c}
          </li>
        ))}
      </ul>
      <div className="flex flex-wrap gap-2">
        <Button variant="secondary" onClick={() => downloadText('chorus-backup-codes.txt', text)}>
          Download
        </Button>
        <CopyButton text={codes.join('\n')} label="Copy all" />
      </div>
      <div className="flex justify-end">
        <Button onClick={onDone}>I have saved them</Button>
      </div>
    </div>
  );
}

function Disable({ onDone, onCancel }: { onDone: () => void; onCancel: () => void }) {
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [backup, setBackup] = useState(false);
  const m = useMutation({ mutationFn: () => disableMFA(password, backup ? { backup_code: code.trim() } : { code: code.replace(/\s/g, '') }), onSuccess: onDone });
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        m.mutate();
      }}
      className="space-y-4"
      noValidate
    >
      <p className="text-sm text-gray-700 dark:text-gray-300">Your account will be protected by your password only. Confirm with both.</p>
      <Field label="Password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
      <Field
        key={backup ? 'backup' : 'code'}
        label={backup ? 'Backup code' : 'Code from your authenticator app'}
        inputMode={backup ? 'text' : 'numeric'}
        autoComplete={backup ? 'off' : 'one-time-code'}
        value={code}
        onChange={(e) => setCode(e.target.value)}
        required
        // A code is accepted once: after confirming it's you with one, wait for the next.
        hint={backup ? undefined : 'If you were just asked to confirm it is you, wait for the next code: each code works once.'}
      />
      <button
        type="button"
        className="text-sm font-semibold text-indigo-700 hover:underline dark:text-indigo-300"
        onClick={() => {
          setBackup(!backup);
          setCode('');
        }}
      >
        {backup ? 'Use the authenticator app' : 'Use a backup code'}
      </button>
      <InlineError error={m.error} />
      <div className="flex justify-end gap-2">
        <Button variant="secondary" onClick={onCancel}>
          Cancel
        </Button>
        <Button type="submit" variant="danger" pending={m.isPending} disabled={!password || !code}>
          Turn off
        </Button>
      </div>
    </form>
  );
}
