import { checkA11y, expect, shot, signIn, test } from './fixtures';
import { totp } from './totp';

test('turn on MFA (QR code, backup codes once, download), then sign in with a backup code', async ({ page, state, problems: _ }) => {
  await signIn(page, state.enrolCustomer.email, state.enrolCustomer.password);
  await page.goto('/account');
  // The sign-up's own session shows up as another session, which can be signed out.
  await page.getByRole('button', { name: /^Sign out Script session/ }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Sign out session' }).click();
  await expect(page.getByRole('button', { name: /^Sign out Script session/ })).toHaveCount(0);

  await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
  const d = page.getByRole('dialog', { name: 'Set up your authenticator' });
  await expect(d.getByRole('img', { name: /QR code/ })).toBeVisible();
  const secret = ((await d.getByTestId('totp-secret').textContent()) ?? '').replace(/\s/g, '');
  expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
  await checkA11y(page, 'mfa enrol');
  await shot(page, 'account-mfa-qr');
  await d.getByLabel('Code from the app').fill(totp(secret));
  await d.getByRole('button', { name: 'Turn on' }).click();

  const codesDialog = page.getByRole('dialog', { name: 'Your backup codes' });
  const codes = (await codesDialog.getByTestId('backup-codes').getByRole('listitem').allTextContents()).map((c) => c.trim());
  expect(codes).toHaveLength(10);
  await shot(page, 'account-backup-codes');
  const download = page.waitForEvent('download');
  await codesDialog.getByRole('button', { name: 'Download' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('chorus-backup-codes.txt');
  await codesDialog.getByRole('button', { name: 'I have saved them' }).click();
  await expect(page.getByTestId('backup-remaining')).toHaveText('10 backup codes left.');

  await page.getByRole('button', { name: /Account menu/ }).click();
  await page.getByRole('menuitem', { name: 'Sign out', exact: true }).click();
  await signIn(page, state.enrolCustomer.email, state.enrolCustomer.password);
  await page.getByRole('button', { name: 'Use a backup code' }).click();
  await page.getByLabel('Backup code').fill(codes[0] ?? '');
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page).toHaveURL(/\/usage$/);
  await page.goto('/account');
  await expect(page.getByTestId('backup-remaining')).toHaveText('9 backup codes left.');
});

test('change the password: a mismatch is caught before the server', async ({ page, state, problems: _ }) => {
  await signIn(page, state.customer.email, state.customer.password);
  await page.goto('/account');
  await page.getByLabel('Current password').fill(state.customer.password);
  await page.getByLabel('New password', { exact: true }).fill('Another-Long-Passphrase-1');
  await page.getByLabel('Repeat the new password').fill('Another-Long-Passphrase-2');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByText('The new passwords do not match.')).toBeVisible();
});
