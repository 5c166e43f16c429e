import { Outlet, useNavigation } from 'react-router';
import { StepUpProvider } from '../features/auth/StepUp';

/** Root wraps every route: the step-up dialog and a progress bar while a page's chunk loads. */
export function Root() {
  const nav = useNavigation();
  return (
    <StepUpProvider>
      {nav.state !== 'idle' && (
        <div role="progressbar" aria-label="Loading page" className="fixed inset-x-0 top-0 z-50 h-0.5 animate-pulse bg-indigo-500" />
      )}
      <Outlet />
    </StepUpProvider>
  );
}
