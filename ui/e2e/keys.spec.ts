import { chat } from './client';
import { checkA11y, expect, shot, signIn, test } from './fixtures';

test('create a key (with the step-up dialog), use it, revoke it', async ({ page, state, problems: _ }) => {
  const signedInAt = Date.now();
  await signIn(page, state.customer.email, state.customer.password);
  await page.getByRole('link', { name: 'API keys' }).click();
  await expect(page.getByRole('heading', { name: 'API keys', level: 1 })).toBeFocused();
  await expect(page.getByRole('cell', { name: 'backend', exact: true })).toBeVisible();

  // The e2e server's step-up window is 30 s: past it, creating a key asks for the password again.
  await page.waitForTimeout(Math.max(0, signedInAt + 31_000 - Date.now()));
  await page.getByRole('button', { name: 'Create key' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create an API key' });
  await dialog.getByLabel('Name').fill('ci');
  await dialog.getByLabel('Models (optional)').fill('sim-small');
  await dialog.getByLabel('Expires').selectOption('30');
  await dialog.getByLabel('Credits per period').fill('5');
  await checkA11y(page, 'create-key dialog');
  await shot(page, 'keys-create');
  await dialog.getByRole('button', { name: 'Create key' }).click();

  const stepUp = page.getByRole('dialog', { name: "Confirm it's you" });
  await expect(stepUp).toBeVisible();
  await expect(stepUp.getByLabel('Password')).toBeFocused();
  await shot(page, 'keys-step-up');
  await stepUp.getByLabel('Password').fill(state.customer.password);
  await stepUp.getByRole('button', { name: 'Confirm' }).click();

  const shown = page.getByRole('dialog', { name: 'Your new key' });
  await expect(shown).toBeVisible();
  const secret = (await shown.getByTestId('secret').textContent()) ?? '';
  expect(secret).toMatch(/^sk-chorus-/);
  await checkA11y(page, 'new-key dialog');
  await shot(page, 'keys-secret');
  await shown.getByRole('button', { name: 'I have saved it' }).click();
  await expect(page.getByRole('button', { name: 'Create key' })).toBeFocused();

  const row = page.getByRole('row', { name: /^ci / });
  await expect(row).toContainText('sim-small');
  await expect(row).toContainText('active');
  expect(await chat(state.baseURL, secret, 'sim-small', 'hi')).toBe(200);
  expect(await chat(state.baseURL, secret, 'sim-large', 'hi')).toBe(403); // not one of its models

  // The key's spending limit is a hard key budget.
  await page.goto('/billing/budgets');
  await expect(page.getByRole('row', { name: /Key ci/ })).toContainText('Hard limit');

  await page.goto('/keys');
  await page.getByRole('button', { name: 'Revoke key ci' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Revoke "ci"?' });
  await expect(confirm.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await shot(page, 'keys-revoke');
  await confirm.getByRole('button', { name: 'Revoke key' }).click();
  await expect(row).toContainText('revoked');
  expect(await chat(state.baseURL, secret, 'sim-small', 'hi')).toBe(401);
});

test('keyboard only: open, fill and close the create dialog', async ({ page, state, problems: _ }) => {
  await signIn(page, state.customer.email, state.customer.password);
  await page.goto('/keys');
  await expect(page.getByRole('heading', { name: 'API keys', level: 1 })).toBeVisible();
  const create = page.getByRole('button', { name: 'Create key' });
  await create.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Create an API key' });
  await expect(dialog.getByLabel('Name')).toBeFocused();
  await page.keyboard.type('kbd');
  await page.keyboard.press('Tab');
  await expect(dialog.getByLabel('Models (optional)')).toBeFocused();
  // Focus stays in the dialog however far one tabs.
  for (let i = 0; i < 15; i++) await page.keyboard.press('Tab');
  expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(create).toBeFocused();
});
