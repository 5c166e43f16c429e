import { describe, expect, it } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { customerSession, errorBody, list, mockApi, renderApp } from '../../test/utils';
import { safeNext } from './next';
import { inviteFromHash } from './SignUpPage';

const noSession = { status: 401, body: errorBody('Sign in first.') };

describe('safeNext', () => {
  it('keeps in-app paths only', () => {
    expect(safeNext('/keys?x=1#y')).toBe('/keys?x=1#y');
    for (const bad of [null, '', 'https://evil.example', '//evil.example', '/\\evil', 'keys']) expect(safeNext(bad)).toBe('/');
  });
  it('inviteFromHash', () => {
    expect(inviteFromHash('#invite=inv_abc')).toBe('inv_abc');
    expect(inviteFromHash('')).toBe('');
  });
});

describe('SignInPage', () => {
  it('OK: signs in and goes where it was asked', async () => {
    let signedIn = false;
    const { calls } = mockApi({
      'GET /api/auth/session': () => (signedIn ? { body: customerSession() } : noSession),
      'POST /api/auth/login': () => {
        signedIn = true;
        return { body: customerSession() };
      },
      'GET /api/keys': { body: list([]) },
    });
    const { router } = renderApp('/signin?next=%2Fkeys');
    await userEvent.type(await screen.findByLabelText('Email'), 'ada@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'secret-password');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/keys'));
    expect(calls.find((c) => c.path === '/api/auth/login')?.body).toEqual({ email: 'ada@example.com', password: 'secret-password' });
  });

  it('ErrBadLogin: shows the server message', async () => {
    mockApi({ 'GET /api/auth/session': noSession, 'POST /api/auth/login': { status: 401, body: errorBody('Incorrect email or password.', 'invalid_credentials') } });
    renderApp('/signin');
    await userEvent.type(await screen.findByLabelText('Email'), 'a@b.c');
    await userEvent.type(screen.getByLabelText('Password'), 'x');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Incorrect email or password.');
  });

  it('MFA: a pending sign-in asks for the code, with a backup-code alternative', async () => {
    let verified = false;
    const { calls } = mockApi({
      'GET /api/auth/session': () => ({ body: customerSession({ mfa_pending: !verified, mfa_enabled: true }) }),
      'POST /api/auth/mfa/verify': (c) => {
        if ((c.body as { code?: string }).code === '000000') return { status: 401, body: errorBody('That code is not valid.') };
        verified = true;
        return { body: { verified: true, method: 'totp', backup_codes_remaining: 10, csrf_token: 'csrf-2' } };
      },
      'GET /api/usage': { body: list([]) },
      'GET /api/keys': { body: list([]) },
      'POST /api/auth/logout': { status: 204 },
    });
    const { router } = renderApp('/signin');
    await screen.findByRole('heading', { name: 'Two-factor verification' });
    await userEvent.type(screen.getByLabelText('Authentication code'), '000000');
    await userEvent.click(screen.getByRole('button', { name: 'Verify' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('That code is not valid.');
    await userEvent.click(screen.getByRole('button', { name: 'Use a backup code' }));
    expect(screen.getByLabelText('Backup code')).toHaveFocus();
    await userEvent.click(screen.getByRole('button', { name: 'Use the authenticator app' }));
    await userEvent.type(screen.getByLabelText('Authentication code'), '123 456');
    await userEvent.click(screen.getByRole('button', { name: 'Verify' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/usage'));
    expect(calls.filter((c) => c.path === '/api/auth/mfa/verify').at(-1)?.body).toEqual({ code: '123456' });
  });

  it('Cancel: a pending sign-in can sign out', async () => {
    const { calls } = mockApi({ 'GET /api/auth/session': { body: customerSession({ mfa_pending: true, mfa_enabled: true }) }, 'POST /api/auth/logout': { status: 204 } });
    renderApp('/signin');
    await userEvent.click(await screen.findByRole('button', { name: 'Cancel and sign out' }));
    await waitFor(() => expect(calls.some((c) => c.path === '/api/auth/logout')).toBe(true));
  });
});

describe('SignUpPage', () => {
  it('Invite: the link fills the token; the account is created', async () => {
    let signedUp = false;
    const { calls } = mockApi({
      'GET /api/auth/session': () => (signedUp ? { body: customerSession() } : noSession),
      'GET /api/auth/config': { body: { signup: 'invite' } },
      'POST /api/auth/signup': () => {
        signedUp = true;
        return { status: 201, body: customerSession() };
      },
      'GET /api/usage': { body: list([]) },
      'GET /api/keys': { body: list([]) },
    });
    const { router } = renderApp('/signup#invite=inv_token');
    expect(await screen.findByRole('heading', { name: 'Accept your invitation' })).toBeInTheDocument();
    expect(screen.queryByLabelText(/Invitation code/)).toBeNull();
    await userEvent.type(screen.getByLabelText('Email'), 'new@example.com');
    await userEvent.type(screen.getByLabelText('Name'), 'New');
    await userEvent.type(screen.getByLabelText('Password'), 'long-enough-pass');
    await userEvent.click(screen.getByRole('button', { name: 'Create account' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/usage'));
    expect(calls.find((c) => c.path === '/api/auth/signup')?.body).toMatchObject({ invite_token: 'inv_token', email: 'new@example.com' });
  });

  it('FieldError: the server names the field', async () => {
    mockApi({
      'GET /api/auth/session': noSession,
      'POST /api/auth/signup': { status: 400, body: errorBody('password is too common', '', 'password') },
    });
    renderApp('/signup');
    expect(await screen.findByLabelText('Invitation code (optional)')).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText('Password'), 'password1234');
    await userEvent.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByText('password is too common')).toBeInTheDocument();
  });

  it('Closed: says so', async () => {
    mockApi({ 'GET /api/auth/session': noSession, 'GET /api/auth/config': { body: { signup: 'closed' } } });
    renderApp('/signup');
    expect(await screen.findByText(/Sign-up is closed/)).toBeInTheDocument();
  });
});

describe('guard and shell', () => {
  it('SignedOut: a private page sends to sign-in with next', async () => {
    mockApi({ 'GET /api/auth/session': noSession });
    const { router } = renderApp('/billing/orders');
    await waitFor(() => expect(router.state.location.pathname).toBe('/signin'));
    expect(router.state.location.search).toBe('?next=%2Fbilling%2Forders');
  });

  it('ServerDown: the shell offers a retry', async () => {
    mockApi({ 'GET /api/auth/session': { status: 503, body: errorBody('down') } });
    renderApp('/keys');
    expect(await screen.findByText('The console could not reach the server.')).toBeInTheDocument();
  });

  it('Menu: sign out everywhere', async () => {
    const { calls } = mockApi({
      'GET /api/auth/session': { body: customerSession() },
      'GET /api/keys': { body: list([]) },
      'POST /api/auth/logout-all': { body: { sessions_revoked: 2 } },
    });
    const { router } = renderApp('/keys');
    await userEvent.click(await screen.findByRole('button', { name: /Account menu/ }));
    await userEvent.click(await screen.findByRole('menuitem', { name: 'Sign out everywhere' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/signin'));
    expect(calls.some((c) => c.path === '/api/auth/logout-all')).toBe(true);
  });

  it('NotFound: unknown pages inside the console', async () => {
    mockApi({ 'GET /api/auth/session': { body: customerSession() } });
    renderApp('/nope');
    expect(await screen.findByRole('heading', { name: 'Page not found' })).toBeInTheDocument();
  });
});
