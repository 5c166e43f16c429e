import { describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { customerSession, errorBody, mockApi, renderApp } from '../../test/utils';
import { describeAgent, isSafeQR } from './api';

const sessions = {
  data: [
    { id: 1, current: true, user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/140', ip: '10.0.0.1', created_at: '2026-12-01T00:00:00Z', last_seen_at: '2026-12-02T00:00:00Z' },
    { id: 2, current: false, user_agent: 'curl/8', ip: '10.0.0.2', created_at: '2026-12-01T00:00:00Z', last_seen_at: '2026-12-02T00:00:00Z' },
  ],
};
const QR = 'data:image/png;base64,iVBORw0KGgo=';

describe('helpers', () => {
  it('describeAgent and isSafeQR', () => {
    expect(describeAgent('Mozilla/5.0 (Macintosh; Intel Mac OS X 14) Version/17 Safari/605')).toBe('Safari on macOS');
    expect(describeAgent('Mozilla/5.0 (Windows NT 10.0) Edg/120')).toBe('Edge on Windows');
    expect(describeAgent('Mozilla/5.0 (Android 14) Firefox/120')).toBe('Firefox on Android');
    expect(describeAgent('')).toBe('Unknown device');
    expect(isSafeQR(QR)).toBe(true);
    expect(isSafeQR(['javascript', 'alert(1)'].join(':'))).toBe(false);
    expect(isSafeQR('data:image/svg+xml;base64,PHN2Zz4=')).toBe(false);
  });
});

describe('AccountPage', () => {
  it('Password: mismatch caught locally, server field errors shown, success', async () => {
    let n = 0;
    mockApi({
      'GET /api/auth/session': { body: customerSession() },
      'GET /api/auth/mfa': { body: { enabled: false, enrollment_pending: false, backup_codes_remaining: 0 } },
      'GET /api/auth/sessions': { body: sessions },
      'POST /api/auth/password': () => (++n === 1 ? { status: 403, body: errorBody('The current password is not correct.', '', 'current_password') } : { body: { sessions_revoked: 1 } }),
    });
    renderApp('/account');
    const current = await screen.findByLabelText('Current password');
    await userEvent.type(current, 'old-password');
    await userEvent.type(screen.getByLabelText('New password'), 'new-password-123');
    await userEvent.type(screen.getByLabelText('Repeat the new password'), 'different');
    await userEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect(screen.getByText('The new passwords do not match.')).toBeInTheDocument();
    await userEvent.clear(screen.getByLabelText('Repeat the new password'));
    await userEvent.type(screen.getByLabelText('Repeat the new password'), 'new-password-123');
    await userEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect(await screen.findByText('The current password is not correct.')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect(await screen.findByText('Signed out 1 other session(s).')).toBeInTheDocument();
  });

  it('Sessions: the current one is marked, another can be signed out', async () => {
    const { calls } = mockApi({
      'GET /api/auth/session': { body: customerSession() },
      'GET /api/auth/mfa': { body: { enabled: false, enrollment_pending: false, backup_codes_remaining: 0 } },
      'GET /api/auth/sessions': { body: sessions },
      'DELETE /api/auth/sessions/2': { status: 204 },
    });
    renderApp('/account');
    expect(await screen.findByText('this session')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: /Sign out Script session 2/ }));
    await userEvent.click(within(await screen.findByRole('alertdialog')).getByRole('button', { name: 'Sign out session' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'DELETE')).toBe(true));
  });

  it('MFA: enrol with the QR code, backup codes shown once with a download', async () => {
    let enabled = false;
    mockApi({
      'GET /api/auth/session': () => ({ body: customerSession({ mfa_enabled: enabled }) }),
      'GET /api/auth/mfa': () => ({ body: { enabled, enrollment_pending: false, backup_codes_remaining: enabled ? 10 : 0 } }),
      'GET /api/auth/sessions': { body: sessions },
      'POST /api/auth/mfa/enroll': { body: { otpauth_url: 'otpauth://x', secret: 'ABCD EFGH', qr_code: QR, issuer: 'Chorus', account: 'ada@example.com', digits: 6, period: 30 } },
      'POST /api/auth/mfa/enroll/confirm': () => {
        enabled = true;
        return { body: { enabled: true, backup_codes: ['aaaa-1111', 'bbbb-2222'] } };
      },
    });
    const create = vi.fn(() => 'blob:x');
    Object.assign(URL, { createObjectURL: create, revokeObjectURL: vi.fn() });
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {});
    renderApp('/account');
    await userEvent.click(await screen.findByRole('button', { name: 'Turn on two-factor authentication' }));
    const d = await screen.findByRole('dialog', { name: 'Set up your authenticator' });
    expect(await within(d).findByRole('img', { name: /QR code/ })).toHaveAttribute('src', QR);
    expect(within(d).getByTestId('totp-secret')).toHaveTextContent('ABCD EFGH');
    await userEvent.type(within(d).getByLabelText('Code from the app'), '123456');
    await userEvent.click(within(d).getByRole('button', { name: 'Turn on' }));
    const codes = await screen.findByRole('dialog', { name: 'Your backup codes' });
    expect(within(codes).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['aaaa-1111', 'bbbb-2222']);
    await userEvent.click(within(codes).getByRole('button', { name: 'Download' }));
    expect(create).toHaveBeenCalled();
    await userEvent.click(within(codes).getByRole('button', { name: 'I have saved them' }));
    expect(await screen.findByText('10 backup codes left.')).toBeInTheDocument();
  });

  it('MFA: new backup codes, and turning it off with password and code', async () => {
    const { calls } = mockApi({
      'GET /api/auth/session': { body: customerSession({ mfa_enabled: true }) },
      'GET /api/auth/mfa': { body: { enabled: true, enrollment_pending: false, backup_codes_remaining: 3 } },
      'GET /api/auth/sessions': { body: sessions },
      'POST /api/auth/mfa/backup-codes': { body: { backup_codes: ['cccc-3333'] } },
      'POST /api/auth/mfa/disable': { body: { enabled: false } },
    });
    renderApp('/account');
    await userEvent.click(await screen.findByRole('button', { name: 'New backup codes' }));
    await userEvent.click(within(await screen.findByRole('alertdialog')).getByRole('button', { name: 'Make new codes' }));
    const codes = await screen.findByRole('dialog', { name: 'Your backup codes' });
    expect(within(codes).getByText('cccc-3333')).toBeInTheDocument();
    await userEvent.click(within(codes).getByRole('button', { name: 'I have saved them' }));
    await userEvent.click(screen.getByRole('button', { name: 'Turn off' }));
    const d = await screen.findByRole('dialog', { name: 'Turn off two-factor authentication' });
    await userEvent.type(within(d).getByLabelText('Password'), 'pw');
    await userEvent.click(within(d).getByRole('button', { name: 'Use a backup code' }));
    await userEvent.click(within(d).getByRole('button', { name: 'Use the authenticator app' }));
    await userEvent.type(within(d).getByLabelText('Code from your authenticator app'), '654 321');
    await userEvent.click(within(d).getByRole('button', { name: 'Turn off' }));
    await waitFor(() => expect(calls.find((c) => c.path === '/api/auth/mfa/disable')?.body).toEqual({ password: 'pw', code: '654321' }));
  });
});
