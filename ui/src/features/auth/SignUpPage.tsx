import { useState, type FormEvent } from 'react';
import { Link, Navigate, useLocation, useNavigate } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { Button } from '../../components/Button';
import { Field } from '../../components/Field';
import { InlineError, Loading } from '../../components/States';
import { ApiError } from '../../lib/api';
import { AuthLayout } from './AuthLayout';
import { fetchSignupMode, signup } from './api';
import { useSession, useSetSession } from './session';

/**
 * inviteFromHash reads an invitation token from the link's fragment
 * (/signup#invite=inv_…): fragments never reach servers or Referer headers.
 */
export function inviteFromHash(hash: string): string {
  return new URLSearchParams(hash.replace(/^#/, '')).get('invite') ?? '';
}

/** SignUpPage creates an account: with an invitation, or openly when the gateway allows it. */
export default function SignUpPage() {
  const location = useLocation();
  const { data: session, isPending: sessionPending } = useSession();
  const mode = useQuery({ queryKey: ['signup-mode'], queryFn: fetchSignupMode, staleTime: Infinity });
  const [invite, setInvite] = useState(() => inviteFromHash(location.hash));
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const setSession = useSetSession();
  const navigate = useNavigate();
  const fromLink = inviteFromHash(location.hash) !== '';

  if (sessionPending || mode.isPending) return <Loading />;
  if (session && !session.mfa_pending) return <Navigate to="/" replace />;

  if (mode.data === 'closed') {
    return (
      <AuthLayout title="Create an account">
        <p className="text-sm text-gray-700 dark:text-gray-300">Sign-up is closed on this gateway: ask an administrator for an account.</p>
        <p className="mt-4 text-sm">
          <Link className="font-semibold text-indigo-700 hover:underline dark:text-indigo-300" to="/signin">
            Back to sign in
          </Link>
        </p>
      </AuthLayout>
    );
  }

  const inviteRequired = mode.data === 'invite';
  const fieldError = (f: string) => (error instanceof ApiError && error.param === f ? error.message : undefined);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setPending(true);
    setError(null);
    try {
      const s = await signup({ email, name, password, ...(invite.trim() ? { invite_token: invite.trim() } : {}) });
      setSession(s);
      navigate('/', { replace: true });
    } catch (err) {
      setError(err);
      setPending(false);
    }
  }

  return (
    <AuthLayout title={fromLink ? 'Accept your invitation' : 'Create an account'}>
      <form onSubmit={submit} className="space-y-4" noValidate>
        {fromLink && <p className="text-sm text-gray-700 dark:text-gray-300">You were invited to a team on this gateway. Choose your sign-in details.</p>}
        <Field label="Email" type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} error={fieldError('email')} />
        <Field label="Name" name="name" autoComplete="name" required value={name} onChange={(e) => setName(e.target.value)} error={fieldError('name')} />
        <Field
          label="Password"
          type="password"
          name="new-password"
          autoComplete="new-password"
          required
          minLength={12}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          hint="At least 12 characters; not a common password, your email or your name."
          error={fieldError('password')}
        />
        {!fromLink && (
          <Field
            label={inviteRequired ? 'Invitation code' : 'Invitation code (optional)'}
            name="invite_token"
            autoComplete="off"
            required={inviteRequired}
            value={invite}
            onChange={(e) => setInvite(e.target.value)}
            hint={inviteRequired ? 'Sign-up on this gateway is by invitation: paste the code or open the link you received.' : 'If you were invited, paste the code or open the link you received.'}
            error={fieldError('invite_token')}
          />
        )}
        {fromLink && fieldError('invite_token') && <InlineError error={error} />}
        <InlineError error={error instanceof ApiError && error.param ? null : error} />
        <Button type="submit" className="w-full" pending={pending}>
          Create account
        </Button>
        <p className="text-center text-sm text-gray-600 dark:text-gray-300">
          Have an account?{' '}
          <Link className="font-semibold text-indigo-700 hover:underline dark:text-indigo-300" to="/signin">
            Sign in
          </Link>
        </p>
      </form>
    </AuthLayout>
  );
}
