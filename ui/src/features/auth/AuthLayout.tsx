import type { ReactNode } from 'react';
import { Logo } from '../../components/Logo';

/** AuthLayout frames the signed-out pages. */
export function AuthLayout({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="flex min-h-dvh flex-col items-center justify-center px-4 py-10">
      <main id="main" className="w-full max-w-sm">
        <div className="mb-6 flex items-center gap-2">
          <Logo />
          <span className="text-lg font-bold text-gray-900 dark:text-gray-100">Chorus</span>
        </div>
        <h1 id="page-title" tabIndex={-1} className="mb-6 text-2xl font-bold text-gray-900 focus:outline-none dark:text-gray-100">
          {title}
        </h1>
        <div className="rounded-lg bg-white p-5 shadow-sm ring-1 ring-gray-200 dark:bg-gray-900 dark:ring-gray-800">{children}</div>
      </main>
    </div>
  );
}
