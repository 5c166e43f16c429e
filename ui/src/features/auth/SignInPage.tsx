import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, Navigate, useNavigate, useSearchParams } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { Button } from '../../components/Button';
import { Field } from '../../components/Field';
import { InlineError, Loading } from '../../components/States';
import { AuthLayout } from './AuthLayout';
import { login, logout, verifyMFA } from './api';
import { safeNext } from './next';
import { sessionKey, useSession, useSetSession } from './session';

/** SignInPage: email and password, then the second factor when the account has MFA. */
export default function SignInPage() {
  const { data: session, isPending } = useSession();
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));

  if (isPending) return <Loading label="Checking your session…" />;
  if (session && !session.mfa_pending) return <Navigate to={next} replace />;
  if (session?.mfa_pending) {
    return (
      <AuthLayout title="Two-factor verification">
        <MFAForm next={next} />
      </AuthLayout>
    );
  }
  return (
    <AuthLayout title="Sign in to Chorus">
      <PasswordForm next={next} />
    </AuthLayout>
  );
}

function PasswordForm({ next }: { next: string }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const setSession = useSetSession();
  const navigate = useNavigate();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setPending(true);
    setError(null);
    try {
      const s = await login(email, password);
      setSession(s);
      if (!s.mfa_pending) navigate(next, { replace: true });
    } catch (err) {
      setError(err);
      setPending(false);
    }
  }

  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      <Field label="Email" type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
      <Field label="Password" type="password" name="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      <InlineError error={error} />
      <Button type="submit" className="w-full" pending={pending}>
        Sign in
      </Button>
      <p className="text-center text-sm text-gray-600 dark:text-gray-300">
        Invited, or new here?{' '}
        <Link className="font-semibold text-indigo-700 underline-offset-2 hover:underline dark:text-indigo-300" to="/signup">
          Create an account
        </Link>
      </p>
    </form>
  );
}

function MFAForm({ next }: { next: string }) {
  const [useBackup, setUseBackup] = useState(false);
  const [code, setCode] = useState('');
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const qc = useQueryClient();
  const setSession = useSetSession();
  const navigate = useNavigate();
  const input = useRef<HTMLInputElement>(null);
  // The step changed under the user's hands: put them in the code field.
  useEffect(() => input.current?.focus(), [useBackup]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setPending(true);
    setError(null);
    try {
      await verifyMFA(useBackup ? { backup_code: code.trim() } : { code: code.replace(/\s/g, '') });
      await qc.invalidateQueries({ queryKey: sessionKey });
      navigate(next, { replace: true });
    } catch (err) {
      setError(err);
      setPending(false);
    }
  }

  async function cancel() {
    try {
      await logout();
    } finally {
      setSession(null);
    }
  }

  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      <p className="text-sm text-gray-700 dark:text-gray-300">
        {useBackup ? 'Enter one of the backup codes you saved when you turned on two-factor authentication.' : 'Enter the 6-digit code from your authenticator app.'}
      </p>
      {useBackup ? (
        <Field ref={input} key="backup" label="Backup code" name="backup_code" autoComplete="off" required value={code} onChange={(e) => setCode(e.target.value)} />
      ) : (
        <Field
          ref={input}
          key="totp"
          label="Authentication code"
          name="code"
          inputMode="numeric"
          autoComplete="one-time-code"
          pattern="[0-9 ]*"
          maxLength={7}
          required
         
          value={code}
          onChange={(e) => setCode(e.target.value)}
        />
      )}
      <InlineError error={error} />
      <Button type="submit" className="w-full" pending={pending}>
        Verify
      </Button>
      <div className="flex flex-wrap justify-between gap-2 text-sm">
        <button
          type="button"
          className="font-semibold text-indigo-700 underline-offset-2 hover:underline dark:text-indigo-300"
          onClick={() => {
            setUseBackup(!useBackup);
            setCode('');
            setError(null);
          }}
        >
          {useBackup ? 'Use the authenticator app' : 'Use a backup code'}
        </button>
        <button type="button" className="text-gray-700 underline-offset-2 hover:underline dark:text-gray-300" onClick={cancel}>
          Cancel and sign out
        </button>
      </div>
    </form>
  );
}
