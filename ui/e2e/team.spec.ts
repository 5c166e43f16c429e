import { checkA11y, expect, shot, signIn, test } from './fixtures';

test('invite someone: the link is shown once; revoke it', async ({ page, state, problems: _ }) => {
  await signIn(page, state.customer.email, state.customer.password);
  await page.goto('/team');
  await expect(page.getByRole('cell', { name: state.customer.email, exact: true })).toBeVisible();
  await page.getByRole('button', { name: 'Invite someone' }).click();
  const d = page.getByRole('dialog', { name: 'Invite someone' });
  await d.getByLabel('Email (optional)').fill('barbara@example.com');
  await d.getByRole('button', { name: 'Create invitation' }).click();
  const link = page.getByRole('dialog', { name: 'Invitation link' }).getByTestId('secret');
  expect(await link.textContent()).toContain(`${state.baseURL}/signup#invite=inv_`);
  await checkA11y(page, 'invite link');
  await shot(page, 'team-invite-link');
  await page.getByRole('button', { name: 'Done' }).click();
  const row = page.getByRole('row', { name: /barbara@example.com/ });
  await expect(row).toContainText('pending');
  await page.getByRole('button', { name: 'Revoke invitation barbara@example.com' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Revoke invitation' }).click();
  await expect(row).toContainText('revoked');
  await shot(page, 'team');
});
